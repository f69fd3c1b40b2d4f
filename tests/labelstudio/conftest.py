"""Fixtures over the real Label Studio 1.23 exports in tests/assets/labelstudio."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import pytest

from data_labeling_pipeline.labelstudio.exports import parse_export

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "labelstudio"
TASK_TYPES = {
    "imgcls": "image_classification",
    "textcls": "text_classification",
    "ner": "ner",
    "bbox": "bbox",
}
SHAPES = ("export", "snapshot", "min")


@cache
def _json(name: str):
    return json.loads((ASSETS / name).read_text(encoding="utf-8"))


def load_export(key: str, shape: str) -> list:
    """A fresh (mutable) copy of one reference export."""
    return copy.deepcopy(_json(f"{key}.{shape}.json"))


@pytest.fixture(scope="session")
def truth() -> dict:
    return _json("truth.json")


@pytest.fixture()
def parse_reference(truth):
    """Parse a reference export (or a modified copy of one) with the project's classes."""

    def run(key: str, shape: str, tasks: list | None = None, **options):
        options.setdefault("classes", truth["projects"][key]["labels"])
        return parse_export(
            load_export(key, shape) if tasks is None else tasks,
            task_type=TASK_TYPES[key],
            source_file=f"inbox/{key}.{shape}.json",
            **options,
        )

    return run


@pytest.fixture()
def export_tasks():
    return load_export
