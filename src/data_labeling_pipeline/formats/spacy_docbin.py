"""spaCy: `{split}.spacy` DocBin files, ready for `spacy train`.

- NER: each span goes through `doc.char_span(start, end, label, alignment_mode=...)` with
  the `span_alignment` policy; spans that do not align are counted, never guessed.
  `doc.ents` holds the non-overlapping spans (longest first, as `spacy.util.filter_spans`),
  and every aligned span, overlapping ones included, is kept in `doc.spans[spans_key]`
  for span categorisation.
- Text classification: `doc.cats` has every class of the schema, 1.0 for the item's
  class(es) and 0.0 for the others (so `textcat` and `textcat_multilabel` both train).
- The item id is in `doc.user_data["item_id"]`.
- Only a blank pipeline is used (`spacy.blank(lang)`, default "xx"): its tokenizer, no model
  download.
"""

from __future__ import annotations

import os

from ..errors import DataError, require
from ._dataset import SPLITS, Dataset, class_list, labeled
from ._disk import put, staged_dir
from ._report import LossReport
from ._spans import non_overlapping


def to_spacy(
    dataset: Dataset,
    *,
    lang: str = "xx",
    spans_key: str = "sc",
    report: LossReport | None = None,
) -> dict:
    """Build one DocBin per split.

    Args:
        dataset: the dataset (task type ner or text_classification).
        lang: the language of the blank tokenizer.
        spans_key: the `doc.spans` key holding every aligned span.
        report: a LossReport to fill.

    Returns:
        {"train": DocBin, "val": DocBin}.

    Example:
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "ner", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 1, "name": "LOC"}]}
        >>> ds = make_dataset([{"item_id": "a", "data": {"text": "😀 in Oslo"}}],
        ...                   {"a": {"spans": [{"start": 5, "end": 9, "label": "LOC"}]}}, schema)
        >>> bins = to_spacy(ds)
        >>> import spacy
        >>> [(e.text, e.label_) for e in list(bins["train"].get_docs(spacy.blank("xx").vocab))[0].ents]
        [('Oslo', 'LOC')]
    """
    spacy = require("spacy", "spacy")
    from spacy.tokens import DocBin, Span

    report = report if report is not None else LossReport()
    task = dataset.label_schema["task_type"]
    if task not in ("ner", "text_classification"):
        raise DataError.single("label_schema", None, "$.task_type",
                               f"spaCy export supports ner and text_classification, got {task!r}")
    mode = dataset.policies["span_alignment"]
    classes = [c["name"] for c in dataset.label_schema["classes"]]
    nlp = spacy.blank(lang)
    bins = {s: DocBin(store_user_data=True) for s in SPLITS}
    for item, payload, split in labeled(dataset, report):
        doc = nlp.make_doc(item["data"]["text"])
        doc.user_data["item_id"] = item["item_id"]
        if task == "text_classification":
            chosen = set(class_list(payload))
            doc.cats = {name: 1.0 if name in chosen else 0.0 for name in classes}
            for name in class_list(payload):
                report.obj(split, name, written=True)
            n_written = len(chosen)
        else:
            aligned = []
            for sp in payload["spans"]:
                span = doc.char_span(sp["start"], sp["end"], label=sp["label"], alignment_mode=mode)
                if span is None:
                    report.count("spans_not_aligned")
                    report.obj(split, sp["label"], written=False)
                    continue
                aligned.append(span)
            ranges, dropped = non_overlapping([(s.start, s.end, s.label_) for s in aligned])
            report.count("spans_overlapping", dropped)
            kept = set(ranges)
            for s in aligned:
                report.obj(split, s.label_, written=(s.start, s.end, s.label_) in kept)
                kept.discard((s.start, s.end, s.label_))  # a duplicate counts once
            doc.ents = [Span(doc, a, b, label=label) for a, b, label in ranges]
            doc.spans[spans_key] = sorted(aligned, key=lambda s: (s.start, s.end, s.label_))
            n_written = len(ranges)
        if not n_written and task == "ner" and dataset.policies["empty_images"] == "drop":
            report.count("empty_dropped")
            report.item(split, written=False)
            continue
        report.item(split, written=True)
        bins[split].add(doc)
    return bins


def write_spacy(dataset: Dataset, out_dir: str | os.PathLike, **options) -> LossReport:
    """Write `train.spacy` and `val.spacy` under `out_dir` (replaced as a whole).

    Args:
        dataset: the dataset.
        out_dir: the export folder.
        **options: passed to `to_spacy`.

    Returns:
        The LossReport of the conversion.

    Example:
        >>> import tempfile
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "ner", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 1, "name": "LOC"}]}
        >>> ds = make_dataset([{"item_id": "a", "data": {"text": "in Oslo"}}],
        ...                   {"a": {"spans": [{"start": 3, "end": 7, "label": "LOC"}]}}, schema)
        >>> out = tempfile.mkdtemp()
        >>> write_spacy(ds, out).as_dict()["objects"]
        {'train': {'LOC': {'in': 1, 'out': 1}}}
    """
    report = options.pop("report", None) or LossReport()
    bins = to_spacy(dataset, report=report, **options)
    with staged_dir(out_dir, "spacy") as tmp:
        for split, docbin in bins.items():
            put(tmp, f"{split}.spacy", docbin.to_bytes())
    return report
