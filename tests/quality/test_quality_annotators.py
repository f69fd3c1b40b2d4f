"""Annotator statistics, annotator flags, item routing, spot checks and trends."""

from __future__ import annotations

import numpy as np
import pytest
from quality_synth import simulate_crowd

from data_labeling_pipeline.quality import (
    DawidSkene,
    agreement_trend,
    annotator_flags,
    annotator_stats,
    jsonable,
    majority_vote,
    route_items,
    spot_check,
)

CLASSES = ["c0", "c1", "c2", "c3"]


@pytest.fixture(scope="module")
def crowd_with_bad_annotators():
    items, anns, labels, truth = simulate_crowd(4000, [0.95, 0.9, 0.85, 0.8], per_item=3, seed=2)
    rng = np.random.default_rng(0)
    uniq = np.unique(items)
    extra_items = np.concatenate([uniq[:600], uniq[600:1200]])
    extra_anns = np.array(["spammer"] * 600 + ["constant"] * 600)
    extra_labels = np.concatenate([rng.choice(CLASSES, size=600), np.full(600, "c2")])
    return (
        np.concatenate([items, extra_items]),
        np.concatenate([anns, extra_anns]),
        np.concatenate([labels, extra_labels]),
        truth,
    )


def test_annotators_stats_against_manual_counts():
    items = ["i1", "i1", "i2", "i2", "i3", "i3"]
    anns = ["a", "b", "a", "b", "a", "b"]
    labels = ["x", "x", "y", "x", "y", "y"]
    stats = annotator_stats(
        items, anns, labels, consensus={"i1": "x", "i2": "y", "i3": "y"}, classes=["x", "y"],
        truth={"i1": "x", "i2": "x"}, lead_times=[10, 20, 30, None, 20, 40],
    )
    a, b = stats
    assert a["annotator"] == "a" and a["n_items"] == 3
    assert a["accuracy_vs_consensus"].value == 1.0 and b["accuracy_vs_consensus"].value == pytest.approx(2 / 3)
    assert a["accuracy_vs_truth"].value == 0.5 and a["accuracy_vs_truth"].n_items == 2
    assert b["accuracy_vs_truth"].value == 1.0
    assert a["kappa_vs_consensus"].value == 1.0
    assert a["median_lead_time"] == 20.0 and a["labels_per_hour"] == pytest.approx(3600 * 3 / 60)
    assert b["median_lead_time"] == 30.0
    assert a["class_distribution"] == {"x": pytest.approx(1 / 3), "y": pytest.approx(2 / 3)}
    assert a["kappa_vs_annotators"]["b"].value == pytest.approx(0.4)
    assert jsonable(stats)[0]["accuracy_vs_consensus"]["value"] == 1.0


def test_flags_annotator_spammer_constant_and_low_accuracy(crowd_with_bad_annotators):
    items, anns, labels, truth = crowd_with_bad_annotators
    ds = DawidSkene().fit(items, anns, labels, classes=CLASSES)
    stats = annotator_stats(items, anns, labels, consensus=ds.consensus().as_mapping(), classes=CLASSES, dawid_skene=ds)
    flags = annotator_flags(stats)
    assert "spammer" in flags["spammer"] and "low_accuracy" in flags["spammer"]
    assert "near_constant" in flags["constant"]
    for good in ("ann0", "ann1", "ann2", "ann3"):
        assert flags[good] == []
    by_name = {s["annotator"]: s for s in stats}
    assert by_name["ann0"]["spammer_score"] > 0.8
    assert by_name["ann0"]["ds_accuracy"] == pytest.approx(0.95, abs=0.02)


def test_flags_annotator_need_enough_items():
    rec = {"annotator": "a", "n_items": 3, "accuracy_vs_consensus": {"value": 0.0, "n_items": 3},
           "class_distribution": {"x": 1.0}, "consensus_distribution": {"x": 0.2}, "spammer_score": 0.0}
    assert annotator_flags([rec]) == {"a": []}


def test_flags_annotator_prefer_ground_truth_accuracy():
    rec = {"annotator": "a", "n_items": 100, "accuracy_vs_consensus": {"value": 0.95, "n_items": 100},
           "accuracy_vs_truth": {"value": 0.5, "n_items": 20}, "class_distribution": {}, "spammer_score": None}
    assert annotator_flags([rec]) == {"a": ["low_accuracy"]}


def test_flags_spot_check_is_deterministic_stable_and_per_annotator():
    items = [f"item{i}" for i in range(5000)]
    a = spot_check(items, ["ann1"] * 5000, rate=0.12, seed=3)
    b = spot_check(items, ["ann2"] * 5000, rate=0.12, seed=3)
    assert 0.10 < a.mean() < 0.14 and 0.10 < b.mean() < 0.14
    assert not np.array_equal(a, b)  # each annotator gets their own sample
    np.testing.assert_array_equal(a, spot_check(items, ["ann1"] * 5000, rate=0.12, seed=3))
    more = spot_check(["new"] + items, ["ann1"] * 5001, rate=0.12, seed=3)
    np.testing.assert_array_equal(more[1:], a)  # inserting an item does not reshuffle the rest
    assert not np.array_equal(a, spot_check(items, ["ann1"] * 5000, rate=0.12, seed=4))


def test_flags_route_items_reasons():
    items = ["i1", "i1", "i1", "i2", "i2", "i3", "i4", "i4", "i4"]
    anns = ["a", "b", "c", "a", "b", "a", "a", "b", "bad"]
    labels = ["x", "x", "x", "x", "y", "x", "y", "y", "y"]
    mv = majority_vote(items, anns, labels, classes=["x", "y"])
    routed = route_items(
        mv, items, anns, min_annotators=2, min_confidence=0.7, outlier_annotators={"bad"},
        model_labels={"i1": "y", "i4": "y"}, spot_check_rate=0.0,
    )
    by_item = {r["item_id"]: r["reasons"] for r in routed}
    assert by_item == {
        "i1": ["model_disagrees"],
        "i2": ["tie", "disagreement", "low_confidence"],
        "i3": ["too_few_annotators"],
        "i4": ["outlier_annotator"],
    }
    everything = route_items(mv, items, anns, spot_check_rate=1.0)
    assert all("spot_check" in r["reasons"] for r in everything) and len(everything) == 4
    assert everything[0]["spot_check"] == ["a", "b", "c"]


def test_annotators_agreement_trend_windows_in_time_order():
    times = ["2024-01-03", "2024-01-01", None, "2024-01-02", "2024-01-04", "2024-01-05"]
    agree = [False, True, True, True, False, False]
    trend = agreement_trend(times, agree, window=2)
    assert [(w["start"], w["end"], w["n"], w["agreement"]) for w in trend] == [
        ("2024-01-01", "2024-01-02", 2, 1.0),
        ("2024-01-03", "2024-01-04", 2, 0.0),
        ("2024-01-05", "2024-01-05", 1, 0.0),
    ]
