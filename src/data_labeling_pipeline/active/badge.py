"""Gradient embeddings with k-means++ seeding (the idea of BADGE, Ash et al. 2020): large batches.

For a softmax model over features ``x``, the gradient of the cross-entropy at the model's own
guess ``argmax p`` with respect to the last layer's weights is ``(p - onehot(argmax p)) outer x``.
Its norm grows with the model's uncertainty and its direction says which classes the row
confuses and where it lies, so k-means++ seeding over these vectors picks rows that are
uncertain *and* different: a large batch does not collapse onto one confusing class pair.

Here ``x`` is the ``embeddings`` that ``select`` receives (for the benchmark's logistic models
these are the model's own features on digits and a 100-d SVD of its TF-IDF on the tweets).
Bounded memory: only the :func:`candidate_count` rows of largest gradient norm (computed chunk
by chunk, without the outer product) are expanded, and when ``n_classes x dim`` exceeds
:data:`MAX_GRADIENT_DIM` the embeddings are first reduced by a seeded Gaussian random
projection (distances kept up to a few percent, Johnson-Lindenstrauss).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active._checks import (
    as_embeddings,
    as_probabilities,
    available_mask,
    bad,
    check_k,
    float32_finite,
)
from data_labeling_pipeline.active.distances import CHUNK_ROWS
from data_labeling_pipeline.active.diversity import kmeans_pp
from data_labeling_pipeline.active.selectors import top_k

MAX_GRADIENT_DIM = 2048
# the expanded candidates take at most this many float32 values (256 MiB)
MAX_GRADIENT_ELEMENTS = 1 << 26
MIN_CANDIDATES = 5_000


def candidate_count(k: int, available: int, gradient_dim: int, *, prefilter_factor: int = 10) -> int:
    """How many rows BADGE expands: ``max(prefilter_factor x k, MIN_CANDIDATES)`` within the memory cap.

    Example:
        >>> candidate_count(10, 1_000_000, 1280)
        5000
        >>> candidate_count(10, 1200, 640)
        1200
    """
    cap = max(k, MAX_GRADIENT_ELEMENTS // max(1, gradient_dim))
    return int(min(available, cap, max(prefilter_factor * k, MIN_CANDIDATES)))


def gradient_embeddings(probabilities: Any, embeddings: Any, *, seed: int = 0) -> np.ndarray:
    """``(p - onehot(argmax p)) outer x`` per row, flattened to ``(n, n_classes x dim')`` float32.

    ``dim'`` is ``dim`` unless ``n_classes x dim > MAX_GRADIENT_DIM``; then the embeddings are
    projected to ``max(1, MAX_GRADIENT_DIM // n_classes)`` dimensions first (seeded).

    Example:
        >>> g = gradient_embeddings([[0.75, 0.25]], [[2.0, 0.0]])
        >>> g.tolist()
        [[-0.5, -0.0, 0.5, 0.0]]
    """
    p = as_probabilities(probabilities)
    x = float32_finite(as_embeddings(embeddings, n=len(p)))
    x = _reduce(x, p.shape[1], seed=seed)
    a = p.astype(np.float32)
    a[np.arange(len(a)), p.argmax(axis=1)] -= 1.0
    return (a[:, :, None] * x[:, None, :]).reshape(len(p), -1)


def badge_pick(
    probabilities: Any,
    embeddings: Any,
    k: int,
    *,
    exclude: Any = None,
    seed: int = 0,
    prefilter_factor: int = 10,
    return_scores: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick ``k`` rows by k-means++ seeding over gradient embeddings.

    The first pick is the row of largest gradient norm (ties to the lower row); each next pick
    is drawn with probability proportional to its squared distance, in gradient space, to the
    nearest earlier pick.

    Args:
        probabilities: ``(n, n_classes)`` predicted probabilities of the pool.
        embeddings: ``(n, dim)`` the features behind them (see the module docstring).
        k: How many rows to pick.
        exclude: Rows never picked (mask or indices).
        seed: Seed of the k-means++ draws and of the random projection.
        prefilter_factor: With :data:`MIN_CANDIDATES`, how many rows of largest gradient norm
            are expanded (:func:`candidate_count`).
        return_scores: Also return each pick's gradient norm and its distance to the nearest
            earlier pick (``inf`` for the first).

    Returns:
        ``k`` unique row indices in pick order (and the two float64 arrays when asked).

    Example:
        >>> p = [[0.5, 0.5], [0.5, 0.5], [0.99, 0.01], [0.02, 0.98]]
        >>> x = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
        >>> badge_pick(p, x, 1).tolist()
        [0]
    """
    p = as_probabilities(probabilities)
    e = as_embeddings(embeddings, n=len(p))
    avail = available_mask(exclude, len(p))
    k = check_k(k, len(p) if avail is None else int(avail.sum()))
    if k == 0:
        empty = np.empty(0, dtype=np.int64)
        return (empty, np.empty(0), np.empty(0)) if return_scores else empty
    if isinstance(prefilter_factor, bool) or not isinstance(prefilter_factor, int | np.integer) or prefilter_factor < 1:
        raise bad("prefilter_factor", f"expected an integer >= 1, got {prefilter_factor!r}")
    n_avail = len(p) if avail is None else int(avail.sum())
    dim = min(e.shape[1], max(1, MAX_GRADIENT_DIM // p.shape[1]))
    n_cand = candidate_count(k, n_avail, p.shape[1] * dim, prefilter_factor=prefilter_factor)
    norms = gradient_norms(p, e)
    cand = top_k(norms, n_cand, exclude=None if avail is None else ~avail)
    cand = np.sort(cand)  # row order: the k-means++ draws then do not depend on the norm ranking
    g = gradient_embeddings(p[cand], e[cand], seed=seed)
    first = int(top_k(norms[cand], 1)[0])
    if k == 1:
        local = np.array([first], dtype=np.int64)
        dists = np.array([np.inf])
    else:
        rest, rest_d = kmeans_pp(
            g, k - 1, labeled_embeddings=g[first : first + 1], exclude=[first], seed=seed, return_distances=True
        )
        local = np.concatenate([[first], rest]).astype(np.int64)
        dists = np.concatenate([[np.inf], rest_d])
    picks = cand[local].astype(np.int64)
    return (picks, norms[picks], dists) if return_scores else picks


def gradient_norms(probabilities: Any, embeddings: Any) -> np.ndarray:
    """``||p - onehot(argmax p)|| x ||x||`` per row (the outer product's norm), chunk by chunk.

    Example:
        >>> gradient_norms([[0.75, 0.25]], [[2.0, 0.0]]).tolist()
        [0.7071067811865476]
    """
    p = as_probabilities(probabilities)
    e = as_embeddings(embeddings, n=len(p))
    out = np.empty(len(p))
    for lo in range(0, len(p), CHUNK_ROWS):
        q = p[lo : lo + CHUNK_ROWS].copy()
        q[np.arange(len(q)), q.argmax(axis=1)] -= 1.0
        x = float32_finite(e[lo : lo + CHUNK_ROWS]).astype(np.float64)
        out[lo : lo + len(q)] = np.sqrt((q * q).sum(axis=1) * (x * x).sum(axis=1))
    return out


def _reduce(x: np.ndarray, n_classes: int, *, seed: int) -> np.ndarray:
    dim = max(1, MAX_GRADIENT_DIM // n_classes)
    if x.shape[1] <= dim:
        return x
    r = np.random.default_rng(seed).standard_normal((x.shape[1], dim)).astype(np.float32) / np.float32(np.sqrt(dim))
    return x @ r
