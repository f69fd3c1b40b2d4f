"""The ``agree`` computations for structured labels: NER spans and bounding boxes.

Agreement is pairwise matched F1 (spans: exact and overlap; boxes: IoU 0.5 and 0.75,
plus the mean IoU of matches). The consensus of an item comes from clustering and
voting (:func:`span_consensus`, :func:`box_consensus`); an item's *confidence* is
the share of its annotators whose whole answer matches the consensus (every
region matched one to one, same label), so it reads like the classification one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from data_labeling_pipeline.quality.annotators import agreement_trend
from data_labeling_pipeline.quality.boxes import box_agreement, box_consensus, match_boxes
from data_labeling_pipeline.quality.flags import (
    DISAGREEMENT,
    LOW_CONFIDENCE,
    OUTLIER_ANNOTATOR,
    TOO_FEW_ANNOTATORS,
    spot_check,
)
from data_labeling_pipeline.quality.spans import match_spans, span_agreement, span_consensus

if TYPE_CHECKING:
    from data_labeling_pipeline.quality.agree import AgreeOptions, AgreeResult

CONSENSUS = "__consensus__"
LOW_F1 = "low_f1"
# An annotator is an outlier below this F1 against the consensus, once it has enough items to tell.
MIN_F1, MIN_ITEMS = 0.7, 20


def structured_agreement(annotations: Sequence[Mapping], decisions: Mapping, options: AgreeOptions) -> AgreeResult:
    """Agreement, consensus, annotator figures and routing reasons for spans or boxes."""
    from data_labeling_pipeline.quality.agree import AgreeResult

    spans = options.task_type == "ner"
    key = "spans" if spans else "boxes"
    records = [{"item_id": a["item_id"], "annotator": a["annotator"], key: a.get(key) or []} for a in annotations]
    if spans:
        figures = {"span_f1_exact": span_agreement(records, match="exact"),
                   "span_f1_overlap": span_agreement(records, match="overlap")}
        consensus = span_consensus(records, match="overlap", classes=list(options.classes))
    else:
        found = box_agreement(records, iou_thresholds=(0.5, 0.75))
        figures = {"box_f1_50": found["f1@0.5"], "box_f1_75": found["f1@0.75"], "box_mean_iou": found["mean_iou"]}
        consensus = box_consensus(records, iou_threshold=0.5, classes=list(options.classes))
    by_item: dict[str, list[Mapping]] = {}
    for record in records:
        by_item.setdefault(record["item_id"], []).append(record)
    agrees = {(r["item_id"], r["annotator"]): _same(r[key], c[key], spans)
              for c in consensus for r in by_item.get(c["item_id"], ())}
    annotators = _annotator_figures(annotations, records, consensus, agrees, key, spans)
    outliers = {a for a, f in annotators.items() if f["flags"]}
    sampled = spot_check([r["item_id"] for r in records], [r["annotator"] for r in records],
                         rate=options.spot_check_rate, seed=options.seed)
    picked: dict[str, list[str]] = {}
    for record, hit in zip(records, sampled.tolist(), strict=True):
        if hit:
            picked.setdefault(record["item_id"], []).append(record["annotator"])

    result = AgreeResult()
    for item in consensus:
        members = by_item[item["item_id"]]
        share = float(np.mean([agrees[(item["item_id"], r["annotator"])] for r in members]))
        reasons = []
        if item["n_annotations"] < options.min_annotators:
            reasons.append(TOO_FEW_ANNOTATORS)
        if item["n_annotations"] >= 2 and share <= 0.5:
            reasons.append(DISAGREEMENT)
        if share < options.min_confidence:
            reasons.append(LOW_CONFIDENCE)
        if any(r["annotator"] in outliers for r in members):
            reasons.append(OUTLIER_ANNOTATOR)
        if item["item_id"] in picked:
            reasons.append("spot_check")
        result.consensus.append({**item, "confidence": share, "reasons": reasons,
                                 "spot_check": sorted(picked.get(item["item_id"], []))})
    result.metrics = {
        "cohens_kappa": None, "fleiss_kappa": None, "krippendorff_alpha": None, "gwet_ac1": None,
        "percent_agreement": float(np.mean(list(agrees.values()))) if agrees else None,
        **{name: score.overall.value for name, score in figures.items()},
        "n_items": len(consensus), "n_annotations": len(records),
        "n_annotators": len({r["annotator"] for r in records}),
        "per_class": {name: {c: s.value for c, s in score.per_class.items() if s.value is not None}
                      for name, score in figures.items()},
    }
    result.report = {
        "undefined": {**{m: f"not defined for {options.task_type}; see {', '.join(figures)}" for m in (
            "cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")},
            **{name: s.overall.reason for name, s in figures.items() if s.overall.value is None}},
        "percent_agreement": "share of annotations whose whole answer matches the item's consensus",
        "pairs": {name: score.pairs for name, score in figures.items()},
    }
    result.annotators = annotators
    times = [a.get("created_at") for a in annotations]
    flags = [agrees.get((a["item_id"], a["annotator"]), False) for a in annotations]
    result.plots = {"agreement_trend.json": [
        {"window": w["window"], "labels": w["n"], "agreement_with_consensus": w["agreement"]}
        for w in agreement_trend(times, flags, window=options.window)]}
    return result


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
