"""Batch selectors over per-row scores: the top k, and the random control.

Ties are broken by row index (the caller passes rows sorted by item id, so index order is
item-id order), never by ``argpartition`` order: the same scores give the same queue byte for
byte. Diversity selectors over embeddings live in
:mod:`~data_labeling_pipeline.active.diversity` and :mod:`~data_labeling_pipeline.active.hybrid`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active._checks import available_mask, bad, check_k, check_scores


def top_k(scores: Any, k: int, *, secondary: Any = None, exclude: Any = None) -> np.ndarray:
    """Row indices of the ``k`` highest scores, highest first.

    Args:
        scores: One number per row, higher = picked first (NaN is refused).
        k: How many rows to return (0 <= k <= selectable rows).
        secondary: Optional second key per row: among equal scores the higher one goes first.
        exclude: Rows never returned: a boolean mask or integer row indices.

    Returns:
        ``int64`` array of ``k`` unique row indices; equal keys in ascending row order.

    Example:
        >>> top_k([0.2, 0.9, 0.5, 0.9], 3).tolist()
        [1, 3, 2]
        >>> top_k([0.2, 0.9, 0.5, 0.9], 2, exclude=[1]).tolist()
        [3, 2]
    """
    s = check_scores(scores)
    sec = None if secondary is None else check_scores(secondary, field="secondary")
    if sec is not None and sec.shape != s.shape:
        raise bad("secondary", f"expected one value per row ({len(s)}), got shape {sec.shape}")
    avail = available_mask(exclude, len(s))
    rows = np.arange(len(s)) if avail is None else np.flatnonzero(avail)
    k = check_k(k, len(rows))
    vals = s[rows]
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if k < len(rows):
        # the k-th largest value, then every row reaching it: ties at the cut are all kept
        # and ordered below, so argpartition's arbitrary order never leaks into the result
        cut = np.partition(vals, len(vals) - k)[len(vals) - k]
        keep = np.flatnonzero(vals >= cut)
    else:
        keep = np.arange(len(rows))
    keys = (keep, -vals[keep]) if sec is None else (keep, -sec[rows[keep]], -vals[keep])
    order = np.lexsort(keys)
    return rows[keep[order[:k]]].astype(np.int64)


def random_k(n: int, k: int, *, exclude: Any = None, seed: int = 0) -> np.ndarray:
    """``k`` distinct rows out of ``n`` drawn uniformly with ``numpy.random.default_rng(seed)``.

    Example:
        >>> random_k(10, 3, seed=0).tolist() == random_k(10, 3, seed=0).tolist()
        True
        >>> sorted(random_k(4, 3, exclude=[0], seed=1).tolist())
        [1, 2, 3]
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise bad("n", f"expected the number of rows (an integer >= 0), got {n!r}")
    avail = available_mask(exclude, int(n))
    rows = np.arange(n) if avail is None else np.flatnonzero(avail)
    k = check_k(k, len(rows))
    rng = np.random.default_rng(seed)
    return rows[rng.choice(len(rows), size=k, replace=False)].astype(np.int64)
