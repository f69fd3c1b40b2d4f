"""The ``agree`` computations for structured labels: NER spans and bounding boxes.

Agreement is pairwise matched F1 (spans: exact and overlap; boxes: IoU 0.5 and 0.75,
plus the mean IoU of matches). The consensus of an item comes from clustering and
voting (:func:`span_consensus`, :func:`box_consensus`); an item's *confidence* is
the share of its annotators whose whole answer matches the consensus (every
region matched one to one, same label), so it reads like the classification one.

Routing is :func:`.review.route`'s, as for classification, ranked by ``1 - confidence``:
a vote share, not a posterior, so it orders the queue but is no probability of error.
The review summary therefore leaves out the expected numbers of wrong labels and the
estimated accuracies, consensus records carry no ``expected_error``, and the budget left
is not filled with items that have no reason (a unanimous item would rank as error 0).

This module does not import :mod:`.agree` (which calls it): it takes plain options and
returns the parts of an ``AgreeResult`` as a dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.quality.annotators import agreement_trend
from data_labeling_pipeline.quality.boxes import box_agreement, box_consensus, match_boxes
from data_labeling_pipeline.quality.flags import DISAGREEMENT, LOW_CONFIDENCE, OUTLIER_ANNOTATOR, SPOT_CHECK
from data_labeling_pipeline.quality.review import route
from data_labeling_pipeline.quality.spans import match_spans, span_agreement, span_consensus
from data_labeling_pipeline.quality.spotcheck import spot_check_sample

CONSENSUS = "__consensus__"
LOW_F1 = "low_f1"
# An annotator is an outlier below this F1 against the consensus, once it has enough items to tell.
MIN_F1, MIN_ITEMS = 0.7, 20
# Summary figures that need a calibrated probability of error (vote shares are not one).
CALIBRATED = ("expected_wrong_", "estimated_accuracy_")


def structured_agreement(
    annotations: Sequence[Mapping],
    decisions: Mapping,
    *,
    task_type: str,
    classes: Sequence[str],
    min_annotators: int = 2,
    max_annotators: int | None = None,
    min_confidence: float | None = 0.7,
    review_budget: float | int | None = None,
    spot_check_rate: float = 0.1,
    seed: int = 0,
    window: int = 200,
) -> dict[str, Any]:
    """Agreement, consensus, annotator figures and routing of span or box annotations.

    Args:
        annotations: Annotation records with ``spans`` (``task_type="ner"``) or ``boxes``.
        decisions: ``item_id -> decision``; decided items are never queued.
        task_type: ``"ner"`` or ``"bbox"``.
        classes: The schema's classes.
        min_annotators: Fewer annotations: ``annotate`` (``too_few_annotators``).
        max_annotators: Items below it can take one more annotator.
        min_confidence: Agreement share below it: ``low_confidence`` (``None``: off).
        review_budget: Share (float) or number (int) of items the review action may take.
        spot_check_rate: Share of each annotator's labels a reviewer checks (joint sample).
        seed: Spot-check seed.
        window: Labels per window of the agreement trend.

    Returns:
        ``consensus`` (records with ``confidence``, ``reasons`` and ``spot_check``), ``review``
        (queue records), ``review_summary``, ``metrics``, ``annotators``, ``report``, ``plots``.

    Example:
        >>> recs = [{"item_id": "t", "annotator": a, "spans": [{"start": 0, "end": 3, "label": "PER"}]}
        ...         for a in ("a", "b")]
        >>> parts = structured_agreement(recs, {}, task_type="ner", classes=["PER"], spot_check_rate=0)
        >>> parts["consensus"][0]["confidence"], parts["review"]
        (1.0, [])
    """
    spans = task_type == "ner"
    key = "spans" if spans else "boxes"
    records = [{"item_id": a["item_id"], "annotator": a["annotator"], key: a.get(key) or []} for a in annotations]
    if spans:
        figures = {"span_f1_exact": span_agreement(records, match="exact"),
                   "span_f1_overlap": span_agreement(records, match="overlap")}
        consensus = span_consensus(records, match="overlap", classes=list(classes))
    else:
        found = box_agreement(records, iou_thresholds=(0.5, 0.75))
        figures = {"box_f1_50": found["f1@0.5"], "box_f1_75": found["f1@0.75"], "box_mean_iou": found["mean_iou"]}
        consensus = box_consensus(records, iou_threshold=0.5, classes=list(classes))
    by_item: dict[str, list[Mapping]] = {}
    for record in records:
        by_item.setdefault(record["item_id"], []).append(record)
    agrees = {(r["item_id"], r["annotator"]): _same(r[key], c[key], spans)
              for c in consensus for r in by_item.get(c["item_id"], ())}
    annotators = _annotator_figures(annotations, records, consensus, agrees, key, spans)
    outliers = {a for a, f in annotators.items() if f["flags"]}
    dependent = {a: 0 for a in annotators}
    spot = spot_check_sample([r["item_id"] for r in records], [r["annotator"] for r in records],
                             rate=spot_check_rate, seed=seed)

    reasons: dict[str, list[str]] = {}
    shares = []
    for item in consensus:
        members = by_item[item["item_id"]]
        hits = [agrees[(item["item_id"], r["annotator"])] for r in members]
        share = float(np.mean(hits))
        shares.append(share)
        why = []
        if len(members) >= 2 and share <= 0.5:
            why.append(DISAGREEMENT)
        hanging = [r["annotator"] for r, hit in zip(members, hits, strict=True)
                   if r["annotator"] in outliers and hit and _depends(sum(hits), len(hits), min_confidence)]
        for who in hanging:
            dependent[who] += 1
        if hanging:
            why.append(OUTLIER_ANNOTATOR)
        if why:
            reasons[item["item_id"]] = why
    ids = [c["item_id"] for c in consensus]
    share_arr = np.asarray(shares, dtype=float)
    queue, summary = route(np.asarray(ids, dtype=object), 1.0 - share_arr, [c["n_annotations"] for c in consensus],
                           budget=review_budget, min_annotators=min_annotators, max_annotators=max_annotators,
                           min_confidence=min_confidence, confidence=share_arr, reasons=reasons,
                           spot_check=spot, decided=list(decisions), fill_budget=False)
    queued = {q["item_id"]: q for q in queue}
    members_of = {i: sorted(r["annotator"] for r in by_item[i]) for i in ids}
    out_consensus = []
    for item, share in zip(consensus, shares, strict=True):
        q = queued.get(item["item_id"])
        why = list(q["reasons"]) if q else reasons.get(item["item_id"], []) + (
            [LOW_CONFIDENCE] if min_confidence is not None and share < min_confidence else [])
        out_consensus.append({**item, "confidence": share, "reasons": why,
                              "spot_check": members_of[item["item_id"]] if SPOT_CHECK in why else []})
    review = [{**queued[c["item_id"]], "confidence": c["confidence"], "n_annotations": c["n_annotations"],
               **({"spot_check": c["spot_check"]} if c["spot_check"] else {})}
              for c in out_consensus if c["item_id"] in queued]
    for who, per in annotators.items():
        per["n_dependent_items"] = dependent[who]
    metrics = {
        "cohens_kappa": None, "fleiss_kappa": None, "krippendorff_alpha": None, "gwet_ac1": None,
        "percent_agreement": float(np.mean(list(agrees.values()))) if agrees else None,
        **{name: score.overall.value for name, score in figures.items()},
        "n_items": len(consensus), "n_annotations": len(records),
        "n_annotators": len({r["annotator"] for r in records}),
        "per_class": {name: {c: s.value for c, s in score.per_class.items() if s.value is not None}
                      for name, score in figures.items()},
    }
    not_estimated = f"not estimated for {task_type}: its confidence is an agreement share, not a posterior"
    report = {
        "undefined": {**{m: f"not defined for {task_type}; see {', '.join(figures)}" for m in (
            "cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")},
            **{name: s.overall.reason for name, s in figures.items() if s.overall.value is None},
            "estimated_accuracy_exported": not_estimated},
        "percent_agreement": "share of annotations whose whole answer matches the item's consensus",
        "pairs": {name: score.pairs for name, score in figures.items()},
    }
    times = [a.get("created_at") for a in annotations]
    flags = [agrees.get((a["item_id"], a["annotator"]), False) for a in annotations]
    plots = {"agreement_trend.json": [
        {"window": w["window"], "labels": w["n"], "agreement_with_consensus": w["agreement"]}
        for w in agreement_trend(times, flags, window=window)]}
    summary = {k: v for k, v in summary.items() if not k.startswith(CALIBRATED)}
    return {"consensus": out_consensus, "review": review, "review_summary": summary, "metrics": metrics,
            "annotators": annotators, "report": report, "plots": plots}


def _depends(n_agree: int, n: int, min_confidence: float | None) -> bool:
    """Whether leaving out one vote for the consensus leaves it without a strict majority, or unconfident."""
    without = (n_agree - 1) / (n - 1) if n > 1 else 0.0
    if without <= 0.5:
        return True
    return min_confidence is not None and n_agree / n >= min_confidence > without


def _same(mine: list, consensus: list, spans: bool) -> bool:
    """Whether an annotator's regions match the consensus one to one with the same labels."""
    if len(mine) != len(consensus):
        return False
    if not mine:
        return True
    matches = match_spans(mine, consensus, match="exact") if spans else match_boxes(mine, consensus, iou_threshold=0.5)
    return len(matches) == len(mine)


