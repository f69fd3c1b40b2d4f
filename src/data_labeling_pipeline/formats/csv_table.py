"""CSV: `{split}.csv`, RFC 4180 (the `csv` module, CRLF line ends, quoted where needed), UTF-8.

Fixed columns per task type:
- image_classification: item_id, image, width, height, label (width and height are empty for an
  image outside the project that has no recorded size; `image` is then its URI);
- text_classification: item_id, text, label
- multi-label classification: `label` is replaced by one 0/1 column per class,
  `label:<name>`, in schema order;
- ner: item_id, start, end, label, span_text: one row per span (code-point offsets);
- bbox: item_id, image, width, height, label, x, y, w, h, iscrowd, rotation: one row per box.
An item without spans or boxes gets one row with those cells empty (an explicit negative),
so no labelled item disappears from the table.

Formula injection: a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (also
after a tab or carriage return) as a formula. Every text cell taken from the data (ids,
texts, paths, class names) that starts with one of `= + - @ \\t \\r` is prefixed with a
single quote `'`, which spreadsheets show as text (OWASP's advice). Numbers written by the
converter itself are left alone; they cannot start with such a character except a minus sign
of a negative rotation, which a spreadsheet reads as a number.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os

from ._boxes import clean_boxes, fmt_float
from ._dataset import SPLITS, Dataset, class_list, labeled
from ._disk import staged_dir
from ._missing import require_sizes
from ._report import LossReport

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Make a text cell inert in spreadsheets.

    >>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-1+2"), neutralise("Oslo")
    ('\\'=HYPERLINK("http://x")', "'-1+2", 'Oslo')
    """
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def columns(label_schema: dict) -> list[str]:
    """The header for a task type (and multi-label flag).

    >>> columns({"task_type": "ner", "classes": []})
    ['item_id', 'start', 'end', 'label', 'span_text']
    """
    task = label_schema["task_type"]
    if task == "ner":
        return ["item_id", "start", "end", "label", "span_text"]
    if task == "bbox":
        return ["item_id", "image", "width", "height", "label", "x", "y", "w", "h", "iscrowd", "rotation"]
    head = ["item_id", "image", "width", "height"] if task == "image_classification" else ["item_id", "text"]
    if label_schema.get("multi_label"):
        return head + [f"label:{c['name']}" for c in label_schema["classes"]]
    return head + ["label"]


def to_csv(dataset: Dataset, *, report: LossReport | None = None) -> dict[str, str]:
    """Build one CSV text per split.

    Args:
        dataset: the dataset (any task type).
        report: a LossReport to fill.

    Returns:
        {"train": text, "val": text}.

    Example:
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "text_classification", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 1, "name": "pos"}]}
        >>> to_csv(make_dataset([{"item_id": "a", "data": {"text": "=1+1"}}], {"a": {"label": "pos"}}, schema))["train"]
        "item_id,text,label\\r\\na,'=1+1,pos\\r\\n"
    """
    buffers = {s: io.StringIO(newline="") for s in SPLITS}
    _write_tables(dataset, buffers, report if report is not None else LossReport())
    return {s: buffers[s].getvalue() for s in SPLITS}


def _write_tables(dataset: Dataset, sinks: dict, report: LossReport) -> None:
    """Write each split's table into ``sinks[split]`` (text files or buffers), row by row."""
    schema = dataset.label_schema
    task = schema["task_type"]
    if task == "bbox":
        require_sizes(dataset, "CSV bbox", why="rows have width and height, and boxes are clipped to them")
    header = columns(schema)
    names = [c["name"] for c in schema["classes"]]
    writers = {s: csv.writer(sinks[s], lineterminator="\r\n") for s in SPLITS}
    for w in writers.values():
        w.writerow(header)
    for item, payload, split in labeled(dataset, report):
        rows = _rows(item, payload, split, task, schema, names, dataset.policies, report)
        if rows is None:
            report.count("empty_dropped")
            report.item(split, written=False)
            continue
        report.item(split, written=True)
        for row in rows:
            writers[split].writerow([neutralise(c) if isinstance(c, str) else fmt_float(c) for c in row])


def _rows(item, payload, split, task, schema, names, policies, report) -> list[list] | None:
    d = item["data"]
    iid = item["item_id"]
    if task in ("image_classification", "text_classification"):
        got = class_list(payload)
        for name in got:
            report.obj(split, name, written=True)
        # An image outside the project may have no recorded size: its cells stay empty.
        head = ([iid, d["image"], d.get("width", ""), d.get("height", "")] if task == "image_classification"
                else [iid, d["text"]])
        if schema.get("multi_label"):
            return [head + [1 if n in got else 0 for n in names]]
        return [head + [got[0]]]
    if task == "ner":
        text = d["text"]
        rows = []
        for sp in sorted(payload["spans"], key=lambda s: (s["start"], s["end"], s["label"])):
            report.obj(split, sp["label"], written=True)
            rows.append([iid, sp["start"], sp["end"], sp["label"], text[sp["start"]:sp["end"]]])
        if not rows:
            return None if policies["empty_images"] == "drop" else [[iid, "", "", "", ""]]
        return rows
    boxes = clean_boxes(payload["boxes"], d["width"], d["height"], split=split, crowd=policies["crowd"],
                        flag="iscrowd", report=report)
    head = [iid, d["image"], d["width"], d["height"]]
    if not boxes:
        return None if policies["empty_images"] == "drop" else [head + [""] * 7]
    return [head + [b.label, b.x, b.y, b.w, b.h, int(b.flagged),
                    b.source["rotation"] if b.source.get("rotation") else ""] for b in boxes]


def write_csv(dataset: Dataset, out_dir: str | os.PathLike, **options) -> LossReport:
    """Write `train.csv` and `val.csv` under `out_dir` (replaced as a whole); return the LossReport.

    Args:
        dataset: the dataset.
        out_dir: the export folder.
        **options: passed to `to_csv`.

    Example:
        >>> import tempfile
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "ner", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 1, "name": "LOC"}]}
        >>> ds = make_dataset([{"item_id": "a", "data": {"text": "in Oslo"}}],
        ...                   {"a": {"spans": [{"start": 3, "end": 7, "label": "LOC"}]}}, schema)
        >>> out = tempfile.mkdtemp()
        >>> _ = write_csv(ds, out)
        >>> from pathlib import Path
        >>> Path(out, "train.csv").read_bytes()
        b'item_id,start,end,label,span_text\\r\\na,3,7,LOC,Oslo\\r\\n'
    """
    report = options.pop("report", None) or LossReport()
    with staged_dir(out_dir, "csv") as tmp, contextlib.ExitStack() as files:
        # Straight to disk: a large export is never held as text.
        sinks = {s: files.enter_context(open(tmp / f"{s}.csv", "w", encoding="utf-8", newline=""))
                 for s in SPLITS}
        _write_tables(dataset, sinks, report, **options)
    return report
