"""The CI workflow `dlp init` writes: valid GitHub Actions structure, and its `run:` steps work as written.

The steps run locally, in order, with bash as GitHub runs them (``bash -eo pipefail``), in a labeling
repository made by `dlp init`. `uses:` steps are what GitHub provides (checkout, Python); the install
step runs verbatim with pip in dry-run, offline mode (the tool is already installed here); `${{ }}`
values are empty, as without a token, so the comment step must skip itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

ASSETS = Path(__file__).parent / "assets"
WORKFLOW = ".github/workflows/labels.yml"

# One worker builds this module's shared repository once (xdist would build it on each).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workflow")]


def run(args, cwd):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True).stdout


@dataclass
class StepRun:
    name: str
    status: str  # "ran", "skipped" (its if: was false), "provided" (a uses: step)
    returncode: int = 0
    output: str = ""


def evaluate(condition, *, failed: bool, event: str) -> bool:
    """The `if:` expressions this workflow uses (GitHub's default is success())."""
    if condition is None:
        return not failed
    text = str(condition).strip()
    text = text[3:-2].strip() if text.startswith("${{") else text
    values = []
    for term in (t.strip() for t in text.split("&&")):
        if term in ("!cancelled()", "always()"):
            values.append(True)
        elif term == "success()":
            values.append(not failed)
        elif term == "failure()":
            values.append(failed)
        elif m := re.fullmatch(r"github\.event_name == '(\w+)'", term):
            values.append(event == m.group(1))
        else:
            raise AssertionError(f"an if: expression this test does not know: {term!r}")
    return all(values)


def run_workflow(root: Path, summary: Path, *, event: str = "pull_request") -> list[StepRun]:
    workflow = yaml.safe_load((root / WORKFLOW).read_text("utf-8"))
    shell = workflow.get("defaults", {}).get("run", {}).get("shell")
    assert shell == "bash"  # GitHub runs it as: bash --noprofile --norc -eo pipefail {0}
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_EVENT_NAME": event, "GITHUB_BASE_REF": "main",
           "CI": "true", "PIP_NO_INDEX": "1", "PIP_DRY_RUN": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("GH_TOKEN", None)
    env.pop("GITHUB_TOKEN", None)
    results, failed = [], False
    for step in workflow["jobs"]["labels"]["steps"]:
        name = step.get("name") or step.get("uses") or step["run"].splitlines()[0]
        if "uses" in step:
            results.append(StepRun(name, "provided"))
            continue
        if not evaluate(step.get("if"), failed=failed, event=event):
            results.append(StepRun(name, "skipped"))
            continue
        step_env = {k: "" if "${{" in str(v) else str(v) for k, v in (step.get("env") or {}).items()}
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=root,
                              env={**env, **step_env}, capture_output=True, text=True)
        results.append(StepRun(name, "ran", proc.returncode, proc.stdout + proc.stderr))
        failed = failed or proc.returncode != 0
    return results


def step(results: list[StepRun], prefix: str) -> StepRun:
    return next(r for r in results if r.name.startswith(prefix))


