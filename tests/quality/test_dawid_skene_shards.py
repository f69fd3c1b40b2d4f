"""Dawid-Skene by map-reduce over item shards on a real dask cluster equals the local fit."""

from __future__ import annotations

import numpy as np
import pytest
from quality_synth import simulate_crowd

from data_labeling_pipeline.cluster import dask_client
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.dawid_skene import DawidSkene
from data_labeling_pipeline.quality.dawid_skene_shards import fit_sharded, shard_bounds
from data_labeling_pipeline.quality.encoding import encode_long

pytest.importorskip("dask.distributed")

CLASSES = ["c0", "c1", "c2", "c3"]
ACCURACIES = np.linspace(0.35, 0.95, 20)  # some annotators barely above chance (0.25)


@pytest.fixture(scope="module")
def client():
    # A process-based LocalCluster (what dask_client starts): shards and fits really pickle to workers.
    with dask_client(None) as c:
        yield c


@pytest.fixture(scope="module")
def crowd():
    items, anns, labels, truth = simulate_crowd(2000, ACCURACIES, per_item=3, seed=11)
    return encode_long(items, anns, labels, classes=CLASSES), truth


def _rounded(records: list[dict]) -> list[dict]:
    return [{**r, "confidence": round(r["confidence"], 6)} for r in records]


def assert_same_fit(sharded: DawidSkene, local: DawidSkene) -> None:
    assert sharded.labels_.tolist() == local.labels_.tolist()
    assert (sharded.n_iter_, sharded.converged_) == (local.n_iter_, local.converged_)
    assert getattr(sharded, "degenerate_", None) == getattr(local, "degenerate_", None)
    assert sharded.items_.tolist() == local.items_.tolist() and sharded.classes_ == local.classes_
    assert sharded.annotators_.tolist() == local.annotators_.tolist()
    for name in ("probas_", "holdout_probas_", "confusions_", "priors_", "skills_"):
        np.testing.assert_allclose(getattr(sharded, name), getattr(local, name), rtol=0, atol=1e-9, err_msg=name)
    assert sharded.log_likelihood_ == pytest.approx(local.log_likelihood_, abs=1e-9)
    assert _rounded(sharded.consensus().records()) == _rounded(local.consensus().records())
    assert sharded.skills() == pytest.approx(local.skills(), abs=1e-9)
    assert sharded.chance() == pytest.approx(local.chance(), abs=1e-12)
    assert [sharded.above_chance(a, 300) for a in sharded.skills()] == [local.above_chance(a, 300) for a in local.skills()]


@pytest.mark.parametrize(
    ("shards", "params", "n_truth"),
    [(4, {}, 0), (3, {"init": "random", "seed": 5}, 0), (5, {}, 200), (1, {"max_iter": 7, "tol": 0.0}, 0)],
    ids=["majority", "random-init", "truth", "one-shard-capped"],
)
def test_dawid_skene_shards_equal_the_local_fit(client, crowd, shards, params, n_truth):
    table, truth = crowd
    known = dict(list(truth.items())[:n_truth]) or None
    if known:
        known["not-an-item"] = "c1"  # unknown ids are ignored, as by the local fit
    local = DawidSkene(**params).fit_table(table, truth=known)
    sharded = fit_sharded(table, client=client, shards=shards, truth=known, **params)
    assert_same_fit(sharded, local)
    if known:
        rows = np.searchsorted(table.items, list(truth)[:n_truth])
        assert sharded.labels_[rows].tolist() == list(truth.values())[:n_truth]


def test_dawid_skene_shards_degenerate_fallback_with_more_shards_than_items(client):
    # Two items, three annotators who all disagree: from this random start EM judges the team
    # worse than chance and falls back to the majority posterior.
    table = encode_long([0, 0, 0, 1, 1, 1], list("abcabc"), [1, 0, 2, 1, 2, 1])
    local = DawidSkene(init="random", seed=14).fit_table(table)
    assert local.degenerate_
    assert_same_fit(fit_sharded(table, client=client, shards=5, init="random", seed=14), local)


def test_dawid_skene_shards_empty_table_is_fitted_like_the_local_fit(client):
    table = encode_long([], [], [])
    sharded = fit_sharded(table, client=client, shards=3)
    local = DawidSkene().fit_table(table)
    assert sharded.labels_.tolist() == [] and (sharded.n_iter_, sharded.converged_) == (0, True)
    assert sharded.probas_.shape == local.probas_.shape and sharded.consensus().records() == []


def test_dawid_skene_shards_connects_to_a_scheduler_address(client, crowd):
    table, _ = crowd
    with dask_client(client.scheduler.address) as other:
        sharded = fit_sharded(table, client=other, shards=2)
    assert_same_fit(sharded, DawidSkene().fit_table(table))
    assert client.submit(sum, [1, 2]).result() == 3  # closing the second client left the cluster running


def test_dawid_skene_shards_bounds_keep_items_whole(crowd):
    table, _ = crowd
    bounds = shard_bounds(table, 7)
    assert bounds[0] == 0 and bounds[-1] == table.n_items and np.all(np.diff(bounds) > 0)
    per_shard = np.diff(np.searchsorted(table.item, bounds))
    assert len(bounds) == 8 and per_shard.max() - per_shard.min() <= 3  # 3 annotations per item
    assert shard_bounds(table, 1).tolist() == [0, table.n_items]
    assert len(shard_bounds(table, 10**6)) == table.n_items + 1


@pytest.mark.parametrize("shards", [0, -1, 2.5, True])
def test_dawid_skene_shards_rejects_bad_shard_counts(client, crowd, shards):
    with pytest.raises(DataError, match="shards: expected an integer >= 1"):
        fit_sharded(crowd[0], client=client, shards=shards)


def test_dawid_skene_shards_checks_params_and_truth_before_any_work(client, crowd):
    with pytest.raises(DataError, match="init"):
        fit_sharded(crowd[0], client=client, shards=2, init="kmeans")
    with pytest.raises(DataError, match="not among the classes"):
        fit_sharded(crowd[0], client=client, shards=2, truth={"item000000": "cow"})
