"""typiclust and badge: shapes, determinism, exclusion, small cases with a known answer; auto's signal."""

from __future__ import annotations

import numpy as np
import pytest

from data_labeling_pipeline.active import badge as badge_module  # the module, not badge_pick
from data_labeling_pipeline.active import resolve_strategy, select
from data_labeling_pipeline.active.badge import badge_pick, candidate_count, gradient_embeddings, gradient_norms
from data_labeling_pipeline.active.strategy import COLD_START_PER_CLASS
from data_labeling_pipeline.active.typiclust import typicality, typiclust_pick
from data_labeling_pipeline.errors import DataError


def blobs(n_per=30, centers=((0.0, 0.0), (10.0, 0.0), (0.0, 10.0)), *, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.asarray(c) + rng.normal(scale=0.5, size=(n_per, 2)) for c in centers])
    return x.astype(np.float32), np.repeat(np.arange(len(centers)), n_per)


def softmax_pool(n=80, n_classes=3, dim=4, *, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    logits = x @ rng.normal(size=(dim, n_classes))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True), x


@pytest.mark.parametrize("strategy", ["typiclust", "badge"])
def test_active_strategies_k_unique_excluded_deterministic(strategy):
    p, x = softmax_pool()
    excluded = np.arange(0, 80, 3)
    kwargs = dict(strategy=strategy, embeddings=x, labeled_embeddings=x[excluded], exclude=excluded, seed=5)
    picks = select(p, 12, **kwargs)
    assert picks.dtype == np.int64 and picks.shape == (12,)
    assert len(set(picks.tolist())) == 12 and not set(picks.tolist()) & set(excluded.tolist())
    assert select(p, 12, **kwargs).tobytes() == picks.tobytes()
    everything = select(p, 80 - len(excluded), **kwargs)
    assert sorted(everything.tolist()) == sorted(set(range(80)) - set(excluded.tolist()))
    assert select(p, 0, **kwargs).shape == (0,)
    _, scores = select(p, 4, return_scores=True, **kwargs)
    assert all(len(v) == 4 for v in scores.values())


def test_typicality_is_highest_in_the_dense_middle():
    t = typicality([[0.0], [2.0], [2.5], [3.0], [5.0], [20.0]], n_neighbors=2)
    assert int(np.argmax(t)) == 2 and int(np.argmin(t)) == 5
    assert typicality([[1.0, 2.0]]).tolist() == [0.0]


def test_typiclust_picks_the_center_of_each_blob_and_skips_covered_ones():
    x, blob = blobs()
    picks = typiclust_pick(x, 3, seed=0)
    assert sorted(blob[picks].tolist()) == [0, 1, 2]
    # each pick is among the 5 rows nearest its blob's center
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    for row in picks:
        d = np.linalg.norm(x[blob == blob[row]] - centers[blob[row]], axis=1)
        assert np.linalg.norm(x[row] - centers[blob[row]]) <= np.sort(d)[4] + 1e-6
    # two blobs already have labels: the single pick goes to the third
    covered = typiclust_pick(x, 1, labeled_embeddings=[[0.0, 0.0], [10.0, 0.0]], seed=0)
    assert blob[covered].tolist() == [2]


def test_typiclust_candidate_sample_bounds_the_clustering():
    x, _ = blobs(n_per=200)
    picks = typiclust_pick(x, 5, max_candidates=50, seed=3)
    assert len(set(picks.tolist())) == 5
    assert typiclust_pick(x, 5, max_candidates=50, seed=3).tolist() == picks.tolist()


def test_gradient_embedding_is_p_minus_onehot_outer_x():
    p = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
    x = np.array([[1.0, 2.0], [3.0, -1.0]], dtype=np.float32)
    g = gradient_embeddings(p, x)
    a = p.copy()
    a[[0, 1], [1, 0]] -= 1.0
    np.testing.assert_allclose(g, np.einsum("nc,nd->ncd", a, x).reshape(2, -1), rtol=1e-6)
    np.testing.assert_allclose(gradient_norms(p, x), np.linalg.norm(g, axis=1), rtol=1e-6)


