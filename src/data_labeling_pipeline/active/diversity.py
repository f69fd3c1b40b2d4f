"""Diversity selectors over embeddings: k-center greedy (coreset) and k-means++ seeding.

Both count the distance to already-labelled items (``labeled_embeddings``) and to the rows
picked so far. Distances are float32 and chunked (:mod:`~data_labeling_pipeline.active.distances`);
each pick costs one pass over the pool (a matrix-vector product), never an n x n matrix.
Pass float32 embeddings to avoid a float32 copy of the whole pool.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active._checks import (
    as_embeddings,
    as_labeled,
    available_mask,
    bad,
    check_k,
    float32_finite,
)
from data_labeling_pipeline.active.distances import min_sq_distances, sq_distances_to, squared_norms


def kcenter_greedy(
    embeddings: Any,
    k: int,
    *,
    labeled_embeddings: Any = None,
    exclude: Any = None,
    seed: int = 0,
    return_distances: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Greedy k-center (Sener and Savarese 2018's coreset): each pick is the row farthest from
    every labelled item and every earlier pick.

    Args:
        embeddings: ``(n, dim)`` pool rows.
        k: How many rows to pick.
        labeled_embeddings: ``(m, dim)`` already-labelled items; with none, the first pick is a
            seeded uniform draw.
        exclude: Rows never picked (mask or indices). They do not count as labelled: pass their
            embeddings as ``labeled_embeddings`` for that.
        seed: Seed of the first pick when nothing is labelled.
        return_distances: Also return each pick's distance to its nearest labelled-or-earlier row
            (``inf`` for a first pick with nothing labelled).

    Returns:
        ``k`` unique row indices in pick order (farthest ties to the lower row), and the
        float64 distances when asked.

    Example:
        >>> x = [[0.0], [1.0], [10.0], [11.0]]
        >>> kcenter_greedy(x, 2, labeled_embeddings=[[0.0]]).tolist()
        [3, 1]
    """
    x, avail, k = _prepare(embeddings, k, exclude)
    x_sq = squared_norms(x)
    labeled = as_labeled(labeled_embeddings, dim=x.shape[1])
    best = np.full(len(x), np.inf, np.float32) if labeled is None else min_sq_distances(x, labeled)
    if avail is not None:
        best[~avail] = -np.inf
    picks = np.empty(k, dtype=np.int64)
    dists = np.empty(k)
    for i in range(k):
        if i == 0 and labeled is None:
            rows = np.flatnonzero(best > -np.inf)
            j = int(rows[np.random.default_rng(seed).integers(len(rows))])
        else:
            j = int(np.argmax(best))  # first maximum: ties go to the lower row
        picks[i], dists[i] = j, np.sqrt(best[j])
        np.minimum(best, sq_distances_to(x, x_sq, x[j]), out=best)
        # a picked row can keep a tiny positive distance to itself after float32 rounding
        best[j] = -np.inf
    return (picks, dists) if return_distances else picks


def kmeans_pp(
    embeddings: Any,
    k: int,
    *,
    labeled_embeddings: Any = None,
    weights: Any = None,
    exclude: Any = None,
    seed: int = 0,
    return_distances: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding as a batch selector: each pick drawn with probability proportional to
    ``weight x squared distance`` to the nearest labelled item or earlier pick (Arthur and
    Vassilvitskii 2007).

    Args:
        embeddings: ``(n, dim)`` pool rows.
        k: How many rows to pick.
        labeled_embeddings: ``(m, dim)`` already-labelled items (they act as earlier picks).
        weights: Optional ``(n,)`` non-negative weights, e.g. an uncertainty.
        exclude: Rows never picked (mask or indices).
        seed: Seed of ``numpy.random.default_rng``: same inputs and seed, same picks.
        return_distances: Also return each pick's distance to its nearest labelled-or-earlier row.

    Returns:
        ``k`` unique row indices in pick order (and their distances when asked). When every
        remaining row has zero weight x distance (duplicates), the lowest remaining row is taken.

    Example:
        >>> x = [[0.0], [0.1], [10.0]]
        >>> sorted(kmeans_pp(x, 2, labeled_embeddings=[[0.0]], seed=0).tolist())
        [1, 2]
    """
    x, avail, k = _prepare(embeddings, k, exclude)
    w = _weights(weights, len(x))
    x_sq = squared_norms(x)
    labeled = as_labeled(labeled_embeddings, dim=x.shape[1])
    best = np.full(len(x), np.inf, np.float32) if labeled is None else min_sq_distances(x, labeled)
    allowed = np.ones(len(x), dtype=bool) if avail is None else avail.copy()
    rng = np.random.default_rng(seed)
    picks = np.empty(k, dtype=np.int64)
    dists = np.empty(k)
    for i in range(k):
        if np.isinf(best).any():
            # nothing labelled yet: the first pick is drawn by weight alone
            mass = np.where(allowed, w, 0.0)
        else:
            mass = np.where(allowed, w * best, 0.0)
        j = _draw(mass, allowed, rng)
        picks[i], dists[i] = j, np.sqrt(best[j])
        np.minimum(best, sq_distances_to(x, x_sq, x[j]), out=best)
        allowed[j] = False
    return (picks, dists) if return_distances else picks


def _draw(mass: np.ndarray, allowed: np.ndarray, rng: np.random.Generator) -> int:
    total_cum = np.cumsum(mass)
    total = total_cum[-1]
    if not total > 0:
        return int(np.flatnonzero(allowed)[0])
    # side="right" never lands on a zero-mass row: its cumulative sum equals its predecessor's
    j = int(np.searchsorted(total_cum, rng.random() * total, side="right"))
    if j >= len(mass) or not mass[j] > 0:  # the draw rounded up to the total itself
        j = int(np.flatnonzero(mass > 0)[-1])
    return j


def _weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise bad("weights", f"expected {n} finite weights >= 0 (one per row), got shape {w.shape}")
    return w


def _prepare(embeddings: Any, k: int, exclude: Any) -> tuple[np.ndarray, np.ndarray | None, int]:
    e = as_embeddings(embeddings, n=None)
    avail = available_mask(exclude, len(e))
    k = check_k(k, len(e) if avail is None else int(avail.sum()))
    return float32_finite(e), avail, k
