"""Seeded pools shared by the active-learning tests."""

from __future__ import annotations

import numpy as np

from data_labeling_pipeline.active import bootstrap_committee


def make_pool(n: int = 60, n_classes: int = 4, dim: int = 3, *, seed: int = 7, members: int = 3):
    """(probabilities, embeddings, labeled_embeddings, committee) of a small seeded pool.

    Probabilities are a softmax of logits tied to the embeddings (so diversity and
    uncertainty interact); the committee is a real bootstrap committee of logistic regression.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_classes, dim))
    y = np.arange(n) % n_classes
    emb = (centers[y] + rng.normal(size=(n, dim))).astype(np.float32)
    logits = -((emb[:, None, :] - centers[None]) ** 2).sum(axis=2) / 4.0
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labeled = (centers[np.arange(8) % n_classes] + rng.normal(size=(8, dim))).astype(np.float32)
    committee = bootstrap_committee(
        labeled.astype(np.float64), np.arange(8) % n_classes, emb.astype(np.float64), n_members=members, seed=seed
    )
    return p, emb, labeled, committee
