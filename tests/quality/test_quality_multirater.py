"""Krippendorff's alpha and the multi-rater coefficients against their reference packages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from data_labeling_pipeline.quality import (
    alpha_from_counts,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    ratings_to_counts,
)

# items x annotators, values 1..5, 0 stands for missing
ratings = arrays(np.int64, st.tuples(st.integers(2, 25), st.integers(2, 5)), elements=st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(ratings, st.sampled_from(["nominal", "ordinal", "interval", "ratio"]))
def test_krippendorff_alpha_equals_krippendorff_package(raw, level):
    import krippendorff

    data = np.where(raw == 0, np.nan, raw.astype(float))
    ours = krippendorff_alpha(data, level=level)
    if not ours.defined:
        assert ours.reason is not None
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = krippendorff.alpha(reliability_data=data.T, level_of_measurement=level)
    assert ours.value == pytest.approx(ref, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 30), st.integers(2, 5)), elements=st.integers(0, 6)))
def test_multirater_fleiss_equals_statsmodels_with_constant_raters(counts):
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    counts[:, 0] += 7 - counts.sum(1).clip(max=7)  # pad to >= 7 ratings per item
    counts = counts[counts.sum(1) == counts.sum(1)[0]]  # statsmodels needs a constant count
    ours = fleiss_kappa(counts)
    if not ours.defined:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm_fleiss(counts, method="fleiss")
    assert ours.value == pytest.approx(ref, abs=1e-9)


def test_multirater_krippendorff_string_values_nominal():
    rat = [["cat", "cat", None], ["dog", "cat", "dog"], ["dog", "dog", "dog"]]
    codes = [[{"cat": 1, "dog": 2}.get(v) for v in row] for row in rat]
    assert krippendorff_alpha(rat).value == pytest.approx(krippendorff_alpha(codes).value)


def test_multirater_percent_agreement_item_vs_value_weighting():
    counts = [[2, 0], [2, 1]]  # 2 annotators agree; 3 annotators, one pair of three agrees
    assert percent_agreement(counts).value == pytest.approx((1 + 1 / 3) / 2)
    assert percent_agreement(counts, weighting="value").value == pytest.approx((2 * 1 + 3 / 3) / 5)


def test_multirater_gwet_counts_unused_schema_classes():
    counts, values = ratings_to_counts([[1, 1], [2, 2], [1, 2]], values=[1, 2, 3])
    assert values == [1, 2, 3] and counts.shape == (3, 3)
    # AC1 depends on K: an unused declared class lowers chance agreement.
    assert gwet_ac1(counts).value > gwet_ac1(counts[:, :2]).value


def test_multirater_fleiss_per_category_kappas():
    res = fleiss_kappa([[3, 0, 0], [0, 3, 0], [1, 2, 0]])
    per = res.details["per_category"]
    assert per[2].value is None and per[2].reason is not None
    assert per[0].defined and per[1].defined


def test_multirater_alpha_levels_differ_on_ordered_data():
    counts = [[2, 0, 0], [0, 1, 1], [1, 0, 1], [0, 0, 2]]
    nominal = alpha_from_counts(counts).value
    interval = alpha_from_counts(counts, values=[1, 2, 3], level="interval").value
    assert nominal != pytest.approx(interval)
