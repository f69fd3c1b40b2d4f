"""`dlp correct`: a reviewer's correction, checked before it is written, signed by the git user, applied by agree."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.errors import ProjectError
from data_labeling_pipeline.project import Project
from data_labeling_pipeline.stages.agree import run_agree
from data_labeling_pipeline.stages.correct import git_user
from data_labeling_pipeline.stages.pull import run_pull

LS = Path(__file__).parent / "assets" / "labelstudio"
CORRECTIONS = "annotations/corrections.jsonl"
PROJECTS = {
    "textcls": ("text_classification", ["positive", "negative", "neutral"]),
    "ner": ("ner", ["PER", "ORG", "LOC", "DATE"]),
    "bbox": ("bbox", ["car", "person", "bicycle"]),
}


@pytest.fixture
def git_identity(tmp_path, monkeypatch):
    """A global git config of our own (no system config), holding the given user."""

    def set_user(**user: str) -> None:
        config = tmp_path / "gitconfig"
        config.write_text("[user]\n" + "".join(f"\t{k} = {v}\n" for k, v in user.items()) if user else "")
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")

    set_user(email="lead@example.com")
    return set_user


def pulled(bare_project, key) -> Project:
    task_type, classes = PROJECTS[key]
    project = bare_project(task_type, classes)
    shutil.copy(LS / f"{key}.snapshot.json", project.path("inbox") / "export.json")
    if task_type == "bbox":
        shutil.copytree(LS / "images", project.path("images"))
    run_pull(project)
    project.path(CORRECTIONS).write_text("", encoding="utf-8")
    return project


def items(project: Project) -> list[dict]:
    return [json.loads(line) for line in project.path("annotations/items.jsonl").read_text().splitlines()]


def correct(project: Project, *args: str):
    import os

    here = os.getcwd()
    os.chdir(project.root)
    try:
        return CliRunner().invoke(app, ["correct", *args])
    finally:
        os.chdir(here)


def test_correct_appends_a_signed_canonical_record_and_replaces_the_reviewers_own(bare_project, git_identity):
    project = pulled(bare_project, "textcls")
    other = {"annotator": "zed@example.com", "created_at": "2026-01-01T00:00:00Z", "item_id": "a-txt-01",
             "label": "neutral", "note": "x", "schema_version": 1, "source": {"kind": "correction"}}
    project.path(CORRECTIONS).write_text(json.dumps(other, sort_keys=True, separators=(",", ":")) + "\n")
    result = correct(project, "a-txt-08", "--label", "negative", "--reason", "sarcasm", "--overrides",
                     "ann1@example.com")
    assert result.exit_code == 0, result.output
    lines = project.path(CORRECTIONS).read_text().splitlines()
    assert lines[0] == json.dumps(other, sort_keys=True, separators=(",", ":"))  # kept byte for byte, sorted
    record = json.loads(lines[1])
    assert record["annotator"] == "lead@example.com" and record["label"] == "negative"
    assert record["note"] == "sarcasm" and record["schema_version"] == 1
    assert record["source"]["kind"] == "correction" and record["source"]["overrides"]["annotator"] == "ann1@example.com"
    assert record["created_at"].endswith("Z") and record["created_at"][:2] == "20"
    result = correct(project, "a-txt-08", "--label", "neutral", "--reason", "second look")
    assert result.exit_code == 0 and "replaced" in result.output
    lines = project.path(CORRECTIONS).read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["label"] == "neutral"
    run_agree(Project(project.root))
    consensus = {json.loads(x)["item_id"]: json.loads(x) for x in
                 project.path("annotations/consensus.jsonl").read_text().splitlines()}
    assert consensus["a-txt-08"]["label"] == "neutral" and consensus["a-txt-08"]["status"] == "reviewed"
    assert json.loads(project.path("metrics/agreement.json").read_text())["n_corrections"] == 2


def test_correct_the_author_is_the_git_user_email_else_name_else_an_error(bare_project, git_identity):
    project = bare_project("text_classification", ["a", "b"])
    assert git_user(project.root) == "lead@example.com"
    git_identity(name="Lead Reviewer")
    assert git_user(project.root) == "Lead Reviewer"
    git_identity()
    with pytest.raises(ProjectError, match="no git user: set one with: git config user.email"):
        git_user(project.root)


@pytest.mark.parametrize("key, args, message", [
    ("textcls", ["nope", "--label", "negative"], "'nope' is not in annotations/items.jsonl"),
    ("textcls", ["a-txt-08", "--label", "furious"], "unknown class 'furious'"),
    ("textcls", ["a-txt-08", "--labels", "negative"], "takes --label; got --labels"),
    ("textcls", ["a-txt-08", "--label", "negative", "--reason", " "], "--reason: say why"),
    ("ner", ["ITEM", "--spans", "[{\"start\": 0, \"end\": 100000, \"label\": \"PER\"}]"], "is beyond the text"),
    ("ner", ["ITEM", "--spans", "[{\"start\": 0, \"end\": 4, \"label\": \"PER\"},"
             " {\"start\": 2, \"end\": 6, \"label\": \"ORG\"}]"], "crosses spans[0] 0:4"),
    ("ner", ["ITEM", "--spans", "[{\"start\": 0, \"end\": 4, \"label\": \"PER\"}"], "--spans: invalid JSON"),
    ("ner", ["ITEM", "--spans", "{\"start\": 0}"], "--spans: expected a JSON list of objects"),
    ("bbox", ["ITEM", "--boxes", "[{\"x\": 1, \"y\": 1, \"w\": 100000, \"h\": 5, \"label\": \"car\"}]"],
     "is outside the"),
    ("bbox", ["ITEM", "--boxes", "[{\"x\": 1, \"y\": 1, \"w\": 5, \"h\": 5, \"label\": \"truck\"}]"],
     "unknown class 'truck'"),
    ("bbox", ["ITEM", "--boxes", "not json"], "--boxes: invalid JSON"),
    ("bbox", ["ITEM", "--label", "car"], "takes --boxes; got --label"),
])
def test_correct_refuses_bad_input_and_writes_nothing(bare_project, git_identity, key, args, message):
    project = pulled(bare_project, key)
    args = [items(project)[0]["item_id"] if a == "ITEM" else a for a in args]
    if "--reason" not in args:
        args += ["--reason", "fix"]
    before = project.path(CORRECTIONS).read_bytes()
    result = correct(project, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert project.path(CORRECTIONS).read_bytes() == before
    assert not list(project.path("annotations").glob(".corrections.jsonl.*"))  # no temp file left behind


def test_correct_refuses_a_deprecated_class_and_names_a_renamed_one(bare_project, git_identity, monkeypatch):
    project = pulled(bare_project, "textcls")
    monkeypatch.chdir(project.root)
    assert CliRunner().invoke(app, ["schema", "deprecate-class", "neutral"]).exit_code == 0
    assert CliRunner().invoke(app, ["schema", "rename-class", "negative", "bad"]).exit_code == 0
    result = correct(project, "a-txt-08", "--label", "neutral", "--reason", "x")
    assert result.exit_code == 1 and "class 'neutral' is deprecated" in result.output
    result = correct(project, "a-txt-08", "--label", "negative", "--reason", "x")
    assert result.exit_code == 1 and "unknown class 'negative' (it is now 'bad')" in result.output
    assert project.path(CORRECTIONS).read_text() == ""


@pytest.mark.slow
def test_correct_wins_over_consensus_after_dvc_repro(tmp_path, tool_env, git_identity):
    def run(*args):
        return subprocess.run(args, cwd=root, capture_output=True, text=True, check=True).stdout

    config = tmp_path / "config.yaml"
    config.write_text("project:\n  name: t\n  task_type: text_classification\n"
                      "  classes: [positive, negative, neutral]\n", encoding="utf-8")
    root = tmp_path / "labels"
    assert CliRunner().invoke(app, ["init", "--config", str(config), str(root)]).exit_code == 0
    run("git", "config", "user.email", "reviewer@example.com")  # the repository's user wins over the global one
    shutil.copy(LS / "textcls.snapshot.json", root / "inbox/export-1.json")
    run("dvc", "repro")
    consensus = [json.loads(x) for x in (root / "annotations/consensus.jsonl").read_text().splitlines()]
    target = next(c for c in consensus if c.get("label") == "positive")
    result = correct(Project(root), target["item_id"], "--label", "neutral", "--reason", "irony")
    assert result.exit_code == 0, result.output
    assert run("git", "status", "--porcelain", CORRECTIONS).startswith(" M")  # git-tracked, ready to commit
    record = json.loads((root / CORRECTIONS).read_text())
    assert record["annotator"] == "reviewer@example.com"
    run("dvc", "repro")
    after = {c["item_id"]: c for c in
             (json.loads(x) for x in (root / "annotations/consensus.jsonl").read_text().splitlines())}
    assert after[target["item_id"]]["label"] == "neutral" and after[target["item_id"]]["status"] == "reviewed"
    assert json.loads((root / "metrics/agreement.json").read_text())["n_corrections"] == 1


def test_correct_multi_label_takes_labels_and_refuses_duplicates():
    from data_labeling_pipeline.errors import DataError
    from data_labeling_pipeline.migrations import new_schema
    from data_labeling_pipeline.stages.correct import build_payload

    schema = {**new_schema(["sport", "news", "tech"], "text_classification"), "multi_label": True}
    assert build_payload(schema, label=None, labels=["news", "tech"], spans=None, boxes=None) == {
        "labels": ["news", "tech"]}
    with pytest.raises(DataError, match="takes --labels; got --label"):
        build_payload(schema, label="news", labels=None, spans=None, boxes=None)
    with pytest.raises(DataError, match=r"--labels: duplicate classes in \['news', 'news'\]"):
        build_payload(schema, label=None, labels=["news", "news"], spans=None, boxes=None)


def test_correct_older_corrections_are_remapped_by_agree_after_a_rename(bare_project, git_identity, monkeypatch):
    project = pulled(bare_project, "textcls")
    assert correct(project, "a-txt-08", "--label", "positive", "--reason", "upbeat").exit_code == 0
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["schema", "rename-class", "positive", "good"])
    assert result.exit_code == 0, result.output
    assert '"label":"positive","note":"upbeat","schema_version":1' in project.path(CORRECTIONS).read_text()
    renamed = Project(project.root)
    run_pull(renamed)  # the old export still says 'positive'
    assert '"positive"' not in renamed.path("annotations/annotations.jsonl").read_text()
    run_agree(renamed)
    consensus = {json.loads(x)["item_id"]: json.loads(x) for x in
                 renamed.path("annotations/consensus.jsonl").read_text().splitlines()}
    assert consensus["a-txt-08"]["label"] == "good" and consensus["a-txt-08"]["status"] == "reviewed"
    assert {c.get("label") for c in consensus.values()} <= {"good", "negative", "neutral", None}
