"""Review economy: route items to ``annotate`` (cheap) or ``review`` (expensive) by expected error.

Full review is cost-prohibitive, so the routing ranks items by their expected error (the
probability that the consensus label is wrong, :func:`.posterior.expected_errors`) and spends
a review budget on the top of that ranking:

1. Items with fewer than ``min_annotators`` annotations go to ``annotate`` (never to review).
2. Uncertain items (a reason: ``low_confidence``, or one from elsewhere such as ``tie``,
   ``disagreement``, ``outlier_annotator``, ``model_disagrees``) that can still take another
   annotator (fewer than ``max_annotators``) go to ``annotate`` first, unless their expected
   error after one more vote (:func:`.posterior.error_after_annotation`) stays above
   ``settle_error``.
3. The rest compete for the review budget: items below ``min_confidence`` first (the rule
   "every item below it is reviewed, budget permitting"), then by expected error (ties by item
   id). With ``fill_budget`` the budget left is filled with the next items by expected error
   (reason ``expected_error``). Uncertain items the budget cannot take go to ``annotate`` when
   they still can; the rest are counted as not taken.
4. Spot checks are outside the budget: they audit annotators, not items. A spot-checked item
   gets ``review`` with the reason ``spot_check`` (too-few items wait for their annotators).

The summary says what the rest is worth: the expected number of wrong labels in each queue
and among accepted items, and the estimated accuracy of the labels (items decided by a
reviewer count as correct).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.consensus import ConsensusResult
from data_labeling_pipeline.quality.flags import (
    DISAGREEMENT,
    LOW_CONFIDENCE,
    MODEL_DISAGREES,
    OUTLIER_ANNOTATOR,
    SPOT_CHECK,
    TIE,
    TOO_FEW_ANNOTATORS,
)

ANNOTATE = "annotate"
REVIEW = "review"
EXPECTED_ERROR = "expected_error"
# Reasons in the order a record lists them; reasons from elsewhere follow, sorted.
ORDER = (TOO_FEW_ANNOTATORS, TIE, DISAGREEMENT, LOW_CONFIDENCE, OUTLIER_ANNOTATOR, MODEL_DISAGREES,
         EXPECTED_ERROR, SPOT_CHECK)
DEFAULT_SETTLE_ERROR = 0.3
DECIMALS = 6
_WHERE = "<arguments>"


def _bad(field: str, message: str) -> DataError:
    return DataError.single(_WHERE, None, field, message)


def consensus_reasons(
    consensus: ConsensusResult, *, outlier_items: Iterable = (), model_labels: Mapping | None = None
) -> dict[Any, list[str]]:
    """The reasons a consensus gives on its own: ``tie``, ``disagreement``, ``outlier_annotator``, ``model_disagrees``.

    ``disagreement`` is no strict majority of votes for the consensus class; ``outlier_annotator``
    marks ``outlier_items`` (from :func:`.dependence.outlier_dependence`, not every item a flagged
    annotator touched); ``model_disagrees`` a pre-label model's different class.

    Returns:
        ``item_id -> reasons`` for the items that have one.

    Example:
        >>> from data_labeling_pipeline.quality.consensus import majority_vote
        >>> mv = majority_vote(["a", "a", "b", "b"], list("xyxy"), ["c", "d", "c", "c"])
        >>> consensus_reasons(mv, model_labels={"b": "d"})
        {'a': ['tie', 'disagreement'], 'b': ['model_disagrees']}
    """
    n = len(consensus.items)
    top = consensus.votes[np.arange(n), consensus.label_index] if n else np.zeros(0)
    outliers = set(np.asarray(list(outlier_items), dtype=object).tolist())
    labels = consensus.labels
    out: dict[Any, list[str]] = {}
    for i, item in enumerate(consensus.items.tolist()):
        reasons = []
        if consensus.tie[i]:
            reasons.append(TIE)
        if consensus.n_annotations[i] >= 2 and 2 * top[i] <= consensus.n_annotations[i]:
            reasons.append(DISAGREEMENT)
        if item in outliers:
            reasons.append(OUTLIER_ANNOTATOR)
        if model_labels is not None and item in model_labels and model_labels[item] != labels[i]:
            reasons.append(MODEL_DISAGREES)
        if reasons:
            out[item] = reasons
    return out


def budget_count(budget: float | int | None, n_items: int) -> int:
    """Items the review action may take: a share (float) or a number (int) of ``n_items``; ``None``: all.

    Example:
        >>> budget_count(0.15, 1000), budget_count(40, 1000), budget_count(None, 1000)
        (150, 40, 1000)
    """
    if budget is None:
        return n_items
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)):
        raise _bad("budget", f"expected a share (float in [0, 1]), a number of items (int >= 0) or None, "
                             f"got {budget!r}")
    if isinstance(budget, (int, np.integer)):
        if budget < 0:
            raise _bad("budget", f"expected a number of items >= 0, got {budget!r}")
        return min(int(budget), n_items)
    if not 0 <= budget <= 1:
        raise _bad("budget", f"a share must be between 0 and 1 (an int is a number of items), got {budget!r}")
    return int(np.floor(budget * n_items + 1e-9))


def _sorted_reasons(reasons: Iterable[str]) -> list[str]:
    known = {r: i for i, r in enumerate(ORDER)}
    unique = set(reasons)
    return sorted(unique, key=lambda r: (known.get(r, len(ORDER)), r))


def _column(values: Any, n: int, field: str, *, dtype: Any = float) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise _bad(field, f"expected one value per item ({n}), got shape {arr.shape}")
    return arr


def route(
    item_ids: Any,
    expected_error: Any,
    n_annotators: Any,
    *,
    budget: float | int | None = None,
    min_annotators: int = 2,
    max_annotators: int | None = None,
    min_confidence: float | None = None,
    confidence: Any = None,
    error_after: Any = None,
    settle_error: float | None = None,
    reasons: Mapping | None = None,
    spot_check: Iterable = (),
    decided: Iterable = (),
    fill_budget: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``annotate`` and ``review`` queues, ranked by expected error under a review budget.

    Args:
        item_ids: One id per item (every labelled item of the project).
        expected_error: Probability that each item's consensus is wrong (:func:`.posterior.expected_errors`).
        n_annotators: Annotations per item.
        budget: Largest share (float) or number (int) of ``item_ids`` the review action may take
            (spot checks aside); ``None``: no limit.
        min_annotators: Fewer annotations: ``annotate`` with ``too_few_annotators``.
        max_annotators: Items with fewer annotations can take another annotator; ``None``: none can.
        min_confidence: Confidence below it: ``low_confidence``, reviewed first, budget permitting.
        confidence: Consensus confidence per item (default ``1 - expected_error``).
        error_after: Expected error after one more annotation (:func:`.posterior.error_after_annotation`);
            ``None``: one more annotator is assumed to settle any item.
        settle_error: An uncertain item goes to ``annotate`` only if ``error_after`` is at most this
            (default ``1 - min_confidence``, or 0.3).
        reasons: ``item_id -> reasons`` found elsewhere (:func:`consensus_reasons`).
        spot_check: Spot-checked item ids (:func:`.spotcheck.spot_check_sample`).
        decided: Item ids a reviewer already decided: never queued, counted as correct.
        fill_budget: Fill the review budget left with the next items by expected error.

    Returns:
        ``(records, summary)``. Records, sorted by item id: ``item_id``, ``action``, ``reasons``,
        ``expected_error`` (6 decimals) and ``rank`` (1 = first, per action). The summary is
        :func:`review_summary`'s (numbers only).

    Example:
        >>> recs, summary = route(["a", "b", "c", "d"], [0.4, 0.05, 0.2, 0.35], [3, 3, 1, 3],
        ...                       budget=0.25, min_confidence=0.7)
        >>> [(r["item_id"], r["action"], r["reasons"], r["rank"]) for r in recs]
        [('a', 'review', ['low_confidence'], 1), ('c', 'annotate', ['too_few_annotators'], 1)]
        >>> summary["n_low_confidence_not_taken"], summary["expected_wrong_accepted"]
        (1, 0.4)
    """
    ids = np.asarray(list(item_ids) if not isinstance(item_ids, np.ndarray) else item_ids)
    n = len(ids)
    err = _column(expected_error, n, "expected_error")
    if n and not (np.isfinite(err).all() and (err >= 0).all() and (err <= 1).all()):
        raise _bad("expected_error", "expected probabilities between 0 and 1")
    count = _column(n_annotators, n, "n_annotators", dtype=np.int64)
    for field, value in (("min_annotators", min_annotators), ("max_annotators", max_annotators)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
            raise _bad(field, f"expected an integer >= 0, got {value!r}")
    if max_annotators is not None and max_annotators < min_annotators:
        raise _bad("max_annotators", f"expected at least min_annotators ({min_annotators}), got {max_annotators}")
    for field, value in (("min_confidence", min_confidence), ("settle_error", settle_error)):
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise _bad(field, f"expected a share between 0 and 1 or None, got {value!r}")
    conf = 1.0 - err if confidence is None else _column(confidence, n, "confidence")
    after = None if error_after is None else _column(error_after, n, "error_after")
    if settle_error is None:
        settle_error = 1.0 - min_confidence if min_confidence is not None else DEFAULT_SETTLE_ERROR
    limit = budget_count(budget, n)

    id_list = ids.tolist()
    by_id = np.argsort(ids, kind="stable")
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[by_id] = np.arange(n)
    decided_set, spot_set = set(np.asarray(list(decided), dtype=object).tolist()), set(
        np.asarray(list(spot_check), dtype=object).tolist())
    done = np.fromiter((item in decided_set for item in id_list), bool, n)
    spot = np.fromiter((item in spot_set for item in id_list), bool, n) & ~done
    extra: list[list[str]] = [[] for _ in range(n)]
    if reasons:
        position = {item: i for i, item in enumerate(id_list)}
        for item, why in reasons.items():
            if item in position:
                extra[position[item]] = list(why)
    too_few = (count < min_annotators) & ~done
    low = (conf < min_confidence) & ~done & ~too_few if min_confidence is not None else np.zeros(n, bool)
    has_reason = np.array([bool(r) for r in extra], dtype=bool) | low
    uncertain = has_reason & ~done & ~too_few
    can_grow = count < max_annotators if max_annotators is not None else np.zeros(n, bool)
    settles = np.ones(n, bool) if after is None else after <= settle_error
    annotate = too_few | (uncertain & can_grow & settles)

    # Review: low confidence first, then expected error, then item id.
    candidate = ~done & ~too_few & ~annotate & (uncertain | fill_budget)
    if budget is None and fill_budget:
        candidate &= uncertain  # no limit and nothing to fill: only items with a reason
    cand = np.flatnonzero(candidate)
    cand = cand[np.lexsort((id_rank[cand], -err[cand], ~low[cand]))]
    review = np.zeros(n, bool)
    review[cand[:limit]] = True
    filled = review & ~uncertain
    not_taken = uncertain & ~annotate & ~review
    overflow = not_taken & can_grow  # the budget could not take them; another annotator still can
    annotate |= overflow
    not_taken &= ~overflow
    spot_only = spot & ~review & ~too_few
    annotate &= ~spot_only  # an expert looks at it anyway
    review_all = review | spot_only

    records: list[dict[str, Any]] = []
    rank = np.zeros(n, dtype=np.int64)
    for action_mask, tail in ((annotate, None), (review, spot_only)):
        idx = np.flatnonzero(action_mask)
        idx = idx[np.lexsort((id_rank[idx], -err[idx], ~low[idx], ~too_few[idx]))]
        rank[idx] = np.arange(1, len(idx) + 1)
        if tail is not None:
            rest = np.flatnonzero(tail)
            rest = rest[np.lexsort((id_rank[rest], -err[rest]))]
            rank[rest] = np.arange(len(idx) + 1, len(idx) + len(rest) + 1)
    for i in np.flatnonzero(annotate | review_all)[np.argsort(id_rank[annotate | review_all])].tolist():
        why = list(extra[i])
        if too_few[i]:
            why.append(TOO_FEW_ANNOTATORS)
        if low[i]:
            why.append(LOW_CONFIDENCE)
        if filled[i]:
            why.append(EXPECTED_ERROR)
        if spot[i] and not too_few[i]:
            why.append(SPOT_CHECK)
        records.append({
            "item_id": id_list[i],
            "action": ANNOTATE if annotate[i] else REVIEW,
            "reasons": _sorted_reasons(why),
            "expected_error": round(float(err[i]), DECIMALS),
            "rank": int(rank[i]),
        })
    summary = review_summary(
        records, err, item_ids=ids, decided=done,
        extra={"budget": limit, "n_low_confidence": int(low.sum()),
               "n_low_confidence_not_taken": int((low & not_taken).sum()), "n_not_taken": int(not_taken.sum()),
               "n_over_budget_to_annotate": int(overflow.sum()), "n_spot_check": int(spot_only.sum() + (
                   spot & review).sum()), "n_spot_check_outside_budget": int(spot_only.sum()),
               "n_spot_check_deferred": int((spot & too_few).sum())})
    return records, summary


def estimated_accuracy(expected_error: Any, *, correct: Any = None, groups: Any = None) -> Any:
    """Estimated share of correct labels: one minus the mean expected error.

    Args:
        expected_error: Expected error per item.
        correct: Mask of items known to be correct (decided by a reviewer): error 0.
        groups: Group per item (e.g. the export split); returns ``group -> accuracy``.

    Returns:
        A float (``None`` for no items), or a dict per group.

    Example:
        >>> estimated_accuracy([0.1, 0.3], correct=[False, True])
        0.95
        >>> estimated_accuracy([0.1, 0.3, 0.0], groups=["train", "val", "train"])
        {'train': 0.95, 'val': 0.7}
    """
    err = np.asarray(expected_error, dtype=float).copy()
    if correct is not None:
        err[np.asarray(correct, dtype=bool)] = 0.0
    if groups is None:
        return float(1.0 - err.mean()) if len(err) else None
    g = np.asarray(groups, dtype=object)
    if len(g) != len(err):
        raise _bad("groups", f"expected one group per item ({len(err)}), got {len(g)}")
    names, code = np.unique(g.astype(str), return_inverse=True)
    original = {str(x): x for x in g.tolist()}
    sums = np.bincount(code, weights=err, minlength=len(names))
    sizes = np.bincount(code, minlength=len(names))
    return {original[name]: round(float(1.0 - sums[j] / sizes[j]), DECIMALS) for j, name in enumerate(names.tolist())}


def review_summary(
    records: list[dict[str, Any]], expected_error: Any, *, item_ids: Any, decided: Any = None,
    extra: Mapping | None = None,
) -> dict[str, Any]:
    """Numbers-only summary of a routing: counts per action and reason, shares, expected wrong labels, accuracy.

    Accepted items are those in no queue and not decided. ``estimated_accuracy_exported`` is the
    accuracy of every labelled item as exported now (decided ones correct);
    ``estimated_accuracy_after_review`` counts the review queue as correct too (what the
    labels are worth once the queue is reviewed).

    Example:
        >>> s = review_summary([{"item_id": "a", "action": "review", "reasons": ["low_confidence"]}],
        ...                    [0.4, 0.1], item_ids=["a", "b"])
        >>> s["expected_wrong_review"], s["estimated_accuracy_accepted"], s["estimated_accuracy_after_review"]
        (0.4, 0.9, 0.95)
    """
    ids = np.asarray(item_ids)
    err = np.asarray(expected_error, dtype=float)
    n = len(ids)
    done = np.zeros(n, bool) if decided is None else np.asarray(decided, dtype=bool)
    position = {item: i for i, item in enumerate(ids.tolist())}
    action = {ANNOTATE: np.zeros(n, bool), REVIEW: np.zeros(n, bool)}
    per_reason: dict[str, dict[str, int]] = {ANNOTATE: {}, REVIEW: {}}
    for rec in records:
        action[rec["action"]][position[rec["item_id"]]] = True
        for reason in rec["reasons"]:
            per_reason[rec["action"]][reason] = per_reason[rec["action"]].get(reason, 0) + 1
    queued = action[ANNOTATE] | action[REVIEW]
    accepted = ~queued & ~done
    exported = np.where(done, 0.0, err)

    def share(mask: np.ndarray) -> float:
        return round(float(mask.sum() / n), DECIMALS) if n else 0.0

    def accuracy(values: np.ndarray) -> float:
        return round(float(1.0 - values.mean()), DECIMALS) if len(values) else 1.0

    out: dict[str, Any] = {
        "n_items": n, "n_decided": int(done.sum()), "n_accepted": int(accepted.sum()),
        "n_annotate": int(action[ANNOTATE].sum()), "n_review": int(action[REVIEW].sum()), "n_queue": int(queued.sum()),
        "annotate_share": share(action[ANNOTATE]), "review_share": share(action[REVIEW]), "queue_share": share(queued),
        "reasons": {a: dict(sorted(r.items())) for a, r in per_reason.items()},
        "expected_wrong_review": round(float(err[action[REVIEW]].sum()), DECIMALS),
        "expected_wrong_annotate": round(float(err[action[ANNOTATE]].sum()), DECIMALS),
        "expected_wrong_accepted": round(float(err[accepted].sum()), DECIMALS),
        "expected_wrong_exported": round(float(exported.sum()), DECIMALS),
        "estimated_accuracy_accepted": accuracy(err[accepted]),
        "estimated_accuracy_exported": accuracy(exported),
        "estimated_accuracy_after_review": accuracy(np.where(action[REVIEW], 0.0, exported)),
    }
    out.update(extra or {})
    return out


def review_metrics(summary: Mapping, *, spot_check: Mapping | None = None) -> dict[str, Any]:
    """``metrics/review.json``: the routing summary plus spot-check coverage, numbers only, 6 decimals.

    Args:
        summary: :func:`route`'s summary.
        spot_check: :func:`.spotcheck.spot_check_coverage`'s figures (optional).

    Raises:
        DataError: A leaf is not a number (DVC metrics diff numbers only).

    Example:
        >>> m = review_metrics({"n_review": 3, "reasons": {"review": {"tie": 1}}},
        ...                    spot_check={"item_share": 0.1, "annotator_share": {"a": 0.12}})
        >>> m["spot_check"], m["reasons"]
        ({'annotator_share': {'a': 0.12}, 'item_share': 0.1}, {'review': {'tie': 1}})
    """
    out = dict(summary)
    if spot_check is not None:
        out["spot_check"] = dict(spot_check)
    return _numbers(out, "$")


def _numbers(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _numbers(v, f"{path}.{k}") for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        return round(float(value), DECIMALS)
    raise _bad(path, f"metrics must be numbers, got {value!r}")
