"""Seeded, stratified fold assignment and the summary every ``cross_validate`` returns.

scikit-learn's ``StratifiedKFold`` refuses (or warns about) a class with fewer members than
folds, which is the normal case for a weak model trained on the first 50 labels. Here each
stratum is shuffled with the seeded generator and dealt round-robin over the folds, the deal
carrying on from one stratum to the next: every fold gets its share of each class that has
enough members, a rare class lands in as many folds as it has members, and fold sizes differ
by at most one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError


def stratified_folds(strata: Sequence[Hashable], *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """The fold (0 .. k-1) of each row, with ``k = min(folds, len(strata))``.

    Example:
        >>> stratified_folds(["a", "a", "b", "b", "b", "c"], folds=2).tolist()
        [0, 1, 1, 0, 0, 1]
    """
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise DataError.single("<cross_validate>", None, "folds", f"expected an integer >= 2, got {folds!r}")
    n = len(strata)
    k = min(folds, n)
    out = np.zeros(n, dtype=np.int64)
    if k == 0:
        return out
    rng = np.random.default_rng(seed)
    groups: dict[Hashable, list[int]] = {}
    for row, key in enumerate(strata):
        groups.setdefault(key, []).append(row)
    offset = 0
    # Sorted by repr so the deal does not depend on the order strata first appear in.
    for key in sorted(groups, key=repr):
        rows = rng.permutation(np.asarray(groups[key]))
        out[rows] = (offset + np.arange(len(rows))) % k
        offset = (offset + len(rows)) % k
    return out


def cross_validate_with(
    fit_score: Callable[[np.ndarray, np.ndarray], float],
    strata: Sequence[Hashable],
    *,
    folds: int = 5,
    seed: int = 0,
    metric: str = "accuracy",
) -> dict[str, Any]:
    """Run ``fit_score(train_rows, test_rows)`` on each fold and summarise.

    Returns:
        ``{"metric", "mean", "std", "folds": [score per fold], "n", "n_folds"}``; ``std`` is the
        population standard deviation over folds (ddof 0). With fewer than two rows there is
        nothing to hold out: ``mean`` and ``std`` are ``None`` and ``reason`` says why.

    Example:
        >>> cross_validate_with(lambda train, test: 1.0, ["a", "b", "a", "b"], folds=2)["folds"]
        [1.0, 1.0]
    """
    n = len(strata)
    summary: dict[str, Any] = {"metric": metric, "n": n}
    if n < 2:
        return {**summary, "mean": None, "std": None, "folds": [], "n_folds": 0,
                "reason": f"cross-validation needs at least 2 labelled items, got {n}"}
    assignment = stratified_folds(strata, folds=folds, seed=seed)
    k = int(assignment.max()) + 1
    scores = []
    for fold in range(k):
        test = np.flatnonzero(assignment == fold)
        train = np.flatnonzero(assignment != fold)
        scores.append(float(fit_score(train, test)))
    return {**summary, "mean": float(np.mean(scores)), "std": float(np.std(scores)), "folds": scores, "n_folds": k}
