"""Majority vote and Dawid-Skene on synthetic crowds with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from quality_synth import simulate_crowd

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality import DawidSkene, add_model_votes, majority_vote

CLASSES = ["c0", "c1", "c2", "c3"]
ACCURACIES = [0.95, 0.85, 0.75, 0.65, 0.55]


@pytest.fixture(scope="module")
def crowd():
    return simulate_crowd(20000, ACCURACIES, per_item=3, seed=7)


@pytest.fixture(scope="module")
def fitted(crowd):
    items, anns, labels, _ = crowd
    return DawidSkene(seed=0).fit(items, anns, labels, classes=CLASSES)


def _accuracy(result, truth):
    return float(np.mean([lab == truth[i] for i, lab in zip(result.items.tolist(), result.labels, strict=True)]))


def test_dawid_skene_beats_majority_vote(crowd, fitted):
    items, anns, labels, truth = crowd
    mv = majority_vote(items, anns, labels, classes=CLASSES)
    assert _accuracy(fitted.consensus(), truth) >= _accuracy(mv, truth)


def test_dawid_skene_estimates_annotator_accuracy(crowd, fitted):
    items, anns, labels, truth = crowd
    true_items = np.array([truth[i] for i in items])
    for a, skill in fitted.skills().items():
        mine = anns == a
        empirical = float(np.mean(labels[mine] == true_items[mine]))
        assert skill == pytest.approx(empirical, abs=0.01)  # the realised accuracy
        assert skill == pytest.approx(ACCURACIES[int(a[3:])], abs=0.015)  # the generator's parameter


def test_dawid_skene_sklearn_contract(crowd, fitted):
    ds = DawidSkene(max_iter=7, tol=0.0, seed=3)
    assert (ds.max_iter, ds.tol, ds.seed) == (7, 0.0, 3)
    items, anns, labels, _ = crowd
    assert ds.fit(items[:300], anns[:300], labels[:300], classes=CLASSES) is ds
    assert ds.n_iter_ == 7 and not ds.converged_
    assert fitted.probas_.shape == (20000, 4)
    np.testing.assert_allclose(fitted.probas_.sum(1), 1.0)
    np.testing.assert_allclose(fitted.confusions_.sum(2), 1.0)
    assert fitted.confusions_.shape == (5, 4, 4)
    assert fitted.classes_ == CLASSES and len(fitted.labels_) == 20000


def test_dawid_skene_is_deterministic(crowd):
    items, anns, labels, _ = crowd
    a = DawidSkene(init="random", seed=5).fit(items[:3000], anns[:3000], labels[:3000])
    b = DawidSkene(init="random", seed=5).fit(items[:3000], anns[:3000], labels[:3000])
    np.testing.assert_array_equal(a.probas_, b.probas_)


def test_dawid_skene_truth_clamps_known_items(crowd):
    items, anns, labels, truth = crowd
    known = {items[0]: "c3"}
    ds = DawidSkene().fit(items[:600], anns[:600], labels[:600], classes=CLASSES, truth=known)
    row = int(np.searchsorted(ds.items_, items[0]))
    assert ds.labels_[row] == "c3" and ds.probas_[row, 3] == 1.0


def test_dawid_skene_rejects_bad_params():
    with pytest.raises(DataError):
        DawidSkene(init="kmeans").fit([1], ["a"], ["x"])
    with pytest.raises(DataError):
        DawidSkene(max_iter=0).fit([1], ["a"], ["x"])


def test_dawid_skene_empty_input():
    ds = DawidSkene().fit([], [], [])
    assert ds.n_iter_ == 0 and ds.consensus().records() == []


def test_consensus_majority_vote_tie_break_by_reliability_then_schema_order():
    items, anns, labels = ["i"] * 2, ["a", "b"], ["dog", "cat"]
    plain = majority_vote(items, anns, labels, classes=["dog", "cat"])
    assert plain.labels == ["dog"] and plain.tie.tolist() == [True]
    trusted = majority_vote(items, anns, labels, classes=["dog", "cat"], skills={"a": 0.6, "b": 0.9})
    assert trusted.labels == ["cat"] and trusted.tie.tolist() == [True]


def test_consensus_majority_vote_records():
    mv = majority_vote(["i1", "i1", "i1", "i2"], ["a", "b", "c", "a"], ["y", "y", "x", "x"], classes=["x", "y", "z"])
    recs = mv.records()
    assert recs[0] == {
        "item_id": "i1", "label": "y", "confidence": pytest.approx(2 / 3), "method": "majority_vote",
        "votes": {"x": 1, "y": 2}, "n_annotations": 3, "tie": False,
    }
    assert recs[1]["n_annotations"] == 1 and recs[1]["confidence"] == 1.0


def test_dawid_skene_ties_broken_deterministically():
    # Two annotators, perfectly symmetric disagreement on one item: posterior tie.
    ds = DawidSkene().fit(["i", "i"], ["a", "b"], ["x", "y"], classes=["x", "y"])
    res = ds.consensus()
    assert res.tie.tolist() == [True] and res.labels == ["x"]


def test_consensus_model_as_extra_annotator():
    items, anns, labels = add_model_votes(["i", "i"], ["a", "b"], ["x", "y"], ["i"], ["y"], name="model:v1")
    mv = majority_vote(items, anns, labels)
    assert mv.labels == ["y"] and mv.n_annotations.tolist() == [3]
