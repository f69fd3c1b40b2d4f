"""The agree stage: agreement, consensus, annotator figures, review routing.

Reads annotations, items, the hand-reviewed corrections and the label schema;
writes the consensus and the review queue (records), agreement and annotator
figures (DVC metrics), a detailed report with the reason of every undefined
figure, and plot rows. The computations live in `quality.agree`.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..project import ANNOTATIONS, CONSENSUS, ITEMS, REVIEW, Project
from ..records import write_json, write_jsonl

CORRECTIONS = "annotations/corrections.jsonl"
METRICS = "metrics/agreement.json"
ANNOTATORS = "metrics/annotators.json"
REPORT = "reports/agreement.json"
PLOTS = "plots"


@dataclass
class AgreeSummary:
    metrics: dict
    review: int
    headline: str

    def describe(self) -> str:
        value = self.metrics.get(self.headline)
        shown = "undefined" if value is None else f"{value:.3f}"
        return (f"agree: {self.headline} {shown} on {self.metrics['n_items']} items, "
                f"{self.review} items routed to review or annotation -> {REVIEW}")


def agree_options(params: dict, label_schema: dict):
    from ..labels import class_names
    from ..quality.agree import AgreeOptions

    q = params["quality"]
    # None (auto_flag_low_confidence: false) is off: no confidence is below 0.
    low_confidence = q["auto_flag_low_confidence"]
    return AgreeOptions(
        task_type=label_schema["task_type"], classes=class_names(label_schema),
        scale=label_schema.get("scale", "nominal"), metric=q["agreement_metric"],
        threshold=q["agreement_threshold"], min_annotator_kappa=q["min_annotator_kappa"],
        consensus_method=q["consensus_method"], min_annotators=q["min_annotators_per_sample"],
        min_confidence=0.0 if low_confidence is None else low_confidence, review_gate=q["review_gate"],
        window=q["qa_every_n_labels"],
        spot_check_rate=q["spot_check_rate"], seed=q["seed"], n_resamples=q["bootstrap_resamples"],
    )


def run_agree(project: Project) -> AgreeSummary:
    from ..quality.agree import agree

    items = {item["item_id"]: item for item in project.read_items(ITEMS)}
    annotations = project.read_annotations(ANNOTATIONS, items=items)
    decisions = review_decisions(project, annotations, items)
    options = agree_options(project.params, project.label_schema)
    result = agree(annotations, item_ids=items, decisions=decisions, options=options)
    write_jsonl(project.path(CONSENSUS), result.consensus)
    write_jsonl(project.path(REVIEW), result.review)
    write_json(project.path(METRICS), result.metrics)
    write_json(project.path(ANNOTATORS), result.annotators)
    write_json(project.path(REPORT), result.report)
    write_plots(project.path(PLOTS), result.plots)
    return AgreeSummary(result.metrics, len(result.review), options.headline)


def review_decisions(project: Project, annotations: list[dict], items: dict[str, dict]) -> dict[str, dict]:
    """item_id -> the label a reviewer settled: corrections first, then ground-truth annotations.

    Within each source the newest record wins. Corrections are annotation records
    whose ``annotator`` is the reviewer (``note`` says why); they live in git,
    so they merge line by line.
    """
    decisions: dict[str, dict] = {}
    for record in sorted((a for a in annotations if a.get("ground_truth")), key=_when):
        decisions[record["item_id"]] = record
    path = project.path(CORRECTIONS)
    if path.exists():
        from ..checks import annotation_checker
        from ..records import read_records

        corrections = read_records(path, project.validators["annotation"], check=annotation_checker(items),
                                   display_path=CORRECTIONS)
        for record in sorted(corrections, key=_when):
            decisions[record["item_id"]] = record
    return decisions


def _when(record: dict) -> tuple:
    return (record.get("updated_at") or record.get("created_at") or "", record["annotator"])


def write_plots(folder: Path, plots: dict[str, list[dict]]) -> None:
    """Replace the plot files as a whole, so a departed annotator's plot does not linger."""
    from ..records import replace_dir

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".plots.", dir=folder.parent))
    try:
        for name, rows in sorted(plots.items()):
            write_json(staging / name, rows)
        replace_dir(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
