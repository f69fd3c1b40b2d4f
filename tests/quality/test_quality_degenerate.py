"""Degenerate inputs give None plus a reason: never NaN, never an exception."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from data_labeling_pipeline.quality import (
    Score,
    agreement_summary,
    alpha_from_counts,
    bootstrap_interval,
    brennan_prediger,
    cohens_kappa,
    fleiss_kappa,
    gwet_ac1,
    kappa_from_table,
    krippendorff_alpha,
    pairwise_kappa,
    percent_agreement,
    summary_to_dict,
)
from data_labeling_pipeline.quality.result import EMPTY, NO_OVERLAP, NO_PAIRABLE, NO_VARIATION

COUNT_METRICS = [fleiss_kappa, gwet_ac1, percent_agreement, brennan_prediger, alpha_from_counts]


def _undefined(s: Score, reason: str) -> bool:
    return s.value is None and s.reason == reason


@pytest.mark.parametrize("metric", COUNT_METRICS, ids=lambda f: f.__name__)
def test_agreement_degenerate_empty_counts(metric):
    assert _undefined(metric(np.zeros((0, 3))), EMPTY)
    assert _undefined(metric(np.zeros((4, 3))), EMPTY)


@pytest.mark.parametrize("metric", COUNT_METRICS, ids=lambda f: f.__name__)
def test_agreement_degenerate_single_annotator_per_item(metric):
    assert _undefined(metric([[1, 0], [0, 1], [1, 0]]), NO_PAIRABLE)


@pytest.mark.parametrize("metric", [fleiss_kappa, alpha_from_counts], ids=lambda f: f.__name__)
def test_agreement_degenerate_no_variation(metric):
    res = metric([[3, 0], [3, 0], [2, 0]])
    assert _undefined(res, NO_VARIATION)


def test_agreement_degenerate_no_variation_raw_agreement_and_ac1_are_defined():
    # Gwet's AC1 is built to stay defined here (chance agreement 0 when one class takes all).
    assert percent_agreement([[3, 0], [3, 0]]).value == 1.0
    assert gwet_ac1([[3, 0], [3, 0]]).value == 1.0


def test_agreement_degenerate_cohen_cases():
    assert _undefined(cohens_kappa([], []), NO_OVERLAP)
    assert _undefined(cohens_kappa(["a", "a"], ["a", "a"]), NO_VARIATION)
    assert _undefined(kappa_from_table([[0, 0], [0, 0]]), EMPTY)
    assert _undefined(kappa_from_table([[5]]), NO_VARIATION)


def test_agreement_degenerate_krippendorff_cases():
    assert _undefined(krippendorff_alpha([[None, None], [None, None]]), EMPTY)
    assert _undefined(krippendorff_alpha([[1, None], [None, 2]]), NO_PAIRABLE)
    assert _undefined(krippendorff_alpha([[1, 1], [1, 1]], level="interval"), NO_VARIATION)


def test_agreement_degenerate_pairwise_single_annotator():
    pk = pairwise_kappa([1, 2], ["a", "a"], ["x", "y"])
    assert pk.records() == []
    assert pk.mean().value is None and pk.mean().reason is not None


def test_agreement_degenerate_bootstrap_cases():
    assert _undefined(bootstrap_interval(np.zeros((0, 2))), EMPTY)
    assert _undefined(bootstrap_interval([[1, 0], [0, 1]]), NO_PAIRABLE)
    assert _undefined(bootstrap_interval([[2, 0], [2, 0]], metric="fleiss_kappa"), NO_VARIATION)


def test_agreement_degenerate_summary_is_json_without_nan():
    summary = agreement_summary(["i1", "i2"], ["a", "a"], ["x", "x"], n_resamples=10)
    text = json.dumps(summary_to_dict(summary), allow_nan=False)
    assert "NaN" not in text
    for key in ("percent_agreement", "fleiss_kappa", "gwet_ac1", "krippendorff_alpha", "mean_pairwise_kappa"):
        assert summary[key].value is None and summary[key].reason


def test_agreement_degenerate_score_to_dict_replaces_non_finite():
    s = Score(0.5, details={"x": float("nan"), "arr": np.array([1.0, np.inf])})
    d = s.to_dict()
    assert d["x"] is None and d["arr"] == [1.0, None]
    assert not any(isinstance(v, float) and math.isnan(v) for v in d.values())
