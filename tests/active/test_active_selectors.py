"""Selectors: top_k (stable ties), random_k, k-center, k-means++, weighted k-means, committee, distances."""

from __future__ import annotations

import numpy as np
import pytest

from data_labeling_pipeline.active import (
    bootstrap_committee,
    kcenter_greedy,
    kmeans_pp,
    min_sq_distances,
    random_k,
    top_k,
    weighted_kmeans,
    weighted_kmeans_pick,
)
from data_labeling_pipeline.active.distances import nearest_center
from data_labeling_pipeline.errors import DataError


def test_top_k_ties_by_row_not_by_argpartition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=5000).astype(float)  # huge ties at every cut
    for k in (1, 7, 1666, 4999, 5000):
        expected = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        assert top_k(scores, k).tolist() == expected


def test_top_k_secondary_key_then_row():
    assert top_k([1.0, 1.0, 1.0, 0.5], 3, secondary=[0.1, 0.3, 0.3, 9.0]).tolist() == [1, 2, 0]


def test_top_k_exclude_and_errors():
    assert top_k([3.0, 2.0, 1.0], 2, exclude=np.array([True, False, False])).tolist() == [1, 2]
    assert top_k([3.0, 2.0], 0).tolist() == []
    with pytest.raises(DataError, match="NaN"):
        top_k([1.0, np.nan], 1)
    with pytest.raises(DataError, match="0 <= k <= 1"):
        top_k([1.0, 2.0], 2, exclude=[0])


def test_random_k_seeded_uniform_and_excluding():
    a = random_k(1000, 50, seed=4)
    assert a.tolist() == random_k(1000, 50, seed=4).tolist()
    assert a.tolist() != random_k(1000, 50, seed=5).tolist()
    assert len(set(a.tolist())) == 50
    picks = random_k(10, 8, exclude=[2, 7], seed=0)
    assert sorted(picks.tolist()) == [0, 1, 3, 4, 5, 6, 8, 9]
    # roughly uniform: every row drawn about as often over many seeds
    counts = np.bincount(np.concatenate([random_k(20, 5, seed=s) for s in range(2000)]), minlength=20)
    assert counts.min() > 400 and counts.max() < 600  # expected 500


def test_min_sq_distances_chunked_equals_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 5))
    c = rng.normal(size=(37, 5))
    brute = ((x[:, None, :] - c[None]) ** 2).sum(axis=2).min(axis=1)
    np.testing.assert_allclose(min_sq_distances(x, c, chunk_rows=64), brute, rtol=1e-4, atol=1e-4)
    assert min_sq_distances(x, c, chunk_rows=64).dtype == np.float32
    assert np.isinf(min_sq_distances(x, np.empty((0, 5)))).all()


def test_nearest_center_ties_to_lower_center():
    x = np.array([[0.5], [0.0]], np.float32)
    assert nearest_center(x, np.array([[0.0], [1.0]], np.float32)).tolist() == [0, 0]


def test_kcenter_greedy_is_farthest_first():
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [20.0]])
    picks, dist = kcenter_greedy(x, 3, labeled_embeddings=[[0.0]], return_distances=True)
    assert picks.tolist() == [5, 3, 2]  # 20 is farthest from 0; then 10 (d=10); then 2 vs 11/1 (d=2 vs 1)
    np.testing.assert_allclose(dist, [20.0, 10.0, 2.0], rtol=1e-6)


def test_kcenter_greedy_counts_labelled_items():
    x = np.array([[0.0], [5.0], [10.0]])
    assert kcenter_greedy(x, 1, labeled_embeddings=[[10.0]]).tolist() == [0]
    assert kcenter_greedy(x, 1, labeled_embeddings=[[0.0]]).tolist() == [2]


def test_kcenter_greedy_covers_blobs_and_never_repeats_duplicates():
    rng = np.random.default_rng(2)
    centers = np.array([[0, 0], [50, 0], [0, 50], [50, 50]], float)
    x = np.repeat(centers, 25, axis=0) + rng.normal(scale=0.5, size=(100, 2))
    picks = kcenter_greedy(x, 4, seed=3)
    assert sorted(set(picks // 25)) == [0, 1, 2, 3]
    dup = np.zeros((6, 2))
    assert sorted(kcenter_greedy(dup, 6).tolist()) == list(range(6))


def test_kcenter_first_pick_seeded_when_nothing_labelled():
    x = np.random.default_rng(0).normal(size=(50, 3))
    firsts = {int(kcenter_greedy(x, 1, seed=s)[0]) for s in range(10)}
    assert len(firsts) > 1
    assert kcenter_greedy(x, 5, seed=1).tolist() == kcenter_greedy(x, 5, seed=1).tolist()


def test_kmeans_pp_never_picks_a_zero_weight_or_excluded_row():
    x = np.arange(10.0)[:, None]
    w = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1], float)
    for seed in range(20):
        picks = kmeans_pp(x, 4, weights=w, exclude=[9], seed=seed)
        assert set(picks.tolist()) <= {1, 3, 5, 7}
    # all remaining rows duplicate the labelled one: zero mass, the lowest row is taken
    assert kmeans_pp(np.zeros((3, 2)), 2, labeled_embeddings=np.zeros((1, 2))).tolist() == [0, 1]


