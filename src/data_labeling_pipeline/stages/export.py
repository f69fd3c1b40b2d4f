"""The export stage: consensus labels -> the configured formats, split, verified, with a loss report.

Reads items, the consensus and the label schema; writes `labeled_data/<format>/`
(each with `export_report.json`) and `metrics/export.json` (numbers only). Items
held for review (`quality.review_gate`) and items without a consensus label are
not exported, and are counted. Everything is written into a staging folder
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

    def describe(self) -> str:
        shown = ", ".join(f"{name} ({sum(r['items'].get(s, {}).get('out', 0) for s in r['items'])} items)"
                          for name, r in sorted(self.formats.items()))
        return (f"export: {self.exported} items -> {shown}; {self.held} held for review, "
                f"{self.unlabeled} without a label")


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
    dataset = make_dataset([i for i in items if i["item_id"] in labels], labels, schema, split=split,
                           policies={k: options[k] for k in ("crowd", "empty_images", "span_alignment")})
    version = dataset_version(project)
    output = project.path(options["output_dir"])
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        metrics: dict = {"items_exported": len(labels), "items_held_for_review": summary.held,
                         "items_unlabeled": summary.unlabeled, "rotated_dropped": summary.rotated_dropped}
        for name in options["formats"]:
            report = write_format(name, dataset, staging / name, images_root=project.root, version=version,
                                  description=project.params["project"]["name"])
            payload = report.as_dict()
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
