"""Everything the ``agree`` stage computes, from records to its outputs, in one pure call.

`agree` takes the annotations of a project, the review decisions (corrections and
ground-truth annotations), optionally a pre-label model's predictions, and plain options,
and returns the consensus per item, the review queue, the agreement figures, per-annotator
figures, the review-economy figures and plot rows. The stage only reads and writes files.

Routing (:func:`.review.route`): every labelled item gets its expected error (1 minus the
posterior of its consensus class; for majority vote, the posterior of a Dawid-Skene stand-in
fitted on the same votes). Items below ``min_annotators`` go to ``annotate``; uncertain items
that one more annotator can settle go to ``annotate``; the rest compete for the ``review``
budget by expected error. An item gets ``outlier_annotator`` only when its consensus or its
confidence depends on a flagged annotator's vote (:func:`.dependence.outlier_dependence`).
Spot checks are the joint sample of :func:`.spotcheck.spot_check_sample`, outside the budget.

Status of an item in the consensus:
``reviewed`` (a review decision fixed the label), ``held`` (queued for a reason, and
``review_gate`` is on: export skips it until reviewed), ``flagged`` (a reason, exported
anyway: the queue did not take it, or the gate is off) or ``accepted``. Three reasons never
set a status on their own: ``spot_check`` (it audits the annotator, not the item),
``expected_error`` (the item only fills the review budget) and ``model_disagrees``.

The model as an annotator (``model_predictions``, ``model_weight``):

- ``model_disagrees`` marks every labelled item whose prediction differs from the consensus,
  whether or not the model votes. It never queues an item by itself: with model votes the
  disagreement is already in the expected error, and without them the model is not evidence.
- ``model_weight`` ``None``/``False``: no vote. A number ``w``: the vote counts as ``w``
  annotators: ``w`` votes in the majority, or in Dawid-Skene the likelihood of ``w`` votes
  of the typical human annotator (their workload-weighted confusion), with the human
  confusions fitted on human votes only. ``"auto"``: in Dawid-Skene the model is one more
  annotator, ``model_name``, whose confusion matrix is learned with the others'; in majority
  vote its weight is ``model_accuracy`` (the cross-validated accuracy) or, when unknown, its
  Dawid-Skene accuracy on these items.
- Agreement figures (kappa, alpha, ...), annotator figures and spot checks are human only:
  the model never appears among the annotators. Its agreement with the consensus is
  ``model_agreement_with_consensus`` in the metrics. ``n_annotations`` counts humans, so a
  model vote never makes an item reach ``min_annotators``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from data_labeling_pipeline.columns import AnnotationColumns
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.annotators import agreement_trend, annotator_stats
from data_labeling_pipeline.quality.consensus import (
    add_model_votes,
    consensus_from_probas,
    majority_vote_table,
    model_vote_posterior,
)
from data_labeling_pipeline.quality.dawid_skene import DawidSkene
from data_labeling_pipeline.quality.dependence import dependent_items, outlier_dependence
from data_labeling_pipeline.quality.encoding import encode_long, factorize, is_missing
from data_labeling_pipeline.quality.flags import (
    LOW_CONFIDENCE,
    MODEL_DISAGREES,
    SPOT_CHECK,
    TOO_FEW_ANNOTATORS,
    annotator_flags,
)
from data_labeling_pipeline.quality.gate import annotators_below, evaluate_gate
from data_labeling_pipeline.quality.kappa_windows import LOW_KAPPA, windowed_kappa
from data_labeling_pipeline.quality.multilabel import decisions_in_schema_order, is_multi_label
from data_labeling_pipeline.quality.multilabel_agree import multilabel_agree
from data_labeling_pipeline.quality.posterior import error_after_annotation, expected_errors, typical_confusion
from data_labeling_pipeline.quality.result import Score
from data_labeling_pipeline.quality.review import EXPECTED_ERROR, ORDER, consensus_reasons, review_metrics, route
from data_labeling_pipeline.quality.spotcheck import spot_check_coverage, spot_check_sample
from data_labeling_pipeline.quality.structured import structured_agreement
from data_labeling_pipeline.quality.summary import agreement_summary

CLASSIFICATION = ("image_classification", "text_classification")
CLASSIFICATION_METRICS = ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement")
DEFAULT_METRIC = {"image_classification": "krippendorff_alpha", "text_classification": "krippendorff_alpha",
                  "ner": "span_f1_exact", "bbox": "box_f1_50"}
DECIMALS = 6
PAYLOAD_KEYS = ("label", "labels", "spans", "boxes")
# Cohen's kappa weights by the label scale: disagreements between near classes cost less on ordered scales.
KAPPA_WEIGHTS = {"nominal": None, "ordinal": "linear", "interval": "quadratic", "ratio": "quadratic"}
# Reasons that never hold or flag an item on their own (see the module docstring).
NOT_HOLDING = (SPOT_CHECK, EXPECTED_ERROR, MODEL_DISAGREES)
_WHERE = "<model predictions>"
EMPTY_CONFUSION = "confusion/none.json"


@dataclass(frozen=True)
class AgreeOptions:
    """The knobs of the agree stage (the stage fills them from params.yaml's ``quality``).

    ``min_confidence`` ``None`` turns ``low_confidence`` off; ``review_budget`` is a share
    (float), a number of items (int) or ``None`` (no limit); ``max_annotators`` ``None``: no
    item takes another annotator once it has ``min_annotators``.
    """

    task_type: str
    classes: Sequence[str]
    scale: str = "nominal"
    metric: str = "auto"
    threshold: float = 0.6
    min_annotator_kappa: float | None = 0.7
    gate_annotators: bool = False
    min_estimated_accuracy: float | None = None
    consensus_method: str = "dawid_skene"
    min_annotators: int = 2
    max_annotators: int | None = 5
    min_confidence: float | None = 0.7
    review_budget: float | int | None = 0.15
    review_gate: bool = False
    window: int = 200
    spot_check_rate: float = 0.1
    seed: int = 0
    n_resamples: int = 200
    # Fits Dawid-Skene on an encoded table elsewhere (``quality.engine: dask``); None: in this process.
    fit_table: Callable[..., DawidSkene] | None = None

    @property
    def headline(self) -> str:
        return DEFAULT_METRIC[self.task_type] if self.metric == "auto" else self.metric


@dataclass
class AgreeResult:
    """What the stage writes: consensus and review records, metrics, annotator and review figures, plot rows."""

    consensus: list[dict] = field(default_factory=list)
    review: list[dict] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    annotators: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, list[dict]] = field(default_factory=dict)
    review_summary: dict[str, Any] = field(default_factory=dict)


def agree(
    annotations: Sequence[Mapping] | AnnotationColumns,
    *,
    item_ids: Iterable[str],
    decisions: Mapping[str, Mapping] | None = None,
    options: AgreeOptions,
    model_predictions: Mapping[str, str] | None = None,
    model_weight: float | str | None = None,
    model_name: str = "model",
    model_accuracy: float | None = None,
) -> AgreeResult:
    """Agreement, consensus, flags and routing of one project's annotations.

    Args:
        annotations: Annotation records (one per item and annotator), human only, or (single-label
            classification) their :class:`~data_labeling_pipeline.columns.AnnotationColumns`.
        item_ids: Every item of the project; items nobody annotated are routed for annotation.
        decisions: ``item_id -> payload`` fixed by review (a correction or a ground-truth
            annotation); such items count as reviewed and keep the decided label.
        options: Thresholds and methods.
        model_predictions: ``item_id -> class`` of a pre-label model (classification only):
            ``model_disagrees`` reasons, the model's agreement with the consensus and, with
            ``model_weight``, its vote.
        model_weight: ``None`` or ``False`` (no vote), a weight in annotators (>= 0) or ``"auto"``.
        model_name: The model's name as an annotator (e.g. ``"model:<version>"``).
        model_accuracy: The model's cross-validated accuracy (majority vote with ``"auto"``).

    Returns:
        An :class:`AgreeResult`.

    Example:
        >>> rows = [{"item_id": i, "annotator": a, "label": lab} for i, a, lab in [
        ...     ("i1", "a", "cat"), ("i1", "b", "cat"), ("i2", "a", "cat"), ("i2", "b", "dog")]]
        >>> opts = AgreeOptions(task_type="text_classification", classes=["cat", "dog"], n_resamples=0,
        ...                     spot_check_rate=0, review_budget=None)
        >>> result = agree(rows, item_ids=["i1", "i2", "i3"], options=opts, model_predictions={"i2": "dog"})
        >>> [(r["item_id"], r["action"], r["reasons"]) for r in result.review]  # doctest: +NORMALIZE_WHITESPACE
        [('i2', 'annotate', ['disagreement', 'model_disagrees']),
         ('i3', 'annotate', ['too_few_annotators'])]
        >>> [(c["item_id"], c["status"]) for c in result.consensus], result.metrics["model_agreement_with_consensus"]
        ([('i1', 'accepted'), ('i2', 'flagged')], 0.0)
    """
    decisions = dict(decisions or {})
    columnar = isinstance(annotations, AnnotationColumns)  # single-label by construction
    if options.task_type in CLASSIFICATION and not columnar and is_multi_label(annotations):
        decisions = decisions_in_schema_order(decisions, options.classes)
        result = AgreeResult(**multilabel_agree(
            annotations, decisions, classes=options.classes, min_annotators=options.min_annotators,
            max_annotators=options.max_annotators, min_confidence=options.min_confidence,
            min_annotator_kappa=options.min_annotator_kappa, review_budget=options.review_budget,
            spot_check_rate=options.spot_check_rate, seed=options.seed, window=options.window))
        if model_predictions:
            result.report["model_votes"] = "not used: model votes are for single-label classification"
    elif options.task_type in CLASSIFICATION:
        result = _classification(annotations, decisions, options, _ModelVotes.of(
            model_predictions, model_weight, model_name, model_accuracy, options.classes))
    elif options.task_type in ("ner", "bbox"):
        result = AgreeResult(**structured_agreement(
            annotations, decisions, task_type=options.task_type, classes=options.classes,
            min_annotators=options.min_annotators, max_annotators=options.max_annotators,
            min_confidence=options.min_confidence, review_budget=options.review_budget,
            spot_check_rate=options.spot_check_rate, seed=options.seed, window=options.window))
        if model_predictions:
            result.report["model_votes"] = f"not used: model votes are for classification, not {options.task_type}"
    else:
        raise DataError.single("params.yaml", None, "$.project.task_type", f"unknown task type {options.task_type!r}")
    _route_unannotated(result, item_ids, decisions)
    _finish(result, options, decisions)
    return result


@dataclass(frozen=True)
class _ModelVotes:
    """A pre-label model's predictions and how they vote (``weight`` ``None``: they do not)."""

    labels: dict
    weight: float | str | None
    name: str
    accuracy: float | None

    @classmethod
    def of(cls, predictions, weight, name, accuracy, classes) -> _ModelVotes | None:
        if not predictions:
            return None
        known = set(classes)
        bad = sorted({str(v) for v in predictions.values() if v is not None and v not in known})
        if bad:
            raise DataError.single(_WHERE, None, "label", f"{bad[:5]} not among the classes {list(classes)!r}")
        if weight is None or weight is False:
            weight = None
        elif isinstance(weight, str):
            if weight != "auto":
                raise DataError.single(_WHERE, None, "model_weight", f"expected a number >= 0, 'auto' or None, "
                                                                     f"got {weight!r}")
        elif isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise DataError.single(_WHERE, None, "model_weight", f"expected a number >= 0, 'auto' or None, "
                                                                 f"got {weight!r}")
        else:
            weight = float(weight)
        if any(v is None for v in predictions.values()):  # else no copy: millions of ids at scale
            predictions = {k: v for k, v in predictions.items() if v is not None}
        return cls(predictions, weight, name, accuracy)


@dataclass
class _Fit:
    """A consensus and what routing needs from the model behind it."""

    consensus: Any
    posterior: np.ndarray  # items x classes, calibrated: 1 - its consensus entry is the expected error
    calibration: Any  # the Dawid-Skene fit whose confusions describe the human annotators
    figures_model: Any  # the Dawid-Skene fit behind the annotator figures (None for majority vote)
    dependence: tuple  # (item_ids, annotators, labels, consensus, model) for outlier_dependence
    model: dict[str, Any] = field(default_factory=dict)  # the model's figures for the metrics


def _dawid_skene(options: AgreeOptions, items, who, labels, *, classes, truth) -> DawidSkene:
    """Dawid-Skene fitted here, or by ``options.fit_table`` (map-reduce over shards: the same fit)."""
    if options.fit_table is None:
        return DawidSkene(seed=options.seed).fit(items, who, labels, classes=classes, truth=truth)
    return options.fit_table(encode_long(items, who, labels, classes=classes), truth=truth, seed=options.seed)


def _fit(items, who, labels, classes, truth, options: AgreeOptions, votes: _ModelVotes | None) -> _Fit:
    human = encode_long(items, who, labels, classes=classes)
    position = {item: i for i, item in enumerate(human.items.tolist())}
    mine = sorted((i, lab) for i, lab in (votes.labels.items() if votes else ()) if i in position)
    m_items = np.array([i for i, _ in mine], dtype=object)
    m_labels = np.array([lab for _, lab in mine], dtype=object)
    predicted = np.full(human.n_items, -1, dtype=np.int64)
    predicted[[position[i] for i in m_items.tolist()]] = [classes.index(lab) for lab in m_labels.tolist()]
    weight = votes.weight if votes and len(mine) else None
    if votes and len(mine) and votes.name in set(human.annotators.tolist()):
        raise DataError.single(_WHERE, None, "model_name", f"{votes.name!r} is also a human annotator's name")
    with_model = add_model_votes(items, who, labels, m_items, m_labels, name=votes.name) if weight is not None else None

    dropped = None
    if options.consensus_method == "dawid_skene" and weight == "auto":
        fitted = _dawid_skene(options, *with_model, classes=classes, truth=truth)
        skill = fitted.skills()
        if not fitted.above_chance(votes.name, len(mine)):
            # No better than always naming the commonest class: it carries no signal, only noise (measured
            # by benchmarks/bench_model_votes.py on a crowd whose pixels are noise). The humans decide alone.
            dropped = (f"the model's Dawid-Skene accuracy {skill[votes.name]:.3f} is not above chance "
                       f"{fitted.chance():.3f} (the commonest class's prior) by 3 standard errors over its "
                       f"{len(mine)} predictions: not a voter")
            weight = None
    if options.consensus_method == "dawid_skene":
        if weight == "auto":
            skills = np.array([skill[a] for a in human.annotators.tolist()])
            consensus = consensus_from_probas(human, fitted.probas_, method="dawid_skene", skills=skills)
            out = _Fit(consensus, fitted.holdout_probas_, fitted, fitted, (*with_model, consensus, fitted),
                       {"model_ds_accuracy": skill[votes.name]})
        else:
            model = _dawid_skene(options, items, who, labels, classes=classes, truth=truth)
            consensus = model.consensus()
            out = _Fit(consensus, model.holdout_probas_, model, model, (items, who, labels, consensus, model))
            if weight is not None:
                typical = typical_confusion(model, annotators=who)
                probas = model_vote_posterior(model.probas_, predicted, weight=weight, likelihood=typical)
                consensus = consensus_from_probas(human, probas, method="dawid_skene", skills=model.skills_)
                view = _with_annotator(model, votes.name, typical ** weight)
                calibrated = model_vote_posterior(model.holdout_probas_, predicted, weight=weight, likelihood=typical)
                out = _Fit(consensus, calibrated, model, model, (*with_model, consensus, view),
                           {"model_weight": weight})
    else:
        consensus = majority_vote_table(human)
        columns = with_model if with_model is not None else (items, who, labels)
        calibration = _dawid_skene(options, *columns, classes=classes, truth=truth)
        out = _Fit(consensus, np.asarray(calibration.holdout_probas_), calibration, None,
                   (items, who, labels, consensus, None))
        if weight is not None:
            if weight == "auto":
                skill = dict(zip(calibration.annotators_.tolist(), calibration.skills_.tolist(), strict=True))
                weight = float(votes.accuracy) if votes.accuracy is not None else skill[votes.name]
            probas = model_vote_posterior(consensus.probas, predicted, weight=weight,
                                          n_annotations=consensus.n_annotations)
            consensus = consensus_from_probas(human, probas, method="majority_vote", votes=consensus.votes)
            # Leave-one-out counts for outlier_dependence: the model's vote stays in, at its weight.
            weighted = consensus.votes.astype(float)
            has = np.flatnonzero(predicted >= 0)
            weighted[has, predicted[has]] += weight
            out = _Fit(consensus, out.posterior, calibration, None,
                       (items, who, labels, dataclasses.replace(consensus, votes=weighted), None),
                       {"model_weight": weight})
    if len(mine):
        rows = [position[i] for i in m_items.tolist()]
        agreed = out.consensus.label_index[rows] == predicted[rows]
        out.model.update(model_votes=int(weight is not None), model_n_predictions=len(mine),
                         model_agreement_with_consensus=float(agreed.mean()))
    if dropped:
        out.model.update(model_ds_accuracy=skill[votes.name], model_votes_dropped=dropped)
    return out


def _with_annotator(model: DawidSkene, name: str, confusion: np.ndarray) -> SimpleNamespace:
    """A fitted model's confusions with one fixed annotator added, in the sorted order a long table has."""
    names = [*model.annotators_.tolist(), name]
    order = sorted(range(len(names)), key=lambda i: names[i])
    conf = np.concatenate([np.asarray(model.confusions_), confusion[None]])[order]
    return SimpleNamespace(annotators_=np.array([names[i] for i in order], dtype=object), classes_=model.classes_,
                           confusions_=conf, priors_=model.priors_)


def _classification(annotations: Sequence[Mapping] | AnnotationColumns, decisions: dict, options: AgreeOptions,
                    votes: _ModelVotes | None) -> AgreeResult:
    rows = annotations if isinstance(annotations, AnnotationColumns) else AnnotationColumns.from_records(annotations)
    if is_missing(rows.label).any():
        raise DataError.single("annotations/annotations.jsonl", None, "$.label",
                               "classification records need a 'label' (or, in a multi-label project, 'labels')")
    items, who, labels = rows.item_id, rows.annotator, rows.label
    classes = list(options.classes)
    summary = agreement_summary(items, who, labels, classes=classes, level=options.scale,
                                weights=KAPPA_WEIGHTS[options.scale], n_resamples=options.n_resamples,
                                headline=_bootstrappable(options.headline), seed=options.seed)
    result = AgreeResult()
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
    result.report = {
        "undefined": {name: summary[key].reason for name, key in _metric_keys() if not summary[key].defined},
        "pairwise_kappa": summary["pairwise"].records(),
        "bootstrap": summary["bootstrap"].to_dict() if "bootstrap" in summary else None,
        "scale": options.scale,
        "cohens_kappa_weights": KAPPA_WEIGHTS[options.scale],
    }
    if not len(rows):
        result.report["consensus_method"] = options.consensus_method
        result.review_summary = {}
        result.plots = _classification_plots(rows, {}, options.window)
        return result

    truth = {item: d["label"] for item, d in decisions.items() if d.get("label") is not None}
    fit = _fit(items, who, labels, classes, truth, options, votes)
    consensus = fit.consensus
    label_of = consensus.as_mapping()
    stats = annotator_stats(items, who, labels, consensus=label_of, classes=classes, truth=truth,
                            lead_times=rows.lead_time, dawid_skene=fit.figures_model)
    flags = annotator_flags(stats)
    windows = windowed_kappa(who, labels, [label_of[i] for i in items.tolist()], item_ids=items,
                             created_at=rows.created_at, window=options.window,
                             min_kappa=options.min_annotator_kappa, classes=classes,
                             weights=KAPPA_WEIGHTS[options.scale])
    for a, w in windows.items():
        if w["below_min_kappa"]:
            flags[a] = sorted(set(flags.get(a, [])) | {LOW_KAPPA})
    outliers = [a for a, f in flags.items() if f]
    err = expected_errors(fit.posterior, label_index=consensus.label_index)
    after = error_after_annotation(fit.posterior, typical_confusion(fit.calibration, annotators=who))
    dep_items, dep_who, dep_labels, dep_consensus, dep_model = fit.dependence
    dep = outlier_dependence(dep_items, dep_who, dep_labels, dep_consensus, outliers, model=dep_model,
                             min_confidence=options.min_confidence) if outliers else {}
    spot = spot_check_sample(items, who, rate=options.spot_check_rate, seed=options.seed)
    why = consensus_reasons(consensus, outlier_items=dependent_items(dep))
    queue, review_summary = route(consensus.items, err, consensus.n_annotations, budget=options.review_budget,
                                  min_annotators=options.min_annotators, max_annotators=options.max_annotators,
                                  min_confidence=options.min_confidence, error_after=after, reasons=why,
                                  spot_check=spot, decided=list(decisions))
    disagrees = {i for i, lab in (votes.labels.items() if votes else ()) if i in label_of and lab != label_of[i]}
    _records(result, consensus, err, queue, why, disagrees, items, who, options.min_confidence)
    if votes:
        review_summary["n_model_disagrees"] = len(disagrees)
        for record in result.review:
            if MODEL_DISAGREES in record["reasons"]:
                per = review_summary["reasons"][record["action"]]
                per[MODEL_DISAGREES] = per.get(MODEL_DISAGREES, 0) + 1
    review_summary["spot_check"] = spot_check_coverage(items, who, spot)
    result.review_summary = review_summary
    dropped = fit.model.pop("model_votes_dropped", None)  # text: the report's, not a metric
    result.metrics.update(fit.model)
    if fit.figures_model is not None:
        result.metrics["dawid_skene_iterations"] = fit.figures_model.n_iter_
        result.metrics["dawid_skene_converged"] = int(fit.figures_model.converged_)
    result.report["consensus_method"] = consensus.method
    if votes:
        result.report["model_votes"] = {"name": votes.name, "weight": votes.weight,
                                        "used_weight": fit.model.get("model_weight")}
        if dropped:
            result.report["model_votes"]["dropped"] = dropped
    result.annotators = {s["annotator"]: _annotator_figures(s, flags.get(s["annotator"], []), classes,
                                                            windows.get(s["annotator"]),
                                                            len(dep.get(s["annotator"], ())))
                         for s in stats}
    result.plots = _classification_plots(rows, label_of, options.window)
    return result


def _records(result: AgreeResult, consensus, err: np.ndarray, queue: list[dict], why: Mapping, disagrees: set,
             items: np.ndarray, who: np.ndarray, min_confidence: float | None) -> None:
    """Consensus records with their reasons and expected error; review records from the queue."""
    queued = {q["item_id"]: q for q in queue}
    members: dict[Any, list] = {}
    for item, annotator in zip(items.tolist(), who.tolist(), strict=True):
        members.setdefault(item, []).append(annotator)
    for i, record in enumerate(consensus.iter_records()):  # one at a time: each is merged into a new dict
        item = record["item_id"]
        q = queued.get(item)
        if q is not None:
            reasons = list(q["reasons"])
        else:
            low = min_confidence is not None and 1.0 - err[i] < min_confidence
            reasons = list(why.get(item, [])) + ([LOW_CONFIDENCE] if low else [])
        if item in disagrees:
            reasons.append(MODEL_DISAGREES)
        reasons = _ordered(reasons)
        spot = sorted(members[item], key=str) if SPOT_CHECK in reasons else []
        result.consensus.append({**record, "reasons": reasons, "expected_error": float(err[i]), "spot_check": spot})
        if q is not None:
            result.review.append({**q, "reasons": reasons, "label": record["label"],
                                  "confidence": record["confidence"], "n_annotations": record["n_annotations"],
                                  **({"spot_check": spot} if spot else {})})


def _ordered(reasons: Iterable[str]) -> list[str]:
    known = {r: i for i, r in enumerate(ORDER)}
    return sorted(set(reasons), key=lambda r: (known.get(r, len(ORDER)), r))


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


def _annotator_figures(stats: Mapping, flags: list[str], classes: list, windows: Mapping | None,
                       n_dependent: int) -> dict:
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
    figures["windows"] = dict(windows or {})
    figures["n_dependent_items"] = n_dependent
    return figures


def _rows(matrix: Any) -> list[list[float]]:
    return np.asarray(matrix, dtype=float).tolist()


def _classification_plots(rows: AnnotationColumns, consensus: Mapping, window: int) -> dict[str, list[dict]]:
    plots: dict[str, list[dict]] = {}
    names, who = factorize(rows.annotator)
    _, item = factorize(rows.item_id)
    reference = np.array([consensus.get(i) for i in rows.item_id.tolist()], dtype=object)
    order = np.lexsort((item, who))  # by annotator, then item id
    order = order[reference[order] != None]  # noqa: E711 - elementwise on an object array
    starts = np.flatnonzero(np.r_[True, who[order][1:] != who[order][:-1]]) if len(order) else order
    for block in np.split(order, starts[1:]):
        if len(block):
            name = f"confusion/{_file_name(rows.annotator[block[0]])}.json"
            if name in plots:  # two annotators with one safe file name share the file, one after the other
                block = np.concatenate([plots[name].index, block])
            plots[name] = _ConfusionRows(rows, reference, block)
    if not plots:  # dvc.yaml declares the folder: with nobody to plot yet it holds an empty table
        plots[EMPTY_CONFUSION] = []
    plots["agreement_trend.json"] = [
        {"window": w["window"], "labels": w["n"], "agreement_with_consensus": w["agreement"]}
        for w in agreement_trend(rows.created_at, reference == rows.label, window=window)]
    return plots


class _ConfusionRows(Sequence):
    """One annotator's confusion plot rows, made when read (one file at a time, not every annotation's row
    at once): ``{"item_id", "consensus", "label"}`` at the annotation positions ``index``."""

    def __init__(self, rows: AnnotationColumns, reference: np.ndarray, index: np.ndarray) -> None:
        self.rows, self.reference, self.index = rows, reference, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        i = int(self.index[k])
        return {"item_id": self.rows.item_id[i], "consensus": self.reference[i], "label": self.rows.label[i]}

    def __iter__(self):
        item_id, label, reference = self.rows.item_id, self.rows.label, self.reference
        for i in self.index.tolist():
            yield {"item_id": item_id[i], "consensus": reference[i], "label": label[i]}

    def __eq__(self, other):
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"_ConfusionRows({len(self)} rows)"


@functools.lru_cache(maxsize=4096)
def _file_name(annotator: str) -> str:
    """An annotator as a safe file name (e-mails keep their readable form)."""
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in annotator)


