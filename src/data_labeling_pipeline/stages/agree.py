"""The agree stage: agreement, consensus, annotator figures, review routing.

Reads annotations, items, the hand-reviewed corrections, the label schema and, when
the prelabel stage wrote them, the model's predictions (``annotations/predictions.jsonl``)
and its cross-validated accuracy (``metrics/prelabel.json``); writes the consensus and
the review queue (records), agreement, annotator and review-economy figures (DVC
metrics), a detailed report with the reason of every undefined figure, and plot rows.
The computations live in `quality.agree`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..columns import AnnotationColumns
from ..project import ANNOTATIONS, CONSENSUS, ITEMS, PREDICTIONS, REVIEW, Project
from ..records import paused_gc, write_json, write_jsonl

CORRECTIONS = "annotations/corrections.jsonl"
# What agree reads of an annotation: who labelled which item how, and when (not source, note, ...).
AGREE_FIELDS = ("item_id", "annotator", "label", "labels", "spans", "boxes", "ground_truth", "created_at",
                "updated_at", "lead_time")
METRICS = "metrics/agreement.json"
ANNOTATORS = "metrics/annotators.json"
REVIEW_METRICS = "metrics/review.json"
PRELABEL_METRICS = "metrics/prelabel.json"
REPORT = "reports/agreement.json"
PLOTS = "plots"


@dataclass
class AgreeSummary:
    metrics: dict
    review: int
    headline: str
    review_metrics: dict | None = None

    def describe(self) -> str:
        value = self.metrics.get(self.headline)
        shown = "undefined" if value is None else f"{value:.3f}"
        r = self.review_metrics or {}
        queues = (f"{r.get('n_review', 0)} to review (budget {r.get('budget', 0)}), "
                  f"{r.get('n_annotate', 0) + r.get('n_unannotated', 0)} to annotate" if r else
                  f"{self.review} items routed to review or annotation")
        accuracy = r.get("estimated_accuracy_exported")
        estimate = "" if accuracy is None else f"; estimated accuracy of the exported labels {accuracy:.3f}"
        return f"agree: {self.headline} {shown} on {self.metrics['n_items']} items, {queues}{estimate} -> {REVIEW}"


def agree_options(params: dict, label_schema: dict):
    from ..labels import class_names
    from ..quality.agree import AgreeOptions

    q = params["quality"]
    return AgreeOptions(
        task_type=label_schema["task_type"], classes=class_names(label_schema),
        scale=label_schema.get("scale", "nominal"), metric=q["agreement_metric"],
        threshold=q["agreement_threshold"], min_annotator_kappa=q["min_annotator_kappa"],
        gate_annotators=q["gate_annotators"], min_estimated_accuracy=q["min_estimated_accuracy"],
        consensus_method=q["consensus_method"], min_annotators=q["min_annotators_per_sample"],
        max_annotators=q["max_annotators_per_sample"],
        # None (auto_flag_low_confidence: false) is off.
        min_confidence=q["auto_flag_low_confidence"], review_budget=q["review_budget"],
        review_gate=q["review_gate"], window=q["qa_every_n_labels"],
        spot_check_rate=q["spot_check_rate"], seed=q["seed"], n_resamples=q["bootstrap_resamples"],
    )


@contextmanager
def dawid_skene_engine(quality: dict):
    """None (fit in this process), or with ``quality.engine: dask`` a fit over item shards on a cluster.

    The cluster (``quality.scheduler``, or a LocalCluster) lives as long as the block.
    """
    if quality["engine"] != "dask":
        yield None
        return
    from ..cluster import dask_client
    from ..quality.dawid_skene_shards import fit_sharded

    with dask_client(quality["scheduler"]) as client:
        yield functools.partial(fit_sharded, client=client, shards=quality["shards"])


CLASSIFICATION_TASKS = ("image_classification", "text_classification")


@paused_gc()
def run_agree(project: Project) -> AgreeSummary:
    from ..quality.agree import agree

    # Spans and boxes are checked against the item's text or image; class labels need the ids only
    # (each maps to one shared empty item: a dict per item is ~250 bytes of nothing).
    if project.label_schema["task_type"] in CLASSIFICATION_TASKS:
        no_data: dict = {}
        items = {item["item_id"]: no_data for item in project.iter_items(ITEMS, fields=("item_id",))}
    else:
        items = {item["item_id"]: item for item in project.read_items(ITEMS)}
    annotations = read_agree_annotations(project, items)
    decisions = review_decisions(project, annotations, items)
    options = agree_options(project.params, project.label_schema)
    predictions, name = model_predictions(project, items)
    with dawid_skene_engine(project.params["quality"]) as fit_table:
        result = agree(annotations, item_ids=items, decisions=decisions,
                       options=dataclasses.replace(options, fit_table=fit_table),
                       model_predictions=predictions, model_weight=project.params["quality"]["model_votes"],
                       model_name=name, model_accuracy=model_accuracy(project) if predictions else None)
    result.metrics["n_corrections"] = sum((d.get("source") or {}).get("kind") == "correction"
                                          for d in decisions.values())
    relabel = relabel_needed(project, annotations, decisions, result.consensus)
    result.review = with_relabels(result.review, relabel)
    if result.review_summary is not None:
        result.review_summary["n_relabel"] = len(relabel)
    write_jsonl(project.path(CONSENSUS), result.consensus)
    write_jsonl(project.path(REVIEW), result.review)
    write_json(project.path(METRICS), result.metrics)
    write_json(project.path(ANNOTATORS), result.annotators)
    write_json(project.path(REVIEW_METRICS), result.review_summary)
    write_json(project.path(REPORT), result.report)
    write_plots(project.path(PLOTS), result.plots)
    return AgreeSummary(result.metrics, len(result.review), options.headline, result.review_summary)


def read_agree_annotations(project: Project, items: dict[str, dict], *,
                           extra_fields: tuple[str, ...] = ()) -> list[dict] | AnnotationColumns:
    """The annotations as agree reads them: columns for single-label classification, else records.

    Records are re-mapped from older schema versions to the current one, and keep only the
    fields agree reads and ``extra_fields`` (memory at scale); columns hold agree's fields in
    under 100 bytes a row.
    """
    from ..columns import read_annotation_columns
    from ..migrations import needs_remap
    from .schema import read_current

    schema = project.label_schema
    if schema["task_type"] in CLASSIFICATION_TASKS and not needs_remap(schema):
        columns = read_annotation_columns(project.path(ANNOTATIONS), project.validators["annotation"],
                                          item_ids=items, display_path=ANNOTATIONS)
        if columns is not None:
            columns.ground_truth = [{k: r[k] for k in AGREE_FIELDS if k in r} for r in columns.ground_truth]
            return columns
    return read_current(project, ANNOTATIONS, items, fields=tuple(dict.fromkeys((*AGREE_FIELDS, *extra_fields))))


def _annotation_records(annotations: list[dict] | AnnotationColumns) -> Iterable[dict]:
    if not isinstance(annotations, AnnotationColumns):
        return annotations
    return ({"item_id": i, "label": label} for i, label in zip(annotations.item_id.tolist(),
                                                                annotations.label.tolist(), strict=True))


def relabel_needed(project: Project, annotations: list[dict] | AnnotationColumns, decisions: dict[str, dict],
                   consensus: list[dict]) -> dict[str, str]:
    """item_id -> why, for the items a class split left to relabel (annotations/relabel.jsonl).

    An item is done once a reviewer decided it without the split class, or its consensus is
    not the split class and ``quality.min_annotators_per_sample`` annotators chose another
    class (an outvoted old label costs no new one). The file is written only by
    ``dlp schema split-class``, which also changes schema/labels.yaml (a dependency of this
    stage), so agree re-runs whenever it changes.
    """
    from ..migrations import labels_in
    from ..records import read_records
    from .schema import RELABEL

    path = project.path(RELABEL)
    if not path.exists():
        return {}
    split = {e["version"]: e["from"] for e in project.label_schema.get("history", []) if e.get("change") == "split"}
    enough = project.params["quality"]["min_annotators_per_sample"]
    rows = {row["item_id"]: row for row in read_records(path, display_path=RELABEL)}

    def without_split_class(record: dict) -> bool:
        return split.get(rows[record["item_id"]].get("schema_version")) not in labels_in(record)

    fresh = dict.fromkeys(rows, 0)
    for a in _annotation_records(annotations):
        if a["item_id"] in rows and without_split_class(a):
            fresh[a["item_id"]] += 1
    settled = {r["item_id"] for r in consensus if r["item_id"] in rows and without_split_class(r)}
    return {item_id: row.get("reason", "relabel") for item_id, row in rows.items()
            if not (item_id in settled and fresh[item_id] >= enough)
            and not (item_id in decisions and without_split_class(decisions[item_id]))}


def with_relabels(review: list[dict], relabel: dict[str, str]) -> list[dict]:
    """The review queue with the items to relabel as ``annotate`` rows (reason ``relabel``)."""
    if not relabel:
        return review
    rows = {r["item_id"]: dict(r) for r in review}
    rank = max((r.get("rank", 0) for r in review), default=0)
    for item_id in sorted(relabel):
        row = rows.get(item_id)
        if row is None:
            rank += 1
            rows[item_id] = {"item_id": item_id, "action": "annotate", "reasons": ["relabel"],
                             "note": relabel[item_id], "rank": rank}
        else:
            row.update(action="annotate", reasons=sorted(set(row["reasons"]) | {"relabel"}), note=relabel[item_id])
    return [rows[k] for k in sorted(rows)]


def model_predictions(project: Project, items: dict[str, dict]) -> tuple[dict[str, str] | None, str]:
    """item_id -> the pre-label model's class, and its name as a voter (``model:<version>``).

    None when the prelabel stage is off (``prelabel.enabled``: then the file is no dependency of
    this stage in dvc.yaml, even if an old one lies around) or wrote no predictions (no file, an
    empty one, or no class labels: NER and boxes). With several model versions in the file the
    name lists them all.
    """
    path = project.path(PREDICTIONS)
    if not project.params["prelabel"]["enabled"] or not path.exists():
        return None, "model"
    from ..checks import annotation_checker
    from ..records import iter_records

    labels: dict[str, str] = {}
    names: dict[str, str] = {}
    versions: set[str] = set()
    for r in iter_records(path, project.validators["prediction"],
                          check=annotation_checker(items, key_field="model_version"), display_path=PREDICTIONS,
                          fields=("item_id", "label", "model_version")):
        if r.get("label") is not None:
            labels[r["item_id"]] = names.setdefault(r["label"], r["label"])  # one string per class, not per item
            versions.add(r["model_version"])
    if not labels:
        return None, "model"
    return labels, "model:" + "+".join(sorted(versions))


def model_accuracy(project: Project) -> float | None:
    """The pre-label model's cross-validated accuracy from metrics/prelabel.json (None when unknown)."""
    path = project.path(PRELABEL_METRICS)
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text("utf-8")).get("cv_accuracy")
    except json.JSONDecodeError:
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def review_decisions(project: Project, annotations: list[dict] | AnnotationColumns,
                     items: dict[str, dict]) -> dict[str, dict]:
    """item_id -> the label a reviewer settled: corrections first, then ground-truth annotations.

    Within each source the newest record wins. Corrections are annotation records
    whose ``annotator`` is the reviewer (``note`` says why); they live in git,
    so they merge line by line.
    """
    decisions: dict[str, dict] = {}
    truth = annotations.ground_truth if isinstance(annotations, AnnotationColumns) else (
        [a for a in annotations if a.get("ground_truth")])
    for record in sorted(truth, key=_when):
        decisions[record["item_id"]] = record
    path = project.path(CORRECTIONS)
    if path.exists():
        from .schema import read_current

        corrections = read_current(project, CORRECTIONS, items)  # re-mapped through the schema's migrations
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
            write_json(staging / name, rows if isinstance(rows, list) else list(rows))  # one file's rows at a time
        replace_dir(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
