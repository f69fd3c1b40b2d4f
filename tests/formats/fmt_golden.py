"""Helpers for the format tests: the asset datasets and golden-file comparison.

Set DLP_UPDATE_GOLDEN=1 to rewrite the golden files from the current output (then review
the diff before committing it).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from data_labeling_pipeline.formats import make_dataset

ASSETS = Path(__file__).parent.parent / "assets" / "formats"
GOLDEN = Path(__file__).parent.parent / "golden"
UPDATE = os.environ.get("DLP_UPDATE_GOLDEN") == "1"


def load_case(name: str, **policies):
    """The asset dataset `name` (bbox, imgcls, textcls, ner) as a Dataset."""
    spec = json.loads((ASSETS / f"{name}.json").read_text("utf-8"))
    return make_dataset(spec["items"], spec["labels"], spec["label_schema"], split=spec["split"],
                        policies={**spec["policies"], **policies})


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def check_tree(out: Path, fmt: str, case: str) -> None:
    """The files under `out` equal tests/golden/<fmt>/<case>/out byte for byte."""
    golden = GOLDEN / fmt / case / "out"
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out, golden)
    got, want = _tree(out), _tree(golden)
    assert sorted(got) == sorted(want), f"files differ from {golden}"
    for name in want:
        assert got[name] == want[name], f"{name} differs from {golden / name}"


def check_json(obj, fmt: str, case: str, name: str) -> None:
    """`obj` equals the JSON file tests/golden/<fmt>/<case>/<name>."""
    path = GOLDEN / fmt / case / name
    text = json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert json.loads(text) == json.loads(path.read_text("utf-8")), f"differs from {path}"
