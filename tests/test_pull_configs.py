"""The pull stage reads any Label Studio project's exports through its label config.

Real `dlp init`, real git and dvc: two projects, one with our config and one with a
config of other names (and extra data fields), pull the same annotations into
byte-identical annotations.jsonl.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.stages.pull import run_pull

sys.path.insert(0, str(Path(__file__).parent / "labelstudio"))
from renames import EXTRA, RENAMES, renamed, renamed_config  # noqa: E402

LS = Path(__file__).parent / "assets" / "labelstudio"
TRUTH = json.loads((LS / "truth.json").read_text("utf-8"))
TASK_TYPES = {"imgcls": "image_classification", "textcls": "text_classification", "ner": "ner", "bbox": "bbox"}


def init_project(tmp_path, key: str, name: str) -> Path:
    config = tmp_path / f"{name}.yaml"
    classes = ", ".join(TRUTH["projects"][key]["labels"])
    config.write_text(f"project:\n  name: {name}\n  task_type: {TASK_TYPES[key]}\n  classes: [{classes}]\n", "utf-8")
    root = tmp_path / name
    result = CliRunner().invoke(app, ["init", "--config", str(config), str(root)])
    assert result.exit_code == 0, result.output
    if key in ("imgcls", "bbox"):
        shutil.copytree(LS / "images", root / "images")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(RENAMES))
def test_pull_configs_two_configs_give_byte_identical_annotations(tmp_path, tool_env, key):
    ours = init_project(tmp_path, key, "ours")
    shutil.copy(LS / f"{key}.snapshot.json", ours / "inbox/export-1.json")
    theirs = init_project(tmp_path, key, "theirs")
    (theirs / "schema/label_config.xml").write_text(renamed_config(key, caption=True), "utf-8")
    (theirs / "inbox/export-1.json").write_text(json.dumps(renamed(key, "snapshot", extra=EXTRA)), "utf-8")
    for root in (ours, theirs):
        subprocess.run(["dvc", "repro", "pull"], cwd=root, capture_output=True, text=True, check=True)
    annotations = (ours / "annotations/annotations.jsonl").read_bytes()
    assert annotations and annotations == (theirs / "annotations/annotations.jsonl").read_bytes()
    report = json.loads((theirs / "reports/pull.json").read_text("utf-8"))
    assert report["bindings"]["inbox/export-1.json"] == {
        "control": RENAMES[key][4], "data_key": RENAMES[key][2], "origin": "config"}
    items = [json.loads(line) for line in (theirs / "annotations/items.jsonl").read_text("utf-8").splitlines()]
    assert items and all(item["meta"] == EXTRA for item in items)


def renamed_project(bare_project, key: str, inbox_config: str | None = None):
    project = bare_project(TASK_TYPES[key], TRUTH["projects"][key]["labels"])
    (project.path("inbox") / "export.json").write_text(json.dumps(renamed(key, "export", extra=EXTRA)), "utf-8")
    if inbox_config is not None:
        (project.path("inbox") / "label_config.xml").write_text(inbox_config, "utf-8")
    return project


def test_pull_configs_label_config_beside_the_exports_is_used(bare_project):
    project = renamed_project(bare_project, "textcls", renamed_config("textcls"))
    summary = run_pull(project)
    assert summary.annotations == len({(t["item_id"], a["annotator"]) for t in TRUTH["projects"]["textcls"]["tasks"]
                                       for a in t["annotations"] if not a["was_cancelled"]})
    report = json.loads(project.path("reports/pull.json").read_text("utf-8"))
    assert report["bindings"]["inbox/export.json"]["origin"] == "config"
    assert report["label_configs"] == {"inbox/label_config.xml": []}


def test_pull_configs_each_inbox_folder_may_hold_its_own_project_config(bare_project):
    project = bare_project("text_classification", TRUTH["projects"]["textcls"]["labels"])
    ours, theirs = project.path("inbox/ours"), project.path("inbox/theirs")
    ours.mkdir(), theirs.mkdir()
    shutil.copy(LS / "textcls.snapshot.json", ours / "export.json")
    (theirs / "export.json").write_text(json.dumps(renamed("textcls", "snapshot", extra=EXTRA)), "utf-8")
    (theirs / "label_config.xml").write_text(renamed_config("textcls"), "utf-8")
    run_pull(project)
    report = json.loads(project.path("reports/pull.json").read_text("utf-8"))
    assert report["bindings"]["inbox/theirs/export.json"] == {"control": "mood", "data_key": "review",
                                                              "origin": "config"}
    assert report["bindings"]["inbox/ours/export.json"]["data_key"] == "text"


def test_pull_configs_ambiguous_export_fails_naming_the_param_and_writes_nothing(bare_project):
    project = renamed_project(bare_project, "textcls")
    with pytest.raises(DataError, match=r"inbox/export.json: \$\[\*\].data: .*\['caption', 'review', 'source'\].*"
                                        r"pull.data_key"):
        run_pull(project)
    assert not project.path("annotations/annotations.jsonl").exists()


def test_pull_configs_config_with_a_class_the_schema_lacks_is_an_error(bare_project):
    config = renamed_config("textcls").replace('<Choice value="neutral"/>',
                                               '<Choice value="neutral"/>\n    <Choice value="mixed"/>')
    project = renamed_project(bare_project, "textcls", config)
    with pytest.raises(DataError, match=r"inbox/label_config.xml: control 'mood': offers classes \['mixed'\] that "
                                        "schema/labels.yaml lacks"):
        run_pull(project)
    assert not project.path("annotations/annotations.jsonl").exists()


def test_pull_configs_class_order_difference_is_reported(bare_project):
    config = renamed_config("textcls").replace('<Choice value="positive"/>\n    <Choice value="negative"/>',
                                               '<Choice value="negative"/>\n    <Choice value="positive"/>')
    project = renamed_project(bare_project, "textcls", config)
    run_pull(project)
    report = json.loads(project.path("reports/pull.json").read_text("utf-8"))
    assert report["label_configs"]["inbox/label_config.xml"] == [
        "in a different order: config ['negative', 'positive', 'neutral'], schema ['positive', 'negative', 'neutral']"]


def test_pull_configs_validate_checks_label_configs_and_exports_with_them(bare_project, monkeypatch):
    from data_labeling_pipeline.stages.validate import validate_project

    config = renamed_config("textcls").replace('<Choice value="positive"/>\n    <Choice value="negative"/>',
                                               '<Choice value="negative"/>\n    <Choice value="positive"/>')
    project = renamed_project(bare_project, "textcls", config)
    warnings = []
    checked = validate_project([], start=project.root, warn=warnings.append)
    assert "inbox/label_config.xml" in checked
    assert warnings == ["warning: inbox/label_config.xml: control 'mood': in a different order: config "
                        "['negative', 'positive', 'neutral'], schema ['positive', 'negative', 'neutral']"]
    assert "inbox/export.json" in validate_project([project.path("inbox/export.json")], start=project.root,
                                                   warn=warnings.append)
    project.path("inbox/label_config.xml").write_text(config.replace("neutral", "mixed"), "utf-8")
    with pytest.raises(DataError, match=r"inbox/label_config.xml: control 'mood': offers classes \['mixed'\]"):
        validate_project([], start=project.root, warn=warnings.append)
