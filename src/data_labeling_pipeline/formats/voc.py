"""Pascal VOC: `Annotations/<name>.xml` per image and `ImageSets/Main/{split}.txt`.

Coordinates are 1-based, inclusive, integer pixels, as in the VOC devkit. Rounding policy:
our boxes are continuous pixel edges (pixel i covers [i, i+1)), so each edge is rounded to
the nearest pixel boundary (Python's `round`, half to even) and

    xmin = round(x) + 1     ymin = round(y) + 1     xmax = round(x + w)     ymax = round(y + h)

A box that rounds to zero pixels is widened to one pixel inside the image (counted as
`voc_min_pixel`). Boxes are clipped to the image first, so 1 <= xmin <= xmax <= width.
The largest difference between a written edge and the true edge is reported as
`max_rounding_error` (at most 0.5 px, 1 px for a widened box). Reading inverts it exactly:
x = xmin - 1, w = xmax - xmin + 1.

Also written: `size` (width, height; `depth` only when `item.meta.depth` says it: the
item records do not know it), `truncated` = 1 for a box clipped at the image border,
`difficult` = 1 for crowd regions under the crowd policy "difficult", names XML-escaped,
and an annotation file without `object` for an image without boxes (a negative).
Rotation cannot be written: rotated boxes are their envelope (counted).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from xml.etree import ElementTree

from ..errors import DataError
from ._boxes import clean_boxes
from ._dataset import (
    SPLITS,
    Dataset,
    _Problems,
    image_names,
    labeled,
    make_dataset,
    resolve_image_root,
    stems,
)
from ._disk import put_many, staged_dir
from ._missing import NEEDED, MissingSizesError, require_sizes, with_header_sizes
from ._paths import safe_image_path
from ._report import LossReport

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str, where: str, bad: _Problems) -> str:
    """`value` as XML element text (xml.sax.saxutils.escape would import urllib on start-up)."""
    if _NOT_XML.search(value):
        bad.add(where, f"{value!r} contains a control character that XML cannot hold")
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _edges(lo: float, size: float, limit: int) -> tuple[int, int, bool]:
    """(first pixel 1-based, last pixel 1-based, widened) of the span [lo, lo + size)."""
    a, b = round(lo), round(lo + size)
    widened = b <= a
    if widened:
        b = a + 1
        if b > limit:
            a, b = limit - 1, limit
    return a + 1, b, widened


def to_voc(
    dataset: Dataset,
    *,
    image_root: str | None = None,
    report: LossReport | None = None,
) -> dict[str, str]:
    """Build the VOC files: relative path -> text.

    Args:
        dataset: the dataset (task type bbox).
        image_root: the folder `<filename>` is relative to (default: the images' common folder).
        report: a LossReport to fill.

    Returns:
        `Annotations/<name>.xml` for every exported image and `ImageSets/Main/{train,val}.txt`.

    Example:
        >>> schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 1, "name": "car"}]}
        >>> items = [{"item_id": "a", "data": {"image": "images/a.png", "width": 10, "height": 10}}]
        >>> ds = make_dataset(items, {"a": {"boxes": [{"x": 0, "y": 1.4, "w": 3, "h": 4, "label": "car"}]}}, schema)
        >>> files = to_voc(ds)
        >>> re.findall(r"<(xmin|ymin|xmax|ymax)>(\\d+)", files["Annotations/a.xml"])
        [('xmin', '1'), ('ymin', '2'), ('xmax', '3'), ('ymax', '5')]
    """
    report = report if report is not None else LossReport()
    if dataset.label_schema["task_type"] != "bbox":
        raise DataError.single("label_schema", None, "$.task_type",
                               f"VOC export supports bbox, got {dataset.label_schema['task_type']!r}")
    require_sizes(dataset, "Pascal VOC", why="every annotation records the image's <size>, and boxes are clipped to it")
    names = image_names(dataset, image_root=image_root)
    stem_of = stems(names)
    folder = resolve_image_root(dataset, image_root)
    bad = _Problems("labels")
    files: dict[str, str] = {}
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    names_xml = {c["name"]: _text(c["name"], "$.classes.name", bad) for c in dataset.label_schema["classes"]}
    for item, payload, split in labeled(dataset, report):
        d = item["data"]
        w_img, h_img = d["width"], d["height"]
        boxes = clean_boxes(payload["boxes"], w_img, h_img, split=split, crowd=dataset.policies["crowd"],
                            flag="difficult", report=report)
        if not boxes and dataset.policies["empty_images"] == "drop":
            report.count("empty_dropped")
            report.item(split, written=False)
            continue
        report.item(split, written=True)
        where = f"$[{item['item_id']!r}]"
        parts = ["<annotation>\n", f"\t<folder>{_text(folder, where, bad)}</folder>\n",
                 f"\t<filename>{_text(names[item['item_id']], where + '.data.image', bad)}</filename>\n",
                 f"\t<size>\n\t\t<width>{w_img}</width>\n\t\t<height>{h_img}</height>\n"]
        depth = (item.get("meta") or {}).get("depth")
        if isinstance(depth, int) and not isinstance(depth, bool):
            parts.append(f"\t\t<depth>{depth}</depth>\n")
        parts.append("\t</size>\n\t<segmented>0</segmented>\n")
        error = 0.0
        for b in boxes:
            xmin, xmax, wide_x = _edges(b.x, b.w, w_img)
            ymin, ymax, wide_y = _edges(b.y, b.h, h_img)
            if wide_x or wide_y:
                report.count("voc_min_pixel")
            error = max(error, abs(xmin - 1 - b.x), abs(xmax - (b.x + b.w)), abs(ymin - 1 - b.y),
                        abs(ymax - (b.y + b.h)))
            parts.append(
                f"\t<object>\n\t\t<name>{names_xml[b.label]}</name>\n"
                f"\t\t<pose>Unspecified</pose>\n\t\t<truncated>{int(b.clipped)}</truncated>\n"
                f"\t\t<difficult>{int(b.flagged)}</difficult>\n"
                f"\t\t<bndbox>\n\t\t\t<xmin>{xmin}</xmin>\n\t\t\t<ymin>{ymin}</ymin>\n"
                f"\t\t\t<xmax>{xmax}</xmax>\n\t\t\t<ymax>{ymax}</ymax>\n\t\t</bndbox>\n\t</object>\n")
        report.rounding(error)
        parts.append("</annotation>\n")
        stem = stem_of[item["item_id"]]
        files[f"Annotations/{stem}.xml"] = "".join(parts)
        lists[split].append(stem)
    bad.raise_if_any()
    for split in SPLITS:
        files[f"ImageSets/Main/{split}.txt"] = "".join(f"{s}\n" for s in sorted(lists[split]))
    return files


def write_voc(dataset: Dataset, out_dir: str | os.PathLike, **options) -> LossReport:
    """Write the VOC files under `out_dir` (replaced as a whole); return the LossReport.

    Args:
        dataset: the dataset.
        out_dir: the export folder.
        **options: passed to `to_voc`.

    Example:
        >>> import tempfile
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 7, "name": "car"}]}
        >>> items = [{"item_id": "a", "data": {"image": "images/a.png", "width": 10, "height": 10}}]
        >>> ds = make_dataset(items, {"a": {"boxes": [{"x": 1, "y": 2, "w": 3, "h": 4, "label": "car"}]}}, schema)
        >>> out = tempfile.mkdtemp() + "/voc"
        >>> write_voc(ds, out).max_rounding_error
        0.0
        >>> read_voc(out, label_schema=schema).labels["a"]["boxes"]
        [{'x': 1.0, 'y': 2.0, 'w': 3.0, 'h': 4.0, 'label': 'car'}]
    """
    report = options.pop("report", None) or LossReport()
    files = to_voc(dataset, report=report, **options)
    with staged_dir(out_dir, "voc") as tmp:
        put_many(tmp, files)
    return report


def from_voc(
    xml_texts: dict[str, str],
    *,
    split: dict[str, str] | None = None,
    image_dir: str = "images",
    rebase_paths: str | None = None,
    label_schema: dict | None = None,
    difficult: str = "crowd",
    one_based: bool = True,
    policies: dict | None = None,
    report: LossReport | None = None,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> Dataset:
    """Read VOC annotation texts (annotation id -> XML) into a Dataset.

    Args:
        xml_texts: annotation id (the file's path under `Annotations/` without `.xml`) -> text.
        split: annotation id -> "train" | "val" (default "train").
        image_dir: the project folder `<filename>` is relative to.
        rebase_paths: an absolute folder; absolute `<filename>`s inside it become relative.
        label_schema: the schema to read into; default: classes in order of first appearance
            (annotations sorted by id), ids 1..n.
        difficult: what a `difficult` object becomes: "crowd" (iscrowd, the default, the
            inverse of the writer's "difficult" crowd policy), "keep" (plain) or "drop".
        one_based: the file uses VOC's 1-based inclusive pixels (False: 0-based, xmax exclusive).
        policies: export policies for the returned Dataset.
        report: a LossReport to fill.
        sizes: item image path -> (width, height), for annotations without a `size`
            (or with a zero one, as some tools write when they do not know it).

    Raises:
        MissingSizesError: annotations without a size that `sizes` does not give (one summary;
            `read_voc(images_root=...)` reads them from the image headers).

    Example:
        >>> xml = ("<annotation><filename>a.png</filename><size><width>9</width><height>9</height></size>"
        ...        "<object><name>car</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>5</ymax>"
        ...        "</bndbox></object></annotation>")
        >>> from_voc({"a": xml}).labels["a"]["boxes"]
        [{'x': 0.0, 'y': 1.0, 'w': 3.0, 'h': 4.0, 'label': 'car'}]
    """
    report = report if report is not None else LossReport()
    if difficult not in ("crowd", "keep", "drop"):
        raise ValueError(f"difficult must be 'crowd', 'keep' or 'drop', got {difficult!r}")
    bad = _Problems("Annotations")
    items, labels, order = [], {}, []
    events: Counter[str] = Counter()  # counted into `report` only once nothing is missing
    no_size: list[str] = []
    off = 1.0 if one_based else 0.0
    for ann_id in sorted(xml_texts):
        where = f"{ann_id}.xml"
        try:
            root = ElementTree.fromstring(xml_texts[ann_id])
        except ElementTree.ParseError as exc:
            bad.add("", f"not valid XML: {exc}", path=where)
            continue
        try:
            image = safe_image_path(root.findtext("filename") or "", image_dir=image_dir, rebase_paths=rebase_paths)
        except ValueError as exc:
            bad.add("filename", str(exc), path=where)
            continue
        try:
            width, height = (int(float(root.findtext(f"size/{k}") or "0")) for k in ("width", "height"))
        except ValueError:
            bad.add("size", "size/width and size/height must be numbers", path=where)
            continue
        if width == 0 or height == 0:  # no size, or 0 written by a tool that did not know it
            width, height = (sizes or {}).get(image, (0, 0))
            if width == 0 or height == 0:
                no_size.append(image)
        boxes = []
        for k, obj in enumerate(root.iter("object")):
            name = (obj.findtext("name") or "").strip()
            try:
                xmin, ymin, xmax, ymax = (float(obj.findtext(f"bndbox/{e}") or "nan")
                                          for e in ("xmin", "ymin", "xmax", "ymax"))
            except ValueError:
                bad.add(f"object[{k}].bndbox", "xmin, ymin, xmax, ymax must be numbers", path=where)
                continue
            w, h = xmax - xmin + off, ymax - ymin + off
            if not w > 0 or not h > 0:
                events["boxes_degenerate"] += 1
                continue
            box = {"x": xmin - off, "y": ymin - off, "w": w, "h": h, "label": name}
            if (obj.findtext("difficult") or "0").strip() in ("1", "true"):
                events["difficult_read"] += 1
                if difficult == "drop":
                    continue
                if difficult == "crowd":
                    box["iscrowd"] = True
            boxes.append(box)
            if name not in order:
                order.append(name)
        items.append({"item_id": ann_id, "data": {"image": image, "width": width, "height": height}})
        labels[ann_id] = {"boxes": boxes}
    bad.raise_if_any()
    if no_size:
        raise MissingSizesError(no_size, "Annotations", why=NEEDED, fix="pass sizes={image path: (width, "
                                "height)}, or add size/width and size/height to the annotations")
    for event, n in sorted(events.items()):
        report.count(event, n)
    if label_schema is None:
        label_schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
                        "classes": [{"id": k, "name": n} for k, n in enumerate(order, start=1)]}
    split_of = {i["item_id"]: (split or {}).get(i["item_id"], "train") for i in items}
    return make_dataset(items, labels, label_schema, split=split_of, policies=policies)


def read_voc(root: str | os.PathLike, *, images_root: str | os.PathLike | None = None, **options) -> Dataset:
    """Read a VOC folder: every `Annotations/**/*.xml`; ids listed in `ImageSets/Main/val.txt`
    go to "val", all others to "train".

    Args:
        root: the VOC folder.
        images_root: the folder item image paths are relative to; the size of an image whose
            annotation has none is read from its header there (nothing else is read).
        **options: passed to `from_voc` (image_dir, rebase_paths, label_schema, ...).

    Raises:
        MissingSizesError: annotations without a size whose image could not be read either.
    """
    base = Path(root)
    ann_dir = base / "Annotations"
    if not ann_dir.is_dir():
        raise DataError.single(str(base), None, "", "no Annotations folder; is this a VOC export?")
    texts = {p.relative_to(ann_dir).with_suffix("").as_posix(): p.read_text("utf-8")
             for p in sorted(ann_dir.rglob("*.xml"))}
    val_list = base / "ImageSets" / "Main" / "val.txt"
    # One id a line (ids may hold spaces), as torchvision and mmdet read image sets.
    val = {ln.strip() for ln in val_list.read_text("utf-8").splitlines()} if val_list.is_file() else set()
    split = {k: "val" if k in val else "train" for k in texts}
    return with_header_sizes(lambda sizes: from_voc(texts, split=split, sizes=sizes, **options), images_root,
                             source=str(ann_dir))
