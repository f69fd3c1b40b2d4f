"""Every published reference value in tests/assets/agreement/*.json, within its tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_labeling_pipeline.quality import (
    brennan_prediger,
    cohens_kappa,
    conger_kappa,
    counts_from_table,
    fleiss_kappa,
    gwet_ac1,
    item_agreement,
    kappa_from_table,
    krippendorff_alpha,
    percent_agreement,
    ratings_to_counts,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "agreement"


def _counts(data):
    if data["layout"] == "table":
        return counts_from_table(data["table"])
    if data["layout"] == "counts":
        return np.asarray(data["counts"])
    return ratings_to_counts(data["ratings"], values=data["categories"])[0]


def _kappa(data, weights=None):
    """Cohen's kappa of the file: its table, or the two rating columns named by ``pair``."""
    if data["layout"] == "table":
        return kappa_from_table(data["table"], weights=weights)
    i, j = data["pair"]
    # labels=None: irr (like scikit-learn) builds the weights over the levels observed by the pair.
    return cohens_kappa([r[i] for r in data["ratings"]], [r[j] for r in data["ratings"]], weights=weights)


def _conger(data):
    position = {c: k for k, c in enumerate(data["categories"])}
    codes = [[-1 if v is None else position[v] for v in row] for row in data["ratings"]]
    return conger_kappa(codes, n_categories=len(position)).value


def _alpha(level):
    return lambda d: krippendorff_alpha(d["ratings"], level=level, values=d["categories"]).value


COMPUTE = {
    "observed_agreement": lambda d: _kappa(d).details["observed"],
    "expected_agreement": lambda d: _kappa(d).details["expected"],
    "kappa_max": lambda d: _kappa(d).details["kappa_max"],
    "cohen_kappa": lambda d: _kappa(d).value,
    "cohen_kappa_ase": lambda d: _kappa(d).details["ase"],
    "cohen_kappa_ci95": lambda d: _kappa(d).details["ci95"],
    "cohen_kappa_ase_h0": lambda d: _kappa(d).details["ase_h0"],
    "cohen_kappa_z": lambda d: _kappa(d).details["z"],
    "weighted_kappa_linear": lambda d: _kappa(d, "linear").value,
    "weighted_kappa_linear_ase": lambda d: _kappa(d, "linear").details["ase"],
    "weighted_kappa_linear_ci95": lambda d: _kappa(d, "linear").details["ci95"],
    "weighted_kappa_linear_observed_levels": lambda d: _kappa(d, "linear").value,
    "weighted_kappa_quadratic_observed_levels": lambda d: _kappa(d, "quadratic").value,
    "weighted_kappa_custom_0_0_1_1_2": lambda d: _kappa(d, [0, 0, 1, 1, 2]).value,
    "fleiss_kappa": lambda d: fleiss_kappa(_counts(d)).value,
    "fleiss_kappa_generalized": lambda d: fleiss_kappa(_counts(d)).value,
    "fleiss_kappa_generalized_pe": lambda d: fleiss_kappa(_counts(d)).details["expected"],
    "P_bar": lambda d: fleiss_kappa(_counts(d)).details["observed"],
    "P_e_bar": lambda d: fleiss_kappa(_counts(d)).details["expected"],
    "p_j": lambda d: fleiss_kappa(_counts(d)).details["category_shares"],
    "P_i": lambda d: item_agreement(_counts(d))[0].tolist(),
    "scott_pi": lambda d: fleiss_kappa(_counts(d)).value,
    "gwet_ac1": lambda d: gwet_ac1(_counts(d)).value,
    "gwet_ac1_pe": lambda d: gwet_ac1(_counts(d)).details["expected"],
    "brennan_prediger": lambda d: brennan_prediger(_counts(d)).value,
    "conger_kappa": _conger,
    "percent_agreement": lambda d: percent_agreement(_counts(d)).value,
    "percent_agreement_irrcac": lambda d: percent_agreement(_counts(d), weighting="item").value,
    "percent_agreement_dkpro": lambda d: percent_agreement(_counts(d), weighting="value").value,
    "krippendorff_alpha_nominal": _alpha("nominal"),
    "krippendorff_alpha_nominal_irrcac": _alpha("nominal"),
    "krippendorff_alpha_ordinal": _alpha("ordinal"),
    "krippendorff_alpha_interval": _alpha("interval"),
    "krippendorff_alpha_ratio": _alpha("ratio"),
    "krippendorff_Do_nominal": lambda d: krippendorff_alpha(d["ratings"]).details["observed_disagreement"],
    "krippendorff_De_nominal": lambda d: krippendorff_alpha(d["ratings"]).details["expected_disagreement"],
}


def _cases():
    for path in sorted(ASSETS.glob("*.json")):
        data = json.loads(path.read_text())
        for key in data["expected"]:
            yield pytest.param(path.name, key, id=f"{data['id']}-{key}")


def test_agreement_reference_assets_present():
    assert len(list(ASSETS.glob("*.json"))) >= 8


@pytest.mark.parametrize("filename,key", list(_cases()))
def test_agreement_reference_value_reproduced(filename, key):
    data = json.loads((ASSETS / filename).read_text())
    expected = data["expected"][key]
    assert key in COMPUTE, f"no computation for reference value {key!r}"
    got = COMPUTE[key](data)
    want = expected["value"]
    assert got is not None
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float), rtol=0, atol=expected["tol"])
