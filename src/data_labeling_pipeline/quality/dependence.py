"""Which consensus labels depend on a given annotator's vote.

A weak annotator, a spammer or an outlier does not make every item they touched suspect:
Dawid-Skene already gives their votes little weight. An item is suspect only when its
consensus *depends* on that vote: leaving the vote out makes another class win (or tie), or
moves the confidence of the consensus class from at least ``min_confidence`` to below it.

Leaving one vote out needs no refit: the Dawid-Skene log posterior of an item is the log
prior plus one log confusion row per vote, so the posterior without annotator ``a`` is the
item's total minus ``a``'s row, renormalised, with the fitted confusion matrices held fixed.
For majority vote it is the vote counts minus that vote. Both are one vectorised pass over the
annotations of the items the annotators touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.consensus import ConsensusResult
from data_labeling_pipeline.quality.encoding import encode_long

_WHERE = "<outlier dependence>"


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def _strictly_best(p: np.ndarray, idx: np.ndarray, *, atol: float = 1e-12) -> np.ndarray:
    """Whether class ``idx[i]`` is strictly above every other class of row ``i``."""
    mine = p[np.arange(len(p)), idx]
    others = p.copy()
    others[np.arange(len(p)), idx] = -np.inf
    return mine > others.max(1) + atol if p.shape[1] > 1 else np.ones(len(p), bool)


def outlier_dependence(
    item_ids: Any,
    annotators: Any,
    labels: Any,
    consensus: ConsensusResult,
    outliers: Iterable,
    *,
    model: Any = None,
    min_confidence: float | None = None,
) -> dict[Any, np.ndarray]:
    """Items whose consensus label or confidence hangs on one flagged annotator's vote.

    Args:
        item_ids: Item id per annotation (the long table the consensus came from).
        annotators: Annotator per annotation.
        labels: Label per annotation.
        consensus: The consensus of that table.
        outliers: The flagged annotators (a single name is accepted too).
        model: The fitted :class:`DawidSkene` behind the consensus (its priors and confusion
            matrices give the posterior without the vote); ``None``: majority vote counts.
        min_confidence: The confidence threshold (``quality.auto_flag_low_confidence``);
            ``None`` checks only label flips.

    Returns:
        ``annotator -> sorted item ids`` whose consensus depends on that annotator's vote,
        for every annotator of ``outliers`` (an empty array when none, or when unknown).

    Example:
        >>> from data_labeling_pipeline.quality.consensus import majority_vote
        >>> cols = (["i1"] * 3 + ["i2"] * 3, list("abcabc"), ["x", "x", "y", "x", "x", "x"])
        >>> mv = majority_vote(*cols)
        >>> {a: v.tolist() for a, v in outlier_dependence(*cols, mv, ["a"]).items()}
        {'a': ['i1']}
    """
    names = [outliers] if isinstance(outliers, str) else list(outliers)
    table = encode_long(item_ids, annotators, labels, classes=consensus.classes)
    if not np.array_equal(table.items, consensus.items):
        raise DataError.single(_WHERE, None, "consensus", "the consensus was computed on other items than the table")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise DataError.single(_WHERE, None, "min_confidence",
                               f"expected a share between 0 and 1, got {min_confidence!r}")
    out: dict[Any, np.ndarray] = {name: np.array([], dtype=table.items.dtype) for name in names}
    position = {a: i for i, a in enumerate(table.annotators.tolist())}
    codes = np.array([position[a] for a in names if a in position], dtype=np.int64)
    if len(codes) == 0 or len(table) == 0:
        return out
    is_out = np.isin(table.annotator, codes)
    touched = np.unique(table.item[is_out])
    sel = np.flatnonzero(np.isin(table.item, touched))  # rows of touched items, still sorted by item
    item, ann, lab = table.item[sel], table.annotator[sel], table.label[sel]
    local = np.searchsorted(touched, item)
    cons = consensus.label_index[touched]
    if model is not None:
        if list(model.annotators_) != table.annotators.tolist() or list(model.classes_) != list(table.classes):
            raise DataError.single(_WHERE, None, "model", "the model was fitted on other annotators or classes")
        log_conf = np.log(np.maximum(np.asarray(model.confusions_, dtype=float), 1e-300))
        rows = log_conf[ann, :, lab]  # per annotation: log P(given label | true class)
        starts = np.searchsorted(local, np.arange(len(touched)))
        total = np.add.reduceat(rows, starts, axis=0) + np.log(np.maximum(model.priors_, 1e-300))
        with_vote = _softmax_rows(total)[np.arange(len(touched)), cons]
        mine = np.flatnonzero(is_out[sel])
        without = _softmax_rows(total[local[mine]] - rows[mine])
    else:
        votes = consensus.votes[touched].astype(float)
        n = votes.sum(1)
        with_vote = votes[np.arange(len(touched)), cons] / np.maximum(n, 1)
        mine = np.flatnonzero(is_out[sel])
        left = votes[local[mine]].copy()
        left[np.arange(len(mine)), lab[mine]] -= 1
        without = left / np.maximum(left.sum(1, keepdims=True), 1)
    t = local[mine]
    depends = ~_strictly_best(without, cons[t])
    if min_confidence is not None:
        p_without = without[np.arange(len(mine)), cons[t]]
        depends |= (with_vote[t] >= min_confidence) & (p_without < min_confidence)
    for name in names:
        if name in position:
            hit = depends & (ann[mine] == position[name])
            out[name] = np.sort(table.items[touched[t[hit]]])
    return out


def dependent_items(dependence: dict[Any, np.ndarray]) -> np.ndarray:
    """The union of :func:`outlier_dependence`'s items, sorted.

    Example:
        >>> dependent_items({"a": np.array(["i2"]), "b": np.array(["i1", "i2"])}).tolist()
        ['i1', 'i2']
    """
    parts = [np.asarray(v) for v in dependence.values() if len(v)]
    return np.unique(np.concatenate(parts)) if parts else np.array([])
