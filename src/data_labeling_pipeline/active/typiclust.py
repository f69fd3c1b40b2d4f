"""Typicality over clusters (the idea of TypiClust, Hacohen, Dekel and Weinshall 2022): the cold start.

With few labels the model's uncertainty is noise, so a batch should cover the data's dense
regions instead. The pool (plus the labelled items) is split by k-means into ``n_labeled + k``
clusters (at most :data:`MAX_CLUSTERS`, never fewer than ``k``); clusters are visited largest
first among those holding the fewest labelled items, and from each one the unlabelled row of
highest *typicality* is picked: ``1 / mean distance to its`` :data:`N_NEIGHBORS` ``nearest
neighbours`` inside the cluster. When there are fewer clusters than ``k`` the visit goes round
again, taking each cluster's next most typical row.

Memory and time stay bounded on a large pool: at most :data:`MAX_CANDIDATES` unlabelled rows
(a seeded uniform sample) and as many labelled rows are clustered, and the neighbour distances
are computed one cluster at a time in blocks of at most ``BLOCK_ELEMENTS`` floats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active._checks import as_embeddings, as_labeled, available_mask, check_k, float32_finite
from data_labeling_pipeline.active.distances import BLOCK_ELEMENTS, squared_norms
from data_labeling_pipeline.active.hybrid import weighted_kmeans

N_NEIGHBORS = 20
# a k-means of 20,000 rows into ~500 clusters takes about a second; clustering more rows moves
# the dense regions little (they are dense)
MAX_CANDIDATES = 20_000
MAX_CLUSTERS = 500
KMEANS_ITER = 30


def typicality(embeddings: Any, *, n_neighbors: int = N_NEIGHBORS) -> np.ndarray:
    """``1 / (eps + mean Euclidean distance to the n_neighbors nearest other rows)`` of each row.

    A row with no other row (a cluster of one) gets typicality 0.

    Example:
        >>> t = typicality([[0.0], [0.1], [0.2], [5.0]], n_neighbors=2)
        >>> int(np.argmax(t)), int(np.argmin(t))
        (1, 3)
    """
    x = float32_finite(as_embeddings(embeddings, n=None))
    n = len(x)
    m = min(int(n_neighbors), n - 1)
    if m < 1:
        return np.zeros(n)
    x_sq = squared_norms(x)
    out = np.empty(n)
    step = max(1, BLOCK_ELEMENTS // n)
    for lo in range(0, n, step):
        d = x[lo : lo + step] @ x.T
        d *= -2.0
        d += x_sq[lo : lo + step, None]
        d += x_sq[None, :]
        np.maximum(d, 0.0, out=d)
        # the row itself is at distance ~0: drop it by taking m + 1 and removing the smallest
        near = np.partition(d, m, axis=1)[:, : m + 1]
        near.sort(axis=1)
        out[lo : lo + len(d)] = np.sqrt(near[:, 1:]).mean(axis=1)
        del d
    return 1.0 / (1e-8 + out)


def typiclust_pick(
    embeddings: Any,
    k: int,
    *,
    labeled_embeddings: Any = None,
    exclude: Any = None,
    seed: int = 0,
    max_candidates: int = MAX_CANDIDATES,
    return_scores: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick ``k`` typical rows of uncovered clusters.

    Args:
        embeddings: ``(n, dim)`` pool rows.
        k: How many rows to pick.
        labeled_embeddings: ``(m, dim)`` already-labelled items: they join the clustering and a
            cluster holding them is covered (visited after the uncovered ones).
        exclude: Rows never picked (mask or indices).
        seed: Seed of the candidate sample and of the k-means++ initialisation.
        max_candidates: Most unlabelled (and most labelled) rows clustered.
        return_scores: Also return each pick's typicality and cluster.

    Returns:
        ``k`` unique row indices in pick order, and with ``return_scores`` their typicality
        (float64) and cluster (int64).

    Example:
        >>> x = [[0.0], [0.1], [0.2], [0.3], [9.0], [9.1], [9.2]]
        >>> sorted(typiclust_pick(x, 2).tolist())
        [1, 5]
        >>> typiclust_pick(x, 1, labeled_embeddings=[[0.15]]).tolist()
        [5]
    """
    e = as_embeddings(embeddings, n=None)
    avail = available_mask(exclude, len(e))
    rows = np.arange(len(e)) if avail is None else np.flatnonzero(avail)
    k = check_k(k, len(rows))
    empty = np.empty(0, dtype=np.int64)
    if k == 0:
        return (empty, np.empty(0), empty.copy()) if return_scores else empty
    rng = np.random.default_rng(seed)
    if len(rows) > max(max_candidates, k):
        rows = np.sort(rng.choice(rows, size=max(max_candidates, k), replace=False))
    x = float32_finite(e[rows])
    labeled = as_labeled(labeled_embeddings, dim=x.shape[1])
    if labeled is not None and len(labeled) > max_candidates:
        labeled = labeled[np.sort(rng.choice(len(labeled), size=max_candidates, replace=False))]
    n_lab = 0 if labeled is None else len(labeled)
    data = x if labeled is None else np.concatenate([x, labeled])
    n_clusters = min(len(data), max(k, min(n_lab + k, MAX_CLUSTERS)))
    _, labels = weighted_kmeans(
        data, np.ones(len(data)), n_clusters, seed=int(rng.integers(2**31)), max_iter=KMEANS_ITER
    )
    cand_labels = labels[: len(x)]
    covered = np.bincount(labels[len(x) :], minlength=n_clusters)
    size = np.bincount(labels, minlength=n_clusters)
    typ = np.zeros(len(x))
    queues = []
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        if len(members):
            typ_c = typicality(data[members])
            own = members < len(x)
            typ[members[own]] = typ_c[own]
        mine = np.flatnonzero(cand_labels == c)
        # most typical first, ties to the lower row
        queues.append(list(mine[np.lexsort((mine, -typ[mine]))]))
    # the least covered first, then the largest, then the lower cluster id
    order = np.lexsort((np.arange(n_clusters), -size, covered))
    picks: list[int] = []
    while len(picks) < k:
        for c in order:
            if queues[c] and len(picks) < k:
                picks.append(int(queues[c].pop(0)))
    local = np.asarray(picks, dtype=np.int64)
    out = rows[local].astype(np.int64)
    if return_scores:
        return out, typ[local], cand_labels[local].astype(np.int64)
    return out
