"""The pull stage over real Label Studio 1.23 exports (tests/assets/labelstudio)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from data_labeling_pipeline.errors import DataError, ProjectError
from data_labeling_pipeline.stages.pull import run_pull

ASSETS = Path(__file__).parent / "assets"

LS = ASSETS / "labelstudio"
TRUTH = json.loads((LS / "truth.json").read_text("utf-8"))
PROJECTS = {
    "imgcls": ("image_classification", ["cat", "dog", "bird", "other"]),
    "textcls": ("text_classification", ["positive", "negative", "neutral"]),
    "ner": ("ner", ["PER", "ORG", "LOC", "DATE"]),
    "bbox": ("bbox", ["car", "person", "bicycle"]),
}


def project_with(bare_project, key: str, *exports: str):
    task_type, classes = PROJECTS[key]
    project = bare_project(task_type, classes)
    for name in exports:
        shutil.copy(LS / name, project.path("inbox") / name)
    if task_type in ("image_classification", "bbox"):
        shutil.copytree(LS / "images", project.path("images"))
    return project


def truth_pairs(key: str) -> set[tuple[str, str]]:
    return {(t["item_id"], a["annotator"]) for t in TRUTH["projects"][key]["tasks"]
            for a in t["annotations"] if not a["was_cancelled"]}


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.mark.parametrize("key", sorted(PROJECTS))
def test_pull_snapshot_export_gives_every_annotation_by_email(bare_project, key):
    project = project_with(bare_project, key, f"{key}.snapshot.json")
    summary = run_pull(project)
    records = read_jsonl(project.path("annotations/annotations.jsonl"))
    assert {(r["item_id"], r["annotator"]) for r in records} == truth_pairs(key)
    assert summary.counts["cancelled_skipped"] == sum(
        a["was_cancelled"] for t in TRUTH["projects"][key]["tasks"] for a in t["annotations"])
    items = read_jsonl(project.path("annotations/items.jsonl"))
    assert {i["item_id"] for i in items} == {t["item_id"] for t in TRUTH["projects"][key]["tasks"]}
    metrics = json.loads(project.path("metrics/pull.json").read_text("utf-8"))
    assert metrics["annotations"] == len(records)
    assert all(isinstance(v, int) for v in metrics.values())


def test_pull_default_export_learns_emails_from_a_snapshot_beside_it(bare_project):
    project = project_with(bare_project, "bbox", "bbox.export.json", "bbox.snapshot.json")
    summary = run_pull(project)
    records = read_jsonl(project.path("annotations/annotations.jsonl"))
    assert {(r["item_id"], r["annotator"]) for r in records} == truth_pairs("bbox")
    # The same annotations came twice (two export shapes of one project): kept once.
    assert summary.counts["superseded_across_files"] == len(records)


def test_pull_default_export_alone_names_annotators_by_user_id(bare_project):
    project = project_with(bare_project, "textcls", "textcls.export.json")
    run_pull(project)
    annotators = {r["annotator"] for r in read_jsonl(project.path("annotations/annotations.jsonl"))}
    assert annotators == {"ls-user-2", "ls-user-3", "ls-user-4"}


def test_pull_image_sizes_come_from_files_when_exports_lack_them(bare_project):
    project = project_with(bare_project, "imgcls", "imgcls.export.json")
    run_pull(project)
    sizes = {i["item_id"]: (i["data"]["width"], i["data"]["height"])
             for i in read_jsonl(project.path("annotations/items.jsonl"))}
    expected = {t["item_id"]: tuple(t["display_size"]) for t in TRUTH["projects"]["imgcls"]["tasks"]}
    assert sizes == expected


def test_pull_explicit_negatives_and_rotated_envelope(bare_project):
    project = project_with(bare_project, "bbox", "bbox.snapshot.json")
    run_pull(project)
    records = {(r["item_id"], r["annotator"]): r for r in read_jsonl(project.path("annotations/annotations.jsonl"))}
    assert records[("a-box-05", "ann1@example.com")]["boxes"] == []
    rotated = records[("a-box-04", "ann1@example.com")]["boxes"][0]
    assert [round(rotated[k], 6) for k in ("x", "y", "w", "h")] == [320, 100, 80, 200]
    assert rotated["rotation"] == 90


def test_pull_output_is_byte_identical_on_rerun(bare_project):
    project = project_with(bare_project, "ner", "ner.snapshot.json", "ner.min.json")
    run_pull(project)
    first = {p: project.path(p).read_bytes() for p in ("annotations/annotations.jsonl", "annotations/items.jsonl",
                                                        "metrics/pull.json")}
    run_pull(project)
    assert {p: project.path(p).read_bytes() for p in first} == first


def test_pull_bad_inbox_file_leaves_previous_outputs_untouched(bare_project):
    project = project_with(bare_project, "textcls", "textcls.snapshot.json")
    run_pull(project)
    before = project.path("annotations/annotations.jsonl").read_bytes()
    tasks = json.loads((LS / "textcls.export.json").read_text("utf-8"))
    tasks[2]["annotations"][0]["result"][0]["value"]["choices"] = ["sarcastic"]
    project.path("inbox/later.json").write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    with pytest.raises(DataError) as err:
        run_pull(project)
    assert "inbox/later.json" in str(err.value)
    assert "sarcastic" in str(err.value)
    assert project.path("annotations/annotations.jsonl").read_bytes() == before


def test_pull_invalid_json_names_the_line(bare_project):
    project = project_with(bare_project, "textcls")
    project.path("inbox/broken.json").write_text('[\n {"id": 1,\n  "data": }\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"^inbox/broken.json:3: invalid JSON"):
        run_pull(project)
    assert not project.path("annotations/annotations.jsonl").exists()


def test_pull_missing_inbox_is_a_project_error(bare_project):
    project = project_with(bare_project, "textcls")
    project.path("inbox").rmdir()
    with pytest.raises(ProjectError, match="inbox/ is missing"):
        run_pull(project)


def test_pull_tasks_without_item_id_land_on_ingested_items(bare_project):
    from data_labeling_pipeline.records import write_jsonl

    project = project_with(bare_project, "bbox")
    tasks = json.loads((LS / "bbox.snapshot.json").read_text("utf-8"))
    for task in tasks:  # tasks imported into Label Studio by hand carry no item_id
        del task["data"]["item_id"]
    project.path("inbox/export.json").write_text(json.dumps(tasks), encoding="utf-8")
    ingested = [{"item_id": f"photos/{t['data']['image'].rsplit('/', 1)[-1]}",
                 "data": {"image": t["data"]["image"].split("?d=", 1)[1], "width": 640, "height": 480}}
                for t in tasks if t["data"]["image"].endswith("a-box-01.png")]
    write_jsonl(project.path("annotations/items.ingested.jsonl"), ingested)
    run_pull(project)
    records = read_jsonl(project.path("annotations/annotations.jsonl"))
    assert {r["item_id"] for r in records if r["item_id"].startswith("photos/")} == {"photos/a-box-01.png"}
    items = read_jsonl(project.path("annotations/items.jsonl"))
    assert len(items) == 8  # the ingested one, and seven from the export


def test_pull_on_invalid_skip_leaves_bad_annotations_out_and_lists_them(bare_project):
    project = project_with(bare_project, "textcls", "textcls.snapshot.json")
    project.path("params.yaml").write_text(
        project.path("params.yaml").read_text().replace("on_invalid: fail", "on_invalid: skip"))
    tasks = json.loads((LS / "textcls.export.json").read_text("utf-8"))
    tasks[2]["annotations"][0]["result"][0]["value"]["choices"] = ["sarcastic"]
    project.path("inbox/later.json").write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    summary = run_pull(project)
    report = json.loads(project.path("reports/pull.json").read_text())
    assert report["on_invalid"] == "skip"
    assert any("inbox/later.json" in p and "sarcastic" in p for p in report["problems_skipped"])
    assert summary.counts["problems_skipped"] == len(report["problems_skipped"]) >= 1
    records = read_jsonl(project.path("annotations/annotations.jsonl"))
    assert all(r.get("label") != "sarcastic" for r in records)
    assert len(records) == len(truth_pairs("textcls"))


@pytest.mark.parametrize("key", sorted(PROJECTS))
def test_pull_keeps_the_predictions_annotators_saw(bare_project, key):
    project = project_with(bare_project, key, f"{key}.snapshot.json")
    summary = run_pull(project)
    pulled = read_jsonl(project.path("annotations/pulled_predictions.jsonl"))
    expected = {(t["item_id"], p["model_version"], p["prediction_id"])
                for t in TRUTH["projects"][key]["tasks"] for p in t["predictions"]}
    assert {(r["item_id"], r["model_version"], r["source"]["prediction"]) for r in pulled} == expected
    assert summary.counts["pulled_predictions"] == len(expected) > 0


def pulled_bytes(project) -> dict[str, bytes]:
    names = ["annotations/items.jsonl", "annotations/annotations.jsonl", "annotations/pulled_predictions.jsonl",
             "metrics/pull.json", "reports/pull.json"]
    return {name: project.path(name).read_bytes() for name in names}


@pytest.mark.parametrize("key", sorted(PROJECTS))
@pytest.mark.parametrize("on_invalid", ["fail", "skip"])
def test_pull_spilled_to_sorted_runs_writes_the_same_bytes(bare_project, key, on_invalid, monkeypatch):
    """Records spilled to disk runs every 1 or 3 (an external merge sort), and exports streamed in parts
    of 2 tasks (ijson), give the in-memory pull's bytes.

    Three export shapes of one project (the same annotations twice: superseded across files),
    predictions, and under ``skip`` a bad label and a bad region that must stay out, in the same order.
    """
    import data_labeling_pipeline.stages.pull as pull

    project = project_with(bare_project, key, f"{key}.export.json", f"{key}.snapshot.json", f"{key}.min.json")
    if on_invalid == "skip":
        project.path("params.yaml").write_text(
            project.path("params.yaml").read_text().replace("on_invalid: fail", "on_invalid: skip"))
        tasks = json.loads((LS / f"{key}.export.json").read_text("utf-8"))
        for task in tasks[1:4]:
            for result in task["annotations"][0]["result"]:
                for name in ("choices", "labels", "rectanglelabels"):
                    if name in result["value"]:
                        result["value"][name] = ["sarcastic"]
        project.path("inbox/later.json").write_text(json.dumps(tasks), encoding="utf-8")
    outputs = {}
    for spill_every in (None, 1, 3):
        summary = run_pull(project, spill_every=spill_every)
        outputs[spill_every] = pulled_bytes(project)
        assert not list(project.path("annotations").glob(".pull-*"))  # the runs are removed
    assert outputs[1] == outputs[None] and outputs[3] == outputs[None]
    monkeypatch.setattr(pull, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(pull, "TASKS_PER_PART", 2)
    run_pull(project, spill_every=3)
    assert pulled_bytes(project) == outputs[None]
    monkeypatch.setattr(pull, "PARALLEL_ABOVE_BYTES", 0)  # two processes, a file each, runs adopted
    run_pull(project, spill_every=3)
    assert pulled_bytes(project) == outputs[None]
    assert summary.annotations == len(truth_pairs(key))
    if on_invalid == "skip":
        assert summary.counts["problems_skipped"] >= 3


def test_pull_spilled_problems_come_in_the_order_of_the_in_memory_pull(bare_project, monkeypatch):
    import data_labeling_pipeline.stages.pull as pull

    project = project_with(bare_project, "textcls", "textcls.snapshot.json")
    tasks = json.loads((LS / "textcls.export.json").read_text("utf-8"))
    for n, task in enumerate(tasks):  # ids beyond the schema's 512 characters: items and annotations fail
        task["data"]["item_id"] = f"{(n * 7919) % 13:02d}" + "x" * 600
    project.path("inbox/later.json").write_text(json.dumps(tasks), encoding="utf-8")
    messages = []
    for spill_every, parallel_above in ((None, 1 << 40), (1, 1 << 40), (1, 0)):
        monkeypatch.setattr(pull, "PARALLEL_ABOVE_BYTES", parallel_above)
        with pytest.raises(DataError) as caught:
            run_pull(project, spill_every=spill_every)
        messages.append(str(caught.value))
    assert messages[0] == messages[1] == messages[2] and messages[0].count("is too long") >= 2 * len(tasks)
    assert not project.path("annotations/annotations.jsonl").exists()  # nothing half-written


def test_pull_streamed_export_errors_name_the_line(bare_project, monkeypatch):
    import data_labeling_pipeline.stages.pull as pull

    monkeypatch.setattr(pull, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(pull, "TASKS_PER_PART", 2)
    project = project_with(bare_project, "textcls")
    text = json.dumps(json.loads((LS / "textcls.export.json").read_text("utf-8")), indent=1)
    lines = text.splitlines()
    lines[40] = lines[40] + " oops"
    project.path("inbox/broken.json").write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        run_pull(project)
    assert "inbox/broken.json:41" in str(caught.value)
    project.path("inbox/broken.json").write_text('{"not": "a list"}', encoding="utf-8")
    with pytest.raises(DataError, match="expected a list of tasks"):
        run_pull(project)
