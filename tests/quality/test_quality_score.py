"""Scores that behave like numbers, and Krippendorff's alpha on a dense items x annotators matrix."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from data_labeling_pipeline.errors import PipelineError
from data_labeling_pipeline.quality import (
    Score,
    alpha_from_counts,
    cohens_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    ratings_to_counts,
)
from data_labeling_pipeline.quality.result import NO_VARIATION, UndefinedScoreError

LEVELS = ("nominal", "ordinal", "interval", "ratio")
HIGH = [[4, 0, 0], [0, 4, 0], [0, 0, 4], [4, 0, 0], [3, 1, 0]]  # near-perfect agreement of 4 annotators


def test_score_compares_with_numbers_like_a_float():
    kappa = fleiss_kappa(HIGH)
    assert kappa > 0.6 and kappa >= 0.6 and not kappa < 0.6 and 0.6 < kappa and kappa <= 1
    assert kappa > np.float64(0.6) and kappa < 2 and kappa > fleiss_kappa([[2, 2], [2, 2], [4, 0]])
    assert float(kappa) == kappa.value and isinstance(float(kappa), float)
    assert kappa == kappa.value and kappa != kappa.value + 1e-9
    assert sorted([kappa, Score(0.1), Score(0.9)])[0] == Score(0.1)


def test_score_formats_with_a_spec_and_rounds():
    kappa = fleiss_kappa(HIGH)
    assert f"{kappa:.3f}" == f"{kappa.value:.3f}" == format(kappa, ".3f")
    assert f"{Score(0.5):>6.1%}" == " 50.0%"
    assert round(Score(0.71234), 2) == 0.71 and round(Score(1.6)) == 2
    assert f"{Score(0.5)}" == str(Score(0.5)) == repr(Score(0.5))  # no spec: the whole record, as before


def test_score_undefined_raises_a_clear_error_when_used_as_a_number():
    undefined = fleiss_kappa([[3, 0], [3, 0]])
    assert not undefined.defined and undefined.reason == NO_VARIATION
    with pytest.raises(UndefinedScoreError, match=r"undefined \(no variation: chance agreement is 1\).*score.defined"):
        float(undefined)
    for use in (lambda s: f"{s:.3f}", lambda s: s > 0.6, lambda s: s <= 0.6, lambda s: round(s, 2),
                lambda s: Score(0.5) < s):
        with pytest.raises(UndefinedScoreError):
            use(undefined)
    err = UndefinedScoreError("x")
    assert isinstance(err, ValueError) and isinstance(err, PipelineError)
    assert (undefined == 0.0) is False and undefined != 1.0  # like NaN: equal to no number
    assert f"{undefined}" == repr(undefined)  # no spec: the record, never an error


def test_score_equality_between_scores_is_unchanged():
    assert Score(0.5, n_items=3) == Score(0.5, n_items=3)
    assert Score(0.5, n_items=3) != Score(0.5, n_items=4)
    assert Score(None, NO_VARIATION) == Score(None, NO_VARIATION)
    assert Score(0.5) != "0.5" and Score(1.0) != True  # noqa: E712 - bools are not numbers here
    with pytest.raises(TypeError):
        Score(0.5) < "a"  # noqa: B015


# Dense alpha: items x annotators, values 1..5, 0 stands for missing.
dense = arrays(np.int64, st.tuples(st.integers(2, 30), st.integers(2, 6)), elements=st.integers(0, 5))


def _reference(data: np.ndarray, level: str) -> float:
    import krippendorff

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return krippendorff.alpha(reliability_data=data.T, level_of_measurement=level)


@settings(max_examples=80, deadline=None)
@given(dense, st.sampled_from(LEVELS))
def test_dense_alpha_equals_krippendorff_package_within_1e12(raw, level):
    data = np.where(raw == 0, np.nan, raw.astype(float))
    ours = krippendorff_alpha(data, level=level)
    if ours.defined:
        assert abs(ours.value - _reference(data, level)) <= 1e-12
    # The same ratings as nested lists with None take the object path: the same score.
    objects = [[None if v == 0 else int(v) for v in row] for row in raw]
    assert krippendorff_alpha(objects, level=level) == ours


def test_dense_alpha_seeded_matrices_at_every_level():
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(40):
        n, m, k = rng.integers(3, 60), rng.integers(2, 8), rng.integers(2, 9)
        data = rng.integers(1, k + 1, size=(n, m)).astype(float)
        data[rng.random((n, m)) < rng.uniform(0.0, 0.6)] = np.nan
        for level in LEVELS:
            ours = krippendorff_alpha(data, level=level)
            if ours.defined:
                assert abs(ours.value - _reference(data, level)) <= 1e-12
                checked += 1
        full = rng.integers(0, k, size=(n, m))  # an integer matrix: nothing missing
        ours = krippendorff_alpha(full)
        if ours.defined:
            assert abs(ours.value - _reference(full.astype(float), "nominal")) <= 1e-12
    assert checked > 100


def test_dense_alpha_uses_per_item_counts_from_one_pass():
    wide = np.array([[0, 0, 1], [1, 1, 1], [2, 0, 2], [2, 2, 2]])
    counts, values = ratings_to_counts(wide)
    assert counts.tolist() == [[2, 1, 0], [0, 3, 0], [1, 0, 2], [0, 0, 3]] and values == [0, 1, 2]
    assert krippendorff_alpha(wide) == alpha_from_counts(counts)
    with_nan = np.array([[0.0, np.nan, 1.0], [np.nan, np.nan, 2.0]])
    counts, values = ratings_to_counts(with_nan, values=[0, 1, 2])
    assert counts.tolist() == [[1, 1, 0], [0, 0, 1]] and values == [0, 1, 2]
    halves = np.array([[0.5, 0.5], [1.5, np.nan]])  # not whole numbers: sorted observed values
    counts, values = ratings_to_counts(halves)
    assert counts.tolist() == [[2, 0], [0, 1]] and values == [0.5, 1.5]
    assert ratings_to_counts(np.full((2, 3), np.nan))[0].shape == (2, 0)


def test_dense_alpha_on_a_large_integer_matrix():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, size=20_000)
    wide = np.where(rng.random((20_000, 5)) < 0.7, truth[:, None], rng.integers(0, 10, size=(20_000, 5)))
    ours = krippendorff_alpha(wide)
    assert abs(ours.value - _reference(wide.astype(float), "nominal")) <= 1e-12
    assert cohens_kappa(wide[:, 0], wide[:, 1]) > 0.4