def test_kmeans_pp_prefers_far_rows():
    x = np.array([[0.0], [0.01], [0.02], [100.0]])
    hits = sum(int(kmeans_pp(x, 1, labeled_embeddings=[[0.0]], seed=s)[0] == 3) for s in range(50))
    assert hits == 50  # d^2 weight 10^4 vs 4e-4


def test_weighted_kmeans_one_pick_per_blob_the_most_uncertain():
    rng = np.random.default_rng(5)
    centers = np.array([[0, 0], [30, 0], [0, 30]], float)
    x = np.repeat(centers, 20, axis=0) + rng.normal(size=(60, 2))
    scores = rng.random(60)
    picks, clusters = weighted_kmeans_pick(x, scores, 3, seed=0, return_clusters=True)
    assert sorted(picks // 20) == [0, 1, 2]
    for p in picks:
        blob = slice(p // 20 * 20, p // 20 * 20 + 20)
        assert scores[p] == scores[blob].max()
    assert list(scores[picks]) == sorted(scores[picks], reverse=True)
    assert len(set(clusters.tolist())) == 3


def test_weighted_kmeans_weights_pull_centers():
    x = np.array([[0.0], [10.0]])
    centers, labels = weighted_kmeans(np.concatenate([x, x]), [1.0, 1.0, 1.0, 1.0], 1)
    assert centers[0, 0] == pytest.approx(5.0)
    centers, _ = weighted_kmeans(x, [3.0, 1.0], 1)
    assert centers[0, 0] == pytest.approx(2.5)


def test_weighted_kmeans_pick_fills_when_a_cluster_is_empty():
    x = np.zeros((5, 2))  # all duplicates: k-means leaves clusters empty
    picks = weighted_kmeans_pick(x, [0.1, 0.5, 0.3, 0.5, 0.2], 3)
    assert picks.tolist() == [1, 3, 2]


def test_weighted_kmeans_pick_rejects_negative_scores():
    with pytest.raises(DataError, match=">= 0"):
        weighted_kmeans_pick([[0.0], [1.0]], [-1.0, 1.0], 1)


def test_bootstrap_committee_shape_order_and_seed():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(loc=c * 4, size=(10, 2)) for c in range(3)])
    y = np.repeat(["a", "b", "c"], 10)
    pool = np.array([[0.0, 0.0], [4.0, 4.0], [8.0, 8.0]])
    c = bootstrap_committee(X, y, pool, n_members=4, seed=1)
    assert c.shape == (4, 3, 3)
    np.testing.assert_allclose(c.sum(axis=2), 1.0)
    assert (c.argmax(axis=2) == [0, 1, 2]).all()  # columns in np.unique(y) order
    assert np.array_equal(c, bootstrap_committee(X, y, pool, n_members=4, seed=1))
    assert not np.array_equal(c, bootstrap_committee(X, y, pool, n_members=4, seed=2))


def test_bootstrap_committee_every_member_sees_every_class():
    # one example of class 1: a plain bootstrap would often drop it, the stratified one never does
    X = np.concatenate([np.zeros((19, 1)), np.ones((1, 1))])
    y = np.array([0] * 19 + [1])
    c = bootstrap_committee(X, y, X, n_members=20, seed=0)
    assert c.shape == (20, 20, 2)


def test_bootstrap_committee_errors():
    X = np.zeros((4, 1))
    with pytest.raises(DataError, match="at least 2 classes"):
        bootstrap_committee(X, [1, 1, 1, 1], X)
    with pytest.raises(DataError, match="one label per row"):
        bootstrap_committee(X, [0, 1], X)
    with pytest.raises(DataError, match="committee size"):
        bootstrap_committee(X, [0, 1, 0, 1], X, n_members=0)