def _route_unannotated(result: AgreeResult, item_ids: Iterable[str], decisions: Mapping) -> None:
    """Items nobody annotated: ``annotate``, outside :func:`.review.route` (they have no posterior to rank by)."""
    known = {c["item_id"] for c in result.consensus}
    waiting = 0
    for item_id in sorted(set(item_ids) - known):
        if item_id in decisions:
            result.consensus.append({"item_id": item_id, "n_annotations": 0, "reasons": [], "spot_check": []})
        else:
            waiting += 1
            result.review.append({"item_id": item_id, "n_annotations": 0, "reasons": [TOO_FEW_ANNOTATORS],
                                  "action": "annotate"})
    result.review_summary["n_unannotated"] = waiting


def _finish(result: AgreeResult, options: AgreeOptions, decisions: Mapping[str, Mapping]) -> None:
    """Apply review decisions, set each item's status, and fill the headline and review figures."""
    calibrated = options.task_type in CLASSIFICATION
    queued = {r["item_id"] for r in result.review}
    for record in result.consensus:
        decided = decisions.get(record["item_id"])
        holding = [r for r in record["reasons"] if r not in NOT_HOLDING]
        if decided is not None:
            record.update({k: decided[k] for k in PAYLOAD_KEYS if k in decided})
            record.update(method="review", confidence=1.0, status="reviewed")
            if calibrated:
                record["expected_error"] = 0.0
        elif holding and options.review_gate and record["item_id"] in queued:
            record["status"] = "held"
        else:
            record["status"] = "flagged" if holding else "accepted"
    result.consensus.sort(key=lambda r: r["item_id"])
    result.review.sort(key=lambda r: r["item_id"])
    statuses = [r["status"] for r in result.consensus]
    summary = result.review_summary
    if calibrated:
        exported = [r["expected_error"] for r in result.consensus
                    if r["status"] != "held" and (r.get("label") is not None or r.get("labels") is not None)]
        summary.pop("estimated_accuracy_exported", None)
        if exported:
            errors = np.asarray(exported, dtype=float)
            summary["estimated_accuracy_exported"] = 1.0 - float(errors.mean())
            # Each label is right with its own probability: the count of wrong ones has this spread.
            summary["estimated_accuracy_exported_se"] = float(np.sqrt((errors * (1 - errors)).sum()) / len(errors))
        summary["n_exported"] = len(exported)
    result.review_summary = review_metrics(summary)
    metrics = result.metrics
    metrics.update({
        "n_flagged": len(result.review), "n_held": statuses.count("held"), "n_reviewed": statuses.count("reviewed"),
        "n_accepted": statuses.count("accepted"),
    })
    metrics = rounded(metrics)
    result.annotators = rounded(result.annotators)
    gate = evaluate_gate(metrics, result.annotators, metric=options.headline, threshold=options.threshold,
                         min_annotator_score=options.min_annotator_kappa if options.gate_annotators else None,
                         review=result.review_summary, min_estimated_accuracy=options.min_estimated_accuracy)
    metrics["passes"] = int(gate.passed)
    result.report.update({"headline": options.headline, "threshold": options.threshold,
                          "annotators_below_min_kappa": annotators_below(result.annotators,
                                                                         options.min_annotator_kappa)})
    # Rounded so that float noise of another CPU or BLAS build does not change the bytes.
    result.metrics = metrics
    for records in (result.consensus, result.review):  # in place: a rounded copy of every record is ~1 KiB each
        for i, record in enumerate(records):
            records[i] = rounded(record, numbers_only=False)


