"""Chunked distances: no n x m (or n x n) matrix, whatever the pool and labelled set sizes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from data_labeling_pipeline.active import select

N, M, DIM = 40_000, 5_000, 8
# an unchunked pool x labelled float32 matrix would be N * M * 4 bytes = 800 MB; the pool itself is 1.3 MB
LIMIT_MB = 100


@pytest.mark.parametrize("strategy", ["kcenter", "kmeans_pp", "hybrid"])
def test_select_memory_stays_bounded(strategy):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=N)
    emb = rng.normal(size=(N, DIM)).astype(np.float32)
    labeled = rng.normal(size=(M, DIM)).astype(np.float32)
    tracemalloc.start()
    try:
        picks = select(p, 20, strategy=strategy, embeddings=emb, labeled_embeddings=labeled, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(set(picks.tolist())) == 20
    assert peak / 2**20 < LIMIT_MB, f"peak {peak / 2**20:.0f} MB"
