"""Uncertainty-weighted k-means with one pick per cluster: the diversity half of ``hybrid``.

After a margin prefilter keeps the ``prefilter_factor x k`` most uncertain rows, k-means with
``k`` clusters, each row weighted by its uncertainty, splits them into ``k`` groups and the
most uncertain row of each group is picked (the idea of Zhdanov 2019, "Diverse mini-batch
active learning"; here the pick is the most uncertain member rather than the one nearest the
centroid). Only the candidates are clustered, so the pool size barely matters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active._checks import as_embeddings, bad, check_k, check_scores, float32_finite
from data_labeling_pipeline.active.distances import nearest_center
from data_labeling_pipeline.active.diversity import kmeans_pp

# k-means++ draws by weight x distance^2: a zero uncertainty must not make a row undrawable
# when every other row is a duplicate, so weights get this floor
MIN_WEIGHT = 1e-12


def weighted_kmeans(
    embeddings: Any, weights: Any, n_clusters: int, *, seed: int = 0, max_iter: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with per-row weights, seeded by weighted k-means++.

    Stops when no assignment changes or after ``max_iter`` rounds. An empty cluster keeps its
    previous center. Float32 distances, float64 means.

    Returns:
        ``(centers, labels)``: ``(n_clusters, dim)`` float32 centers and one cluster per row
        (ties to the lower cluster).

    Example:
        >>> centers, labels = weighted_kmeans([[0.0], [0.2], [9.0], [9.4]], [1, 1, 1, 3], 2)
        >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
        True
        >>> sorted(centers.astype(float).ravel().round(2).tolist())
        [0.1, 9.3]
    """
    x = float32_finite(as_embeddings(embeddings, n=None))
    w = _weights(weights, len(x))
    n_clusters = check_k(n_clusters, len(x))
    if n_clusters == 0:
        return np.empty((0, x.shape[1]), np.float32), np.zeros(len(x), np.int64)
    centers = x[kmeans_pp(x, n_clusters, weights=w, seed=seed)].copy()
    labels = nearest_center(x, centers)
    for _ in range(max_iter):
        sums = np.zeros((n_clusters, x.shape[1]))
        np.add.at(sums, labels, x * w[:, None])
        mass = np.bincount(labels, weights=w, minlength=n_clusters)
        full = mass > 0
        centers[full] = (sums[full] / mass[full, None]).astype(np.float32)
        new = nearest_center(x, centers)
        if np.array_equal(new, labels):
            break
        labels = new
    return centers, labels


def weighted_kmeans_pick(
    embeddings: Any,
    scores: Any,
    k: int,
    *,
    seed: int = 0,
    max_iter: int = 100,
    return_clusters: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Cluster the rows into ``k`` groups weighted by ``scores`` and pick each group's top row.

    Args:
        embeddings: ``(n, dim)`` candidate rows.
        scores: ``(n,)`` non-negative uncertainties: the k-means weights and the pick order.
        k: How many rows (and clusters).
        seed: Seed of the k-means++ initialisation.
        max_iter: Most Lloyd rounds.
        return_clusters: Also return each pick's cluster (k-means label).

    Returns:
        ``k`` unique row indices, highest score first (ties to the lower row). If a cluster
        ends empty (rare: duplicates), its place goes to the highest-scoring row not yet
        picked, whose cluster is then shared.

    Example:
        >>> x = [[0.0], [0.1], [0.2], [5.0], [5.1]]
        >>> weighted_kmeans_pick(x, [0.9, 0.8, 0.7, 0.2, 0.6], 2).tolist()
        [0, 4]
    """
    x = float32_finite(as_embeddings(embeddings, n=None))
    s = check_scores(scores)
    if s.shape != (len(x),):
        raise bad("scores", f"expected one score per row ({len(x)}), got shape {s.shape}")
    k = check_k(k, len(x))
    if k == 0:
        empty = np.empty(0, dtype=np.int64)
        return (empty, empty.copy()) if return_clusters else empty
    _, labels = weighted_kmeans(x, s, k, seed=seed, max_iter=max_iter)
    rows = np.arange(len(x))
    # within each cluster: highest score first, then the lower row
    order = np.lexsort((rows, -s, labels))
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    picks = order[first]
    if len(picks) < k:
        rest = np.setdiff1d(rows, picks)
        fill = rest[np.lexsort((rest, -s[rest]))][: k - len(picks)]
        picks = np.concatenate([picks, fill])
    picks = picks[np.lexsort((picks, -s[picks]))].astype(np.int64)
    return (picks, labels[picks]) if return_clusters else picks


def _weights(weights: Any, n: int) -> np.ndarray:
    w = check_scores(weights, field="weights")
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise bad("weights", f"expected {n} finite numbers >= 0 (one per row), got shape {w.shape}")
    return np.maximum(w, MIN_WEIGHT)