def _sorted_keys(d: dict) -> bool:
    keys = list(d)
    return all(type(k) is str for k in keys) and keys == sorted(keys)


def rounded(value: Any, *, numbers_only: bool = True) -> Any:
    """Floats rounded to 6 decimals, NaN as None, keys sorted (stable bytes, clean DVC diffs).

    With ``numbers_only`` booleans become 0/1, as DVC metrics want.
    """
    kind = type(value)
    if kind is str or kind is int or value is None:  # the most common leaves, first
        return value
    if kind is float:
        return None if value != value else round(value, DECIMALS)
    if kind is dict and all(type(k) is str for k in value):  # records: skip the leaves' calls
        out = {}
        for k in sorted(value):
            v = value[k]
            leaf = type(v)
            if leaf is float:
                out[k] = None if v != v else round(v, DECIMALS)
            elif leaf is str or leaf is int or v is None:
                out[k] = v
            elif leaf is list and all(type(x) is str for x in v):  # reasons, spot checks
                out[k] = v
            elif not numbers_only and leaf is dict and all(type(x) is int for x in v.values()) and _sorted_keys(v):
                out[k] = v  # a record's votes, shared between records (ConsensusResult.records): not copied
            else:
                out[k] = rounded(v, numbers_only=numbers_only)
        return out
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
