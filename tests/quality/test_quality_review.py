"""Review economy: expected errors, budgeted routing, joint spot checks, outlier dependence, kappa windows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality import DawidSkene, majority_vote, spot_check
from data_labeling_pipeline.quality.dependence import dependent_items, outlier_dependence
from data_labeling_pipeline.quality.kappa_windows import windowed_kappa
from data_labeling_pipeline.quality.posterior import error_after_annotation, expected_errors, typical_confusion
from data_labeling_pipeline.quality.review import (
    budget_count,
    consensus_reasons,
    estimated_accuracy,
    review_metrics,
    route,
)
from data_labeling_pipeline.quality.spotcheck import item_hash, spot_check_coverage, spot_check_sample

K = 6
CLASSES = [f"c{j}" for j in range(K)]
PRIOR = (1.0 / np.arange(1, K + 1)) / (1.0 / np.arange(1, K + 1)).sum()


def _confusions(accuracies):
    """Regular annotators, then a spammer, then one who swaps c0/c1 and c2/c3 40% of the time."""
    out = []
    for acc in accuracies:
        c = np.full((K, K), (1 - acc) / (K - 1))
        np.fill_diagonal(c, acc)
        out.append(c)
    out.append(np.full((K, K), 1.0 / K))
    b = np.full((K, K), 0.05 / (K - 1))
    np.fill_diagonal(b, 0.95)
    for s, t in ((0, 1), (1, 0), (2, 3), (3, 2)):
        b[s, s] -= 0.4
        b[s, t] += 0.4
    out.append(b)
    return np.array(out)


def _crowd(n_items, accuracies=(0.95, 0.93, 0.92, 0.9, 0.85, 0.6), *, per_item=3, seed=0, conf=None):
    conf = _confusions(accuracies) if conf is None else conf
    rng = np.random.default_rng(seed)
    truth = rng.choice(K, size=n_items, p=PRIOR)
    who = np.sort(np.argsort(rng.random((n_items, len(conf))), axis=1)[:, :per_item], axis=1).ravel()
    item = np.repeat(np.arange(n_items), per_item)
    cum = conf[who, truth[item]].cumsum(1)
    label = np.minimum((rng.random(len(item))[:, None] > cum).sum(1), K - 1)
    ids = np.array([f"t{i:06d}" for i in range(n_items)])
    return ids[item], np.array([f"ann{a}" for a in who]), np.array(CLASSES)[label], truth


@pytest.fixture(scope="module")
def crowd():
    return _crowd(20000, seed=3)


@pytest.fixture(scope="module")
def fitted(crowd):
    items, anns, labels, _ = crowd
    model = DawidSkene().fit(items, anns, labels, classes=CLASSES)
    return model, model.consensus()


def _reliability(err, wrong, edges=(0.0, 0.05, 0.2, 0.5, 1.01)):
    """(mean expected error, observed error rate, n) per bin of expected error."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (err >= lo) & (err < hi)
        if m.sum() >= 200:
            out.append((err[m].mean(), wrong[m].mean(), int(m.sum())))
    return out


# ---------------------------------------------------------------- expected errors


def test_review_expected_errors_dawid_skene_is_one_minus_posterior(fitted):
    _, cons = fitted
    np.testing.assert_allclose(expected_errors(cons), 1 - cons.confidence)
    np.testing.assert_allclose(expected_errors(cons.probas, label_index=cons.label_index), 1 - cons.confidence)
    assert expected_errors(np.array([[0.2, 0.8]])).tolist() == pytest.approx([0.2])


def test_review_expected_errors_are_calibrated_on_a_simulation(crowd, fitted):
    items, anns, labels, truth = crowd
    _, cons = fitted
    err, wrong = expected_errors(cons), cons.label_index != truth
    assert abs(err.mean() - wrong.mean()) < 0.005  # the estimated accuracy: within 0.5 points
    for mean_err, rate, _ in _reliability(err, wrong):
        assert abs(mean_err - rate) < 0.05


