"""Everything the ``agree`` stage computes, from records to its outputs, in one pure call.

`agree` takes the annotations of a project, the review decisions (corrections and
ground-truth annotations) and plain options, and returns the consensus per item,
the review queue, the agreement figures, per-annotator figures and plot rows. The
stage only reads and writes files.

Status of an item in the consensus:
``reviewed`` (a review decision fixed the label), ``accepted`` (no reason to look
again), ``flagged`` (a reason, exported anyway) or ``held`` (a reason and
``review_gate`` is on: export skips it until reviewed). A spot check alone never
holds an item: it audits the annotator, not the item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.annotators import agreement_trend, annotator_stats
from data_labeling_pipeline.quality.consensus import majority_vote
from data_labeling_pipeline.quality.dawid_skene import DawidSkene
from data_labeling_pipeline.quality.flags import SPOT_CHECK, TOO_FEW_ANNOTATORS, annotator_flags, route_items
from data_labeling_pipeline.quality.result import Score
from data_labeling_pipeline.quality.structured import structured_agreement
from data_labeling_pipeline.quality.summary import agreement_summary

CLASSIFICATION_METRICS = ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement")
DEFAULT_METRIC = {"image_classification": "krippendorff_alpha", "text_classification": "krippendorff_alpha",
                  "ner": "span_f1_exact", "bbox": "box_f1_50"}
DECIMALS = 6
PAYLOAD_KEYS = ("label", "labels", "spans", "boxes")
# Cohen's kappa weights by the label scale: disagreements between near classes cost less on ordered scales.
KAPPA_WEIGHTS = {"nominal": None, "ordinal": "linear", "interval": "quadratic", "ratio": "quadratic"}


@dataclass(frozen=True)
class AgreeOptions:
    """The knobs of the agree stage (the stage fills them from params.yaml's ``quality``)."""

    task_type: str
    classes: Sequence[str]
    scale: str = "nominal"
    metric: str = "auto"
    threshold: float = 0.6
    min_annotator_kappa: float | None = None
    consensus_method: str = "dawid_skene"
    min_annotators: int = 2
    min_confidence: float = 0.7
    review_gate: bool = False
    window: int = 200
    spot_check_rate: float = 0.1
    seed: int = 0
    n_resamples: int = 200

    @property
    def headline(self) -> str:
        return DEFAULT_METRIC[self.task_type] if self.metric == "auto" else self.metric


@dataclass
class AgreeResult:
    """What the stage writes: consensus and review records, metrics, annotator figures, plot rows."""

    consensus: list[dict] = field(default_factory=list)
    review: list[dict] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    annotators: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, list[dict]] = field(default_factory=dict)


def agree(
    annotations: Sequence[Mapping],
    *,
    item_ids: Iterable[str],
    decisions: Mapping[str, Mapping] | None = None,
    options: AgreeOptions,
) -> AgreeResult:
    """Agreement, consensus, flags and routing of one project's annotations.

    Args:
        annotations: Annotation records (one per item and annotator).
        item_ids: Every item of the project; items nobody annotated are routed for annotation.
        decisions: ``item_id -> payload`` fixed by review (a correction or a ground-truth
            annotation); such items count as reviewed and keep the decided label.
        options: Thresholds and methods.

    Returns:
        An :class:`AgreeResult`.
    """
    decisions = dict(decisions or {})
    if options.task_type in ("image_classification", "text_classification"):
        result = _classification(annotations, decisions, options)
    elif options.task_type in ("ner", "bbox"):
        result = structured_agreement(annotations, decisions, options)
    else:
        raise DataError.single("params.yaml", None, "$.project.task_type", f"unknown task type {options.task_type!r}")
    _route_unannotated(result, item_ids, decisions)
    _finish(result, options, decisions)
    return result


