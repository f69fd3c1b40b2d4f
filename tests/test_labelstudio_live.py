"""Against a real Label Studio 1.23 server (started once per session by the ``ls_server`` fixture).

push -> annotate through the API as three users -> dvc repro (pull, agree, export) -> the
numbers match what was annotated; a second round pushes only what routing asks for, and
the incremental pull fetches only the tasks that changed.
"""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

# One worker runs every test of the server, so the session starts one server.
pytestmark = [pytest.mark.slow, pytest.mark.live, pytest.mark.xdist_group("labelstudio")]

USERS = ("ann1@example.com", "ann2@example.com", "ann3@example.com")


def run(root: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(command), cwd=root, capture_output=True, text=True)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    run.streams.append(done.stdout + done.stderr)
    return done


run.streams = []


def new_project(parent: Path, name: str, server_url: str, *, texts: dict[str, str] | None = None,
                extra: str = "") -> Path:
    config = parent / f"{name}.yaml"
    config.write_text(
        f"project:\n  name: {name}\n  task_type: text_classification\n  classes: [pos, neg]\n"
        f"  label_studio:\n    url: {server_url}\n{extra}"
        "quality:\n  min_annotators_per_sample: 2\n  review_budget: 1.0\n"
        "pull:\n  source: label_studio\n  page_size: 4\n"
        "prelabel:\n  enabled: false\nactive_learning:\n  enabled: false\nexport:\n  format: csv\n", "utf-8")
    root = parent / name
    result = CliRunner().invoke(app, ["init", "--config", str(config), str(root)])
    assert result.exit_code == 0, result.output
    if texts:
        with (parent / f"{name}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["item_id", "text"])
            writer.writerows(sorted(texts.items()))
        run(root, "dlp", "ingest", str(parent / f"{name}.csv"))
    return root


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def tasks_by_item(client, project_id: int) -> dict[str, dict]:
    return {t.data["item_id"]: t.dict() for t in client.tasks.list(project=project_id, fields="all", page_size=100)}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def params_of(root: Path) -> dict:
    import yaml

    return yaml.safe_load((root / "params.yaml").read_text("utf-8"))


TEXTS = {"t1": "a great film", "t2": "not sure about it", "t3": "loved it", "t4": "dull and long",
         "t5": "terrible acting", "t6": "fine, I guess"}


def test_live_shared_round_trip_push_annotate_repro_then_incremental(tmp_path, ls_server, users, key_env):
    root = new_project(tmp_path, "shared round trip", ls_server.url, texts=TEXTS)
    (root / "queue").mkdir(exist_ok=True)
    (root / "queue/next.jsonl").write_text("".join(json.dumps({"item_id": i}) + "\n" for i in sorted(TEXTS)), "utf-8")
    (root / "annotations/predictions.jsonl").write_text("".join(
        json.dumps({"item_id": i, "model_version": "weak-1", "label": "pos", "score": 0.8}) + "\n"
        for i in sorted(TEXTS)), "utf-8")
    first = run(root, "dlp", "push")
    assert "6 tasks imported" in first.stdout
    project_id = params_of(root)["project"]["label_studio"]["project_id"]
    assert isinstance(project_id, int)
    assert "6 tasks imported, 0 already there" not in run(root, "dlp", "push").stdout  # idempotent
    client = ls_server.client()
    info = client.projects.get(id=project_id)
    assert info.title == "shared round trip" and info.maximum_annotations == 2 and info.task_number == 6
    tasks = tasks_by_item(client, project_id)
    assert set(tasks) == set(TEXTS)
    prediction = tasks["t1"]["predictions"][0]
    assert prediction["model_version"] == "weak-1" and prediction["score"] == pytest.approx(0.8)
    assert prediction["result"][0]["id"]  # region ids kept

    a, b, c = (users[e] for e in USERS)

    def annotate(item, label, who, **extra):
        return client.annotations.create(id=tasks[item]["id"], result=choice(label), completed_by=who, **extra)

    annotate("t1", "pos", a, parent_prediction=tasks["t1"]["predictions"][0]["id"])  # the accepted pre-label
    annotate("t1", "pos", b)
    annotate("t1", "pos", c)
    annotate("t2", "neg", a)
    annotate("t2", "neg", b)
    annotate("t2", "pos", c)  # a disagreement
    annotate("t3", "pos", a)
    annotate("t3", "pos", b)
    client.annotations.create(id=tasks["t3"]["id"], result=[], completed_by=c, was_cancelled=True)
    annotate("t4", "pos", a)
    annotate("t4", "pos", b)
    client.annotations.create(id=tasks["t4"]["id"], result=choice("neg"), ground_truth=True)  # the admin's review
    annotate("t5", "neg", a)
    annotate("t5", "neg", b)
    # The incremental pull re-fetches what changed in the 2 s before the newest task it kept (in-flight
    # transactions): let t6 be that newest task alone.
    time.sleep(2.5)
    annotate("t6", "neg", a, parent_prediction=tasks["t6"]["predictions"][0]["id"])  # a pre-label changed
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "round 1 pushed")

    run(root, "dvc", "repro")
    pulled = json.loads((root / "metrics/pull.json").read_text("utf-8"))
    assert pulled["annotations"] == 14 and pulled["cancelled_skipped"] == 1 and pulled["annotators"] == 4
    assert pulled["predictions_accepted"] == 1 and pulled["pulled_predictions"] == 6
    annotations = read_jsonl(root / "annotations/annotations.jsonl")
    assert {(r["item_id"], r["annotator"]) for r in annotations if "prediction_accepted" in r} == {
        ("t1", USERS[0]), ("t6", USERS[0])}
    assert [r["prediction_accepted"] for r in annotations if "prediction_accepted" in r] == [True, False]
    assert sum(r.get("ground_truth", False) for r in annotations) == 1
    consensus = {r["item_id"]: r for r in read_jsonl(root / "annotations/consensus.jsonl")}
    assert consensus["t4"]["label"] == "neg" and consensus["t4"]["status"] == "reviewed"
    assert consensus["t1"]["label"] == "pos" and consensus["t1"]["votes"] == {"pos": 3}
    assert consensus["t2"]["votes"] == {"neg": 2, "pos": 1}
    assert consensus["t3"]["votes"] == {"pos": 2}
    per_annotator = json.loads((root / "metrics/annotators.json").read_text("utf-8"))
    assert per_annotator and json.dumps(per_annotator).count(USERS[2]) >= 1
    exported = (root / "labeled_data").rglob("*.csv")
    rows = [row for path in exported for row in csv.DictReader(path.read_text("utf-8").splitlines())]
    assert {row["item_id"]: row["label"] for row in rows if row["item_id"] in ("t1", "t4")} == {"t1": "pos",
                                                                                                  "t4": "neg"}
    report = json.loads((root / "reports/pull.json").read_text("utf-8"))
    assert list(report["fetched"].values()) == [{"mode": "full", "tasks_fetched": 6}]
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "round 1 pulled")

    # Round 2: two tasks change; the incremental pull fetches only them, and equals a full pull.
    changed = tasks_by_item(client, project_id)
    c_on_t2 = next(x for x in changed["t2"]["annotations"] if x["completed_by"] == c)
    client.annotations.update(id=c_on_t2["id"], result=choice("neg"))
    annotate("t6", "neg", b)
    run(root, "dvc", "repro")
    report = json.loads((root / "reports/pull.json").read_text("utf-8"))
    fetched = list(report["fetched"].values())[0]
    assert fetched["mode"] == "incremental" and fetched["tasks_fetched"] == 2
    consensus = {r["item_id"]: r for r in read_jsonl(root / "annotations/consensus.jsonl")}
    assert consensus["t2"]["votes"] == {"neg": 3} and consensus["t6"]["votes"] == {"neg": 2}
    incremental = (root / "annotations/annotations.jsonl").read_bytes()
    for stale in (root / "annotations/label_studio").iterdir():
        stale.unlink()
    run(root, "dlp", "pull", "--quiet")
    assert (root / "annotations/annotations.jsonl").read_bytes() == incremental
    assert list(json.loads((root / "reports/pull.json").read_text("utf-8"))["fetched"].values())[0]["mode"] == "full"

    # The key is in no file the pipeline wrote (git and dvc internals included) and in no output stream.
    token = key_env.encode()
    leaked = [p for p in root.rglob("*") if p.is_file() and token in p.read_bytes()]
    assert leaked == []
    assert not any(key_env in stream for stream in run.streams)