def commit_all(root: Path, message: str) -> None:
    run(["git", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", message], root)


@pytest.fixture(scope="module")
def labeling_repo(tmp_path_factory):
    """`dlp init` + one export on main (reproduced), and a branch `relabel` that changes one label."""
    import sys

    tmp = tmp_path_factory.mktemp("wf")
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + old
    try:
        config = tmp / "config.yaml"
        config.write_text("project:\n  name: t\n  task_type: bbox\n  classes: [car, person, bicycle]\n", "utf-8")
        root = tmp / "labels"
        result = CliRunner().invoke(app, ["init", "--config", str(config), str(root)])
        assert result.exit_code == 0, result.output
        shutil.copy(ASSETS / "labelstudio/bbox.snapshot.json", root / "inbox/export-1.json")
        run(["dvc", "repro", "-q"], root)
        commit_all(root, "first labels")
        run(["git", "checkout", "-q", "-b", "relabel"], root)
        tasks = json.loads((root / "inbox/export-1.json").read_text("utf-8"))
        for task in tasks[:1]:  # a reviewer relabels the cars of the first task's first annotation as persons
            for result in task["annotations"][0]["result"]:
                labels = result["value"].get("rectanglelabels", [])
                result["value"]["rectanglelabels"] = ["person" if x == "car" else x for x in labels]
        (root / "inbox/export-1.json").write_text(json.dumps(tasks), "utf-8")
        run(["dvc", "repro", "-q"], root)
        commit_all(root, "relabel cars")
    finally:
        os.environ["PATH"] = old
    return root


@pytest.fixture
def repo(labeling_repo, tmp_path, tool_env):
    root = tmp_path / "labels"
    shutil.copytree(labeling_repo, root, symlinks=True)
    return root


def test_workflow_structure_is_a_valid_github_actions_job(repo):
    workflow = yaml.safe_load((repo / WORKFLOW).read_text("utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    job = workflow["jobs"]["labels"]
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    assert all(("uses" in s) != ("run" in s) for s in steps)
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[0].strip() == "pip install -r requirements.txt"
    order = ["dvc pull", "dvc repro", "dlp gate", "--fail-if 'relabelled>0.10'", "dvc metrics diff",
             "--format md", "gh pr comment"]
    positions = [next(i for i, r in enumerate(runs) if needle in r) for needle in order]
    assert positions == sorted(positions)
    assert "dlp gate" in runs  # a step of its own: its exit code (3 when the gate fails) is the job's result
    comment = next(s for s in steps if "gh pr comment" in s.get("run", ""))
    assert "github.event_name == 'pull_request'" in comment["if"] and "--body-file" in comment["run"]
    assert comment["env"]["GH_TOKEN"] == "${{ github.token }}"
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert "!cancelled()" in summary["if"]  # written after a failed gate too


def test_workflow_requirements_pin_the_tool_and_dvc(repo, tmp_path):
    lines = [x for x in (repo / "requirements.txt").read_text("utf-8").splitlines() if x and not x.startswith("#")]
    major, minor = version("dvc").split(".")[:2]
    assert lines == [f"data-labeling-pipeline=={version('data-labeling-pipeline')}",
                     f"dvc>={major}.{minor},<{int(major) + 1}"]
    config = tmp_path / "c.yaml"
    config.write_text("project:\n  name: t\n  task_type: ner\n  classes: [PER]\n", "utf-8")
    spec = "data-labeling-pipeline @ git+https://github.com/example/data-labeling-pipeline@v0.1.0"
    result = CliRunner().invoke(app, ["init", "--config", str(config), "--tool-spec", spec, str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert spec in (tmp_path / "p/requirements.txt").read_text("utf-8").splitlines()


def test_workflow_runs_as_written_on_a_pull_request_with_a_dvc_remote(repo, tmp_path):
    """A fresh clone with only git's files (as actions/checkout gives): dvc pull brings the data."""
    remote = tmp_path / "dvc-remote"
    run(["git", "checkout", "-q", "main"], repo)  # the remote exists on main, and main's data is in it
    run(["dvc", "checkout", "-q"], repo)
    run(["dvc", "remote", "add", "-d", "local", str(remote)], repo)
    commit_all(repo, "a DVC remote")
    run(["dvc", "push", "-q"], repo)
    run(["git", "checkout", "-q", "relabel"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@x", "merge", "-q", "--no-edit", "main"], repo)
    run(["dvc", "checkout", "-q"], repo)
    run(["dvc", "push", "-q"], repo)
    ci = tmp_path / "ci"
    run(["git", "clone", "-q", "--branch", "relabel", str(repo), str(ci)], tmp_path)
    assert not (ci / "inbox/export-1.json").exists()
    summary = tmp_path / "summary.md"

    results = run_workflow(ci, summary)
    ran = {r.name: r for r in results if r.status == "ran"}
    assert all(r.returncode == 0 for r in ran.values()), [(r.name, r.output[-800:]) for r in ran.values()]
    assert step(results, "Install").output.count("Requirement already satisfied: data-labeling-pipeline==") == 1
    assert (ci / "inbox/export-1.json").exists()  # dvc pull fetched the inbox
    assert "quality gate passed" in step(results, "Quality gate").output
    assert "no token or pull request: not commenting" in step(results, "Comment").output
    text = summary.read_text("utf-8")
    assert "## Quality gate" in text and "quality gate passed" in text
    assert "## Metrics against origin/main" in text  # the base branch as actions/checkout fetches it
    assert re.search(r"\| metrics/agreement\.json\s*\| box_f1_50", text), text
    assert "dvc metrics diff failed" not in text
    assert "## Label changes against origin/main" in text, text
    assert "dlp diff failed" not in text, step(results, "Summary").output
    limits = step(results, "Label change limits")
    assert limits.returncode == 0 and json.loads((ci / ".dlp/ci/diff.json").read_text())["totals"]["relabels"] == 1


def test_workflow_fails_when_relabels_exceed_the_limit_after_writing_the_summary(repo, tmp_path):
    tasks = json.loads((repo / "inbox/export-1.json").read_text("utf-8"))
    for task in tasks:  # every car of every annotation becomes a person: far more than 10% relabelled
        for annotation in task["annotations"]:
            for result in annotation["result"]:
                labels = result["value"].get("rectanglelabels", [])
                result["value"]["rectanglelabels"] = ["person" if x == "car" else x for x in labels]
    (repo / "inbox/export-1.json").write_text(json.dumps(tasks), "utf-8")
    run(["dvc", "repro", "-q"], repo)
    commit_all(repo, "relabel every car")
    summary = tmp_path / "summary.md"

    results = run_workflow(repo, summary)
    limits = step(results, "Label change limits")
    assert limits.returncode == 3 and "relabelled" in limits.output
    assert [r.name for r in results if r.status == "ran" and r.returncode != 0] == [limits.name]
    assert step(results, "Summary").returncode == 0 and "## Label changes against main" in summary.read_text()


def test_workflow_failed_gate_fails_the_job_after_writing_the_summary(repo, tmp_path):
    params = (repo / "params.yaml").read_text("utf-8")
    (repo / "params.yaml").write_text(params.replace("agreement_threshold: 0.6", "agreement_threshold: 0.99"))
    commit_all(repo, "a threshold no one meets")
    summary = tmp_path / "summary.md"

    results = run_workflow(repo, summary)
    assert "no DVC remote configured: skipping dvc pull" in step(results, "Fetch").output
    gate = step(results, "Quality gate")
    assert gate.returncode == 3 and "quality gate failed" in gate.output
    assert [r.name for r in results if r.status == "ran" and r.returncode != 0] == [gate.name]  # the job fails
    assert step(results, "Summary").status == "ran" and step(results, "Summary").returncode == 0
    text = summary.read_text("utf-8")
    assert "quality gate failed" in text and "box_f1_50" in text
    assert "## Metrics against main" in text and "| metrics/agreement.json" in text
    assert step(results, "Comment").status == "ran"


def test_workflow_on_push_skips_the_comment_step(repo, tmp_path):
    results = run_workflow(repo, tmp_path / "summary.md", event="push")
    assert step(results, "Comment").status == "skipped"
    assert all(r.returncode == 0 for r in results)


def test_workflow_summary_holds_the_label_diff(repo, tmp_path):
    summary = tmp_path / "summary.md"
    run_workflow(repo, summary)
    text = summary.read_text("utf-8")
    assert "## Label changes against main" in text and "dlp diff failed" not in text, text
    section = text.split("## Label changes against main", 1)[1]
    assert "person" in section or "relabel" in section.lower(), section  # the branch relabelled cars as persons
