"""The examples in the models' docstrings run and print what they show; importing the package stays light."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
import warnings

import pytest

MODULES = ["__init__", "classifier", "embeddings", "features", "folds", "gazetteer", "persist", "prelabel",
           "spacy_model", "torch_model", "torch_detector"]


@pytest.mark.parametrize("name", MODULES)
def test_models_docstring_examples_run(name):
    if name.startswith("torch"):
        pytest.importorskip("torch")
    if name == "spacy_model":
        pytest.importorskip("spacy")
    module = importlib.import_module("data_labeling_pipeline.models" + ("" if name == "__init__" else f".{name}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace in an example
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


def test_models_import_loads_no_heavy_library():
    code = ("import sys, data_labeling_pipeline.models; "
            "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'spacy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
