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
    from ..formats import assign_split, labels_from_consensus, make_dataset
    from ..formats.registry import write_format

    params, schema = project.params, project.label_schema
    options = params["export"]
    items = project.read_items(ITEMS)
    consensus = _read_consensus(project)
    labels, left_out = labels_from_consensus(consensus, drop_rotated=options["rotation"] == "drop")
    summary = ExportSummary(held=left_out["held"], rotated_dropped=left_out["rotated_dropped"])
    summary.unlabeled = len(items) - len(labels) - summary.held
    split = assign_split(labels, val_fraction=round(1 - options["train_val_split"], 12), seed=options["seed"])
    accuracy = summary.estimated_accuracy = estimated_accuracy_by_split(consensus, split)
    dataset = make_dataset([i for i in items if i["item_id"] in labels], labels, schema, split=split,
                           policies={k: options[k] for k in ("crowd", "empty_images", "span_alignment")})
    version = dataset_version(project)
    output = project.path(options["output_dir"])
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        metrics: dict = {"items_exported": len(labels), "items_held_for_review": summary.held,
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
    summary.exported = len(labels)
    return summary


def estimated_accuracy_by_split(consensus: list[dict], split: dict[str, str]) -> dict[str, float] | None:
    """``split -> estimated accuracy`` of the exported labels, plus ``all``; None without expected errors.

    >>> estimated_accuracy_by_split([{"item_id": "a", "expected_error": 0.1}, {"item_id": "b", "expected_error": 0.3,
    ...     "status": "reviewed"}, {"item_id": "c", "expected_error": 0.2}], {"a": "train", "b": "train", "c": "val"})
    {'all': 0.9, 'train': 0.95, 'val': 0.8}
    """
    from ..quality.review import estimated_accuracy

    rows = [c for c in consensus if c["item_id"] in split]
    if not rows or any(c.get("expected_error") is None for c in rows):
        return None
    errors = [c["expected_error"] for c in rows]
    reviewed = [c.get("status") == "reviewed" for c in rows]
    out = estimated_accuracy(errors, correct=reviewed, groups=[split[c["item_id"]] for c in rows])
    return {"all": round(estimated_accuracy(errors, correct=reviewed), 6), **out}


def dataset_version(project: Project) -> str:
    """A content hash of the exported inputs: the dataset's version in COCO `info` (no timestamps)."""
    digest = hashlib.sha256()
    for relative in (ITEMS, CONSENSUS, "schema/labels.yaml"):
        digest.update(project.path(relative).read_bytes())
    return digest.hexdigest()[:12]


def _read_consensus(project: Project) -> list[dict]:
    from ..records import read_records

    path = project.path(CONSENSUS)
    if not path.exists():
        raise ProjectError(f"{CONSENSUS} is missing; run dvc repro (the agree stage writes it) before export")
    return read_records(path, display_path=CONSENSUS)


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
