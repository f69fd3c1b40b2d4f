"""Every export format by name: write one, and read it back with its official loader."""

from __future__ import annotations

import json
from pathlib import Path

# What each format can carry.
SUPPORTED = {
    "coco": ("bbox", "image_classification"),
    "voc": ("bbox",),
    "yolo": ("bbox",),
    "spacy": ("ner", "text_classification"),
    "huggingface": ("image_classification", "text_classification", "ner", "bbox"),
    "csv": ("image_classification", "text_classification", "ner", "bbox"),
    "label_studio": ("image_classification", "text_classification", "ner", "bbox"),
}


def write_format(name: str, dataset, out_dir: Path, *, images_root: str | Path = ".", version: str = "",
                 description: str = "", labels_only: bool = False):
    """Write ``dataset`` as format ``name`` into ``out_dir``; return the LossReport.

    Args:
        name: A key of :data:`SUPPORTED`.
        dataset: A :class:`Dataset`.
        out_dir: The folder to (re)write.
        images_root: The folder item image paths are relative to (YOLO links images from it).
        version: The dataset version written into COCO ``info``.
        description: The dataset description in COCO ``info``.
        labels_only: Write no image links or copies (YOLO: label files and data.yaml only; the
            other formats never hold images), so the images need not be on this machine.

    Raises:
        MissingImagesError: YOLO without ``labels_only``, when images to link do not exist.
    """
    from . import write_coco, write_csv, write_hf, write_spacy, write_voc, write_yolo

    if name == "coco":
        return write_coco(dataset, out_dir, version=version, description=description)
    if name == "voc":
        return write_voc(dataset, out_dir)
    if name == "yolo":
        return write_yolo(dataset, out_dir, images_root=images_root, link="none" if labels_only else "symlink")
    if name == "spacy":
        return write_spacy(dataset, out_dir)
    if name == "huggingface":
        return write_hf(dataset, out_dir)
    if name == "csv":
        return write_csv(dataset, out_dir)
    if name == "label_studio":
        return write_label_studio(dataset, out_dir)
    raise ValueError(f"unknown export format {name!r}; expected one of {sorted(SUPPORTED)}")


def write_label_studio(dataset, out_dir: Path):
    """Label Studio import JSON (``tasks.json``): one task per item, the label as an annotation."""
    from ..labels import class_names
    from ..labelstudio.exports import to_label_studio_tasks
    from ..records import atomic_write_text
    from ._report import LossReport

    report = LossReport()
    schema = dataset.label_schema
    annotations = []
    for item in dataset.items:
        payload = dataset.labels.get(item["item_id"])
        split = dataset.split.get(item["item_id"], "train")
        report.item(split, written=payload is not None)
        if payload is None:
            report.count("unlabeled_skipped")
            continue
        annotations.append({"item_id": item["item_id"], "annotator": "consensus", **payload})
        for region in payload.get("spans") or payload.get("boxes") or []:
            report.obj(split, region["label"], written=True)
        if "label" in payload:
            report.obj(split, payload["label"], written=True)
    tasks = to_label_studio_tasks(dataset.items, annotations, task_type=schema["task_type"],
                                  classes=class_names(schema), multi_label=schema.get("multi_label", False))
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "tasks.json", json.dumps(tasks, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    return report


def verify_format(name: str, folder: Path, dataset, *, labels_only: bool = False) -> list[str]:
    """Problems found by the official loader of a format (empty: it loads as expected).

    ``labels_only``: the export was written without images (YOLO label files are checked,
    not paired with images).
    """
    from . import verify

    if name == "coco":
        return [p for split in ("train", "val") if (f := folder / "annotations" / f"instances_{split}.json").exists()
                for p in verify.verify_coco(f)]
    if name == "yolo":
        return verify.verify_yolo(folder, labels_only=labels_only)
    if name == "voc":
        return verify.verify_voc(folder)
    if name == "spacy":
        return [p for split in ("train", "val") if (f := folder / f"{split}.spacy").exists()
                for p in verify.verify_spacy(f)]
    if name == "huggingface":
        return verify.verify_hf(folder)
    if name == "label_studio":
        return _verify_label_studio(folder / "tasks.json", dataset)
    return []


def _verify_label_studio(path: Path, dataset) -> list[str]:
    from ..labels import class_names
    from ..labelstudio.exports import parse_export

    parsed = parse_export(json.loads(path.read_text("utf-8")), task_type=dataset.label_schema["task_type"],
                          classes=class_names(dataset.label_schema), source_file=str(path))
    problems = [str(p) for p in parsed.problems]
    if len(parsed.annotations) != len(dataset.labels):
        problems.append(f"{path.name}: {len(parsed.annotations)} annotations read back, {len(dataset.labels)} written")
    return problems
