"""HuggingFace Datasets: a `DatasetDict` with `train` and `validation`, via `save_to_disk`.

Columns by task type (every row also has `item_id`):
- image_classification: `image`, `label` (`ClassLabel`) or `labels` (a list of them when
  the schema is multi-label);
- text_classification: `text`, `label` / `labels`;
- ner: `text`, `tokens` and `ner_tags` (BIO, `Sequence(ClassLabel)` with names `O`, then
  `B-c`, `I-c` for each class in schema order). Tokens are words and single symbols
  (see `_spans.tokenize`); spans are mapped with the `span_alignment` policy, and spans
  that do not align or overlap a longer one are counted and left out;
- bbox: `image`, `width`, `height`, `objects` = {`bbox` ([x, y, w, h] pixels, float64),
  `category` (`ClassLabel`), `iscrowd`}.
ClassLabel names follow the schema's class order.

Images are a path string relative to the project by default (or the image's URI, `s3://...`,
`https://...`, for images outside it): it needs no file at export time and stores no copy.
`datasets.Image()` works offline too, but it embeds every image's bytes in the Arrow files (a
second copy of the images under DVC); pass `images_root` to get that (the images must exist;
decoding applies the EXIF orientation, as our sizes do).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import require
from ._boxes import clean_boxes
from ._dataset import Dataset, class_list, labeled
from ._disk import staged_dir
from ._missing import require_sizes
from ._report import LossReport
from ._spans import align, bio_tags, non_overlapping, tokenize

HF_SPLITS = {"train": "train", "val": "validation"}


def _features(ds_mod, schema: dict, image_feature):
    task = schema["task_type"]
    names = [c["name"] for c in schema["classes"]]
    cols = {"item_id": ds_mod.Value("string")}
    if task in ("image_classification", "bbox"):
        cols["image"] = image_feature
    else:
        cols["text"] = ds_mod.Value("string")
    if task in ("image_classification", "text_classification"):
        label = ds_mod.ClassLabel(names=names)
        if schema.get("multi_label"):
            cols["labels"] = ds_mod.Sequence(label)
        else:
            cols["label"] = label
    elif task == "ner":
        tags = ["O"] + [f"{p}-{n}" for n in names for p in ("B", "I")]
        cols["tokens"] = ds_mod.Sequence(ds_mod.Value("string"))
        cols["ner_tags"] = ds_mod.Sequence(ds_mod.ClassLabel(names=tags))
    else:
        cols["width"] = ds_mod.Value("int32")
        cols["height"] = ds_mod.Value("int32")
        cols["objects"] = ds_mod.Sequence({
            "bbox": ds_mod.Sequence(ds_mod.Value("float64"), length=4),
            "category": ds_mod.ClassLabel(names=names),
            "iscrowd": ds_mod.Value("bool"),
        })
    return ds_mod.Features(cols)


def to_hf(
    dataset: Dataset,
    *,
    images_root: str | os.PathLike | None = None,
    report: LossReport | None = None,
    batch_rows: int = 50_000,
):
    """Build a `datasets.DatasetDict` with `train` and `validation`.

    Args:
        dataset: the dataset (any task type).
        images_root: None writes image paths as strings; a folder (the project root) makes
            the `image` column a `datasets.Image()` with the bytes embedded.
        report: a LossReport to fill.
        batch_rows: rows turned into Arrow at a time (memory, not output: any value gives the same dataset;
            boxes take one batch).

    Example:
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "text_classification", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 4, "name": "neg"}, {"id": 2, "name": "pos"}]}
        >>> dd = to_hf(make_dataset([{"item_id": "a", "data": {"text": "good"}}], {"a": {"label": "pos"}}, schema))
        >>> dd["train"][0], dd["train"].features["label"].names
        ({'item_id': 'a', 'text': 'good', 'label': 1}, ['neg', 'pos'])
    """
    ds_mod = require("datasets", "hf")
    report = report if report is not None else LossReport()
    schema = dataset.label_schema
    task = schema["task_type"]
    if task == "bbox":
        require_sizes(dataset, "HuggingFace bbox", why="rows have width and height, and boxes are clipped to them")
    image_feature = ds_mod.Image() if images_root is not None else ds_mod.Value("string")
    features = _features(ds_mod, schema, image_feature)
    names = [c["name"] for c in schema["classes"]]
    index = {n: k for k, n in enumerate(names)}
    tag_index = {t: k for k, t in enumerate(features["ner_tags"].feature.names)} if task == "ner" else {}
    if task == "bbox":
        # Concatenated batches of nested box structs pickle differently from one from_dict (state.json's
        # fingerprint would follow the batching); boxes are never streamed, so they take one batch.
        batch_rows = sys.maxsize
    tables = {s: _SplitTable(ds_mod, features, batch_rows) for s in HF_SPLITS}
    for item, payload, split in labeled(dataset, report):
        d = item["data"]
        row: dict = {"item_id": item["item_id"]}
        n_objects = None
        if task in ("image_classification", "bbox"):
            row["image"] = str(Path(images_root) / d["image"]) if images_root is not None else d["image"]
        else:
            row["text"] = d["text"]
        if task in ("image_classification", "text_classification"):
            got = class_list(payload)
            for name in got:
                report.obj(split, name, written=True)
            if schema.get("multi_label"):
                row["labels"] = [index[n] for n in got]
            else:
                row["label"] = index[got[0]]
        elif task == "ner":
            row["tokens"], row["ner_tags"], n_objects = _ner_row(d["text"], payload["spans"], split,
                                                                 dataset.policies["span_alignment"], report)
            row["ner_tags"] = [tag_index[t] for t in row["ner_tags"]]
        else:
            boxes = clean_boxes(payload["boxes"], d["width"], d["height"], split=split,
                                crowd=dataset.policies["crowd"], flag="iscrowd", report=report)
            row["width"], row["height"] = d["width"], d["height"]
            row["objects"] = {"bbox": [[b.x, b.y, b.w, b.h] for b in boxes],
                              "category": [index[b.label] for b in boxes],
                              "iscrowd": [b.flagged for b in boxes]}
            n_objects = len(boxes)
        if n_objects == 0 and dataset.policies["empty_images"] == "drop":
            report.count("empty_dropped")
            report.item(split, written=False)
            continue
        report.item(split, written=True)
        tables[split].append(row)
    return ds_mod.DatasetDict({HF_SPLITS[s]: tables[s].dataset() for s in HF_SPLITS})


class _SplitTable:
    """One split's rows as Arrow, built ``batch_rows`` at a time: memory holds the Arrow columns and one
    batch of Python rows, not every row as Python objects. The result equals one `Dataset.from_dict` of
    all the rows (one chunk per column; `save_to_disk` writes the same bytes)."""

    def __init__(self, ds_mod, features, batch_rows: int) -> None:
        self.ds_mod, self.features, self.batch_rows = ds_mod, features, batch_rows
        self.parts: list = []
        self.pending: dict[str, list] = {k: [] for k in features}

    def append(self, row: dict) -> None:
        for k, v in row.items():
            self.pending[k].append(v)
        if len(self.pending["item_id"]) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        self.parts.append(self.ds_mod.Dataset.from_dict(self.pending, features=self.features).data.table)
        self.pending = {k: [] for k in self.features}

    def dataset(self):
        import pyarrow as pa
        from datasets.table import InMemoryTable

        if self.pending["item_id"] or not self.parts:
            self._flush()
        table = self.parts[0] if len(self.parts) == 1 else pa.concat_tables(self.parts).combine_chunks()
        self.parts = []
        # from_dict hands Dataset a table without the schema metadata Dataset adds (the fingerprint in
        # state.json hashes what it was given).
        table = table.replace_schema_metadata(None)
        info = self.ds_mod.DatasetInfo()  # as from_dict builds it: the fingerprint hashes the info too
        info.features = self.features
        return self.ds_mod.Dataset(InMemoryTable(table), info=info)


def _ner_row(text: str, spans: list[dict], split: str, mode: str, report: LossReport):
    tokens = tokenize(text)
    ranges = []
    for sp in spans:
        r = align(sp["start"], sp["end"], tokens, mode)
        if r is None:
            report.count("spans_not_aligned")
            report.obj(split, sp["label"], written=False)
            continue
        ranges.append((r[0], r[1], sp["label"]))
    kept, dropped = non_overlapping(ranges)
    report.count("spans_overlapping", dropped)
    left = set(kept)
    for r in ranges:
        report.obj(split, r[2], written=r in left)
        left.discard(r)
    return [text[s:e] for s, e in tokens], bio_tags(len(tokens), kept), len(kept)


def write_hf(dataset: Dataset, out_dir: str | os.PathLike, **options) -> LossReport:
    """`save_to_disk` the DatasetDict into `out_dir` (replaced as a whole); return the LossReport.

    Args:
        dataset: the dataset.
        out_dir: the export folder (`datasets.load_from_disk(out_dir)` reads it back).
        **options: passed to `to_hf`.

    Example:
        >>> import tempfile
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "ner", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 1, "name": "LOC"}]}
        >>> ds = make_dataset([{"item_id": "a", "data": {"text": "in Oslo"}}],
        ...                   {"a": {"spans": [{"start": 3, "end": 7, "label": "LOC"}]}}, schema)
        >>> import datasets
        >>> out = tempfile.mkdtemp() + "/hf"
        >>> _ = write_hf(ds, out)
        >>> datasets.load_from_disk(out)["train"][0]["ner_tags"]
        [0, 1]
    """
    ds_mod = require("datasets", "hf")
    report = options.pop("report", None) or LossReport()
    built = to_hf(dataset, report=report, **options)
    was_disabled = ds_mod.are_progress_bars_disabled()
    ds_mod.disable_progress_bars()  # a stage's log is no place for progress bars
    try:
        with staged_dir(out_dir, "hf") as tmp:
            # An empty split gets no shard by default, and load_from_disk then fails on it
            # (datasets 5.2); one explicit shard makes it load as an empty split.
            shards = {s: 1 for s in built if built[s].num_rows == 0}
            built.save_to_disk(str(tmp), num_shards=shards or None)
    finally:
        if not was_disabled:
            ds_mod.enable_progress_bars()
    return report
