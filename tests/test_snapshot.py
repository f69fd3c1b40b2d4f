"""`dlp snapshot`: a tag of committed, reproduced labels that a fresh clone restores byte for byte."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

ASSETS = Path(__file__).parent / "assets"

pytestmark = pytest.mark.slow


def run(args, cwd):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True).stdout


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of the labels a snapshot must restore: annotations, consensus and every export file."""
    paths = [root / "annotations/annotations.jsonl", root / "annotations/consensus.jsonl",
             *sorted(p for p in (root / "labeled_data").rglob("*") if p.is_file())]
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A bbox project with one Label Studio export, reproduced and committed (no DVC remote)."""
    import os
    import sys

    tmp = tmp_path_factory.mktemp("snap")
    env_path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    old = os.environ.get("PATH")
    os.environ["PATH"] = env_path
    try:
        config = tmp / "config.yaml"
        config.write_text("project:\n  name: t\n  task_type: bbox\n  classes: [car, person, bicycle]\n", "utf-8")
        root = tmp / "labels"
        result = CliRunner().invoke(app, ["init", "--config", str(config), str(root)])
        assert result.exit_code == 0, result.output
        shutil.copy(ASSETS / "labelstudio/bbox.snapshot.json", root / "inbox/export-1.json")
        run(["dvc", "repro", "-q"], root)
        run(["git", "add", "-A"], root)
        run(["git", "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "labels"], root)
    finally:
        os.environ["PATH"] = old or ""
    return root


@pytest.fixture
def project(base, tmp_path, tool_env, monkeypatch):
    """A private copy of the base project (git repo and DVC cache included), as the working directory."""
    root = tmp_path / "labels"
    shutil.copytree(base, root, symlinks=True)
    monkeypatch.chdir(root)
    for key, value in (("user.name", "t"), ("user.email", "t@x")):
        run(["git", "config", key, value], root)
    return root


def snapshot(*args):
    return CliRunner().invoke(app, ["snapshot", *args])


def commit_all(root, message):
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", message], root)


def test_snapshot_restores_the_labels_byte_for_byte_in_a_fresh_clone(project, tmp_path):
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], project)
    commit_all(project, "a DVC remote")
    at_snapshot = fingerprint(project)
    assert any(p.startswith("labeled_data/") for p in at_snapshot)

    result = snapshot("v1", "--message", "first release")
    assert result.exit_code == 0, result.output
    assert "tagged" in result.output and "labels/v1" in result.output
    assert "pushed the data to the DVC remote 'local'" in result.output
    assert "git checkout labels/v1 && dvc checkout" in result.output and "dvc pull" in result.output
    message = run(["git", "tag", "-l", "--format=%(contents)", "labels/v1"], project)
    assert "first release" in message and "box_f1_50" in message and "annotations 19" in message
    assert run(["git", "cat-file", "-t", "labels/v1"], project).strip() == "tag"  # annotated
    assert remote.is_dir() and any(remote.rglob("*"))

    # Change a label, reproduce, commit: the labels now differ from the snapshot.
    tasks = json.loads((project / "inbox/export-1.json").read_text("utf-8"))
    tasks[0]["annotations"][0]["result"][0]["value"]["rectanglelabels"] = ["person"]
    (project / "inbox/export-1.json").write_text(json.dumps(tasks), "utf-8")
    run(["dvc", "repro", "-q"], project)
    commit_all(project, "relabel a car as a person")
    assert fingerprint(project)["annotations/annotations.jsonl"] != at_snapshot["annotations/annotations.jsonl"]

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "annotations/annotations.jsonl").exists()
    run(["git", "checkout", "-q", "labels/v1"], clone)
    run(["dvc", "pull", "-q"], clone)
    assert fingerprint(clone) == at_snapshot

    run(["git", "checkout", "-q", "labels/v1"], project)
    run(["dvc", "checkout", "-q"], project)
    assert fingerprint(project) == at_snapshot


def test_snapshot_without_a_remote_tags_and_says_it_did_not_push(project):
    result = snapshot("v1")
    assert result.exit_code == 0, result.output
    assert "did not push the data: no DVC remote is configured" in result.output
    assert run(["git", "tag", "-l", "labels/*"], project).split() == ["labels/v1"]


def test_snapshot_refuses_a_dirty_tree(project):
    (project / "notes.txt").write_text("untracked\n", "utf-8")
    result = snapshot("v1")
    assert result.exit_code == 1
    assert "uncommitted changes (notes.txt)" in result.output and "git commit" in result.output
    assert run(["git", "tag", "-l"], project) == ""


def test_snapshot_refuses_a_stale_pipeline(project):
    params = (project / "params.yaml").read_text("utf-8")
    (project / "params.yaml").write_text(params.replace("agreement_metric: auto", "agreement_metric: box_f1_75"))
    commit_all(project, "change a param without dvc repro")
    result = snapshot("v1")
    assert result.exit_code == 1
    assert "the pipeline is not up to date" in result.output and "run dvc repro" in result.output
    assert run(["git", "tag", "-l"], project) == ""


def test_snapshot_refuses_an_existing_tag(project):
    assert snapshot("v1").exit_code == 0
    again = snapshot("v1")
    assert again.exit_code == 1
    assert "the tag labels/v1 already exists" in again.output


def test_snapshot_refuses_outside_a_repository(bare_project, monkeypatch):
    monkeypatch.chdir(bare_project().root)  # a project folder that is not a git repository
    result = snapshot("v1")
    assert result.exit_code == 1 and "is not inside a git repository" in result.output


def test_snapshot_refuses_outside_a_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = snapshot("v1")
    assert result.exit_code == 1 and "is not inside a labeling project" in result.output
