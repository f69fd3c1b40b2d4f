"""COCO: `annotations/instances_{split}.json` for boxes (and image classification).

What is kept, on purpose:
- category ids are the label schema's explicit ids, categories in schema order (never
  re-sorted, never shifted to 0 or 1);
- image ids from `item.meta.coco_image_id` and annotation ids from the box (`id`) or from
  `item.meta.coco_annotations` (what `from_coco` records); new ids continue after the largest
  kept one, in item order, over the whole dataset so an item keeps its id in either split;
- `iscrowd` (the crowd policy decides), `area` (kept unless the box was clipped; else w*h),
  `segmentation` when present (else `[]`, which loaders that index the key expect), and the
  clockwise rotation of a rotated box as `attributes.rotation` (CVAT's convention; `bbox` is
  the axis-aligned envelope);
- images without annotations are listed (policy `empty_images`);
- no timestamps: `info.version` and `info.date_created` come from arguments.

Image classification writes one annotation per class of an image: `id`, `image_id`,
`category_id` and no `bbox`.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

from ..errors import DataError
from ._boxes import box_extra, clean_boxes
from ._dataset import (
    _INF,
    _NUMS,
    SPLITS,
    Dataset,
    _assemble,
    _is_number,
    _Problems,
    class_list,
    image_names,
    labeled,
    merge_datasets,
)
from ._disk import load_json, put, staged_dir
from ._missing import NEEDED, MissingSizesError, require_sizes, with_header_sizes
from ._paths import item_ids_for, safe_image_path
from ._report import LossReport

IMAGE_KEYS = ("id", "file_name", "width", "height")


def to_coco(
    dataset: Dataset,
    *,
    version: str = "",
    date_created: str = "",
    description: str = "",
    info: dict | None = None,
    licenses: list | None = None,
    supercategories: dict[str, str] | None = None,
    image_root: str | None = None,
    report: LossReport | None = None,
) -> dict[str, dict]:
    """Build one COCO dict per split.

    Args:
        dataset: the dataset (see `make_dataset`); task type bbox or image_classification.
        version: the dataset version (e.g. a git tag), written to `info.version`.
        date_created: written to `info.date_created`; pass the version's date, never "now".
        description: `info.description`.
        info: a whole `info` object to write instead (e.g. the one `coco_extras` read).
        licenses: the `licenses` list (default empty).
        supercategories: class name -> supercategory.
        image_root: the folder `file_name` is relative to (default: the images' common folder).
        report: a LossReport to fill.

    Returns:
        {"train": {...}, "val": {...}}.

    Example:
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 7, "name": "car"}]}
        >>> items = [{"item_id": "a", "data": {"image": "images/a.png", "width": 10, "height": 10}}]
        >>> ds = make_dataset(items, {"a": {"boxes": [{"x": 1, "y": 2, "w": 3, "h": 4, "label": "car"}]}}, schema)
        >>> to_coco(ds)["train"]["annotations"]
        [{'id': 1, 'image_id': 1, 'category_id': 7, 'bbox': [1, 2, 3, 4], 'area': 12, 'iscrowd': 0, 'segmentation': []}]
    """
    report = report if report is not None else LossReport()
    schema = dataset.label_schema
    task = schema["task_type"]
    if task not in ("bbox", "image_classification"):
        raise DataError.single("label_schema", None, "$.task_type",
                               f"COCO export supports bbox and image_classification, got {task!r}")
    require_sizes(dataset, "COCO", why="every image entry records its width and height")
    cat_id = {c["name"]: c["id"] for c in schema["classes"]}
    names = image_names(dataset, image_root=image_root)
    image_id = _image_ids(dataset)
    rows = labeled(dataset, report)

    # Boxes first (clipping and the crowd policy decide what is written), then ids, so kept
    # ids are known before new ones are handed out.
    kept: list[tuple[dict, str, list]] = []
    for item, payload, split in rows:
        if task == "bbox":
            d = item["data"]
            objs: list = clean_boxes(payload["boxes"], d["width"], d["height"], split=split,
                                     crowd=dataset.policies["crowd"], flag="iscrowd", report=report)
        else:
            objs = class_list(payload)
            for name in objs:
                report.obj(split, name, written=True)
        if not objs and dataset.policies["empty_images"] == "drop":
            report.count("empty_dropped")
            report.item(split, written=False)
            continue
        report.item(split, written=True)
        kept.append((item, split, objs))
    ann_ids = _annotation_ids(kept, task)

    base_info = info if info is not None else {"description": description, "version": version,
                                                "date_created": date_created}
    supers = supercategories or {}
    categories = []
    for c in schema["classes"]:
        cat = {"id": c["id"], "name": c["name"]}
        if c["name"] in supers:
            cat["supercategory"] = supers[c["name"]]
        categories.append(cat)
    out = {s: {"info": dict(base_info), "licenses": list(licenses or []), "images": [], "annotations": [],
               "categories": categories} for s in SPLITS}
    ann_iter = iter(ann_ids)
    for item, split, objs in kept:
        d = item["data"]
        iid = image_id[item["item_id"]]
        image = {"id": iid, "file_name": names[item["item_id"]], "width": d["width"], "height": d["height"]}
        for k, v in sorted(((item.get("meta") or {}).get("coco_image") or {}).items()):
            if k not in IMAGE_KEYS:
                image[k] = v
        out[split]["images"].append(image)
        anns = out[split]["annotations"]
        for obj in objs:
            if task != "bbox":
                anns.append({"id": next(ann_iter), "image_id": iid, "category_id": cat_id[obj]})
                continue
            area = None if obj.clipped else box_extra(item, obj, "area")
            ann = {"id": next(ann_iter), "image_id": iid, "category_id": cat_id[obj.label],
                   "bbox": [obj.x, obj.y, obj.w, obj.h], "area": obj.w * obj.h if area is None else area,
                   "iscrowd": 1 if obj.flagged else 0, "segmentation": box_extra(item, obj, "segmentation") or []}
            if obj.source.get("rotation"):
                ann["attributes"] = {"rotation": obj.source["rotation"]}
            anns.append(ann)
    return out


def _image_ids(dataset: Dataset) -> dict[str, int]:
    bad = _Problems("items")
    ids: dict[str, int] = {}
    owner: dict[int, str] = {}
    for item in dataset.items:
        v = (item.get("meta") or {}).get("coco_image_id")
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool):
            bad.add(f"$[{item['item_id']!r}].meta.coco_image_id", f"expected an integer, got {v!r}")
        elif v in owner:
            bad.add(f"$[{item['item_id']!r}].meta.coco_image_id", f"image id {v} is also item {owner[v]!r}'s")
        else:
            owner[v] = item["item_id"]
            ids[item["item_id"]] = v
    bad.raise_if_any()
    nxt = max(owner, default=0) + 1
    for item in dataset.items:
        if item["item_id"] not in ids:
            ids[item["item_id"]] = nxt
            nxt += 1
    return ids


def _annotation_ids(kept: list[tuple[dict, str, list]], task: str) -> list[int]:
    """Ids in write order: kept ones where records carry them, new ones after the largest."""
    bad = _Problems("labels")
    wanted: list[int | None] = []
    owner: dict[int, str] = {}
    for item, _, objs in kept:
        for obj in objs:
            v = box_extra(item, obj, "id") if task == "bbox" else None
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                bad.add(f"$[{item['item_id']!r}].boxes[{obj.index}].id", f"expected an integer, got {v!r}")
                v = None
            elif v is not None and v in owner:
                bad.add(f"$[{item['item_id']!r}].boxes[{obj.index}].id",
                        f"annotation id {v} is also used in item {owner[v]!r}")
                v = None
            elif v is not None:
                owner[v] = item["item_id"]
            wanted.append(v)
    bad.raise_if_any()
    nxt = max(owner, default=0) + 1
    out = []
    for v in wanted:
        if v is None:
            v, nxt = nxt, nxt + 1
        out.append(v)
    return out


def write_coco(dataset: Dataset, out_dir: str | os.PathLike, **options) -> LossReport:
    """Write `annotations/instances_{train,val}.json` under `out_dir` (replaced as a whole).

    Args:
        dataset: the dataset.
        out_dir: the export folder.
        **options: passed to `to_coco`.

    Returns:
        The LossReport of the conversion.

    Example:
        >>> import tempfile
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "bbox", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 7, "name": "car"}]}
        >>> items = [{"item_id": "a", "data": {"image": "images/a.png", "width": 10, "height": 10}}]
        >>> ds = make_dataset(items, {"a": {"boxes": [{"x": 1, "y": 2, "w": 3, "h": 4, "label": "car"}]}}, schema)
        >>> out = tempfile.mkdtemp() + "/coco"
        >>> write_coco(ds, out).as_dict()["items"]
        {'train': {'in': 1, 'out': 1}}
        >>> read_coco(out).labels["a"]["boxes"]
        [{'x': 1, 'y': 2, 'w': 3, 'h': 4, 'label': 'car'}]
    """
    report = options.pop("report", None) or LossReport()
    built = to_coco(dataset, report=report, **options)
    with staged_dir(out_dir, "coco") as tmp:
        for split, obj in built.items():
            text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            put(tmp, f"annotations/instances_{split}.json", text + "\n")
    return report


def coco_extras(coco: dict) -> dict:
    """The parts of a COCO file a Dataset does not hold, as keyword arguments for `to_coco`.

    >>> coco_extras({"info": {"year": 2017}, "categories": [{"id": 1, "name": "a", "supercategory": "x"}]})
    {'info': {'year': 2017}, 'licenses': [], 'supercategories': {'a': 'x'}}
    """
    supers = {c["name"]: c["supercategory"] for c in coco.get("categories", []) if "supercategory" in c}
    return {"info": coco.get("info") or {}, "licenses": coco.get("licenses") or [], "supercategories": supers}


def from_coco(
    coco: dict,
    *,
    split: str = "train",
    image_dir: str = "images",
    rebase_paths: str | None = None,
    label_schema: dict | None = None,
    policies: dict | None = None,
    path: str = "coco.json",
    report: LossReport | None = None,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> Dataset:
    """Read a COCO dict into a Dataset (items, box or class labels, label schema).

    Args:
        coco: the parsed COCO file.
        split: the split of every image in this file.
        image_dir: the project folder `file_name` is relative to; item paths start with it.
        rebase_paths: an absolute folder; absolute `file_name`s inside it become relative.
            Paths escaping the image folder (`..`, other absolute paths) raise a DataError.
        label_schema: the schema to read into (categories matched by name); default: one
            built from `categories` in file order with their ids.
        policies: export policies for the returned Dataset.
        path: the file name used in error messages.
        report: a LossReport to fill (degenerate boxes skipped, polygons).
        sizes: item image path -> (width, height), for images the file gives no size.

    Returns:
        A Dataset. Item ids are `file_name` without extension (the full name where two share
        a stem); `meta.coco_image_id` and `meta.coco_annotations` (id, bbox, area and
        segmentation where they carry information) let `to_coco` write the same ids back.

    Example:
        >>> coco = {"images": [{"id": 5, "file_name": "a.png", "width": 4, "height": 4}],
        ...         "annotations": [], "categories": [{"id": 3, "name": "car"}]}
        >>> ds = from_coco(coco)
        >>> ds.items[0]["data"]["image"], ds.labels, ds.label_schema["classes"]
        ('images/a.png', {'a': {'boxes': []}}, [{'id': 3, 'name': 'car'}])

    Raises:
        MissingSizesError: images without width and height that `sizes` does not give
            (one summary; `read_coco(images_root=...)` reads them from the image headers).
    """
    report = report if report is not None else LossReport()
    bad = _Problems(path)
    cats = coco.get("categories") or []
    anns = coco.get("annotations") or []
    if label_schema is None:
        label_schema = _schema_from(coco, bad)
    by_name = {c["name"] for c in label_schema["classes"]}
    cat_name: dict = {}
    for k, c in enumerate(cats):
        if c.get("name") not in by_name:
            bad.add(f"$.categories[{k}].name", f"{c.get('name')!r} is not a class of the label schema")
        if c.get("id") in cat_name:
            bad.add(f"$.categories[{k}].id", f"category id {c.get('id')!r} appears twice")
        cat_name[c.get("id")] = c.get("name")
    images: dict[int, dict] = {}
    rel: dict[int, str] = {}
    for k, im in enumerate(coco.get("images") or []):
        iid = im.get("id")
        if not isinstance(iid, int) or iid in images:
            bad.add(f"$.images[{k}].id", f"expected a unique integer id, got {iid!r}")
            continue
        try:
            rel[iid] = safe_image_path(im.get("file_name"), image_dir="", rebase_paths=rebase_paths)
        except ValueError as exc:
            bad.add(f"$.images[{k}].file_name", str(exc))
            continue
        images[iid] = im
    dup: dict[str, int] = {}
    for iid, p in rel.items():
        if p in dup:
            bad.add("$.images", f"images {dup[p]} and {iid} are both {p!r}; one entry per image file expected "
                    "(Label Studio repeats an image per annotation: merge or export one annotator)")
        dup[p] = iid
    bad.raise_if_any()
    dims = _image_sizes(images, rel, image_dir, sizes, path)
    ids = item_ids_for(sorted(rel.values()))
    is_bbox = label_schema["task_type"] == "bbox"
    per_image: dict[int, list] = {iid: [] for iid in images}
    extras: dict[int, list] = {iid: [] for iid in images}
    for k, a in enumerate(anns):
        iid = a.get("image_id")
        boxes = per_image.get(iid)
        if boxes is None:
            bad.add(f"$.annotations[{k}].image_id", f"{iid!r} is not an image id of this file")
            continue
        label = cat_name.get(a.get("category_id"))
        if label is None:
            bad.add(f"$.annotations[{k}].category_id", f"{a.get('category_id')!r} is not a category id of this file")
            continue
        if not is_bbox:
            boxes.append(label)
            continue
        bbox = a.get("bbox")
        # The common case inline (this loop runs once per box of the file); the rest in _read_box.
        if type(bbox) is list and len(bbox) == 4:
            x, y, w, h = bbox
            if (type(x) in _NUMS and type(y) in _NUMS and type(w) in _NUMS and type(h) in _NUMS
                    and -_INF < x < _INF and -_INF < y < _INF and 0 < w < _INF and 0 < h < _INF
                    and not a.get("iscrowd") and not a.get("attributes")):
                box = {"x": x, "y": y, "w": w, "h": h, "label": label}
            else:
                box = _read_box(a, label, k, bad, report)
        else:
            box = _read_box(a, label, k, bad, report)
        if box is None:
            continue
        extra = {"id": a.get("id"), "bbox": bbox}
        area = a.get("area")
        if area is not None and area != bbox[2] * bbox[3]:
            extra["area"] = area
        if a.get("segmentation"):
            extra["segmentation"] = a["segmentation"]
        boxes.append(box)
        extras[iid].append(extra)
    bad.raise_if_any()
    items, labels = [], {}
    for iid, im in images.items():
        item_id = ids[rel[iid]]
        meta: dict = {"coco_image_id": iid}
        other = {k: v for k, v in im.items() if k not in IMAGE_KEYS}
        if other:
            meta["coco_image"] = other
        if extras[iid]:
            meta["coco_annotations"] = extras[iid]
        image, width, height = dims[iid]
        items.append({"item_id": item_id, "data": {"image": image, "width": width, "height": height},
                      "meta": meta})
        if is_bbox:
            labels[item_id] = {"boxes": per_image[iid]}
        elif per_image[iid]:
            uniq = list(dict.fromkeys(per_image[iid]))
            if label_schema.get("multi_label"):
                labels[item_id] = {"labels": uniq}
            elif len(uniq) == 1:
                labels[item_id] = {"label": uniq[0]}
            else:
                bad.add("$.annotations", f"image {iid} has categories {uniq} but the label schema is single-label")
    bad.raise_if_any()
    # Every payload was checked above (names from the categories, finite boxes with w, h > 0).
    return _assemble(items, labels, label_schema, split={i["item_id"]: split for i in items}, policies=policies,
                     check_payloads=is_bbox is False)


def _image_sizes(images: dict[int, dict], rel: dict[int, str], image_dir: str,
                 sizes: Mapping[str, tuple[int, int]] | None, path: str) -> dict[int, tuple]:
    """image id -> (item image path, width, height); raised before anything is counted, so a
    reader may call `from_coco` again with the sizes it found."""
    dims: dict[int, tuple] = {}
    no_size: list[str] = []
    for iid, im in images.items():
        image = posixpath.join(image_dir, rel[iid]) if image_dir else rel[iid]
        width, height = im.get("width"), im.get("height")
        if width is None or height is None:
            width, height = (sizes or {}).get(image, (width, height))
            if width is None or height is None:
                no_size.append(image)
        dims[iid] = (image, width, height)
    if no_size:
        raise MissingSizesError(no_size, path, why=NEEDED, fix="pass sizes={image path: (width, height)}, or add "
                                "width and height to the file's images")
    return dims


def _schema_from(coco: dict, bad: _Problems) -> dict:
    anns = coco.get("annotations") or []
    is_bbox = not anns or any("bbox" in a for a in anns)
    multi = False
    if not is_bbox:
        seen: dict = {}
        for a in anns:
            seen.setdefault(a.get("image_id"), set()).add(a.get("category_id"))
        multi = any(len(v) > 1 for v in seen.values())
    classes = []
    for k, c in enumerate(coco.get("categories") or []):
        if not isinstance(c.get("id"), int) or not isinstance(c.get("name"), str):
            bad.add(f"$.categories[{k}]", f"expected an integer id and a name, got {c!r}")
            continue
        classes.append({"id": c["id"], "name": c["name"]})
    bad.raise_if_any()
    return {"task_type": "bbox" if is_bbox else "image_classification", "schema_version": 1,
            "multi_label": multi, "classes": classes}


def _read_box(a: dict, label: str, k: int, bad: _Problems, report: LossReport) -> dict | None:
    bbox = a.get("bbox")
    if type(bbox) is not list or len(bbox) != 4:
        bad.add(f"$.annotations[{k}].bbox", f"expected [x, y, w, h] numbers, got {bbox!r}")
        return None
    x, y, w, h = bbox
    # The common case in one expression (it runs for every box of a large file).
    if not (type(x) in _NUMS and type(y) in _NUMS and type(w) in _NUMS and type(h) in _NUMS
            and -_INF < x < _INF and -_INF < y < _INF and -_INF < w < _INF and -_INF < h < _INF) and not all(
            _is_number(v) for v in bbox):
        bad.add(f"$.annotations[{k}].bbox", f"expected [x, y, w, h] finite numbers, got {bbox!r}")
        return None
    if w <= 0 or h <= 0:
        report.count("boxes_degenerate")
        return None
    box = {"x": x, "y": y, "w": w, "h": h, "label": label}
    rotation = (a.get("attributes") or {}).get("rotation")
    if rotation:
        box["rotation"] = rotation
    if a.get("iscrowd"):
        box["iscrowd"] = True
    return box


def read_coco(
    path: str | os.PathLike,
    *,
    image_dir: str = "images",
    rebase_paths: str | None = None,
    label_schema: dict | None = None,
    policies: dict | None = None,
    report: LossReport | None = None,
    images_root: str | os.PathLike | None = None,
) -> Dataset:
    """Read a COCO file, or every `annotations/instances_*.json` of an export folder.

    A file whose name ends in `val` or `validation` (before a year, as in `instances_val2017`)
    goes to "val", any other to "train". Files of one folder must share their categories.

    Args:
        path: a COCO JSON file or an export folder.
        image_dir, rebase_paths, label_schema, policies, report: as in `from_coco`.
        images_root: the folder item image paths are relative to; the size of an image the
            file gives none is read from its header there (nothing else is read).

    Returns:
        A Dataset.

    Raises:
        MissingSizesError: images without width and height that could not be read either.
    """
    p = Path(path)
    files = sorted(p.glob("annotations/instances_*.json")) if p.is_dir() else [p]
    if not files:
        raise DataError.single(str(p), None, "", "no annotations/instances_*.json file in this folder")
    loaded = [(f, load_json(f)) for f in files]
    first = loaded[0][1].get("categories")
    for f, obj in loaded[1:]:
        if obj.get("categories") != first:
            raise DataError.single(str(f), None, "$.categories", f"categories differ from those of {files[0]}")
    datasets = []
    for f, obj in loaded:
        stem = f.stem.rstrip("0123456789").lower()
        split = "val" if stem.endswith(("val", "validation")) else "train"
        ds = with_header_sizes(
            lambda sizes, obj=obj, f=f, split=split, schema=label_schema: from_coco(
                obj, split=split, image_dir=image_dir, rebase_paths=rebase_paths, label_schema=schema,
                policies=policies, path=str(f), report=report, sizes=sizes),
            images_root)
        label_schema = ds.label_schema
        datasets.append(ds)
    return merge_datasets(datasets, [str(f) for f in files])