def test_gradient_embedding_projects_wide_inputs(monkeypatch):
    monkeypatch.setattr(badge_module, "MAX_GRADIENT_DIM", 12)
    p, x = softmax_pool(n=10, n_classes=3, dim=8)
    g = gradient_embeddings(p, x, seed=1)
    assert g.shape == (10, 12)  # 3 classes x (12 // 3) projected dims
    assert gradient_embeddings(p, x, seed=1).tobytes() == g.tobytes()


def test_badge_first_pick_is_the_largest_gradient_then_a_different_class_pair():
    # rows 0-2: unsure between classes 0 and 1; rows 3-5: unsure between 1 and 2; row 6: confident
    p = np.array([[0.5, 0.45, 0.05]] * 3 + [[0.05, 0.48, 0.47]] * 3 + [[0.98, 0.01, 0.01]])
    x = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3 + [[1.0, 1.0]], dtype=np.float32)
    picks = badge_pick(p, x, 2, seed=0)
    assert picks[0] == int(np.argmax(gradient_norms(p, x)))
    assert {int(picks[0]) // 3, int(picks[1]) // 3} == {0, 1}  # one of each confusing pair


def test_badge_expands_only_the_largest_gradients(monkeypatch):
    monkeypatch.setattr(badge_module, "MIN_CANDIDATES", 1)
    p, x = softmax_pool(n=200)
    norms = gradient_norms(p, x)
    assert candidate_count(5, 200, 12, prefilter_factor=4) == 20
    picks = badge_pick(p, x, 5, prefilter_factor=4, seed=2)
    assert set(picks.tolist()) <= set(np.argsort(-norms)[:20].tolist())


def test_resolve_strategy_auto_follows_the_cold_start_signal():
    cold = COLD_START_PER_CLASS * 10 - 1
    assert resolve_strategy("auto", k=10, pool_size=1000, n_labeled=cold, n_classes=10) == "typiclust"
    assert resolve_strategy("auto", k=500, pool_size=1000, n_labeled=cold, n_classes=10) == "typiclust"
    assert resolve_strategy("auto", k=10, pool_size=1000, n_labeled=cold + 1, n_classes=10) == "margin"
    assert resolve_strategy("auto", k=20, pool_size=1000, n_labeled=cold + 1, n_classes=10) == "hybrid"
    # fewer labels than COLD_START_BATCHES batches is cold too, whatever the classes
    assert resolve_strategy("auto", k=129, pool_size=6000, n_labeled=149, n_classes=2) == "typiclust"
    assert resolve_strategy("auto", k=129, pool_size=6000, n_labeled=258, n_classes=2) == "hybrid"
    assert resolve_strategy("auto", k=129, pool_size=6000, n_labeled=149, n_classes=2, cold_start_batches=1) == "hybrid"
    # the same count is warm for fewer classes
    assert resolve_strategy("auto", k=10, pool_size=1000, n_labeled=cold, n_classes=2) == "margin"
    assert resolve_strategy("auto", k=10, pool_size=1000, n_labeled=6, n_classes=2, cold_start_per_class=4) == "typiclust"
    # without the signal: the batch size alone, as before
    assert resolve_strategy("auto", k=10, pool_size=1000) == "margin"
    assert resolve_strategy("auto", k=11, pool_size=1000) == "hybrid"
    with pytest.raises(DataError, match="n_classes"):
        resolve_strategy("auto", k=10, pool_size=1000, n_labeled=5)


def test_select_auto_with_n_labeled_is_typiclust_then_the_warm_strategy():
    p, x = softmax_pool()
    kwargs = dict(embeddings=x, labeled_embeddings=x[:4], exclude=np.arange(4), seed=0)
    assert select(p, 5, strategy="auto", n_labeled=4, **kwargs).tolist() == select(p, 5, strategy="typiclust", **kwargs).tolist()
    warm = COLD_START_PER_CLASS * p.shape[1]
    # 5 of 76 selectable rows is above HYBRID_ABOVE of the pool
    assert select(p, 5, strategy="auto", n_labeled=warm, **kwargs).tolist() == select(p, 5, strategy="hybrid", **kwargs).tolist()
