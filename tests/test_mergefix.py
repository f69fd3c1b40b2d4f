"""`dlp merge-fix`: a real `git merge` of two labeling branches, finished by regenerating derived files."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.repo.mergefix import append_only_union, is_derived, pipeline_paths

# One worker builds this module's shared repository once (xdist would build it on each).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mergefix")]


def run(args, cwd, check=True):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=check)


def git(root, *args, check=True):
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@x", *args], root, check=check)


def outputs(root: Path) -> dict[str, str]:
    """sha256 of every file the pipeline writes (DVC-cached outputs and the metrics, plots, reports in git)."""
    folders = ("annotations", "labeled_data", "queue", "metrics", "plots", "reports")
    files = [p for f in folders for p in (root / f).rglob("*") if p.is_file() and p.name != ".gitignore"]
    inputs = {"annotations/items.ingested.jsonl", "annotations/items.ingested.jsonl.dvc",
              "annotations/corrections.jsonl"}
    return {rel: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)
            if (rel := p.relative_to(root).as_posix()) not in inputs}


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    """A small demo project on main, and branches a and b that each add a new export to inbox/ and reproduce."""
    import os
    import sys

    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.repo import git as repo_git
    from data_labeling_pipeline.stages.quickstart import repro, run_quickstart, write_export

    root = tmp_path_factory.mktemp("merge") / "labels"
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + old
    try:
        run_quickstart(root, n_items=200, n_labelled=60, echo=lambda _t: None, versioning=False)
        project = Project(root)
        labelled = {json.loads(x)["item_id"] for x in project.path("annotations/annotations.jsonl").read_text().splitlines()}
        pool = [i for i in project.read_items("annotations/items.ingested.jsonl") if i["item_id"] not in labelled]
        for branch, items, seed in (("a", pool[:10], 5), ("b", pool[10:20], 6)):
            git(root, "checkout", "-q", "-b", branch, "main")
            run([sys.executable, "-m", "dvc", "checkout", "-q"], root)
            write_export(project, items, f"export-{branch}.json", seed=seed)
            repro(root)
            repo_git.commit(root, f"branch {branch}: new labels", ["."])
        git(root, "checkout", "-q", "b")
        run([sys.executable, "-m", "dvc", "checkout", "-q"], root)
    finally:
        os.environ["PATH"] = old
    return root


@pytest.fixture
def repo(branches, tmp_path, tool_env, monkeypatch):
    """A private copy of the project with branch b checked out, as the working directory."""
    root = tmp_path / "labels"
    shutil.copytree(branches, root, symlinks=True)
    git(root, "update-index", "-q", "--refresh", check=False)
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@x")
    monkeypatch.chdir(root)
    return root


def merge_fix(*args):
    return CliRunner().invoke(app, ["merge-fix", *args])


def conflicted(root):
    return set(git(root, "diff", "--name-only", "--diff-filter=U").stdout.split())


def test_mergefix_resolves_a_merge_of_two_labeling_branches_like_a_clean_run(repo, tmp_path):
    merge = git(repo, "merge", "a", check=False)
    assert merge.returncode == 1
    unmerged = conflicted(repo)
    assert {"dvc.lock", "metrics/agreement.json", "metrics/review.json"} <= unmerged
    assert "inbox.dvc" not in unmerged  # DVC's merge driver (configured by dlp init) merged the new files

    result = merge_fix("--commit")
    assert result.exit_code == 0, result.output
    assert "regenerated with dvc repro: dvc.lock" in result.output and "dvc status clean" in result.output
    assert "committed the merge" in result.output
    assert git(repo, "status", "--porcelain").stdout == ""
    assert git(repo, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).returncode != 0
    assert len(git(repo, "log", "-1", "--format=%P").stdout.split()) == 2  # a merge commit

    annotations = [json.loads(x) for x in (repo / "annotations/annotations.jsonl").read_text("utf-8").splitlines()]
    files = {Path(a["source"]["file"]).name for a in annotations}
    assert {"export-a.json", "export-b.json"} <= files
    # git merged metrics/pull.json without a conflict (both sides counted 4 files): regenerated all the same
    pulled = json.loads((repo / "metrics/pull.json").read_text("utf-8"))
    assert pulled["files"] == 5 and pulled["annotations"] == len(annotations)

    # A fresh clone of the merged commit: check out the inputs and reproduce everything from scratch.
    merged = outputs(repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "--branch", "b", str(repo), str(clone)], tmp_path)
    cache = run(["dvc", "cache", "dir"], repo).stdout.strip()
    run(["dvc", "cache", "dir", "--local", cache], clone)
    run(["dvc", "checkout", "-q"], clone)
    for folder in ("labeled_data", "queue"):
        shutil.rmtree(clone / folder, ignore_errors=True)
    for name in ("annotations.jsonl", "consensus.jsonl", "review.jsonl", "predictions.jsonl"):
        (clone / "annotations" / name).unlink()
    run(["dvc", "repro", "-f", "-q"], clone)
    assert outputs(clone) == merged
    assert (clone / "dvc.lock").read_bytes() == (repo / "dvc.lock").read_bytes()


def test_mergefix_merges_the_inbox_itself_when_the_merge_driver_is_not_configured(repo):
    git(repo, "config", "--remove-section", "merge.dvc")  # as in a fresh clone: .git/config is not cloned
    assert git(repo, "merge", "a", check=False).returncode == 1
    assert {"inbox.dvc", "dvc.lock"} <= conflicted(repo)

    result = merge_fix("--verify-clean")
    assert result.exit_code == 0, result.output
    assert "merged inputs: inbox.dvc" in result.output
    assert "outputs equal dvc repro -f on a copy of the merged tree" in result.output
    assert "the merge is ready: git commit" in result.output
    assert conflicted(repo) == set()
    assert git(repo, "rev-parse", "-q", "--verify", "MERGE_HEAD").returncode == 0  # not committed
    assert {"export-a.json", "export-b.json"} <= {p.name for p in (repo / "inbox").iterdir()}
    sources = (repo / "annotations/annotations.jsonl").read_text("utf-8")
    assert "export-a.json" in sources and "export-b.json" in sources


def test_mergefix_in_a_clone_fetches_the_other_branch_inputs_from_the_dvc_remote(repo, tmp_path):
    """Two machines: the other branch's new export, and the listings the merge driver needs, are only in the remote."""
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "-d", "store", str(remote)], repo)
    run(["dvc", "push", "-q", "--all-branches"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", "--branch", "b", str(repo), str(clone)], tmp_path)
    run(["dvc", "remote", "add", "--local", "-d", "store", str(remote)], clone)
    run(["dvc", "pull", "-q"], clone)
    assert not (clone / "inbox/export-a.json").exists()
    assert git(clone, "merge", "origin/a", check=False).returncode == 1
    assert {"inbox.dvc", "dvc.lock"} <= conflicted(clone)  # a clone has no merge driver in .git/config

    proc = run(["dlp", "merge-fix", "--commit"], clone, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "fetched both branches' inputs from the DVC remote" in proc.stdout
    assert "merged inputs: inbox.dvc" in proc.stdout
    assert (clone / "inbox/export-a.json").exists()
    sources = (clone / "annotations/annotations.jsonl").read_text("utf-8")
    assert "export-a.json" in sources and "export-b.json" in sources
    assert git(clone, "status", "--porcelain").stdout == ""


def test_mergefix_refuses_conflicted_inputs_and_changes_nothing(repo):
    for branch, value in (("c1", "0.61"), ("c2", "0.62")):
        git(repo, "checkout", "-q", "-b", branch, "main")
        params = (repo / "params.yaml").read_text("utf-8")
        (repo / "params.yaml").write_text(params.replace("agreement_threshold: 0.6", f"agreement_threshold: {value}"))
        git(repo, "commit", "-q", "-am", f"threshold {value}")
    assert git(repo, "merge", "c1", check=False).returncode == 1
    before = git(repo, "status", "--porcelain").stdout

    result = merge_fix()
    assert result.exit_code == 1
    assert "conflicted files are inputs" in result.output and "params.yaml" in result.output
    assert "need a human" in result.output
    assert git(repo, "status", "--porcelain").stdout == before


def test_mergefix_refuses_without_a_merge_in_progress(repo):
    result = merge_fix()
    assert result.exit_code == 1 and "no merge in progress; run git merge BRANCH first" in result.output


def test_mergefix_init_configures_the_dvc_merge_driver(repo):
    attrs = git(repo, "check-attr", "merge", "inbox.dvc", "annotations/corrections.jsonl").stdout
    assert "inbox.dvc: merge: dvc" in attrs and "annotations/corrections.jsonl: merge: union" in attrs
    driver = git(repo, "config", "merge.dvc.driver").stdout.strip()
    assert driver == "dvc git-hook merge-driver --ancestor %O --our %A --their %B"  # what `dvc install` writes


def test_mergefix_derived_paths_come_from_dvc_yaml(repo):
    import yaml

    written, in_git = pipeline_paths(yaml.safe_load((repo / "dvc.yaml").read_text("utf-8")))
    assert {"annotations/annotations.jsonl", "labeled_data", "metrics/agreement.json"} <= written
    assert "metrics/agreement.json" in in_git and "annotations/annotations.jsonl" not in in_git
    assert is_derived("labeled_data/coco/train.json", written) and is_derived("dvc.lock", written)
    assert is_derived("plots/confusion/ann1@example.com.json", written)
    for path in ("params.yaml", "inbox.dvc", "annotations/corrections.jsonl", "annotations/items.ingested.jsonl.dvc",
                 "schema/labels.yaml"):
        assert not is_derived(path, written), path


def test_mergefix_append_only_union_keeps_both_sides_and_refuses_edits():
    assert append_only_union(["x"], ["x", "a"], ["x", "b", "a"]) == ["x", "a", "b"]
    assert append_only_union([], ["a"], ["a"]) == ["a"]
    assert append_only_union(["x", "y"], ["x"], ["x", "y", "b"]) is None  # ours removed a line
