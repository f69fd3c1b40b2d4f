"""The export stage: consensus labels -> the configured formats, split, verified, with a loss report.

Reads items, the consensus and the label schema; writes `labeled_data/<format>/`
(each with `export_report.json`) and `metrics/export.json` (numbers only). Items
held for review (`quality.review_gate`) and items without a consensus label are
not exported, and are counted. Both carry the estimated accuracy of the exported
labels per split and overall (`all`): one minus their mean expected error from the
consensus, reviewed items counting as correct (classification; spans and boxes have
no calibrated expected error). Everything is written into a staging folder
first: with `export.fail_on_loss` a loss leaves the previous export untouched.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, Problem, ProjectError
from ..project import ITEMS, Project
from ..records import replace_dir, write_json

CONSENSUS = "annotations/consensus.jsonl"
METRICS = "metrics/export.json"
REPORT = "export_report.json"

# Report events that mean something did not reach the output as it was (export.fail_on_loss).
LOSSES = ("crowd_dropped", "boxes_clipped", "boxes_degenerate", "spans_not_aligned", "spans_overlapping",
          "empty_dropped")


@dataclass
class ExportSummary:
    formats: dict[str, dict] = field(default_factory=dict)
    exported: int = 0
    held: int = 0
    unlabeled: int = 0
    rotated_dropped: int = 0
    estimated_accuracy: dict | None = None

    def describe(self) -> str:
        shown = ", ".join(f"{name} ({sum(r['items'].get(s, {}).get('out', 0) for s in r['items'])} items)"
                          for name, r in sorted(self.formats.items()))
        estimate = ""
        if self.estimated_accuracy:
            parts = ", ".join(f"{k} {v:.3f}" for k, v in sorted(self.estimated_accuracy.items()) if k != "all")
            estimate = f"; estimated accuracy {self.estimated_accuracy['all']:.3f} ({parts})"
        return (f"export: {self.exported} items -> {shown}; {self.held} held for review, "
                f"{self.unlabeled} without a label{estimate}")


def run_export(project: Project, *, verify: bool = False) -> ExportSummary:
    """Write every configured format under `export.output_dir`; return what was written."""
    from ..formats.registry import write_format

    params = project.params
    options = params["export"]
    if _streamable(project):
        try:
            dataset, summary, n_labels = _streamed_dataset(project)
        except _NotStreamable:  # the in-memory path reads the files again and names every problem
            dataset, summary, n_labels = _in_memory_dataset(project)
    else:
        dataset, summary, n_labels = _in_memory_dataset(project)
    accuracy = summary.estimated_accuracy
    version = dataset_version(project)
    output = project.path(options["output_dir"])
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        metrics: dict = {"items_exported": n_labels, "items_held_for_review": summary.held,
                         "items_unlabeled": summary.unlabeled, "rotated_dropped": summary.rotated_dropped}
        if accuracy is not None:
            metrics["estimated_accuracy"] = accuracy
        for name in options["formats"]:
            report = write_format(name, dataset, staging / name, images_root=project.root, version=version,
                                  description=project.params["project"]["name"])
            payload = report.as_dict()
            if accuracy is not None:
                payload["estimated_accuracy"] = accuracy
            write_json(staging / name / REPORT, payload)
            summary.formats[name] = payload
            metrics[name] = _numbers(payload)
            if verify:
                _verify(name, staging / name, dataset)
        lost = {(name, event): n for name, r in summary.formats.items() for event, n in r["events"].items()
                if event in LOSSES}
        if options["fail_on_loss"] and (lost or summary.rotated_dropped):
            lines = [f"{name}: {n} {event.replace('_', ' ')}" for (name, event), n in sorted(lost.items())]
            if summary.rotated_dropped:
                lines.append(f"all formats: {summary.rotated_dropped} rotated boxes dropped (export.rotation: drop)")
            raise DataError([Problem("params.yaml", None, "$.export.fail_on_loss",
                                     f"the export lost data: {line}; the previous export is unchanged")
                             for line in lines])
        replace_dir(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_json(project.path(METRICS), metrics)
    summary.exported = n_labels
    return summary


def _policies(options: dict) -> dict[str, str]:
    return {k: options[k] for k in ("crowd", "empty_images", "span_alignment")}


def _in_memory_dataset(project: Project):
    """(Dataset, summary, number of labelled items): items and consensus held in memory, for every format."""
    from ..formats import assign_split, labels_from_consensus, make_dataset

    options = project.params["export"]
    items = project.read_items(ITEMS)
    consensus = _read_consensus(project)
    labels, left_out = labels_from_consensus(consensus, drop_rotated=options["rotation"] == "drop")
    summary = ExportSummary(held=left_out["held"], rotated_dropped=left_out["rotated_dropped"])
    summary.unlabeled = len(items) - len(labels) - summary.held
    split = assign_split(labels, val_fraction=round(1 - options["train_val_split"], 12), seed=options["seed"])
    summary.estimated_accuracy = estimated_accuracy_by_split((c, split[c["item_id"]]) for c in consensus
                                                             if c["item_id"] in split)
    dataset = make_dataset([i for i in items if i["item_id"] in labels], labels, project.label_schema,
                           split=split, policies=_policies(options))
    return dataset, summary, len(labels)


# Formats that write row by row in item order: the stage streams items and consensus to them.
STREAMED_FORMATS = frozenset({"csv", "huggingface"})


class _NotStreamable(Exception):
    """The files are not as the streamed export reads them (out of order, an id twice, a label of no item,
    a bad payload)."""


def _streamable(project: Project) -> bool:
    # Boxes need every image's size before the first row (a check over the whole dataset).
    formats = set(project.params["export"]["formats"])
    return bool(formats) and formats <= STREAMED_FORMATS and project.label_schema["task_type"] != "bbox"


def _streamed_dataset(project: Project):
    """(StreamedDataset, summary, number of labelled items), as `_in_memory_dataset` gives them, from one
    checking pass over items and consensus: memory holds a few bytes per item, not the records."""
    from ..formats import check_policies
    from ..formats._dataset import StreamedDataset
    from ..formats.split import check_val_fraction

    options = project.params["export"]
    check_val_fraction(round(1 - options["train_val_split"], 12))
    policies = check_policies(_policies(options))
    counts = {"items": 0, "labels": 0, "held": 0, "rotated_dropped": 0}
    accuracy = estimated_accuracy_by_split((record, split) for _, _, split, record in _joined(project, counts))
    summary = ExportSummary(held=counts["held"], rotated_dropped=counts["rotated_dropped"],
                            unlabeled=counts["items"] - counts["labels"] - counts["held"],
                            estimated_accuracy=accuracy)

    def rows():
        return ((item, payload, split) for item, payload, split, _ in _joined(project))

    return StreamedDataset(rows, project.label_schema, policies), summary, counts["labels"]


def _joined(project: Project, counts: dict[str, int] | None = None):
    """(item, payload, split, consensus record) of every exported item: items.jsonl and consensus.jsonl,
    both sorted by item id, merged in one pass and checked as `make_dataset` checks them. Raises
    `_NotStreamable` where the in-memory path would find a problem (or must sort)."""
    from ..formats._dataset import export_payload, row_checker
    from ..formats.split import split_of

    options = project.params["export"]
    schema = project.label_schema
    val_fraction, seed = round(1 - options["train_val_split"], 12), options["seed"]
    left_out = {"held": 0, "rotated_dropped": 0}
    counts = counts if counts is not None else {}
    # Ascending ids are unique ids: the items' own check would hold a set of every id.
    items = _ascending(project.iter_items(ITEMS, fields=("item_id", "data"), check_unique=False), counts)
    item = next(items, None)
    row_problems = row_checker(schema)
    for record in _ascending(_iter_consensus(project)):
        payload = export_payload(record, left_out, drop_rotated=options["rotation"] == "drop")
        if not payload:
            continue
        item_id = record["item_id"]
        while item is not None and item["item_id"] < item_id:
            item = next(items, None)
        if item is None or item["item_id"] != item_id:
            raise _NotStreamable(f"{item_id!r} labels an item that is not in items")
        problems = row_problems(item, payload)
        if problems:
            raise _NotStreamable(str(problems[0]))
        counts["labels"] = counts.get("labels", 0) + 1
        yield item, payload, split_of(item_id, val_fraction=val_fraction, seed=seed), record
        item = next(items, None)
    for _ in items:  # the rest: counted, and checked to the end of the file
        pass
    counts.update(left_out)


def _ascending(records, counts: dict[str, int] | None = None):
    """The records, checked to come in strictly ascending item_id order (counted into ``counts["items"]``)."""
    previous = None
    n = 0
    for record in records:
        item_id = record.get("item_id")
        if not isinstance(item_id, str) or (previous is not None and item_id <= previous):
            raise _NotStreamable(f"item id {item_id!r} after {previous!r}")
        previous = item_id
        n += 1
        yield record
    if counts is not None:
        counts["items"] = n


def estimated_accuracy_by_split(rows: Iterable[tuple[dict, str]]) -> dict[str, float] | None:
    """``split -> estimated accuracy`` of the exported labels, plus ``all``, from (consensus record, split)
    pairs (read to the end, a few bytes each kept); None without rows or with a record without an expected error.

    >>> estimated_accuracy_by_split([({"expected_error": 0.1}, "train"),
    ...     ({"expected_error": 0.3, "status": "reviewed"}, "train"), ({"expected_error": 0.2}, "val")])
    {'all': 0.9, 'train': 0.95, 'val': 0.8}
    """
    import array

    import numpy as np

    from ..quality.review import estimated_accuracy

    errors, reviewed, in_val = array.array("d"), bytearray(), bytearray()
    complete = True
    for record, split in rows:
        error = record.get("expected_error")
        complete = complete and error is not None
        if complete:
            errors.append(error)
            reviewed.append(record.get("status") == "reviewed")
            in_val.append(split == "val")
    if not complete or not errors:
        return None
    err = np.frombuffer(errors, dtype=float)
    correct = np.frombuffer(reviewed, dtype=bool)
    groups = np.where(np.frombuffer(in_val, dtype=bool), "val", "train")
    return {"all": round(estimated_accuracy(err, correct=correct), 6),
            **estimated_accuracy(err, correct=correct, groups=groups)}


def dataset_version(project: Project) -> str:
    """A content hash of the exported inputs: the dataset's version in COCO `info` (no timestamps)."""
    digest = hashlib.sha256()
    for relative in (ITEMS, CONSENSUS, "schema/labels.yaml"):
        with open(project.path(relative), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):  # noqa: B023 - read in blocks, not whole
                digest.update(block)
    return digest.hexdigest()[:12]


def _read_consensus(project: Project) -> list[dict]:
    return list(_iter_consensus(project))


def _iter_consensus(project: Project):
    from ..records import iter_records

    path = project.path(CONSENSUS)
    if not path.exists():
        raise ProjectError(f"{CONSENSUS} is missing; run dvc repro (the agree stage writes it) before export")
    return iter_records(path, display_path=CONSENSUS)


def _numbers(report: dict) -> dict:
    """A format's report as numbers only (for `dvc metrics diff`)."""
    return {
        "items": {split: counts for split, counts in report["items"].items()},
        "events": dict(report["events"]),
        "max_rounding_error": report["max_rounding_error"],
        "objects_in": sum(c["in"] for per in report["objects"].values() for c in per.values()),
        "objects_out": sum(c["out"] for per in report["objects"].values() for c in per.values()),
    }


def _verify(name: str, folder: Path, dataset) -> None:
    """Read an export back with its consumer's loader; raise when it does not load as expected."""
    from ..formats.registry import verify_format

    problems = verify_format(name, folder, dataset)
    if problems:
        raise DataError([Problem(f"{folder.name}", None, name, p) for p in problems])
