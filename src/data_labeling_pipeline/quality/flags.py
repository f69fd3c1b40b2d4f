"""Annotator flags and item routing: which labels need another look, and why.

Thresholds are plain arguments (the stage reads them from ``params.yaml``). The spot-check
sample is a hash of (seed, annotator, item id), so it is stable when items are added and
the same on every machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.consensus import ConsensusResult

# Item routing reasons, in the order they are reported.
TOO_FEW_ANNOTATORS = "too_few_annotators"
TIE = "tie"
DISAGREEMENT = "disagreement"
LOW_CONFIDENCE = "low_confidence"
OUTLIER_ANNOTATOR = "outlier_annotator"
MODEL_DISAGREES = "model_disagrees"
SPOT_CHECK = "spot_check"
REASONS = (TOO_FEW_ANNOTATORS, TIE, DISAGREEMENT, LOW_CONFIDENCE, OUTLIER_ANNOTATOR, MODEL_DISAGREES, SPOT_CHECK)

# Annotator flags.
LOW_ACCURACY = "low_accuracy"
NEAR_CONSTANT = "near_constant"
SPAMMER = "spammer"


def annotator_flags(
    stats: Iterable[Mapping[str, Any]],
    *,
    min_accuracy: float = 0.7,
    max_class_share: float = 0.95,
    min_spammer_score: float = 0.2,
    min_items: int = 20,
    min_truth_items: int = 10,
) -> dict[Any, list[str]]:
    """Flag annotators from :func:`annotator_stats` records.

    - ``low_accuracy``: accuracy below ``min_accuracy``, against ground truth when the annotator
      has at least ``min_truth_items`` ground-truth items, else against consensus.
    - ``near_constant``: one class makes up at least ``max_class_share`` of the annotator's
      labels while the consensus of the same items is more varied.
    - ``spammer``: Dawid-Skene confusion rows nearly identical (spammer score below
      ``min_spammer_score``): labels carry no information about the true class.

    Annotators with fewer than ``min_items`` labels are never flagged (too little evidence).

    Returns:
        ``annotator -> sorted list of flags`` for every annotator (empty list when none).

    Example:
        >>> annotator_flags([{"annotator": "a", "n_items": 50, "accuracy_vs_truth": None,
        ...     "accuracy_vs_consensus": {"value": 0.5, "n_items": 50},
        ...     "class_distribution": {"x": 1.0}, "consensus_distribution": {"x": 0.5}, "spammer_score": None}])
        {'a': ['low_accuracy', 'near_constant']}
    """
    out: dict[Any, list[str]] = {}
    for rec in stats:
        flags: list[str] = []
        if rec["n_items"] >= min_items:
            truth, cons = _value(rec.get("accuracy_vs_truth")), _value(rec.get("accuracy_vs_consensus"))
            use_truth = truth[0] is not None and truth[1] >= min_truth_items
            accuracy = truth[0] if use_truth else cons[0]
            if accuracy is not None and accuracy < min_accuracy:
                flags.append(LOW_ACCURACY)
            dist = rec.get("class_distribution") or {}
            if dist:
                top = max(dist, key=lambda c: dist[c])
                cons_share = (rec.get("consensus_distribution") or {}).get(top, 0.0)
                if dist[top] >= max_class_share and cons_share < max_class_share:
                    flags.append(NEAR_CONSTANT)
            spam = rec.get("spammer_score")
            if spam is not None and spam < min_spammer_score:
                flags.append(SPAMMER)
        out[rec["annotator"]] = sorted(flags)
    return out


def _value(metric: Any) -> tuple[float | None, int]:
    """(value, n_items) of a Score or its dict form."""
    if metric is None:
        return None, 0
    if isinstance(metric, Mapping):
        return metric.get("value"), int(metric.get("n_items", 0))
    return metric.value, metric.n_items


def spot_check(item_ids: Any, annotators: Any, *, rate: float = 0.1, seed: int = 0) -> np.ndarray:
    """Deterministic sample of about ``rate`` of each annotator's labels, by blake2b hash.

    A label is picked when ``blake2b(seed, annotator, item_id)`` read as a fraction of 2**64
    is below ``rate``: independent per annotator, stable across runs and item insertions.

    Example:
        >>> picked = spot_check([f"i{n}" for n in range(2000)], ["a"] * 2000, rate=0.1)
        >>> bool(0.08 < picked.mean() < 0.12)
        True
    """
    items = np.asarray(item_ids, dtype=object)
    anns = np.asarray(annotators, dtype=object)
    if not 0 <= rate <= 1:
        raise DataError.single("<flags>", None, "rate", f"expected a share between 0 and 1, got {rate!r}")
    limit = int(rate * 2**64)
    prefix = f"{seed}\x1f".encode()
    out = np.empty(len(items), dtype=bool)
    for i, (item, ann) in enumerate(zip(items.tolist(), anns.tolist(), strict=True)):
        digest = hashlib.blake2b(prefix + f"{ann}\x1f{item}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") < limit
    return out


def route_items(
    consensus: ConsensusResult,
    item_ids: Any,
    annotators: Any,
    *,
    min_annotators: int = 2,
    min_confidence: float = 0.7,
    outlier_annotators: Iterable = (),
    model_labels: Mapping | None = None,
    spot_check_rate: float = 0.1,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Items that need more annotators or a review, each with its reasons.

    Args:
        consensus: The consensus of the same long table.
        item_ids: Item id per annotation (the long table the consensus came from).
        annotators: Annotator per annotation.
        min_annotators: Fewer annotations than this: ``too_few_annotators``.
        min_confidence: Consensus confidence below this: ``low_confidence``.
        outlier_annotators: Flagged annotators; an item they labelled gets ``outlier_annotator``.
        model_labels: ``item_id -> pre-label model's class``; a different consensus gets
            ``model_disagrees``.
        spot_check_rate: Share of each annotator's labels sampled by :func:`spot_check`.
        seed: Spot-check seed.

    Also ``tie`` (the tie-break decided) and ``disagreement`` (no strict majority of votes for the
    consensus class).

    Returns:
        One dict per routed item, sorted by item id: ``item_id``, ``label``, ``confidence``,
        ``n_annotations``, ``reasons`` (in :data:`REASONS` order), ``spot_check`` (annotators
        whose label was sampled).

    Example:
        >>> from data_labeling_pipeline.quality.consensus import majority_vote
        >>> mv = majority_vote(["a", "a", "b"], ["x", "y", "x"], ["cat", "dog", "cat"])
        >>> [(r["item_id"], r["reasons"]) for r in route_items(mv, ["a", "a", "b"], ["x", "y", "x"], spot_check_rate=0)]
        [('a', ['tie', 'disagreement', 'low_confidence']), ('b', ['too_few_annotators'])]
    """
    items = consensus.items
    n = len(items)
    col_items = np.asarray(item_ids)
    col_anns = np.asarray(annotators, dtype=object)
    pos = np.searchsorted(items, col_items) if n else np.zeros(len(col_items), dtype=np.int64)
    pos = np.minimum(pos, max(n - 1, 0))
    known = (items[pos] == col_items) if n else np.zeros(len(col_items), bool)
    outliers = set(outlier_annotators)
    involved = np.zeros(n, dtype=bool)
    if outliers:
        is_out = np.array([a in outliers for a in col_anns.tolist()], dtype=bool)
        involved[pos[known & is_out]] = True
    sampled: dict[int, list] = {}
    if spot_check_rate > 0:
        picked = spot_check(col_items, col_anns, rate=spot_check_rate, seed=seed) & known
        for p, ann in zip(pos[picked].tolist(), col_anns[picked].tolist(), strict=True):
            sampled.setdefault(p, []).append(ann)
    top_votes = consensus.votes[np.arange(n), consensus.label_index] if n else np.zeros(0)
    labels = consensus.labels
    out = []
    for i in range(n):
        reasons = []
        n_ann = int(consensus.n_annotations[i])
        if n_ann < min_annotators:
            reasons.append(TOO_FEW_ANNOTATORS)
        if consensus.tie[i]:
            reasons.append(TIE)
        if n_ann >= 2 and 2 * top_votes[i] <= n_ann:
            reasons.append(DISAGREEMENT)
        if consensus.confidence[i] < min_confidence:
            reasons.append(LOW_CONFIDENCE)
        if involved[i]:
            reasons.append(OUTLIER_ANNOTATOR)
        item = items[i].item() if hasattr(items[i], "item") else items[i]
        if model_labels is not None and item in model_labels and model_labels[item] != labels[i]:
            reasons.append(MODEL_DISAGREES)
        if i in sampled:
            reasons.append(SPOT_CHECK)
        if reasons:
            out.append({
                "item_id": item,
                "label": labels[i],
                "confidence": float(consensus.confidence[i]),
                "n_annotations": n_ann,
                "reasons": reasons,
                "spot_check": sorted(sampled.get(i, []), key=str),
            })
    return out