def test_review_expected_errors_majority_stand_in_is_calibrated(crowd):
    items, anns, labels, truth = crowd
    mv = majority_vote(items, anns, labels, classes=CLASSES)
    err, wrong = expected_errors(mv, item_ids=items, annotators=anns, labels=labels), mv.label_index != truth
    assert abs(err.mean() - wrong.mean()) < 0.005
    for mean_err, rate, _ in _reliability(err, wrong):
        assert abs(mean_err - rate) < 0.05
    # the vote share is not a posterior: 1 - share is far off
    assert abs((1 - mv.confidence).mean() - wrong.mean()) > 0.05
    model = DawidSkene().fit(items, anns, labels, classes=CLASSES)
    np.testing.assert_allclose(expected_errors(mv, model=model), err)


def test_review_expected_errors_majority_needs_a_model():
    mv = majority_vote([1, 1], ["a", "b"], ["x", "y"])
    with pytest.raises(DataError, match="vote share"):
        expected_errors(mv)
    with pytest.raises(DataError, match="posterior"):
        expected_errors(np.array([0.5, 0.5]))


def test_review_error_after_annotation_matches_enumeration(fitted):
    model, cons = fitted
    conf = typical_confusion(model)
    np.testing.assert_allclose(conf.sum(1), 1.0)
    p = cons.probas[:200]
    fast = error_after_annotation(p, conf)
    slow = []
    for row in p:
        total = 0.0
        for v in range(K):
            joint = row * conf[:, v]
            total += joint.sum() * (1 - joint.max() / joint.sum())
        slow.append(total)
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    assert (fast <= 1 - p.max(1) + 1e-12).all()  # a vote never hurts on average
    with pytest.raises(DataError):
        error_after_annotation(p, np.eye(3))


# ---------------------------------------------------------------- routing


def test_review_route_too_few_annotators_never_go_to_review():
    recs, summary = route(["a", "b"], [0.9, 0.8], [1, 0], budget=None, min_confidence=0.7, spot_check=["a", "b"])
    assert [(r["action"], r["reasons"]) for r in recs] == [("annotate", ["too_few_annotators"])] * 2
    assert summary["n_review"] == 0 and summary["n_spot_check_deferred"] == 2


def test_review_route_budget_share_count_and_order():
    ids = [f"i{n}" for n in range(10)]
    err = [0.5, 0.1, 0.4, 0.4, 0.05, 0.02, 0.3, 0.0, 0.35, 0.01]
    recs, s = route(ids, err, [3] * 10, budget=0.3, min_confidence=0.7)
    review = sorted((r for r in recs if r["action"] == "review"), key=lambda r: r["rank"])
    # highest expected error first, ties by item id
    assert [r["item_id"] for r in review] == ["i0", "i2", "i3"]
    assert s["budget"] == 3 and s["n_low_confidence"] == 4 and s["n_low_confidence_not_taken"] == 1
    assert route(ids, err, [3] * 10, budget=3, min_confidence=0.7) == (recs, s)
    assert s["expected_wrong_review"] == pytest.approx(1.3)
    assert s["expected_wrong_accepted"] == pytest.approx(sum(err) - 1.3)
    assert s["estimated_accuracy_accepted"] == pytest.approx(1 - (sum(err) - 1.3) / 7)
    # fill: a budget larger than the uncertain items takes the next ones by expected error
    recs, s = route(ids, err, [3] * 10, budget=0.5, min_confidence=0.7)
    filled = [r["item_id"] for r in recs if r["reasons"] == ["expected_error"]]
    assert filled == ["i6"] and s["n_review"] == 5
    recs, _ = route(ids, err, [3] * 10, budget=0.5, min_confidence=0.7, fill_budget=False)
    assert len(recs) == 4
    # no budget: every item with a reason, nothing else
    recs, _ = route(ids, err, [3] * 10, budget=None, min_confidence=0.7)
    assert {r["item_id"] for r in recs} == {"i0", "i2", "i3", "i8"}


