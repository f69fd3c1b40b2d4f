"""Bootstrap interval: same draws as a naive loop, seeded, covering the point estimate."""

from __future__ import annotations

import numpy as np
import pytest

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality import (
    alpha_from_counts,
    bootstrap_interval,
    fleiss_kappa,
    gwet_ac1,
    percent_agreement,
)

METRICS = {
    "fleiss_kappa": fleiss_kappa,
    "gwet_ac1": gwet_ac1,
    "percent_agreement": percent_agreement,
    "krippendorff_alpha": alpha_from_counts,
}


@pytest.fixture(scope="module")
def counts():
    rng = np.random.default_rng(11)
    n = rng.integers(1, 5, size=150)  # 1..4 annotations per item, some unpairable
    truth = rng.integers(0, 3, size=150)
    rows = []
    for m, t in zip(n, truth, strict=True):
        labs = np.where(rng.random(m) < 0.7, t, rng.integers(0, 3, size=m))
        rows.append(np.bincount(labs, minlength=3))
    return np.array(rows)


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_bootstrap_matches_naive_resampling(counts, metric):
    b = 50
    res = bootstrap_interval(counts, metric=metric, n_resamples=b, seed=4, chunk=b)
    draws = np.random.default_rng(4).integers(0, len(counts), size=(b, len(counts)))
    naive = [METRICS[metric](counts[idx]).value for idx in draws]
    lo, hi = np.quantile([v for v in naive if v is not None], [0.025, 0.975])
    assert res.value == pytest.approx(METRICS[metric](counts).value, abs=1e-12)
    assert res.details["ci_low"] == pytest.approx(lo, abs=1e-12)
    assert res.details["ci_high"] == pytest.approx(hi, abs=1e-12)


def test_bootstrap_seeded_and_covering(counts):
    a = bootstrap_interval(counts, n_resamples=200, seed=1)
    b = bootstrap_interval(counts, n_resamples=200, seed=1, chunk=7)
    c = bootstrap_interval(counts, n_resamples=200, seed=2)
    assert a.details["ci_low"] < a.value < a.details["ci_high"]
    assert a.to_dict() == bootstrap_interval(counts, n_resamples=200, seed=1).to_dict()
    assert c.details["ci_low"] != a.details["ci_low"]
    assert b.details["n_valid"] == 200


def test_bootstrap_rejects_unknown_metric(counts):
    with pytest.raises(DataError):
        bootstrap_interval(counts, metric="cohens_kappa")