def _annotator_figures(annotations, records, consensus, agrees, key: str, spans: bool) -> dict[str, dict[str, Any]]:
    """Per annotator: F1 against the consensus and each other, speed, region classes, flags."""
    pseudo = [{"item_id": c["item_id"], "annotator": CONSENSUS, key: c[key]} for c in consensus]
    if spans:
        versus = span_agreement(records + pseudo, match="exact")
    else:
        versus = box_agreement(records + pseudo, iou_thresholds=(0.5,))["f1@0.5"]
    pair_f1: dict[str, dict[str, Any]] = {}
    for pair in versus.pairs:
        a, b = pair["annotator_a"], pair["annotator_b"]
        pair_f1.setdefault(a, {})[b] = pair["value"]
        pair_f1.setdefault(b, {})[a] = pair["value"]
    out: dict[str, dict[str, Any]] = {}
    for who in sorted({r["annotator"] for r in records}):
        mine = [a for a in annotations if a["annotator"] == who]
        regions = [region["label"] for a in mine for region in a.get(key) or []]
        leads = [a["lead_time"] for a in mine if a.get("lead_time") is not None]
        f1 = pair_f1.get(who, {}).get(CONSENSUS)
        n_items = len(mine)
        figures = {
            "n_items": n_items,
            "f1_vs_consensus": f1,
            "agreement_with_consensus": float(np.mean([agrees.get((a["item_id"], who), False) for a in mine])),
            "f1_vs_annotators": {o: v for o, v in sorted(pair_f1.get(who, {}).items()) if o != CONSENSUS},
            "median_lead_time": float(np.median(leads)) if leads else None,
            "labels_per_hour": n_items * 3600.0 / sum(leads) if leads and sum(leads) > 0 else None,
            "empty_share": sum(1 for a in mine if not a.get(key)) / n_items,
            "class_distribution": {c: regions.count(c) / len(regions) for c in sorted(set(regions))},
            "flags": {},
        }
        if f1 is not None and n_items >= MIN_ITEMS and f1 < MIN_F1:
            figures["flags"][LOW_F1] = 1
        out[who] = figures
    return out
