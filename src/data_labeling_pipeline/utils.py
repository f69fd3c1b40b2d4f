"""The seed's `FormatConverter`: any supported format to any other, with a loss report.

Readers: COCO, Pascal VOC, YOLO and Label Studio JSON. Writers: COCO, VOC, YOLO,
spaCy, HuggingFace Datasets, CSV and Label Studio JSON. Image paths in the input
are resolved against ``image_dir`` (default: the input's folder) and may never
leave it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data_labeling_pipeline.errors import DataError, PipelineError, Problem

READERS = ("coco", "voc", "yolo", "label_studio")
WRITERS = ("coco", "voc", "yolo", "spacy", "huggingface", "csv", "label_studio")
ALIASES = {"hf": "huggingface", "pascal_voc": "voc", "labelstudio": "label_studio", "ls": "label_studio",
           "json": "label_studio"}


class FormatConverter:
    """Convert labeled datasets between formats.

    Example:
        >>> FormatConverter().formats()["read"]
        ('coco', 'voc', 'yolo', 'label_studio')
    """

    def formats(self) -> dict[str, tuple[str, ...]]:
        return {"read": READERS, "write": WRITERS}

    def convert(
        self,
        input_path: str | Path,
        input_format: str,
        output_path: str | Path,
        output_format: str,
        image_dir: str | Path | None = None,
        *,
        rebase_paths: bool = False,
        verify: bool = True,
        classes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Read ``input_path`` as ``input_format`` and write ``output_format`` into ``output_path``.

        Args:
            input_path: A COCO JSON file, a VOC or YOLO folder, or a Label Studio JSON export.
            input_format: One of ``coco``, ``voc``, ``yolo``, ``label_studio``.
            output_path: The output folder (replaced as a whole).
            output_format: One of ``coco``, ``voc``, ``yolo``, ``spacy``, ``huggingface``,
                ``csv``, ``label_studio``.
            image_dir: Where the images are; image paths in the input are relative to it.
            rebase_paths: Make absolute image paths inside ``image_dir`` relative to it
                (others are refused, never followed).
            verify: Read the output back with its official loader.
            classes: Class order for inputs that do not declare one (Label Studio JSON); default:
                the order in which labels first appear.

        Returns:
            The loss report: items and objects in and out per split and class, and every
            event (crowd regions dropped, boxes clipped, spans not aligned, ...).
        """
        from data_labeling_pipeline.formats.registry import verify_format

        source, out = Path(input_path), Path(output_path)
        reader, writer = _name(input_format, READERS, "input"), _name(output_format, WRITERS, "output")
        if not source.exists():
            raise PipelineError(f"{source} does not exist")
        root = Path(image_dir) if image_dir is not None else (source.parent if source.is_file() else source)
        dataset = read_dataset(source, reader, root=root, rebase_paths=rebase_paths, classes=classes)
        report = _write(writer, dataset, out, root)
        if verify:
            problems = verify_format(writer, out, dataset)
            if problems:
                raise DataError([Problem(str(out), None, writer, p) for p in problems])
        return report

    def to_huggingface(
        self,
        annotations_path: str | Path,
        output_dir: str | Path,
        push_to_hub: bool = False,
        *,
        repo_id: str | None = None,
        input_format: str | None = None,
        image_dir: str | Path | None = None,
        classes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Convert annotations (Label Studio export, COCO, VOC or YOLO) to a HF ``DatasetDict`` on disk.

        With ``push_to_hub=True`` the saved dataset is also pushed to ``repo_id`` on the
        Hugging Face Hub; that needs network access and a token, and fails with a clear
        error when either is missing. It is never a silent no-op.
        """
        source = Path(annotations_path)
        fmt = input_format or _guess_format(source)
        report = self.convert(source, fmt, output_dir, "huggingface", image_dir=image_dir, classes=classes)
        if push_to_hub:
            _push(Path(output_dir), repo_id)
        return report


def read_dataset(source: Path, reader: str, *, root: Path, rebase_paths: bool = False,
                 classes: list[str] | None = None):
    """A `formats.Dataset` from a file or folder in one of the readable formats."""
    from data_labeling_pipeline import formats

    rebase = str(root.resolve()) if rebase_paths else None
    if reader == "coco":
        return formats.read_coco(source, image_dir="", rebase_paths=rebase)
    if reader == "voc":
        return formats.read_voc(source, image_dir="", rebase_paths=rebase)
    if reader == "yolo":
        return formats.read_yolo(source)
    return _read_label_studio(source, root, classes)


def _read_label_studio(source: Path, root: Path, declared: list[str] | None = None):
    """A Label Studio export: the consensus of its annotators (ground truth first) per task."""
    from data_labeling_pipeline.formats import labels_from_consensus, make_dataset
    from data_labeling_pipeline.labels import new_label_schema
    from data_labeling_pipeline.labelstudio.exports import guess_task_type, parse_export
    from data_labeling_pipeline.media import image_size
    from data_labeling_pipeline.quality.agree import AgreeOptions, agree

    try:
        document = json.loads(source.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError.single(str(source), exc.lineno, "", f"invalid JSON: {exc.msg}") from None
    task_type = guess_task_type(document)
    parsed = parse_export(document, task_type=task_type, classes=declared, source_file=str(source))
    if parsed.problems:
        raise DataError(list(parsed.problems))
    classes = list(declared) if declared else _classes_in_order(parsed.annotations)
    if not classes:
        raise DataError.single(str(source), None, "$", "the export has no labelled annotation to convert")
    schema = new_label_schema(task_type, classes)
    items = parsed.items
    for item in items:  # classification exports carry no image size: read the header
        data = item["data"]
        if "image" in data and not data.get("width"):
            data["width"], data["height"] = image_size(root / data["image"])
    decisions = {a["item_id"]: a for a in parsed.annotations if a.get("ground_truth")}
    result = agree(parsed.annotations, item_ids=[i["item_id"] for i in items], decisions=decisions,
                   options=AgreeOptions(task_type=task_type, classes=classes, consensus_method="majority",
                                        n_resamples=0, spot_check_rate=0.0))
    labels, _ = labels_from_consensus(result.consensus)
    return make_dataset(items, labels, schema)


def _classes_in_order(annotations: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for record in annotations:
        if record.get("label") is not None:
            seen.setdefault(record["label"], None)
        for region in (record.get("spans") or []) + (record.get("boxes") or []):
            seen.setdefault(region["label"], None)
    return list(seen)


def _write(writer: str, dataset, out: Path, root: Path) -> dict[str, Any]:
    from data_labeling_pipeline.formats.registry import write_format

    return write_format(writer, dataset, out, images_root=root).as_dict()


def _name(value: str, allowed: tuple[str, ...], side: str) -> str:
    name = ALIASES.get(value.lower(), value.lower())
    if name not in allowed:
        raise PipelineError(f"unknown {side} format {value!r}; expected one of {list(allowed)}")
    return name


def _guess_format(source: Path) -> str:
    if source.is_dir():
        return "yolo" if (source / "data.yaml").exists() else "voc"
    document = json.loads(source.read_text("utf-8"))
    return "coco" if isinstance(document, dict) and "images" in document else "label_studio"


def _push(folder: Path, repo_id: str | None) -> None:
    from data_labeling_pipeline.errors import require

    if not repo_id:
        raise PipelineError("push_to_hub=True needs repo_id='<user>/<dataset>'")
    datasets = require("datasets", "hf")
    try:
        datasets.load_from_disk(str(folder)).push_to_hub(repo_id)
    except Exception as exc:  # network, auth and hub errors come in many types
        raise PipelineError(
            f"could not push {folder} to the Hugging Face Hub as {repo_id}: {exc}. The dataset is saved "
            f"locally in {folder}; push it later with datasets.load_from_disk(...).push_to_hub(...)"
        ) from exc