def _classification(annotations: Sequence[Mapping], decisions: dict, options: AgreeOptions) -> AgreeResult:
    rows = [a for a in annotations if a.get("label") is not None]
    if len(rows) != len(annotations):
        raise DataError.single("annotations/annotations.jsonl", None, "$.label",
                               "multi-label agreement is not supported yet: records need a single 'label'")
    items = np.array([a["item_id"] for a in rows], dtype=object)
    who = np.array([a["annotator"] for a in rows], dtype=object)
    labels = np.array([a["label"] for a in rows], dtype=object)
    classes = list(options.classes)
    summary = agreement_summary(items, who, labels, classes=classes, level=options.scale,
                                weights=KAPPA_WEIGHTS[options.scale], n_resamples=options.n_resamples,
                                headline=_bootstrappable(options.headline), seed=options.seed)
    model = None
    if options.consensus_method == "dawid_skene" and len(rows):
        model = DawidSkene(seed=options.seed).fit(items, who, labels, classes=classes)
        consensus = model.consensus()
    else:
        consensus = majority_vote(items, who, labels, classes=classes)
    truth = {item: d["label"] for item, d in decisions.items() if d.get("label") is not None}
    stats = annotator_stats(items, who, labels, consensus=consensus.as_mapping(), classes=classes, truth=truth,
                            lead_times=[a.get("lead_time") for a in rows], dawid_skene=model)
    flags = annotator_flags(stats)
    routed = route_items(consensus, items, who, min_annotators=options.min_annotators,
                         min_confidence=options.min_confidence,
                         outlier_annotators=[a for a, f in flags.items() if f],
                         spot_check_rate=options.spot_check_rate, seed=options.seed)
    reasons = {r["item_id"]: r for r in routed}

    result = AgreeResult()
    for record in consensus.records():
        route = reasons.get(record["item_id"], {})
        result.consensus.append({**record, "reasons": route.get("reasons", []),
                                 "spot_check": route.get("spot_check", [])})
    result.metrics = {
        "cohens_kappa": summary["mean_pairwise_kappa"].value,
        **{name: summary[name].value for name in CLASSIFICATION_METRICS if name != "cohens_kappa"},
        "n_items": summary["n_items"], "n_annotations": summary["n_annotations"],
        "n_annotators": summary["n_annotators"],
        "per_class": {"fleiss_kappa": _per_class(summary["fleiss_kappa"], classes)},
    }
    if "bootstrap" in summary and summary["bootstrap"].defined:
        details = summary["bootstrap"].details
        result.metrics["bootstrap_ci95"] = {"metric_low": details.get("ci_low"), "metric_high": details.get("ci_high")}
    if model is not None:
        result.metrics["dawid_skene_iterations"] = model.n_iter_
        result.metrics["dawid_skene_converged"] = int(model.converged_)
    result.report = {
        "undefined": {name: summary[key].reason for name, key in _metric_keys() if not summary[key].defined},
        "pairwise_kappa": summary["pairwise"].records(),
        "bootstrap": summary["bootstrap"].to_dict() if "bootstrap" in summary else None,
        "consensus_method": consensus.method,
        "scale": options.scale,
        "cohens_kappa_weights": KAPPA_WEIGHTS[options.scale],
    }
    result.annotators = {s["annotator"]: _annotator_figures(s, flags.get(s["annotator"], []), classes) for s in stats}
    result.plots = _classification_plots(rows, consensus.as_mapping(), options.window)
    return result


def _bootstrappable(metric: str) -> str:
    # The bootstrap resamples item count rows, where pairwise kappa is not defined.
    return metric if metric in ("fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement") else (
        "krippendorff_alpha")


def _metric_keys():
    return [("cohens_kappa", "mean_pairwise_kappa")] + [(m, m) for m in CLASSIFICATION_METRICS if m != "cohens_kappa"]


def _per_class(score: Score, classes: list) -> dict:
    per = (score.details or {}).get("per_category") or []
    return {c: s.value for c, s in zip(classes, per, strict=False) if s.value is not None}


def _value(x: Any) -> Any:
    return x.value if isinstance(x, Score) else x


def _annotator_figures(stats: Mapping, flags: list[str], classes: list) -> dict:
    """Numbers only (DVC diffs numeric leaves): flags become 0/1 leaves."""
    figures = {key: _value(stats.get(key)) for key in (
        "n_items", "accuracy_vs_consensus", "kappa_vs_consensus", "accuracy_vs_truth", "kappa_vs_truth",
        "ds_accuracy", "spammer_score", "median_lead_time", "labels_per_hour")}
    figures["kappa_vs_annotators"] = {other: _value(s) for other, s in sorted(stats.get("kappa_vs_annotators",
                                                                                         {}).items())}
    figures["class_distribution"] = dict(stats.get("class_distribution") or {})
    confusion = stats.get("ds_confusion")
    if confusion is not None:
        figures["ds_confusion"] = {t: dict(zip(classes, row, strict=False))
                                   for t, row in zip(classes, _rows(confusion), strict=False)}
    figures["flags"] = {flag: 1 for flag in flags}
    return figures


