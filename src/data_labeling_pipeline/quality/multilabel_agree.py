"""The ``agree`` computations for multi-label classification (records with ``labels``).

Agreement and consensus come from :mod:`.multilabel`: macro averages of per-class binary
agreement under the single-label metric names (so ``dlp gate`` thresholds work unchanged),
set-level Jaccard and exact-match agreement, and majority consensus sets.

Expected error: the set is right when every class decision is. Each class's decision gets the
posterior of a Dawid-Skene stand-in fitted on that class's binary votes (held-out, with review
decisions as truth), as single-label majority vote does; the expected error is one minus their
product (the classes taken as independent), and so is the error after one more annotator.
Routing is then :func:`.review.route`'s, as for single-label classification:

- ``tie``: exactly half of the item's annotators chose a class (``tied_classes`` names them);
  the class stays out of the set, and one more annotator settles it;
- ``disagreement``: no strict majority of the annotators gave exactly the consensus set;
- ``outlier_annotator``: an annotator flagged ``low_kappa`` (their macro kappa against the
  consensus below ``min_annotator_kappa``, with at least 20 items) decides the item's set:
  without their vote it would differ or tie.

This module does not import :mod:`.agree` (which calls it): it takes plain options and
returns the parts of an ``AgreeResult`` as a dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.annotators import agreement_trend
from data_labeling_pipeline.quality.dawid_skene import DawidSkene
from data_labeling_pipeline.quality.flags import DISAGREEMENT, LOW_CONFIDENCE, OUTLIER_ANNOTATOR, SPOT_CHECK, TIE
from data_labeling_pipeline.quality.kappa_windows import LOW_KAPPA
from data_labeling_pipeline.quality.multilabel import (
    ABSENT,
    METRICS,
    PRESENT,
    SET_METRICS,
    MultiLabelConsensus,
    MultiLabelTable,
    annotator_figures,
    encode_multilabel,
    majority_sets,
    multilabel_agreement_table,
)
from data_labeling_pipeline.quality.posterior import error_after_annotation, typical_confusion
from data_labeling_pipeline.quality.review import ORDER, route
from data_labeling_pipeline.quality.spotcheck import spot_check_coverage, spot_check_sample

MIN_ITEMS = 20  # an annotator is flagged only with this many items (as a kappa window needs)
NONE = "(none)"  # the confusion plots' stand-in for "class not chosen"
DESCRIPTION = {
    "agreement": "per class, each annotation is a binary decision (class chosen or not); cohens_kappa, fleiss_kappa, "
                 "krippendorff_alpha, gwet_ac1 and percent_agreement are macro means over the classes where they "
                 "are defined (per_class lists each)",
    "jaccard_agreement": "mean over items of the mean Jaccard index |A & B| / |A | B| of their annotation pairs "
                         "(two empty sets: 1)",
    "exact_match_agreement": "mean over items of the share of annotation pairs with identical sets",
    "consensus": "per class majority: a class is in the set when more than half of the item's annotators chose it; "
                 "exactly half is a tie (left out, reason tie); quality.consensus_method applies to single-label only",
    "confidence": "share of the item's annotators whose set equals the consensus set",
    "expected_error": "1 - product over classes of the Dawid-Skene posterior of the class decision",
}


def label_sets(annotations: Sequence[Mapping]) -> list[list[str]]:
    """Every record's ``labels``; a record without them (a single ``label``) is an error."""
    missing = [a for a in annotations if a.get("labels") is None]
    if missing:
        shown = [(a.get("item_id"), a.get("annotator")) for a in missing[:3]]
        raise DataError.single("annotations/annotations.jsonl", None, "$.labels",
                               f"a multi-label project needs 'labels' (a list) on every record; {len(missing)} have "
                               f"none, e.g. (item_id, annotator) {shown}; set multi_label in schema/labels.yaml to "
                               "match the records, or fix them")
    return [list(a["labels"]) for a in annotations]


