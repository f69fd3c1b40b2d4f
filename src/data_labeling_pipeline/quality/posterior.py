"""Expected error of each consensus label, and what one more annotator would leave of it.

The expected error of an item is ``1 - P(true class = consensus class | votes)``. Under
Dawid-Skene that is one minus the posterior it already computes. Majority vote has no
posterior (its confidence is a vote share: 2 of 3 votes is 0.67 whether the two are experts
or a spammer and a guesser), so its stand-in is the Dawid-Skene posterior of the *majority*
label: a model fitted on the same table, read at the class majority vote chose. A one-step
Dawid-Skene (confusions from vote shares, one E-step) was tried and rejected: on a simulated
crowd of 20,000 items it put the accuracy of majority vote 4.4 points too low, the full fit
0.4 points too high.

The sum of expected errors over a set of items is the expected number of wrong labels in it;
one minus their mean is the estimated accuracy of the set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.consensus import ConsensusResult

_WHERE = "<expected errors>"


def stand_in_model(item_ids: Any, annotators: Any, labels: Any, *, classes: Any = None, seed: int = 0) -> Any:
    """The Dawid-Skene model whose posterior calibrates a majority-vote consensus.

    Example:
        >>> m = stand_in_model([1, 1, 1, 2, 2, 2], list("abcabc"), list("xxyyyy"))
        >>> m.probas_.shape
        (2, 2)
    """
    from data_labeling_pipeline.quality.dawid_skene import DawidSkene

    return DawidSkene(seed=seed).fit(item_ids, annotators, labels, classes=classes)


def expected_errors(
    consensus: Any,
    *,
    label_index: Any = None,
    model: Any = None,
    item_ids: Any = None,
    annotators: Any = None,
    labels: Any = None,
) -> np.ndarray:
    """``1 - posterior of the consensus class`` per item: the probability that the consensus is wrong.

    Args:
        consensus: A :class:`ConsensusResult`, or an items x classes posterior array.
        label_index: With an array: the consensus class per item (default: the row's argmax).
        model: A fitted :class:`DawidSkene` on the same table whose ``probas_`` to use
            (needed for majority vote unless the long table is given).
        item_ids: With a majority-vote consensus and no ``model``: the long table, from which
            :func:`stand_in_model` fits the calibrating posterior.
        annotators: See ``item_ids``.
        labels: See ``item_ids``.

    Returns:
        A float array in [0, 1], one entry per item (the consensus's item order).

    Raises:
        DataError: A majority vote with neither a model nor the long table, or shapes that do
            not line up.

    Example:
        >>> from data_labeling_pipeline.quality.consensus import majority_vote
        >>> cols = ([1, 1, 1, 2, 2, 2], list("abcabc"), list("xxyyyy"))
        >>> mv = majority_vote(*cols)
        >>> err = expected_errors(mv, item_ids=cols[0], annotators=cols[1], labels=cols[2])
        >>> err.shape, bool(((err >= 0) & (err <= 1)).all())
        ((2,), True)
        >>> expected_errors(np.array([[0.9, 0.1], [0.3, 0.7]])).round(3).tolist()
        [0.1, 0.3]
    """
    if isinstance(consensus, ConsensusResult):
        idx = consensus.label_index
        if model is None and consensus.method == "majority_vote":
            if item_ids is None or annotators is None or labels is None:
                raise DataError.single(
                    _WHERE, None, "model",
                    "a majority vote's confidence is a vote share, not a posterior: pass model= (a DawidSkene "
                    "fitted on the same annotations) or item_ids=, annotators=, labels= to fit one")
            model = stand_in_model(item_ids, annotators, labels, classes=consensus.classes)
        # A Dawid-Skene fit's holdout posteriors: each item scored without its own votes (calibrated).
        probas = consensus.probas if model is None else np.asarray(getattr(model, "holdout_probas_", model.probas_),
                                                                   dtype=float)
        if model is not None and not np.array_equal(np.asarray(model.items_), consensus.items):
            raise DataError.single(_WHERE, None, "model", "the model was fitted on other items than the consensus")
    else:
        probas = np.asarray(consensus, dtype=float)
        if probas.ndim != 2:
            raise DataError.single(_WHERE, None, "consensus",
                                   f"expected an items x classes posterior, got shape {probas.shape}")
        idx = probas.argmax(1) if label_index is None else np.asarray(label_index, dtype=np.int64)
    if len(idx) != len(probas):
        raise DataError.single(_WHERE, None, "label_index", f"expected {len(probas)} entries, got {len(idx)}")
    if len(idx) == 0 or probas.shape[1] == 0:
        return np.zeros(len(idx))
    return np.clip(1.0 - probas[np.arange(len(idx)), idx], 0.0, 1.0)


def typical_confusion(model: Any, *, annotators: Any = None) -> np.ndarray:
    """The confusion matrix (true x given) of an annotator drawn from the pool by workload.

    Args:
        model: A fitted :class:`DawidSkene` (``confusions_``, ``annotators_``).
        annotators: The annotator column of the table it was fitted on; each annotator then
            weighs by their number of labels (default: equal weights).

    Example:
        >>> from data_labeling_pipeline.quality.dawid_skene import DawidSkene
        >>> m = DawidSkene().fit([1, 1, 2, 2], list("abab"), list("xxyy"))
        >>> typical_confusion(m, annotators=list("abab")).shape
        (2, 2)
    """
    conf = np.asarray(model.confusions_, dtype=float)
    if annotators is None:
        weights = np.ones(len(conf))
    else:
        names, counts = np.unique(np.asarray(annotators, dtype=object).astype(str), return_counts=True)
        lookup = dict(zip(names.tolist(), counts.tolist(), strict=True))
        weights = np.array([lookup.get(str(a), 0) for a in np.asarray(model.annotators_).tolist()], dtype=float)
    if len(conf) == 0 or weights.sum() <= 0:
        k = conf.shape[1] if conf.ndim == 3 else 0
        return np.full((k, k), 1.0 / max(k, 1))
    return np.tensordot(weights / weights.sum(), conf, axes=1)


def error_after_annotation(probas: Any, confusion: Any) -> np.ndarray:
    """Expected error of each item's best label after one more vote from an annotator with ``confusion``.

    With posterior ``p`` and confusion ``C`` (true x given) the next vote ``v`` has probability
    ``sum_c p(c) C(c, v)`` and leaves the best class with posterior ``max_c p(c) C(c, v) / P(v)``,
    so the expected error afterwards is ``1 - sum_v max_c p(c) C(c, v)``. It is never above the
    error of the best class today (a vote cannot hurt on average). Used to decide whether one
    more annotator (cheap) can settle an item, or whether it needs an expert (expensive).

    Args:
        probas: Items x classes posterior.
        confusion: Classes x classes (rows: true class; e.g. :func:`typical_confusion`).

    Example:
        >>> good = np.array([[0.9, 0.1], [0.1, 0.9]])
        >>> error_after_annotation(np.array([[0.5, 0.5], [0.99, 0.01]]), good).round(3).tolist()
        [0.1, 0.01]
    """
    p = np.asarray(probas, dtype=float)
    c = np.asarray(confusion, dtype=float)
    if p.ndim != 2 or c.shape != (p.shape[1], p.shape[1]):
        raise DataError.single(_WHERE, None, "confusion",
                               f"expected a {p.shape[1]}x{p.shape[1]} matrix for a posterior of shape {p.shape}, "
                               f"got {c.shape}")
    kept = np.zeros(len(p))
    for v in range(c.shape[1]):  # k passes of O(items x k): no items x k x k array
        kept += (p * c[:, v]).max(1)
    return np.clip(1.0 - kept, 0.0, 1.0)
