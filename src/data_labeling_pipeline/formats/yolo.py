"""YOLO detection, Ultralytics layout: `images/{split}` and `labels/{split}` side by side.

- One `labels/{split}/<name>.txt` per image with one `class cx cy w h` line per box:
  class = the class's position in the label schema (contiguous, schema order, never sorted),
  coordinates normalised by the image size recorded at ingest (after EXIF orientation), as
  the shortest text that reads back as the same float (`repr`): no truncation.
- An image without boxes gets an empty label file (a background image).
- `images/{split}/<name>` are relative symlinks to the project's images (a byte copy where
  links are not possible); images are never opened, let alone decoded.
- `data.yaml` has `path`, `train`, `val`, `nc` and `names` (index -> name). `path` defaults
  to "." because current Ultralytics resolves a relative `path` against the folder of
  data.yaml, which keeps the export byte-identical on every machine; older releases resolve it
  against their datasets folder, so pass `yaml_path=<absolute folder>` for those.
- YOLO has no crowd flag: crowd regions follow the crowd policy ("keep" writes them as
  plain boxes, "drop" and "difficult" leave them out), and rotation is lost (the envelope
  is written); both are counted.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import NamedTuple

from ..errors import DataError
from ._boxes import clean_boxes
from ._dataset import (
    SPLITS,
    Dataset,
    _Problems,
    image_names,
    labeled,
    make_dataset,
    stems,
)
from ._disk import place_images, put_many, staged_dir
from ._missing import MissingSizesError, read_sizes, require_sizes
from ._paths import item_ids_for, safe_image_path
from ._report import LossReport

IMAGE_SUFFIXES = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}
# Why reading YOLO labels needs the images (or their sizes).
NORMALISED = "YOLO labels are fractions of the image size, which YOLO files do not record"


class YoloExport(NamedTuple):
    """What `to_yolo` builds: text files by relative path, and image links to make."""

    files: dict[str, str]
    images: dict[str, str]  # export path -> the item's image path (relative to the project)


def _yaml(names: list[str], yaml_path: str) -> str:
    import yaml

    doc = {"path": yaml_path, "train": "images/train", "val": "images/val", "nc": len(names),
           "names": dict(enumerate(names))}
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=False)


def to_yolo(
    dataset: Dataset,
    *,
    image_root: str | None = None,
    yaml_path: str = ".",
    report: LossReport | None = None,
) -> YoloExport:
    """Build the YOLO label files, data.yaml and the list of images to link.

    Args:
        dataset: the dataset (task type bbox).
        image_root: the folder image names are relative to (default: the images' common folder).
        yaml_path: the `path` written to data.yaml.
        report: a LossReport to fill.

    Example:
        >>> schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 9, "name": "car"}, {"id": 4, "name": "bus"}]}
        >>> items = [{"item_id": "a", "data": {"image": "images/a.png", "width": 640, "height": 480}}]
        >>> ds = make_dataset(items, {"a": {"boxes": [{"x": 10, "y": 20, "w": 30, "h": 40, "label": "bus"}]}}, schema)
        >>> to_yolo(ds).files["labels/train/a.txt"]
        '1 0.0390625 0.08333333333333333 0.046875 0.08333333333333333\\n'
    """
    report = report if report is not None else LossReport()
    schema = dataset.label_schema
    if schema["task_type"] != "bbox":
        raise DataError.single("label_schema", None, "$.task_type",
                               f"YOLO export supports bbox, got {schema['task_type']!r}")
    require_sizes(dataset, "YOLO", why="its boxes are fractions of the image's width and height")
    index = {c["name"]: k for k, c in enumerate(schema["classes"])}
    names = image_names(dataset, image_root=image_root)
    stem_of = stems(names)
    files: dict[str, str] = {}
    images: dict[str, str] = {}
    for item, payload, split in labeled(dataset, report):
        d = item["data"]
        w_img, h_img = d["width"], d["height"]
        boxes = clean_boxes(payload["boxes"], w_img, h_img, split=split, crowd=dataset.policies["crowd"],
                            flag=None, report=report)
        if not boxes and dataset.policies["empty_images"] == "drop":
            report.count("empty_dropped")
            report.item(split, written=False)
            continue
        report.item(split, written=True)
        # `!r` of a float is the shortest text that reads back as the same float.
        lines = [f"{index[b.label]} {(b.x + b.w / 2) / w_img!r} {(b.y + b.h / 2) / h_img!r} "
                 f"{b.w / w_img!r} {b.h / h_img!r}\n" for b in boxes]
        files[f"labels/{split}/{stem_of[item['item_id']]}.txt"] = "".join(lines)
        images[f"images/{split}/{names[item['item_id']]}"] = d["image"]
    files["data.yaml"] = _yaml(list(index), yaml_path)
    return YoloExport(files, images)


def write_yolo(
    dataset: Dataset,
    out_dir: str | os.PathLike,
    *,
    images_root: str | os.PathLike = ".",
    link: str = "symlink",
    **options,
) -> LossReport:
    """Write the YOLO tree under `out_dir` (replaced as a whole); return the LossReport.

    Args:
        dataset: the dataset.
        out_dir: the export folder.
        images_root: the folder item image paths are relative to (the project root).
        link: "symlink" (copy where links fail), "copy", or "none" (labels and data.yaml only).
        **options: passed to `to_yolo`.

    Raises:
        DataError: when an image to link does not exist.

    Example:
        >>> import tempfile
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 7, "name": "car"}]}
        >>> items = [{"item_id": "a", "data": {"image": "images/a.png", "width": 10, "height": 10}}]
        >>> ds = make_dataset(items, {"a": {"boxes": [{"x": 1, "y": 2, "w": 3, "h": 4, "label": "car"}]}}, schema)
        >>> out = tempfile.mkdtemp() + "/yolo"
        >>> write_yolo(ds, out, link="none").lost()
        {}
        >>> from pathlib import Path
        >>> Path(out, "labels/train/a.txt").read_text()
        '0 0.25 0.4 0.3 0.4\\n'
    """
    report = options.pop("report", None) or LossReport()
    built = to_yolo(dataset, report=report, **options)
    final = Path(out_dir).absolute()
    with staged_dir(final, "yolo") as tmp:
        put_many(tmp, built.files)
        for split in SPLITS:  # both trees exist even when a split is empty
            (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
            (tmp / "labels" / split).mkdir(parents=True, exist_ok=True)
        place_images(tmp, final, built.images, images_root=images_root, mode=link, report=report)
    return report


def label_path(image_path: str) -> str:
    """Ultralytics' rule: the last `images` folder becomes `labels`, the suffix `.txt`.

    >>> label_path("images/train/cats/x.png")
    'labels/train/cats/x.txt'
    """
    parts = image_path.split("/")
    for k in range(len(parts) - 2, -1, -1):
        if parts[k] == "images":
            parts[k] = "labels"
            break
    return posixpath.splitext("/".join(parts))[0] + ".txt"


def from_yolo(
    label_texts: dict[str, str | None],
    *,
    sizes: dict[str, tuple[int, int]],
    names: list[str],
    split: dict[str, str] | None = None,
    image_dir: str = "",
    label_schema: dict | None = None,
    policies: dict | None = None,
    report: LossReport | None = None,
) -> Dataset:
    """Read YOLO label texts into a Dataset.

    Args:
        label_texts: image path relative to the YOLO root (e.g. `images/train/x.png`) -> the
            text of its label file, or None when there is none (a background image, as
            Ultralytics reads it).
        sizes: image path -> (width, height) after EXIF orientation.
        names: class names by index (data.yaml `names`).
        split: image path -> split; default: "val" when a folder of the path is `val`,
            `valid` or `validation`, else "train".
        image_dir: where the YOLO root is inside the project; item paths start with it.
        label_schema: the schema to read into (its class names must equal `names`);
            default: `names` with ids 0..n-1 (the indices the files use).
        policies: export policies for the returned Dataset.
        report: a LossReport to fill (polygons read as boxes, degenerate boxes).

    Raises:
        MissingSizesError: images that `sizes` gives no size for.

    Item ids are the image path after the split folder, without extension
    (`images/train/cats/x.png` -> `cats/x`).

    Example:
        >>> ds = from_yolo({"images/train/a.png": "0 0.5 0.5 0.25 0.5\\n"}, sizes={"images/train/a.png": (8, 4)},
        ...                names=["car"])
        >>> ds.labels["a"]["boxes"]
        [{'x': 3.0, 'y': 1.0, 'w': 2.0, 'h': 2.0, 'label': 'car'}]
    """
    report = report if report is not None else LossReport()
    if label_schema is None:
        label_schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
                        "classes": [{"id": k, "name": n} for k, n in enumerate(names)]}
    elif [c["name"] for c in label_schema["classes"]] != list(names):
        raise DataError.single("data.yaml", None, "$.names",
                               f"{list(names)} differ from the label schema's classes in order")
    bad = _Problems("labels")
    split_of, rel = {}, {}
    for key in sorted(label_texts):
        try:
            rel[key] = safe_image_path(key, image_dir="", rebase_paths=None)
        except ValueError as exc:
            bad.add("$", str(exc), path=key)
            continue
        parts = rel[key].split("/")
        given = (split or {}).get(key)
        found = [k for k, p in enumerate(parts[:-1]) if p in ("train", "val", "valid", "validation")]
        split_of[key] = given or ("val" if found and parts[found[-1]] != "train" else "train")
        rel[key] = "/".join(parts[found[-1] + 1:]) if found else rel[key]
    bad.raise_if_any()
    no_size = [key for key in sorted(rel) if key not in sizes]
    if no_size:
        raise MissingSizesError(no_size, "labels", why=NORMALISED, fix="pass sizes={image path: (width, height)}")
    ids = item_ids_for(sorted(set(rel.values())))
    items, labels, split_by_id = [], {}, {}
    for key in sorted(rel):
        w_img, h_img = sizes[key]
        boxes = _parse(label_texts[key] or "", names, w_img, h_img, label_path(key), bad, report)
        item_id = ids[rel[key]]
        path = posixpath.join(image_dir, key) if image_dir else key
        items.append({"item_id": item_id, "data": {"image": path, "width": w_img, "height": h_img}})
        labels[item_id] = {"boxes": boxes}
        split_by_id[item_id] = split_of[key]
    bad.raise_if_any()
    return make_dataset(items, labels, label_schema, split=split_by_id, policies=policies)


def _parse(text: str, names: list[str], w_img: int, h_img: int, where: str, bad: _Problems,
           report: LossReport) -> list[dict]:
    boxes = []
    for n, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls, values = int(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            bad.add("", f"expected 'class cx cy w h' numbers, got {line!r}", line=n, path=where)
            continue
        if not 0 <= cls < len(names):
            bad.add("", f"class {cls} is not in 0..{len(names) - 1} (data.yaml names)", line=n, path=where)
            continue
        if len(values) == 4:
            cx, cy, w, h = values
            x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
            w, h = x1 - x0, y1 - y0
            report.count("polygons_enveloped")
        else:
            bad.add("", f"expected 5 fields (or a polygon), got {len(fields)}", line=n, path=where)
            continue
        if not all(0.0 <= v <= 1.0 for v in values) or x0 < -1e-9 or y0 < -1e-9 or x1 > 1 + 1e-9 or y1 > 1 + 1e-9:
            bad.add("", f"coordinates must be normalised to [0, 1], got {line!r}", line=n, path=where)
            continue
        if w <= 0 or h <= 0:
            report.count("boxes_degenerate")
            continue
        boxes.append({"x": x0 * w_img, "y": y0 * h_img, "w": w * w_img, "h": h * h_img, "label": names[cls]})
    return boxes


def read_yolo(
    root: str | os.PathLike,
    *,
    sizes: dict[str, tuple[int, int]] | None = None,
    images_root: str | os.PathLike | None = None,
    **options,
) -> Dataset:
    """Read a YOLO folder: data.yaml `names`, `train` and `val` image folders inside `root`.

    `train` and `val` (a folder or a list of folders) are taken relative to the folder of
    data.yaml, whatever `path` says, and must stay inside it; each image's label file is found
    by Ultralytics' rule (`label_path`), and an image without one is a background image.
    Images are looked for in `root` and in `images_root` (the same layout elsewhere, e.g. the
    images of labels-only YOLO files); a label file whose image is in neither has no size to
    read, which is an error rather than a silently dropped label.

    Args:
        root: the folder holding data.yaml.
        sizes: image path relative to `root` -> (width, height); default: read from each
            image's header (no decoding), with the EXIF orientation applied.
        images_root: another folder with the `root` layout (`images/train/...`) holding the
            images; item image paths are relative to it then.
        **options: passed to `from_yolo` (image_dir, label_schema, policies, report).

    Raises:
        MissingSizesError: label files whose image (hence size) was not found.
    """
    import yaml

    base = Path(root)
    pics = Path(images_root) if images_root is not None else base
    try:
        conf = yaml.safe_load((base / "data.yaml").read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataError.single(str(base / "data.yaml"), None, "", f"cannot read data.yaml: {exc}") from None
    raw = conf.get("names")
    names = [raw[k] for k in sorted(raw)] if isinstance(raw, dict) else list(raw or [])
    if not names:
        raise DataError.single(str(base / "data.yaml"), None, "$.names", "expected class names")
    texts: dict[str, str | None] = {}
    split: dict[str, str] = {}
    orphans: list[str] = []
    for key in SPLITS:
        entry = conf.get(key) or []
        for folder_name in entry if isinstance(entry, list) else [entry]:
            try:
                folder = safe_image_path(str(folder_name), image_dir="")
            except ValueError as exc:
                raise DataError.single(str(base / "data.yaml"), None, f"$.{key}", str(exc)) from None
            _list_images(base, pics, folder, key, texts, split, orphans)
    if orphans:
        raise MissingSizesError(orphans, base, why=f"{NORMALISED} (no image file for them in {pics.absolute()})",
                                fix="pass images_root=<a folder with the images in the same layout> so the sizes "
                                "are read from the image headers (nothing is copied)")
    if sizes is None:
        found = read_sizes([rel for rel in texts if (pics / rel).is_file()], pics)
        sizes = {**read_sizes([rel for rel in texts if rel not in found], base), **found}
    return from_yolo(texts, sizes=sizes, names=names, split=split, **options)


def _list_images(base: Path, pics: Path, folder: str, key: str, texts: dict, split: dict, orphans: list) -> None:
    """The images of one data.yaml folder (in `base` or `pics`), their label texts, and the
    label files of that folder that have no image."""
    rels = {p.relative_to(top).as_posix() for top in {base, pics} for p in (top / folder).rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES}
    expected = set()
    for rel in sorted(rels):
        lab = label_path(rel)
        expected.add(lab)
        path = base / lab
        texts[rel] = path.read_text("utf-8") if path.is_file() else None
        split[rel] = key
    labels_dir = label_path(folder.rstrip("/") + "/x.png").rsplit("/", 1)[0]
    if labels_dir != folder and (base / labels_dir).is_dir():
        orphans.extend(lab for p in sorted((base / labels_dir).rglob("*.txt"))
                       if (lab := p.relative_to(base).as_posix()) not in expected)