def test_review_route_low_confidence_first_when_confidence_is_a_vote_share():
    # A vote share below the threshold goes first even if another item has a higher expected error.
    recs, _ = route(["a", "b"], [0.1, 0.3], [3, 3], budget=1, min_confidence=0.7, confidence=[0.67, 1.0])
    assert [(r["item_id"], r["reasons"]) for r in recs] == [("a", ["low_confidence"])]


def test_review_route_annotate_first_when_another_annotator_settles_it():
    ids = ["a", "b", "c", "d"]
    err = [0.45, 0.45, 0.45, 0.01]
    after = [0.1, 0.4, 0.1, 0.0]
    recs, s = route(ids, err, [3, 3, 5, 3], budget=1, max_annotators=5, min_confidence=0.7, error_after=after,
                    reasons={"d": ["model_disagrees"]})
    got = {r["item_id"]: (r["action"], r["reasons"]) for r in recs}
    assert got == {
        "a": ("annotate", ["low_confidence"]),  # one more vote settles it: cheap
        "b": ("review", ["low_confidence"]),  # still uncertain after a vote: an expert
        "d": ("annotate", ["model_disagrees"]),
    }
    # c is at max_annotators and the budget of 1 went to b (same error, item id order)
    assert s["n_review"] == 1 and s["n_not_taken"] == 1 and s["n_annotate"] == 2


def test_review_route_over_budget_falls_back_to_annotate_and_counts():
    recs, s = route(["a", "b", "c"], [0.5, 0.45, 0.4], [3, 3, 4], budget=1, max_annotators=4, min_confidence=0.7,
                    error_after=[0.45, 0.44, 0.39])
    got = {r["item_id"]: r["action"] for r in recs}
    assert got == {"a": "review", "b": "annotate"}  # c is at the maximum and over budget
    assert s["n_over_budget_to_annotate"] == 1 and s["n_not_taken"] == 1 and s["n_low_confidence_not_taken"] == 1


def test_review_route_spot_checks_are_outside_the_budget_and_decided_count_as_correct():
    ids = ["a", "b", "c", "d"]
    recs, s = route(ids, [0.5, 0.2, 0.1, 0.4], [3] * 4, budget=1, min_confidence=0.7, spot_check=["a", "c"],
                    decided=["d"])
    got = {r["item_id"]: (r["action"], r["reasons"], r["rank"]) for r in recs}
    assert got == {"a": ("review", ["low_confidence", "spot_check"], 1), "c": ("review", ["spot_check"], 2)}
    assert s["n_spot_check"] == 2 and s["n_spot_check_outside_budget"] == 1 and s["n_decided"] == 1
    # decided d counts as correct in the exported estimate
    assert s["estimated_accuracy_exported"] == pytest.approx(1 - (0.5 + 0.2 + 0.1) / 4)
    assert s["estimated_accuracy_after_review"] == pytest.approx(1 - 0.2 / 4)


@pytest.mark.parametrize("budget", [1.5, -0.1, -1, True, "10%"])
def test_review_route_rejects_bad_budgets(budget):
    with pytest.raises(DataError, match="budget"):
        route(["a"], [0.1], [3], budget=budget)


def test_review_route_rejects_bad_arguments():
    with pytest.raises(DataError, match="expected_error"):
        route(["a"], [1.5], [3])
    with pytest.raises(DataError, match="n_annotators"):
        route(["a", "b"], [0.1, 0.2], [3])
    with pytest.raises(DataError, match="max_annotators"):
        route(["a"], [0.1], [3], min_annotators=3, max_annotators=2)
    with pytest.raises(DataError, match="min_confidence"):
        route(["a"], [0.1], [3], min_confidence=70)
    assert budget_count(0.15, 20000) == 3000 and budget_count(0.07, 100) == 7


