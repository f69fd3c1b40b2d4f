"""Public names, docstring examples, no heavy imports, summary of everything."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import data_labeling_pipeline.quality as quality

MODULES = sorted(m.name for m in pkgutil.iter_modules(quality.__path__))


def test_api_public_names_importable():
    from data_labeling_pipeline.quality import (  # noqa: F401
        DawidSkene,
        cohens_kappa,
        fleiss_kappa,
        gwet_ac1,
        krippendorff_alpha,
        majority_vote,
        percent_agreement,
    )

    for name in quality.__all__:
        assert hasattr(quality, name)


@pytest.mark.parametrize("module", MODULES)
def test_api_docstring_examples_run(module):
    mod = importlib.import_module(f"data_labeling_pipeline.quality.{module}")
    failures, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert failures == 0


def test_api_import_loads_no_heavy_library():
    code = (
        "import sys, data_labeling_pipeline.quality\n"
        "heavy = {'pandas', 'sklearn', 'scipy', 'torch', 'statsmodels', 'krippendorff', 'crowdkit'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_api_agreement_summary_of_a_crowd():
    from quality_synth import simulate_crowd

    items, anns, labels, _ = simulate_crowd(2000, [0.9, 0.8, 0.7, 0.6, 0.5], per_item=3, seed=1)
    s = quality.agreement_summary(items, anns, labels, classes=["c0", "c1", "c2", "c3"], n_resamples=100)
    counts = quality.category_counts(quality.encode_long(items, anns, labels, classes=["c0", "c1", "c2", "c3"]))
    assert s["fleiss_kappa"].value == quality.fleiss_kappa(counts).value
    assert s["krippendorff_alpha"].value == pytest.approx(
        quality.alpha_from_counts(counts).value
    )
    assert s["bootstrap"].details["ci_low"] < s["krippendorff_alpha"].value < s["bootstrap"].details["ci_high"]
    assert len(s["pairwise"].records()) == 10