def _rows(matrix: Any) -> list[list[float]]:
    return np.asarray(matrix, dtype=float).tolist()


def _classification_plots(rows: Sequence[Mapping], consensus: Mapping, window: int) -> dict[str, list[dict]]:
    plots: dict[str, list[dict]] = {}
    for record in sorted(rows, key=lambda r: (r["annotator"], r["item_id"])):
        if record["item_id"] in consensus:
            plots.setdefault(f"confusion/{_file_name(record['annotator'])}.json", []).append(
                {"item_id": record["item_id"], "consensus": consensus[record["item_id"]], "label": record["label"]})
    agree_flags = [consensus.get(r["item_id"]) == r["label"] for r in rows]
    times = [r.get("created_at") for r in rows]
    plots["agreement_trend.json"] = [
        {"window": w["window"], "labels": w["n"], "agreement_with_consensus": w["agreement"]}
        for w in agreement_trend(times, agree_flags, window=window)]
    return plots


def _file_name(annotator: str) -> str:
    """An annotator as a safe file name (e-mails keep their readable form)."""
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in annotator)


def _route_unannotated(result: AgreeResult, item_ids: Iterable[str], decisions: Mapping) -> None:
    known = {c["item_id"] for c in result.consensus}
    for item_id in sorted(set(item_ids) - known):
        if item_id in decisions:
            result.consensus.append({"item_id": item_id, "n_annotations": 0, "reasons": [], "spot_check": []})
        else:
            result.review.append({"item_id": item_id, "n_annotations": 0, "reasons": [TOO_FEW_ANNOTATORS],
                                  "action": "annotate"})


def _finish(result: AgreeResult, options: AgreeOptions, decisions: Mapping[str, Mapping]) -> None:
    """Apply review decisions, set each item's status, fill the review queue and the headline figures."""
    for record in result.consensus:
        decided = decisions.get(record["item_id"])
        holding = [r for r in record["reasons"] if r != SPOT_CHECK]
        if decided is not None:
            record.update({k: decided[k] for k in PAYLOAD_KEYS if k in decided})
            record.update(method="review", confidence=1.0, status="reviewed")
        elif holding:
            record["status"] = "held" if options.review_gate else "flagged"
        else:
            record["status"] = "accepted"
        if record["reasons"] and record["status"] != "reviewed":
            result.review.append({
                "item_id": record["item_id"], "n_annotations": record["n_annotations"],
                "reasons": record["reasons"], "label": record.get("label"),
                "confidence": record.get("confidence"),
                "action": "annotate" if TOO_FEW_ANNOTATORS in record["reasons"] else "review",
                **({"spot_check": record["spot_check"]} if record.get("spot_check") else {}),
            })
    result.consensus.sort(key=lambda r: r["item_id"])
    result.review.sort(key=lambda r: r["item_id"])
    statuses = [r["status"] for r in result.consensus]
    metrics = result.metrics
    headline = options.headline
    metrics.update({
        "n_flagged": len(result.review), "n_held": statuses.count("held"), "n_reviewed": statuses.count("reviewed"),
        "n_accepted": statuses.count("accepted"),
    })
    value = metrics.get(headline)
    below = [a for a, f in result.annotators.items() if options.min_annotator_kappa is not None
             and f.get("kappa_vs_consensus") is not None and f["kappa_vs_consensus"] < options.min_annotator_kappa]
    metrics["passes"] = int(value is not None and value >= options.threshold and not below)
    result.report.update({"headline": headline, "threshold": options.threshold,
                          "annotators_below_min_kappa": below})
    # Rounded so that float noise of another CPU or BLAS build does not change the bytes.
    result.metrics = rounded(metrics)
    result.annotators = rounded(result.annotators)
    result.consensus = rounded(result.consensus, numbers_only=False)
    result.review = rounded(result.review, numbers_only=False)


def rounded(value: Any, *, numbers_only: bool = True) -> Any:
    """Floats rounded to 6 decimals, NaN as None, keys sorted (stable bytes, clean DVC diffs).

    With ``numbers_only`` booleans become 0/1, as DVC metrics want.
    """
    if isinstance(value, Mapping):
        return {str(k): rounded(v, numbers_only=numbers_only)
                for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [rounded(v, numbers_only=numbers_only) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return int(value) if numbers_only else bool(value)
    if isinstance(value, (float, np.floating)):
        return None if value != value else round(float(value), DECIMALS)
    if isinstance(value, np.integer):
        return int(value)
    return value