def set_errors(mt: MultiLabelTable, consensus: MultiLabelConsensus, *, truth: Mapping[str, Sequence[str]],
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Expected error of each consensus set today and after one more annotation (see the module doc)."""
    right = np.ones(mt.table.n_items)
    right_after = np.ones(mt.table.n_items)
    names = mt.table.annotators[mt.table.annotator]
    for k, name in enumerate(mt.classes):
        binary = mt.binary(k)
        known = {item: PRESENT if name in labels else ABSENT for item, labels in truth.items()}
        model = DawidSkene(seed=seed).fit_table(binary, truth=known)
        posterior = np.asarray(model.holdout_probas_, dtype=float)
        decision = consensus.labels[:, k].astype(np.int64)
        right *= posterior[np.arange(len(decision)), decision]
        right_after *= 1.0 - error_after_annotation(posterior, typical_confusion(model, annotators=names))
    return np.clip(1.0 - right, 0.0, 1.0), np.clip(1.0 - right_after, 0.0, 1.0)


def dependent_items(mt: MultiLabelTable, consensus: MultiLabelConsensus, outliers: set) -> dict[str, list]:
    """``annotator -> items`` whose consensus set would differ, or tie, without that (flagged) annotator's vote."""
    table = mt.table
    names = table.annotators.tolist()
    out: dict[str, list] = {}
    if not outliers:
        return out
    for row in np.flatnonzero(np.isin(table.annotator, [names.index(a) for a in outliers])).tolist():
        i = table.item[row]
        n = consensus.n_annotations[i] - 1
        votes = consensus.votes[i] - mt.indicators[row]
        changed = (2 * votes > n) != consensus.labels[i] if n else np.ones(1, bool)
        if changed.any() or (n >= 2 and (2 * votes == n).any()):
            out.setdefault(names[table.annotator[row]], []).append(table.items[i])
    return out


def multilabel_agree(
    annotations: Sequence[Mapping],
    decisions: Mapping[str, Mapping],
    *,
    classes: Sequence[str],
    min_annotators: int = 2,
    max_annotators: int | None = None,
    min_confidence: float | None = 0.7,
    min_annotator_kappa: float | None = 0.7,
    review_budget: float | int | None = None,
    spot_check_rate: float = 0.1,
    seed: int = 0,
    window: int = 200,
) -> dict[str, Any]:
    """Agreement, consensus sets, annotator figures and routing of multi-label annotations.

    Args:
        annotations: Annotation records with ``labels`` (human only).
        decisions: ``item_id -> decision`` (corrections, ground truth); their ``labels`` are the
            truth of the calibration, and decided items are never queued.
        classes: The schema's classes, in schema order.
        min_annotators: Fewer annotations: ``annotate`` (``too_few_annotators``).
        max_annotators: Items below it can take one more annotator.
        min_confidence: One minus the expected error below it: ``low_confidence`` (``None``: off).
        min_annotator_kappa: Macro kappa against the consensus below it flags ``low_kappa``.
        review_budget: Share (float) or number (int) of items the review action may take.
        spot_check_rate: Share of each annotator's labels a reviewer checks.
        seed: Spot-check and Dawid-Skene seed.
        window: Labels per window of the agreement trend.

    Returns:
        ``consensus``, ``review``, ``review_summary``, ``metrics``, ``annotators``, ``report``, ``plots``.

    Example:
        >>> recs = [{"item_id": i, "annotator": a, "labels": s} for i, a, s in [
        ...     ("t1", "a", ["x", "y"]), ("t1", "b", ["x", "y"]), ("t2", "a", ["x"]), ("t2", "b", ["y"])]]
        >>> parts = multilabel_agree(recs, {}, classes=["x", "y"], max_annotators=5, spot_check_rate=0)
        >>> [(c["item_id"], c["labels"], c["tied_classes"]) for c in parts["consensus"]]
        [('t1', ['x', 'y'], []), ('t2', [], ['x', 'y'])]
        >>> [(r["item_id"], r["action"], r["reasons"]) for r in parts["review"]]
        [('t2', 'annotate', ['tie', 'disagreement', 'low_confidence'])]
    """
    items = np.array([a["item_id"] for a in annotations], dtype=object)
    who = np.array([a["annotator"] for a in annotations], dtype=object)
    mt = encode_multilabel(items, who, label_sets(annotations), classes=classes)
    figures = multilabel_agreement_table(mt)
    consensus = majority_sets(mt)
    truth = {i: d["labels"] for i, d in decisions.items() if d.get("labels") is not None}
    err, after = set_errors(mt, consensus, truth=truth, seed=seed)

    versus = annotator_figures(mt, consensus.labels)
    flagged = {a for a, f in versus.items() if min_annotator_kappa is not None and f["n_items"] >= MIN_ITEMS
               and f["kappa"] is not None and f["kappa"] < min_annotator_kappa}
    dependent = dependent_items(mt, consensus, flagged)
    outlier_items = {i for found in dependent.values() for i in found}
    why: dict[str, list[str]] = {}
    for i, item in enumerate(consensus.items.tolist()):
        reasons = [TIE] if consensus.tied[i].any() else []
        if consensus.n_annotations[i] >= 2 and consensus.confidence[i] <= 0.5:
            reasons.append(DISAGREEMENT)
        if item in outlier_items:
            reasons.append(OUTLIER_ANNOTATOR)
        if reasons:
            why[item] = reasons
    spot = spot_check_sample(items, who, rate=spot_check_rate, seed=seed)
    queue, summary = route(consensus.items, err, consensus.n_annotations, budget=review_budget,
                           min_annotators=min_annotators, max_annotators=max_annotators,
                           min_confidence=min_confidence, error_after=after, reasons=why, spot_check=spot,
                           decided=list(decisions))
    summary["spot_check"] = spot_check_coverage(items, who, spot)
    out_consensus, review = _records(consensus, err, queue, why, mt, min_confidence)
    return {
        "consensus": out_consensus, "review": review, "review_summary": summary,
        "metrics": _metrics(figures, len(classes)), "report": _report(figures),
        "annotators": _annotators(annotations, mt, consensus, versus, truth, flagged, dependent, figures["pairs"]),
        "plots": _plots(annotations, mt, consensus, window),
    }


def _records(consensus: MultiLabelConsensus, err: np.ndarray, queue: list[dict], why: Mapping, mt: MultiLabelTable,
             min_confidence: float | None) -> tuple[list[dict], list[dict]]:
    queued = {q["item_id"]: q for q in queue}
    members: dict[Any, list] = {}
    for item, annotator in zip(mt.table.item.tolist(), mt.table.annotator.tolist(), strict=True):
        members.setdefault(item, []).append(mt.table.annotators[annotator])
    known = {r: n for n, r in enumerate(ORDER)}
    out_consensus, review = [], []
    for i, record in enumerate(consensus.records()):
        q = queued.get(record["item_id"])
        low = min_confidence is not None and 1.0 - err[i] < min_confidence
        reasons = list(q["reasons"]) if q else list(why.get(record["item_id"], [])) + ([LOW_CONFIDENCE] if low else [])
        reasons = sorted(set(reasons), key=lambda r: (known.get(r, len(ORDER)), r))
        spot = sorted(members[i], key=str) if SPOT_CHECK in reasons else []
        out_consensus.append({**record, "reasons": reasons, "expected_error": float(err[i]), "spot_check": spot})
        if q is not None:
            review.append({**q, "reasons": reasons, "labels": record["labels"], "confidence": record["confidence"],
                           "n_annotations": record["n_annotations"], "tied_classes": record["tied_classes"],
                           **({"spot_check": spot} if spot else {})})
    return out_consensus, review


def _metrics(figures: Mapping, n_classes: int) -> dict[str, Any]:
    metrics: dict[str, Any] = {name: figures[name].value for name in (*METRICS, *SET_METRICS)}
    metrics.update(n_items=figures["n_items"], n_annotations=figures["n_annotations"],
                   n_annotators=figures["n_annotators"], n_classes=n_classes, multi_label=1)
    metrics["per_class"] = {name: {c: s.value for c, s in figures[name].details["per_class"].items() if s.defined}
                            for name in METRICS}
    return metrics


def _report(figures: Mapping) -> dict[str, Any]:
    return {
        "undefined": {name: figures[name].reason for name in (*METRICS, *SET_METRICS) if not figures[name].defined},
        "undefined_per_class": {name: {c: s.reason for c, s in figures[name].details["per_class"].items()
                                       if not s.defined} for name in METRICS},
        "n_classes_defined": {name: figures[name].details.get("n_classes_defined", 0) for name in METRICS},
        "pairwise_jaccard": figures["pairs"],
        "bootstrap": None, "scale": "nominal", "cohens_kappa_weights": None,
        "consensus_method": "majority_vote", "multi_label": DESCRIPTION,
    }


def _annotators(annotations, mt: MultiLabelTable, consensus: MultiLabelConsensus, versus: Mapping, truth: Mapping,
                flagged: set, dependent: Mapping, pairs: list[dict]) -> dict[str, dict[str, Any]]:
    """Per annotator: agreement with the consensus (and ground truth, where known), with each other, speed, habits."""
    reference = np.zeros_like(consensus.labels)
    has_truth = np.zeros(len(consensus.items), bool)
    position = {item: i for i, item in enumerate(consensus.items.tolist())}
    order = {c: k for k, c in enumerate(mt.classes)}
    for item, labels in truth.items():
        if item in position:
            has_truth[position[item]] = True
            reference[position[item], [order[c] for c in labels if c in order]] = True
    vs_truth = annotator_figures(mt, reference, has_reference=has_truth)
    others: dict[str, dict[str, float]] = {}
    for pair in pairs:
        others.setdefault(pair["annotator_a"], {})[pair["annotator_b"]] = pair["jaccard"]
        others.setdefault(pair["annotator_b"], {})[pair["annotator_a"]] = pair["jaccard"]
    leads_of: dict[str, list[float]] = {}
    for r in annotations:
        if r.get("lead_time") is not None:
            leads_of.setdefault(r["annotator"], []).append(float(r["lead_time"]))
    out = {}
    for a, name in enumerate(mt.table.annotators.tolist()):
        mine = mt.indicators[mt.table.annotator == a]
        leads = leads_of.get(name, [])
        f = versus[name]
        out[name] = {
            "n_items": f["n_items"], "jaccard_vs_consensus": f["jaccard"], "f1_vs_consensus": f["f1"],
            "kappa_vs_consensus": f["kappa"], "per_class_vs_consensus": f["per_class"],
            "jaccard_vs_truth": vs_truth[name]["jaccard"], "n_truth_items": vs_truth[name]["n_items"],
            "jaccard_vs_annotators": dict(sorted(others.get(name, {}).items())),
            "class_distribution": dict(zip(mt.classes, mine.mean(0).tolist() if len(mine) else [], strict=False)),
            "mean_labels_per_item": float(mine.sum(1).mean()) if len(mine) else None,
            "median_lead_time": float(np.median(leads)) if leads else None,
            "labels_per_hour": len(leads) * 3600.0 / sum(leads) if leads and sum(leads) > 0 else None,
            "flags": {LOW_KAPPA: 1} if name in flagged else {}, "windows": {},
            "n_dependent_items": len(dependent.get(name, ())),
        }
    return out


def _plots(annotations, mt: MultiLabelTable, consensus: MultiLabelConsensus, window: int) -> dict[str, list[dict]]:
    """Per annotator, one confusion row per (item, class) chosen by them or the consensus; the agreement trend."""
    plots: dict[str, list[dict]] = {}
    table = mt.table
    rows = sorted(range(len(table)), key=lambda r: (table.annotators[table.annotator[r]], table.items[table.item[r]]))
    for r in rows:
        name, i = table.annotators[table.annotator[r]], table.item[r]
        for k in np.flatnonzero(mt.indicators[r] | consensus.labels[i]):
            c = mt.classes[k]
            plots.setdefault(f"confusion/{_file_name(name)}.json", []).append(
                {"item_id": table.items[i], "class": c, "consensus": c if consensus.labels[i, k] else NONE,
                 "label": c if mt.indicators[r, k] else NONE})
    if not plots:  # dvc.yaml declares the folder: with nothing to plot it holds an empty table
        plots["confusion/none.json"] = []
    labels = {item: set(found) for item, found in consensus.as_mapping().items()}
    agrees = [set(a["labels"]) == labels.get(a["item_id"]) for a in annotations]
    plots["agreement_trend.json"] = [
        {"window": w["window"], "labels": w["n"], "agreement_with_consensus": w["agreement"]}
        for w in agreement_trend([a.get("created_at") for a in annotations], agrees, window=window)]
    return plots


def _file_name(annotator: str) -> str:
    """An annotator as a safe file name (e-mails keep their readable form), as the single-label plots name them."""
    return "".join(c if c.isalnum() or c in "@.-_" else "_" for c in annotator)
