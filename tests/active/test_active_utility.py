"""Utility measures: known values, the direction (higher = more informative), committee measures."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from data_labeling_pipeline.active import (
    consensus_entropy,
    entropy,
    kl_disagreement,
    least_confidence,
    margin,
    uncertainty,
    vote_entropy,
)
from data_labeling_pipeline.errors import DataError

MODULES = ["", "._checks", ".utility", ".selectors", ".distances", ".diversity", ".hybrid", ".committee", ".strategy"]


@pytest.mark.parametrize("module", MODULES)
def test_active_docstring_examples_run(module):
    mod = importlib.import_module("data_labeling_pipeline.active" + module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_utility_known_values():
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.3, 0.2], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(least_confidence(p), [0.0, 0.5, 2 / 3])
    np.testing.assert_allclose(margin(p), [0.0, 0.8, 1.0])
    np.testing.assert_allclose(entropy(p), [0.0, -(0.5 * np.log(0.5) + 0.3 * np.log(0.3) + 0.2 * np.log(0.2)), np.log(3)])


def test_utility_margin_ignores_the_tail_where_entropy_does_not():
    # same top-two gap, different tails: margin ranks them equal, entropy does not
    a, b = [0.5, 0.4, 0.1, 0.0], [0.5, 0.4, 0.05, 0.05]
    m, e = margin([a, b]), entropy([a, b])
    assert m[0] == pytest.approx(m[1]) and e[1] > e[0]


def test_utility_single_class_is_certain():
    assert margin([[1.0], [1.0]]).tolist() == [0.0, 0.0]
    assert entropy([[1.0]]).tolist() == [0.0]


def test_utility_uncertainty_dispatch_and_unknown_measure():
    p = [[0.7, 0.3]]
    assert uncertainty(p).tolist() == margin(p).tolist()
    assert uncertainty(p, measure="entropy").tolist() == entropy(p).tolist()
    with pytest.raises(DataError, match="margin"):
        uncertainty(p, measure="variance")


def test_utility_float32_probabilities_within_tolerance():
    p = np.array([[0.1, 0.2, 0.7]], dtype=np.float32)
    assert margin(p)[0] == pytest.approx(0.5, abs=1e-6)


def _distributions(n_classes):
    return arrays(np.float64, (12, n_classes), elements=st.floats(0, 1)).map(
        lambda a: (a + 1e-9) / (a + 1e-9).sum(axis=1, keepdims=True)
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6).flatmap(_distributions))
def test_utility_bounds_and_agreement_of_direction(p):
    k = p.shape[1]
    lc, m, h = least_confidence(p), margin(p), entropy(p)
    assert ((lc >= 0) & (lc <= 1 - 1 / k + 1e-9)).all()
    assert ((m >= 0) & (m <= 1 + 1e-9)).all()
    assert ((h >= -1e-12) & (h <= np.log(k) + 1e-9)).all()
    # a one-hot row is the least informative for all three; the uniform row the most
    certain, flat = np.eye(k)[:1], np.full((1, k), 1 / k)
    for f in (least_confidence, margin, entropy):
        assert f(certain)[0] <= f(p).min() + 1e-12 and f(flat)[0] >= f(p).max() - 1e-9


def test_utility_binary_measures_rank_alike():
    p1 = np.linspace(0.0, 1.0, 21)
    p = np.stack([p1, 1 - p1], axis=1)
    order = np.argsort(-margin(p), kind="stable")
    assert (np.argsort(-least_confidence(p), kind="stable") == order).all()
    assert (np.argsort(-np.round(entropy(p), 12), kind="stable") == order).all()


def test_utility_committee_measures():
    agree = np.array([[[0.9, 0.1]], [[0.8, 0.2]], [[0.7, 0.3]]])  # 3 members, 1 row: all vote class 0
    split = np.array([[[0.9, 0.1]], [[0.1, 0.9]], [[0.6, 0.4]]])
    assert vote_entropy(agree).tolist() == [0.0]
    assert vote_entropy(split)[0] == pytest.approx(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)))
    assert kl_disagreement(agree)[0] < kl_disagreement(split)[0]
    same = np.repeat(np.array([[[0.3, 0.7]]]), 4, axis=0)
    assert kl_disagreement(same)[0] == pytest.approx(0.0, abs=1e-12)
    assert consensus_entropy(same)[0] == pytest.approx(entropy([[0.3, 0.7]])[0])


def test_utility_kl_disagreement_matches_definition():
    rng = np.random.default_rng(0)
    c = rng.dirichlet(np.ones(4), size=(5, 7))
    mean = c.mean(axis=0)
    expected = np.mean([(m * np.log(m / mean)).sum(axis=1) for m in c], axis=0)
    np.testing.assert_allclose(kl_disagreement(c), expected, rtol=1e-10)


@pytest.mark.parametrize(
    "bad, words",
    [([0.5, 0.5], "2-D"), ([[0.5, 0.6]], "sum to 1"), ([[np.inf, 0.0]], "finite"), ([["a", "b"]], "2-D array of numbers")],
)
def test_utility_bad_probabilities(bad, words):
    with pytest.raises(DataError, match=words):
        margin(bad)


def test_utility_bad_committee_shape():
    with pytest.raises(DataError, match="n_members"):
        vote_entropy([[0.5, 0.5]])


def test_active_import_loads_no_heavy_library():
    import subprocess
    import sys

    code = "import sys, data_labeling_pipeline.active; print([m for m in ('sklearn', 'scipy', 'torch', 'pandas') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