def test_review_route_is_economical_on_a_simulated_crowd(crowd, fitted):
    items, anns, labels, truth = crowd
    _, cons = fitted
    err, wrong = expected_errors(cons), cons.label_index != truth
    recs, s = route(cons.items, err, cons.n_annotations, budget=0.15, max_annotators=3, min_confidence=0.7)
    queue = np.isin(cons.items, [r["item_id"] for r in recs if r["action"] == "review"])
    assert queue.mean() == pytest.approx(0.15)
    assert wrong[queue].sum() / wrong.sum() >= 0.85  # random review would catch 15%
    assert abs(s["estimated_accuracy_accepted"] - (1 - wrong[~queue].mean())) < 0.005
    assert json.loads(json.dumps(review_metrics(s))) == review_metrics(s)


def test_review_route_same_input_same_output_and_ties_by_id():
    ids = np.array([f"i{n}" for n in range(50)])[::-1]
    err = np.full(50, 0.4)
    a = route(ids, err, np.full(50, 3), budget=5, min_confidence=0.7)
    b = route(ids[::-1], err, np.full(50, 3), budget=5, min_confidence=0.7)
    assert a == b
    assert sorted(r["item_id"] for r in a[0]) == [f"i{n}" for n in (0, 1, 10, 11, 12)]


def test_review_consensus_reasons():
    mv = majority_vote(["a"] * 3 + ["b"] * 2, ["x", "y", "z", "x", "y"], ["c", "d", "e", "c", "c"])
    assert consensus_reasons(mv, outlier_items=["b"], model_labels={"b": "c"}) == {
        "a": ["tie", "disagreement"], "b": ["outlier_annotator"]}


def test_review_estimated_accuracy_and_metrics_numbers_only():
    assert estimated_accuracy([]) is None
    assert estimated_accuracy([0.2, 0.4, 0.0], groups=["val", "train", "val"]) == {"train": 0.6, "val": 0.9}
    with pytest.raises(DataError, match="numbers"):
        review_metrics({"queue": "annotate"})
    with pytest.raises(DataError, match="numbers"):
        review_metrics({"ids": [1, 2]})
    assert review_metrics({"x": np.float64(1 / 3), "ok": True}) == {"ok": 1, "x": 0.333333}


# ---------------------------------------------------------------- spot checks


def _walk(item_ids, per_item, rate, seed):
    """The definition: walk items in hash order, take one while an annotator on it is below the rate."""
    n_labels = {}
    for anns in per_item:
        for a in set(anns):
            n_labels[a] = n_labels.get(a, 0) + 1
    taken_per = dict.fromkeys(n_labels, 0)
    hashes = item_hash(item_ids, seed=seed)
    order = sorted(range(len(item_ids)), key=lambda i: (int(hashes[i]), i))
    taken = []
    for i in order:
        anns = set(per_item[i])
        if any(taken_per[a] < rate * n_labels[a] - 1e-9 for a in anns):
            taken.append(item_ids[i])
            for a in anns:
                taken_per[a] += 1
    return sorted(taken)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4, unique=True), min_size=1, max_size=60),
    st.floats(0.0, 1.0),
    st.integers(0, 3),
)
def test_spotcheck_sample_equals_the_sequential_walk(per_item, rate, seed):
    ids = [f"i{n:03d}" for n in range(len(per_item))]
    assert spot_check_sample(ids, per_item, rate=rate, seed=seed).tolist() == _walk(ids, per_item, rate, seed)


def test_spotcheck_sample_covers_each_annotator_with_few_items(crowd):
    items, anns, _, _ = crowd
    picked = spot_check_sample(items, anns, rate=0.1, seed=0)
    cov = spot_check_coverage(items, anns, picked)
    assert cov["min_annotator_share"] >= 0.1 and cov["item_share"] <= 0.12
    old = spot_check(items, anns, rate=0.1, seed=0)
    assert len(np.unique(items[old])) / cov["n_items"] > 0.25  # independent samples: ~1 - 0.9**3 of the items
    five_items, five_anns, _, _ = _crowd(5000, per_item=5, seed=1)
    cov5 = spot_check_coverage(five_items, five_anns, spot_check_sample(five_items, five_anns, rate=0.1, seed=0))
    assert cov5["min_annotator_share"] >= 0.1 and cov5["item_share"] <= 0.12


