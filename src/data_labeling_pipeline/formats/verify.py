"""Check an export the way its consumers read it; each check returns a list of problems.

An empty list means the export is fine. These read files (they are the I/O edge that tests
and `dlp export --verify` use), and they rely on the official loaders where one exists:
pycocotools for COCO, spaCy's DocBin, `datasets.load_from_disk`; for YOLO and VOC, which have
no loader to import, the rules Ultralytics and the VOC devkit apply.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from xml.etree import ElementTree

from ..errors import require
from .yolo import IMAGE_SUFFIXES, label_path

_EPS = 1e-6


def verify_coco(path: str | os.PathLike) -> list[str]:
    """pycocotools loads the file; ids are unique; references and boxes are valid.

    >>> verify_coco("missing.json")[0].startswith("cannot read")
    True
    """
    problems: list[str] = []
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return [f"cannot read {path}: {exc}"]
    from pycocotools.coco import COCO

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints progress
            COCO(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure of the official loader is the finding
        problems.append(f"pycocotools cannot load {path}: {exc!r}")
    for key in ("images", "annotations", "categories"):
        ids = [x.get("id") for x in data.get(key, [])]
        if len(set(ids)) != len(ids):
            problems.append(f"{key}: ids are not unique")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            problems.append(f"{key}: ids must be integers")
    images = {im.get("id"): im for im in data.get("images", [])}
    cats = {c.get("id") for c in data.get("categories", [])}
    for a in data.get("annotations", []):
        where = f"annotation {a.get('id')}"
        if a.get("image_id") not in images:
            problems.append(f"{where}: image_id {a.get('image_id')!r} is not an image")
            continue
        if a.get("category_id") not in cats:
            problems.append(f"{where}: category_id {a.get('category_id')!r} is not a category")
        if a.get("iscrowd", 0) not in (0, 1):
            problems.append(f"{where}: iscrowd must be 0 or 1")
        if "bbox" in a:
            x, y, w, h = a["bbox"]
            im = images[a["image_id"]]
            if w <= 0 or h <= 0 or x < -_EPS or y < -_EPS or x + w > im["width"] + _EPS or y + h > im["height"] + _EPS:
                problems.append(f"{where}: bbox {a['bbox']} is empty or outside the {im['width']}x{im['height']} image")
    return problems


def verify_yolo(root: str | os.PathLike, *, labels_only: bool = False) -> list[str]:
    """Ultralytics' rules: data.yaml keys, a label file beside each image, class < nc,
    normalised coordinates in [0, 1], 5 fields a line, no duplicate lines.

    With `labels_only` (an export written without images) the image folders may be empty
    or absent and only the label files are checked.
    """
    import yaml

    base = Path(root)
    try:
        conf = yaml.safe_load((base / "data.yaml").read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return [f"cannot read data.yaml: {exc}"]
    problems = [f"data.yaml: missing key {k!r}" for k in ("path", "train", "val", "names") if k not in conf]
    names = conf.get("names") or {}
    nc = len(names)
    if "nc" in conf and conf["nc"] != nc:
        problems.append(f"data.yaml: nc is {conf['nc']} but there are {nc} names")
    if isinstance(names, dict) and sorted(names) != list(range(nc)):
        problems.append("data.yaml: names keys must be 0..nc-1")
    for split in ("train", "val"):
        folder = base / str(conf.get(split, ""))
        if not conf.get(split) or not (folder.is_dir() or labels_only):
            problems.append(f"{split}: image folder {folder} does not exist")
            continue
        labels_dir = base / label_path(folder.relative_to(base).as_posix() + "/x.png").rsplit("/", 1)[0]
        labels = {p.relative_to(base).as_posix() for p in labels_dir.rglob("*.txt")} if labels_dir.is_dir() else set()
        if labels_only and not labels_dir.is_dir():
            problems.append(f"{split}: label folder {labels_dir} does not exist")
        if not labels_only:
            images = {p.relative_to(base).as_posix() for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
            expected = {label_path(i): i for i in images}
            problems += [f"{lab}: label file without an image" for lab in sorted(labels - set(expected))]
            problems += [f"{expected[lab]}: no label file beside the image" for lab in sorted(set(expected) - labels)]
        for lab in sorted(labels):
            problems += _yolo_lines(base / lab, lab, nc)
    return problems


def _yolo_lines(path: Path, rel: str, nc: int) -> list[str]:
    out = []
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln.strip()]
    if len(set(lines)) != len(lines):
        out.append(f"{rel}: duplicate lines (Ultralytics drops them)")
    for n, line in enumerate(lines, start=1):
        fields = line.split()
        try:
            cls, vals = int(fields[0]), [float(v) for v in fields[1:]]
        except (ValueError, IndexError):
            out.append(f"{rel}:{n}: not numbers: {line!r}")
            continue
        if len(vals) != 4:
            out.append(f"{rel}:{n}: expected 5 fields, got {len(fields)}")
        elif not 0 <= cls < nc:
            out.append(f"{rel}:{n}: class {cls} is not < nc = {nc}")
        elif not all(0.0 <= v <= 1.0 for v in vals) or vals[2] <= 0 or vals[3] <= 0:
            out.append(f"{rel}:{n}: coordinates must be in [0, 1] with w, h > 0: {line!r}")
    return out


def verify_voc(root: str | os.PathLike) -> list[str]:
    """Every annotation parses, has a size, and every box is 1 <= min <= max <= size;
    every id in ImageSets/Main/*.txt has an annotation file."""
    base = Path(root)
    ann_dir = base / "Annotations"
    if not ann_dir.is_dir():
        return [f"{ann_dir} does not exist"]
    problems = []
    ids = set()
    for p in sorted(ann_dir.rglob("*.xml")):
        rel = p.relative_to(ann_dir).with_suffix("").as_posix()
        ids.add(rel)
        try:
            root_el = ElementTree.parse(p).getroot()
            width, height = int(root_el.findtext("size/width")), int(root_el.findtext("size/height"))
        except (ElementTree.ParseError, TypeError, ValueError) as exc:
            problems.append(f"{rel}.xml: unreadable or no integer size: {exc}")
            continue
        if not root_el.findtext("filename"):
            problems.append(f"{rel}.xml: no filename")
        for k, obj in enumerate(root_el.iter("object")):
            try:
                x0, y0, x1, y1 = (int(obj.findtext(f"bndbox/{e}")) for e in ("xmin", "ymin", "xmax", "ymax"))
            except (TypeError, ValueError):
                problems.append(f"{rel}.xml: object {k}: bndbox must hold integers")
                continue
            if not (1 <= x0 <= x1 <= width and 1 <= y0 <= y1 <= height):
                problems.append(f"{rel}.xml: object {k}: box {x0},{y0},{x1},{y1} outside 1..{width} x 1..{height}")
            if not (obj.findtext("name") or "").strip():
                problems.append(f"{rel}.xml: object {k}: no name")
    for lst in sorted((base / "ImageSets" / "Main").glob("*.txt")):
        for line in filter(None, (ln.strip() for ln in lst.read_text("utf-8").splitlines())):
            if line not in ids:
                problems.append(f"{lst.name}: {line!r} has no annotation file")
    return problems


def verify_spacy(path: str | os.PathLike, *, expected_entities: int | None = None,
                 expected_docs: int | None = None, lang: str = "xx") -> list[str]:
    """spaCy's DocBin loads the file, with the expected numbers of docs and entities."""
    spacy = require("spacy", "spacy")
    from spacy.tokens import DocBin

    try:
        docs = list(DocBin().from_disk(path).get_docs(spacy.blank(lang).vocab))
    except Exception as exc:  # noqa: BLE001 - any failure of the official loader is the finding
        return [f"DocBin cannot load {path}: {exc!r}"]
    problems = []
    n_ents = sum(len(d.ents) for d in docs)
    if expected_docs is not None and len(docs) != expected_docs:
        problems.append(f"{path}: {len(docs)} docs, expected {expected_docs}")
    if expected_entities is not None and n_ents != expected_entities:
        problems.append(f"{path}: {n_ents} entities, expected {expected_entities}")
    return problems


def verify_hf(path: str | os.PathLike, *, expected_features=None, expected_rows: dict | None = None) -> list[str]:
    """`datasets.load_from_disk` reads a DatasetDict with `train` and `validation`, the
    expected features (a `datasets.Features`) and row counts ({split: n})."""
    ds_mod = require("datasets", "hf")
    try:
        dd = ds_mod.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure of the official loader is the finding
        return [f"load_from_disk cannot read {path}: {exc!r}"]
    if not isinstance(dd, ds_mod.DatasetDict) or set(dd) != {"train", "validation"}:
        return [f"{path}: expected a DatasetDict with train and validation, got {type(dd).__name__} {list(dd)}"]
    problems = []
    for split, ds in dd.items():
        if expected_features is not None and ds.features != expected_features:
            problems.append(f"{split}: features {ds.features} differ from {expected_features}")
        if expected_rows is not None and split in expected_rows and ds.num_rows != expected_rows[split]:
            problems.append(f"{split}: {ds.num_rows} rows, expected {expected_rows[split]}")
    return problems
