"""Against the real Label Studio server: per-annotator routing, images served by Local Files,
odd class names, and faults (a 5xx burst, retries running out, the server going away mid-pull).

The faults come from a small proxy in front of the real server (tests/faultproxy.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from faultproxy import FaultProxy
from test_labelstudio_live import USERS, choice, new_project, params_of, read_jsonl, run, tasks_by_item

from data_labeling_pipeline.config import dump_params

# One worker runs every test of the server, so the session starts one server.
pytestmark = [pytest.mark.slow, pytest.mark.live, pytest.mark.xdist_group("labelstudio")]


def set_params(root: Path, **sections) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text("utf-8"))
    for section, values in sections.items():
        node = params
        for key in section.split("."):
            node = node[key]
        node.update(values)
    (root / "params.yaml").write_text(dump_params(params), "utf-8")


def write_ids(path: Path, ids) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps({"item_id": i}) + "\n" for i in sorted(ids)), "utf-8")


TEXTS = {f"r{i}": f"text number {i}" for i in range(1, 6)}


def test_per_annotator_routing_pushes_only_what_each_item_still_needs(tmp_path, ls_server, users, key_env):
    extra = "    routing: per_annotator\n    annotators: [" + ", ".join(USERS) + "]\n"
    root = new_project(tmp_path, "per annotator", ls_server.url, texts=TEXTS, extra=extra)
    write_ids(root / "queue/next.jsonl", ["r1", "r2", "r3", "r4"])
    run(root, "dlp", "push")
    projects = params_of(root)["project"]["label_studio"]["annotator_projects"]
    assert sorted(projects) == sorted(USERS) and len(set(projects.values())) == 3
    client = ls_server.client()
    holding = {who: tasks_by_item(client, pid) for who, pid in projects.items()}
    # Two annotators per item (min_annotators_per_sample), spread over the three.
    assert {i: sum(i in tasks for tasks in holding.values()) for i in ("r1", "r2", "r3", "r4")} == \
        {"r1": 2, "r2": 2, "r3": 2, "r4": 2}
    assert sorted(len(tasks) for tasks in holding.values()) == [2, 3, 3]
    assert "0 tasks imported" in run(root, "dlp", "push").stdout  # idempotent: nothing new

    labels = {"r1": "pos", "r2": "neg", "r3": "pos", "r4": "neg"}
    for who, tasks in holding.items():
        for item, task in tasks.items():
            client.annotations.create(id=task["id"], result=choice(labels[item]), completed_by=users[who])
    run(root, "dlp", "pull", "--quiet")
    pulled = read_jsonl(root / "annotations/annotations.jsonl")
    assert sorted((r["item_id"], r["annotator"]) for r in pulled) == sorted(
        (item, who) for who, tasks in holding.items() for item in tasks)

    # Round 2: a new item, one more annotator for r2, an expert for r3.
    write_ids(root / "queue/next.jsonl", ["r5"])
    (root / "annotations/review.jsonl").write_text(
        json.dumps({"item_id": "r2", "action": "annotate"}) + "\n" + json.dumps({"item_id": "r3", "action": "review"})
        + "\n", "utf-8")
    second = run(root, "dlp", "push").stdout
    after = {who: tasks_by_item(client, pid) for who, pid in projects.items()}
    added = {who: sorted(set(after[who]) - set(holding[who])) for who in projects}
    [third_for_r2] = [who for who in USERS if "r2" not in holding[who]]
    assert added[third_for_r2].count("r2") == 1
    assert sum(len(v) for v in added.values()) == 3  # r5 twice, r2 once; r1, r3, r4 never again
    assert sum("r5" in v for v in added.values()) == 2
    review_id = params_of(root)["project"]["label_studio"]["review_project_id"]
    review_tasks = tasks_by_item(client, review_id)
    assert sorted(review_tasks) == ["r3"] and "review: 1 tasks imported" in second

    client.annotations.create(id=review_tasks["r3"]["id"], result=choice("neg"))  # the expert overrules
    run(root, "dlp", "pull", "--quiet")
    run(root, "dlp", "agree", "--quiet")
    pulled = read_jsonl(root / "annotations/annotations.jsonl")
    [decision] = [r for r in pulled if r.get("ground_truth")]
    assert decision["item_id"] == "r3" and decision["label"] == "neg"
    consensus = {r["item_id"]: r for r in read_jsonl(root / "annotations/consensus.jsonl")}
    assert consensus["r3"]["label"] == "neg" and consensus["r3"]["status"] == "reviewed"


def test_images_are_served_to_annotators_through_local_files(ls_server, users, key_env, monkeypatch):
    import httpx
    from PIL import Image

    # As when the server runs on this machine: Local Files URLs are relative to its document root.
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", str(Path(ls_server.files_root).resolve()))

    parent = Path(ls_server.files_root) / "image project"
    parent.mkdir()
    config = parent / "images.yaml"
    config.write_text(f"project:\n  name: images\n  task_type: image_classification\n  classes: [red, blue]\n"
                      f"  label_studio:\n    url: {ls_server.url}\n"
                      "pull:\n  source: label_studio\nprelabel:\n  enabled: false\n"
                      "active_learning:\n  enabled: false\n", "utf-8")
    run(parent, "dlp", "init", "--config", str(config), "repo")
    root = parent / "repo"
    (root / "pictures").mkdir()
    for name, colour in (("red one.png", (255, 0, 0)), ("blue.png", (0, 0, 255))):
        Image.new("RGB", (8, 6), colour).save(root / "pictures" / name)
    run(root, "dlp", "ingest", "pictures")
    run(root, "dlp", "push", "--all")
    pid = params_of(root)["project"]["label_studio"]["project_id"]
    tasks = tasks_by_item(ls_server.client(), pid)
    assert len(tasks) == 2
    items = {r["item_id"]: r for r in read_jsonl(root / "annotations/items.ingested.jsonl")}
    with httpx.Client(base_url=ls_server.url, headers={"Authorization": f"Token {ls_server.token}"}) as http:
        for item_id, task in tasks.items():
            url = task["data"]["image"]
            assert url.startswith("/data/local-files/?d=")
            served = http.get(url)
            assert served.status_code == 200, (url, served.text[:200])
            assert served.content == (root / items[item_id]["data"]["image"]).read_bytes()


def test_the_server_accepts_configs_with_xml_special_class_names(ls_server, users, key_env, tmp_path):
    odd = ["a & b", "<tag>", 'say "hi"', "it's"]
    config = tmp_path / "odd.yaml"
    config.write_text("project:\n  name: odd names\n  task_type: ner\n  classes: " + json.dumps(odd) + "\n"
                      f"  label_studio:\n    url: {ls_server.url}\npull:\n  source: label_studio\n"
                      "prelabel:\n  enabled: false\nactive_learning:\n  enabled: false\n", "utf-8")
    run(tmp_path, "dlp", "init", "--config", str(config), "odd")
    root = tmp_path / "odd"
    (tmp_path / "odd.csv").write_text("item_id,text\nx1,hello there\n", "utf-8")
    run(root, "dlp", "ingest", str(tmp_path / "odd.csv"))
    run(root, "dlp", "push", "--all")
    pid = params_of(root)["project"]["label_studio"]["project_id"]
    client = ls_server.client()
    from label_studio_sdk.label_interface import LabelInterface

    [control] = LabelInterface(client.projects.get(id=pid).label_config).controls
    assert control.labels == odd
    [task] = tasks_by_item(client, pid).values()
    client.annotations.create(id=task["id"], completed_by=users[USERS[0]], result=[
        {"from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 5, "text": "hello", "labels": ["a & b"]}}])
    run(root, "dlp", "pull", "--quiet")
    [record] = read_jsonl(root / "annotations/annotations.jsonl")
    assert [(s["start"], s["end"], s["label"]) for s in record["spans"]] == [(0, 5, "a & b")]


@pytest.fixture
def fault_project(tmp_path, ls_server, users, key_env):
    """A text project with 6 tasks x 2 annotations, reached through a fault proxy."""
    texts = {f"f{i}": f"fault text {i}" for i in range(1, 7)}
    proxy = FaultProxy(ls_server.url)
    root = new_project(tmp_path, "faults", proxy.url, texts=texts)
    run(root, "dlp", "push", "--all")
    client = ls_server.client()
    pid = params_of(root)["project"]["label_studio"]["project_id"]
    for n, (_item, task) in enumerate(sorted(tasks_by_item(client, pid).items())):
        for who in USERS[:2]:
            client.annotations.create(id=task["id"], result=choice("pos" if n % 2 else "neg"), completed_by=users[who])
    set_params(root, pull={"retries": 3, "backoff": 0.01, "page_size": 2})
    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.stages.pull import run_pull

    run_pull(Project(root))
    good = (root / "annotations/annotations.jsonl").read_bytes()
    assert good.count(b"\n") == 12
    try:
        yield root, proxy, good
    finally:
        proxy.close()


def _fresh_pull(root: Path):
    """A full pull from scratch (the persisted store removed), in this process."""
    import shutil

    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.stages.pull import run_pull

    shutil.rmtree(root / "annotations/label_studio", ignore_errors=True)
    (root / "annotations/annotations.jsonl").write_text("previous\n", "utf-8")
    return run_pull(Project(root))


def test_a_burst_of_server_errors_is_retried_and_the_pull_is_complete(fault_project):
    root, proxy, good = fault_project
    proxy.fail_next(3, status=503)
    before = proxy.requests
    _fresh_pull(root)
    assert proxy.failures_left == 0 and proxy.requests - before > 3
    assert (root / "annotations/annotations.jsonl").read_bytes() == good


def test_retries_running_out_is_a_clear_error_and_writes_nothing(fault_project):
    from data_labeling_pipeline.errors import PipelineError

    root, proxy, _ = fault_project
    proxy.fail_next(1000, status=502)
    with pytest.raises(PipelineError) as caught:
        _fresh_pull(root)
    message = str(caught.value)
    assert "502" in message and "4 attempt" in message and proxy.url in message
    assert (root / "annotations/annotations.jsonl").read_text("utf-8") == "previous\n"
    assert not (root / "annotations/label_studio").exists()


def test_the_server_going_away_mid_pull_is_a_clear_error_and_writes_nothing(fault_project, ls_server):
    from data_labeling_pipeline.errors import PipelineError

    root, proxy, _ = fault_project
    proxy.go_away_after(3)  # the project, the users, the first page of tasks; then the socket closes
    with pytest.raises(PipelineError) as caught:
        _fresh_pull(root)
    message = str(caught.value)
    assert "cannot reach Label Studio" in message and "after 4 attempts" in message
    assert ls_server.token not in message
    assert (root / "annotations/annotations.jsonl").read_text("utf-8") == "previous\n"
    assert not (root / "annotations/label_studio").exists()
    assert not list(root.rglob("*.tmp"))


def test_active_learner_export_pushes_to_the_configured_server(tmp_path, ls_server, users, key_env):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from data_labeling_pipeline.core import ActiveLearner

    texts = {"a1": "good good", "a2": "bad bad", "a3": "good bad", "a4": "so so", "a5": "very good"}
    root = new_project(tmp_path, "active learner", ls_server.url, texts=texts)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(["good", "bad"], ["pos", "neg"])
    learner = ActiveLearner(model=model, strategy="uncertainty", project=root)
    picks = learner.query(n_instances=3)
    learner.export_to_label_studio(picks, project_id="ignored-with-a-server")
    chosen = sorted(learner.pool_items[i] for i in picks)
    pid = params_of(root)["project"]["label_studio"]["project_id"]
    tasks = tasks_by_item(ls_server.client(), pid)
    assert sorted(tasks) == chosen and learner.last_push.pushed == {"active learner": 3}
    assert all(t["predictions"][0]["model_version"] == "active-learner-uncertainty" for t in tasks.values())
    learner.export_to_label_studio(picks, project_id="again")
    assert learner.last_push.pushed == {"active learner": 0} and len(tasks_by_item(ls_server.client(), pid)) == 3


def test_push_keeps_a_layout_edited_in_the_ui_but_replaces_a_config_that_no_longer_fits(tmp_path, ls_server,
                                                                                        users, key_env):
    from data_labeling_pipeline.labels import extend_label_schema
    from data_labeling_pipeline.labelstudio.label_config import label_config
    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.repo.scaffold import labels_yaml

    root = new_project(tmp_path, "config edits", ls_server.url, texts={"c1": "one", "c2": "two"})
    run(root, "dlp", "push", "--all")
    pid = params_of(root)["project"]["label_studio"]["project_id"]
    client = ls_server.client()
    edited = client.projects.get(id=pid).label_config.replace("<View>", '<View>\n  <Header value="Be careful"/>', 1)
    client.projects.update(id=pid, label_config=edited)
    assert "replaced" not in run(root, "dlp", "push", "--all").stdout
    assert client.projects.get(id=pid).label_config == edited  # still fits the schema: the team's layout stays

    schema = extend_label_schema(Project(root).label_schema, ["mixed"])
    (root / "schema/labels.yaml").write_text(labels_yaml(schema), "utf-8")
    (root / "schema/label_config.xml").write_text(label_config("text_classification", ["pos", "neg", "mixed"]),
                                                  "utf-8")
    assert "label config replaced" in run(root, "dlp", "push", "--all").stdout
    from label_studio_sdk.label_interface import LabelInterface

    [control] = LabelInterface(client.projects.get(id=pid).label_config).controls
    assert control.labels == ["pos", "neg", "mixed"]