def test_spotcheck_sample_is_deterministic_and_stable_when_items_are_added():
    ids = [f"i{n:05d}" for n in range(4000)]
    per_item = [[f"a{(n * 7 + j) % 6}" for j in range(3)] for n in range(4000)]
    a = spot_check_sample(ids, per_item, rate=0.12, seed=5)
    np.testing.assert_array_equal(a, spot_check_sample(ids, per_item, rate=0.12, seed=5))
    assert not np.array_equal(a, spot_check_sample(ids, per_item, rate=0.12, seed=6))
    long_items = np.repeat(ids, 3)
    long_anns = [a for group in per_item for a in group]
    np.testing.assert_array_equal(a, spot_check_sample(long_items, long_anns, rate=0.12, seed=5))
    more = spot_check_sample(ids + ["new1", "new2"], per_item + [["a0"], ["a1", "a2"]], rate=0.12, seed=5)
    assert len(set(a) & set(more)) >= 0.95 * len(a)
    assert spot_check_sample(ids, per_item, rate=0.0).tolist() == []
    assert len(spot_check_sample(ids, per_item, rate=1.0)) == 4000
    with pytest.raises(DataError, match="rate"):
        spot_check_sample(ids, per_item, rate=1.2)
    with pytest.raises(DataError, match="annotators"):
        spot_check_sample(ids, per_item[:-1], rate=0.1)


# ---------------------------------------------------------------- outlier dependence


def test_dependence_majority_vote_leave_one_out():
    items = ["i1"] * 3 + ["i2"] * 3 + ["i3"] * 2
    anns = ["a", "b", "c", "a", "b", "c", "a", "b"]
    labels = ["x", "x", "y", "x", "x", "x", "x", "x"]
    mv = majority_vote(items, anns, labels)
    dep = outlier_dependence(items, anns, labels, mv, ["a", "nobody"], min_confidence=0.9)
    # i1: without a it is a 1-1 tie; i2 and i3 stay unanimous
    assert dep["a"].tolist() == ["i1"] and dep["nobody"].tolist() == []
    assert outlier_dependence(items, anns, labels, mv, "c", min_confidence=0.7)["c"].tolist() == []
    # confidence drop: without c, i2 is still 2 of 2; with min_confidence above 2/3 nothing moves below it
    assert dependent_items(dep).tolist() == ["i1"]


def test_dependence_dawid_skene_equals_posterior_without_the_vote(crowd, fitted):
    items, anns, labels, _ = crowd
    model, cons = fitted
    dep = outlier_dependence(items, anns, labels, cons, ["ann6", "ann5"], model=model, min_confidence=0.7)
    log_conf = np.log(model.confusions_)
    a_code = {a: i for i, a in enumerate(model.annotators_.tolist())}
    cls = {c: i for i, c in enumerate(CLASSES)}
    row_of = {item: i for i, item in enumerate(cons.items.tolist())}
    votes = {}
    for it, an, lab in zip(items.tolist(), anns.tolist(), labels.tolist(), strict=True):
        votes.setdefault(it, []).append((a_code[an], cls[lab]))
    expected = {"ann6": [], "ann5": []}
    for it in list(votes)[:3000]:
        for out in expected:
            if a_code[out] not in [v[0] for v in votes[it]]:
                continue
            logit = np.log(model.priors_) + sum(log_conf[a, :, lab] for a, lab in votes[it] if a != a_code[out])
            p = np.exp(logit - logit.max())
            p /= p.sum()
            c = cons.label_index[row_of[it]]
            flips = p[c] <= np.delete(p, c).max() + 1e-12
            drops = cons.confidence[row_of[it]] >= 0.7 and p[c] < 0.7
            if flips or drops:
                expected[out].append(it)
    checked = set(list(votes)[:3000])
    for out, want in expected.items():
        got = [i for i in dep[out].tolist() if i in checked]
        assert got == sorted(want)
    # the spammer's votes carry no weight under Dawid-Skene: almost nothing depends on them
    n_spammer = len(np.unique(items[anns == "ann6"]))
    assert len(dep["ann6"]) < 0.02 * n_spammer


