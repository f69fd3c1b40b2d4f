"""The seed's `FormatConverter`: any supported format to any other, with a loss report.

Readers: COCO, Pascal VOC, YOLO and Label Studio JSON. Writers: COCO, VOC, YOLO,
spaCy, HuggingFace Datasets, CSV and Label Studio JSON. Image paths in the input
are resolved against ``image_dir`` (default: the input's folder) and may never
leave it.

Image sizes come from the source annotations (COCO ``width``/``height``, VOC ``size``,
Label Studio's ``original_width``); only where the source has none (YOLO, some COCO and
VOC files, Label Studio classification exports) is an image's header read, and a size that
can be found nowhere is one clear error. ``labels_only=True`` writes no image links or
copies, so labels convert on a machine that does not hold the images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data_labeling_pipeline.errors import DataError, PipelineError, Problem

# How to fix missing images or sizes, in the words of `convert`'s keywords (the CLI has its own).
IMAGES_FIX = "pass image_dir=<the folder where they live>, or labels_only=True to write labels without images"
SIZES_FIX = ("pass image_dir=<the folder the images are in> so their sizes are read from the file headers "
             "(nothing is copied)")

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
        labels_only: bool = False,
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
            labels_only: Write labels without image links or copies (YOLO label files and
                data.yaml; VOC and COCO never hold images), so the images need not be here.

        Returns:
            The loss report: items and objects in and out per split and class, and every
            event (crowd regions dropped, boxes clipped, spans not aligned, ...).

        Raises:
            MissingImagesError: YOLO output without ``labels_only`` and images not in
                ``image_dir``: one line, how many, the first, and the fix.
            MissingSizesError: an image size the source does not record and no image header
                to read it from (YOLO input, or COCO/VOC files without sizes).

        Example:
            >>> import json, tempfile
            >>> from pathlib import Path
            >>> tmp = Path(tempfile.mkdtemp())
            >>> coco = {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 4}],
            ...         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 2]}],
            ...         "categories": [{"id": 1, "name": "car"}]}
            >>> _ = (tmp / "in.json").write_text(json.dumps(coco))
            >>> report = FormatConverter().convert(tmp / "in.json", "coco", tmp / "yolo", "yolo", labels_only=True)
            >>> (tmp / "yolo" / "labels" / "train" / "a.txt").read_text()
            '0 0.25 0.25 0.5 0.5\\n'
        """
        from data_labeling_pipeline.formats import MissingImagesError, MissingSizesError
        from data_labeling_pipeline.formats.registry import verify_format

        source, out = Path(input_path), Path(output_path)
        reader, writer = _name(input_format, READERS, "input"), _name(output_format, WRITERS, "output")
        if not source.exists():
            raise PipelineError(f"{source} does not exist")
        root = Path(image_dir) if image_dir is not None else (source.parent if source.is_file() else source)
        try:
            dataset = read_dataset(source, reader, root=root, rebase_paths=rebase_paths, classes=classes)
            report = _write(writer, dataset, out, root, labels_only=labels_only)
        except MissingImagesError as exc:
            raise exc.with_fix(IMAGES_FIX) from None
        except MissingSizesError as exc:
            raise exc.with_fix(SIZES_FIX) from None
        if verify:
            problems = verify_format(writer, out, dataset, labels_only=labels_only)
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
        return formats.read_coco(source, image_dir="", rebase_paths=rebase, images_root=root)
    if reader == "voc":
        return formats.read_voc(source, image_dir="", rebase_paths=rebase, images_root=root)
    if reader == "yolo":
        return formats.read_yolo(source, images_root=root)
    return _read_label_studio(source, root, classes)


def _read_label_studio(source: Path, root: Path, declared: list[str] | None = None):
    """A Label Studio export: the consensus of its annotators (ground truth first) per task."""
    from data_labeling_pipeline.formats import MissingSizesError, labels_from_consensus, make_dataset, read_sizes
    from data_labeling_pipeline.labels import new_label_schema
    from data_labeling_pipeline.labelstudio.exports import guess_task_type, parse_export
    from data_labeling_pipeline.labelstudio.files import read_export_file
    from data_labeling_pipeline.quality.agree import AgreeOptions, agree

    # The project's label config, when it lies beside the export, names its data key and control.
    document, config = read_export_file(source)
    task_type = guess_task_type(document, label_config=config)
    parsed = parse_export(document, task_type=task_type, classes=declared, source_file=str(source),
                          label_config=config)
    if parsed.problems:
        raise DataError(list(parsed.problems))
    classes = list(declared) if declared else _classes_in_order(parsed.annotations)
    if not classes:
        raise DataError.single(str(source), None, "$", "the export has no labelled annotation to convert")
    schema = new_label_schema(task_type, classes)
    items = parsed.items
    # Classification exports carry no image size: read it from the header, where the image is.
    unsized = [item["data"]["image"] for item in items if "image" in item["data"] and not item["data"].get("width")]
    sizes = read_sizes(unsized, root)
    if len(sizes) < len(unsized):
        raise MissingSizesError([p for p in unsized if p not in sizes], source, fix=SIZES_FIX,
                                why="Label Studio exports of image classification do not record image sizes "
                                f"(no image file for them in {root.absolute()})")
    for item in items:
        data = item["data"]
        if data.get("image") in sizes and not data.get("width"):
            data["width"], data["height"] = sizes[data["image"]]
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


def _write(writer: str, dataset, out: Path, root: Path, *, labels_only: bool = False) -> dict[str, Any]:
    from data_labeling_pipeline.formats.registry import write_format

    return write_format(writer, dataset, out, images_root=root, labels_only=labels_only).as_dict()


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
