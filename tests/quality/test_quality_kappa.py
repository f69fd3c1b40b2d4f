"""Cohen's kappa: properties (hypothesis) and agreement with scikit-learn, pairwise matrix."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality import cohens_kappa, kappa_from_table, pairwise_kappa
from data_labeling_pipeline.quality.result import NO_OVERLAP, NO_VARIATION

LABELS = ["a", "b", "c", "d"]
pairs = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.sampled_from(LABELS), min_size=n, max_size=n),
        st.lists(st.sampled_from(LABELS), min_size=n, max_size=n),
    )
)
weights = st.sampled_from([None, "linear", "quadratic"])


@settings(max_examples=60, deadline=None)
@given(pairs, weights)
def test_cohen_kappa_symmetric(ab, w):
    a, b = ab
    k1, k2 = cohens_kappa(a, b, weights=w), cohens_kappa(b, a, weights=w)
    assert k1.reason == k2.reason
    if k1.defined:
        assert k1.value == pytest.approx(k2.value, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(pairs, st.permutations(["p", "q", "r", "s"]))
def test_cohen_kappa_invariant_to_renaming_labels(ab, names):
    a, b = ab
    rename = dict(zip(LABELS, names, strict=True))
    k1 = cohens_kappa(a, b)
    k2 = cohens_kappa([rename[x] for x in a], [rename[x] for x in b])
    assert k1.reason == k2.reason
    if k1.defined:
        assert k1.value == pytest.approx(k2.value, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(LABELS), min_size=2, max_size=40).filter(lambda x: len(set(x)) >= 2), weights)
def test_cohen_kappa_identical_annotators_is_one(a, w):
    assert cohens_kappa(a, list(a), weights=w).value == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(pairs, weights)
def test_cohen_kappa_equals_sklearn(ab, w):
    from sklearn.metrics import cohen_kappa_score

    a, b = ab
    ours = cohens_kappa(a, b, weights=w)
    if not ours.defined:
        # scikit-learn returns NaN (with a warning) exactly when chance agreement is 1
        assert ours.reason == NO_VARIATION and len(set(a) | set(b)) == 1
        return
    assert ours.value == pytest.approx(cohen_kappa_score(a, b, weights=w), abs=1e-9)


def test_cohen_kappa_schema_labels_include_unused_classes():
    from sklearn.metrics import cohen_kappa_score

    schema = ["lo", "mid", "hi", "top"]  # "mid" is never used
    a = ["lo", "hi", "top", "lo", "hi", "top", "lo"]
    b = ["lo", "top", "top", "hi", "hi", "lo", "lo"]
    declared = cohens_kappa(a, b, weights="linear", labels=schema)
    observed = cohens_kappa(a, b, weights="linear")
    assert declared.value == pytest.approx(cohen_kappa_score(a, b, weights="linear", labels=schema))
    assert declared.value != pytest.approx(observed.value)
    with pytest.raises(DataError):
        cohens_kappa(a, b, labels=["lo", "hi"])


def test_cohen_kappa_skips_missing_labels():
    k = cohens_kappa(["a", None, "b", "a"], ["a", "b", float("nan"), "a"])
    assert k.n_items == 2
    assert k.reason == NO_VARIATION


def test_cohen_kappa_no_overlap_is_undefined():
    k = cohens_kappa(["a", None], [None, "b"])
    assert k.value is None and k.reason == NO_OVERLAP


def test_cohen_table_rejects_non_square():
    with pytest.raises(DataError):
        kappa_from_table([[1, 2, 3], [4, 5, 6]])


def test_pairwise_kappa_matches_cohen_per_pair():
    rng = np.random.default_rng(3)
    n_items, anns = 300, ["a", "b", "c", "d"]
    rows = [(i, a, str(rng.integers(0, 3))) for i in range(n_items) for a in anns if rng.random() < 0.6]
    items, who, labs = map(list, zip(*rows, strict=True))
    pk = pairwise_kappa(items, who, labs)
    by = {(i, a): lab for i, a, lab in rows}
    for x, a in enumerate(anns):
        for y, b in enumerate(anns):
            if x >= y:
                continue
            shared = [i for i in range(n_items) if (i, a) in by and (i, b) in by]
            ref = cohens_kappa([by[(i, a)] for i in shared], [by[(i, b)] for i in shared])
            assert pk.overlap[x, y] == len(shared)
            assert float(pk.kappa[x, y]) == pytest.approx(ref.value, abs=1e-12)
    recs = pk.records()
    assert len(recs) == 6 and all(r["reason"] is None for r in recs)
    assert pk.mean().value == pytest.approx(np.mean([r["kappa"] for r in recs]))


def test_pairwise_kappa_reports_pairs_without_overlap():
    pk = pairwise_kappa([1, 1, 2, 2, 3], ["a", "b", "a", "b", "c"], ["x", "y", "y", "y", "x"])
    recs = {(r["annotator_a"], r["annotator_b"]): r for r in pk.records()}
    assert recs[("a", "c")]["kappa"] is None and recs[("a", "c")]["reason"] == NO_OVERLAP
    assert recs[("a", "b")]["n_items"] == 2
    assert pk.kappa.mask[0, 2]