@pytest.mark.parametrize("case", ["wrong_key", "missing_project", "missing_key"])
def test_live_pull_errors_are_clear_and_write_nothing(bare_project, ls_server, monkeypatch, case):
    from data_labeling_pipeline.config import dump_params
    from data_labeling_pipeline.errors import PipelineError
    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.stages.pull import run_pull

    made = bare_project("text_classification", ("pos", "neg"), pull={"source": "label_studio", "retries": 0})
    params = made.params
    params["project"]["label_studio"].update(url=ls_server.url, project_id=99999)
    (made.root / "params.yaml").write_text(dump_params(params), "utf-8")
    project = Project(made.root)
    (project.root / "annotations/annotations.jsonl").write_text("previous\n", "utf-8")
    if case == "missing_key":
        monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    else:
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-the-key" if case == "wrong_key" else ls_server.token)
    with pytest.raises(PipelineError) as caught:
        run_pull(project)
    message = str(caught.value)
    expected = {"wrong_key": "401", "missing_project": "404", "missing_key": "LABEL_STUDIO_API_KEY"}[case]
    assert expected in message and ls_server.token not in message and "not-the-key" not in message
    if case == "wrong_key":
        assert "LABEL_STUDIO_API_KEY" in message
    if case == "missing_project":
        assert "project_id" in message
    assert (project.root / "annotations/annotations.jsonl").read_text("utf-8") == "previous\n"
    assert not (project.root / "annotations/label_studio").exists()