def test_dependence_one_weak_annotator_of_five_marks_few_items():
    conf = _confusions([0.92, 0.9, 0.88, 0.85, 0.45])[:5]
    items, anns, labels, _ = _crowd(4000, per_item=5, seed=2, conf=conf)
    model = DawidSkene().fit(items, anns, labels, classes=CLASSES)
    dep = outlier_dependence(items, anns, labels, model.consensus(), ["ann4"], model=model, min_confidence=0.7)
    assert len(dep["ann4"]) < 0.05 * 4000  # the old rule marked all 4000


def test_dependence_rejects_a_mismatched_consensus():
    mv = majority_vote(["i1", "i2"], ["a", "a"], ["x", "y"])
    with pytest.raises(DataError, match="other items"):
        outlier_dependence(["i1"], ["a"], ["x"], mv, ["a"])


# ---------------------------------------------------------------- windowed kappa


def test_kappa_windows_flag_a_recent_drop():
    rng = np.random.default_rng(0)
    n = 600
    ref = rng.choice(["x", "y", "z"], size=n)
    good = ref.copy()
    drifting = np.where(np.arange(n) < 400, ref, rng.choice(["x", "y", "z"], size=n))
    anns = np.array(["good"] * n + ["drift"] * n)
    labels = np.concatenate([good, drifting])
    refs = np.concatenate([ref, ref])
    items = np.concatenate([np.arange(n), np.arange(n)])
    times = [f"2024-01-{1 + i // 100:02d}T{i % 100:04d}" for i in range(n)] * 2
    out = windowed_kappa(anns, labels, refs, item_ids=items, created_at=times, window=200, min_kappa=0.7)
    assert out["good"]["kappa_by_window"] == pytest.approx({"0": 1.0, "1": 1.0, "2": 1.0})
    assert out["good"]["below_min_kappa"] == 0
    assert out["drift"]["kappa_by_window"]["1"] == pytest.approx(1.0) and out["drift"]["latest_kappa"] < 0.2
    assert out["drift"]["below_min_kappa"] == 1 and out["drift"]["latest_window"] == 2
    assert all(isinstance(v, (int, float)) or v is None for v in out["drift"].values() if not isinstance(v, dict))
    # shuffled input, same label order by time: same result
    perm = rng.permutation(2 * n)
    again = windowed_kappa(anns[perm], labels[perm], refs[perm], item_ids=items[perm],
                           created_at=np.array(times, dtype=object)[perm], window=200)
    assert again == out


def test_kappa_windows_order_time_then_item_and_short_last_window():
    anns = ["a"] * 5
    labels = ["x", "y", "x", "y", "x"]
    ref = ["x", "y", "y", "x", "x"]
    # times put items 3 and 2 first, then 0, 1, 4 (no time: last)
    out = windowed_kappa(anns, labels, ref, item_ids=[0, 1, 2, 3, 4], created_at=[2, 2, 1, 1, None], window=2,
                         min_labels=2)
    assert out["a"]["n_windows"] == 3 and out["a"]["latest_window"] == 1  # window 2 has one label: too few
    assert out["a"]["kappa_by_window"]["0"] == pytest.approx(-1.0)  # items 2, 3: both disagree
    assert out["a"]["kappa_by_window"]["1"] == 1.0
    assert out["a"]["kappa_by_window"]["2"] is None
    with pytest.raises(DataError, match="window"):
        windowed_kappa(anns, labels, ref, item_ids=range(5), window=0)
    whole = windowed_kappa(anns, labels, ref, item_ids=range(5), window=5, min_labels=1)
    assert math.isclose(whole["a"]["latest_kappa"], 1 / 6)
