"""Schema migrations: the pure chain (migrations.py), the `dlp schema` commands, and real `dvc repro` after them."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from data_labeling_pipeline import migrations as m
from data_labeling_pipeline.cli import app
from data_labeling_pipeline.errors import ConfigError
from data_labeling_pipeline.labels import check_label_schema
from data_labeling_pipeline.project import Project

LS = Path(__file__).parent / "assets" / "labelstudio"
NAMES = st.lists(st.sampled_from(["cat", "dog", "bird", "fish", "cow", "ant"]), min_size=2, max_size=5, unique=True)


def record(version: int, name: str) -> dict:
    return {"item_id": "i1", "annotator": "a", "schema_version": version, "label": name,
            "labels": [name], "spans": [{"start": 0, "end": 1, "label": name}],
            "boxes": [{"x": 0, "y": 0, "w": 1, "h": 1, "label": name}]}


@settings(max_examples=60, deadline=None)
@given(NAMES, st.data())
def test_migrations_rename_then_rename_back_is_the_identity_on_records(names, data):
    schema = m.new_schema(names)
    old = data.draw(st.sampled_from(names))
    there = m.rename_class(m.rename_class(schema, old, "zebra"), "zebra", old)
    assert m.current_names(there) == names and [c["id"] for c in there["classes"]] == list(range(1, len(names) + 1))
    for name in names:
        assert m.remap_record(there, record(1, name)) == record(3, name)
        assert m.remap_record(there, record(2, "zebra" if name == old else name)) == record(3, name)


@settings(max_examples=60, deadline=None)
@given(NAMES, st.data())
def test_migrations_merge_maps_both_classes_to_the_merged_one_and_retires_ids(names, data):
    a, b = data.draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    into = data.draw(st.sampled_from([a, b, "pet"]))
    merged = m.merge_classes(m.new_schema(names), [a, b], into)
    check_label_schema(merged, "schema/labels.yaml")
    for name in names:
        expected = into if name in (a, b) else name
        assert m.remap_record(merged, record(1, name))["label"] == expected
        assert m.remap_record(merged, record(1, name))["labels"] == [expected]
    retired = merged["history"][-1]["retired_ids"]
    assert not set(retired) & {c["id"] for c in merged["classes"]}
    added = m.add_class(merged, "newt")
    assert added["classes"][-1]["id"] == max(m.used_ids(merged)) + 1  # a retired id is never reused


@settings(max_examples=60, deadline=None)
@given(NAMES, st.lists(st.sampled_from(["add", "rename", "merge", "deprecate"]), max_size=6), st.data())
def test_migrations_remap_of_a_record_at_the_current_version_is_the_identity(names, steps, data):
    schema = m.new_schema(names)
    for k, step in enumerate(steps):
        try:
            if step == "add":
                schema = m.add_class(schema, f"new{k}")
            elif step == "rename":
                schema = m.rename_class(schema, data.draw(st.sampled_from(m.current_names(schema))), f"ren{k}")
            elif step == "merge" and len(m.current_names(schema)) >= 2:
                pair = data.draw(st.lists(st.sampled_from(m.current_names(schema)), min_size=2, max_size=2,
                                          unique=True))
                schema = m.merge_classes(schema, pair, pair[0])
            elif step == "deprecate":
                schema = m.deprecate_class(schema, data.draw(st.sampled_from(m.current_names(schema))))
        except ConfigError:
            continue  # e.g. deprecating the last active class: refused, schema unchanged
        check_label_schema(schema, "schema/labels.yaml")
    for name in m.current_names(schema):
        r = record(schema["schema_version"], name)
        assert m.remap_record(schema, r) == r


def test_migrations_refuse_unknown_duplicate_noop_and_ambiguous_names():
    schema = m.new_schema(["cat", "dog"])
    cases = [
        (lambda: m.rename_class(schema, "cow", "bull"), "unknown class 'cow'"),
        (lambda: m.rename_class(schema, "cat", "cat"), "changes nothing"),
        (lambda: m.rename_class(schema, "cat", "dog"), "already exists; to join the two classes use"),
        (lambda: m.add_class(schema, "dog"), "already exists"),
        (lambda: m.merge_classes(schema, ["cat", "cat"], "pet"), "at least two different classes"),
        (lambda: m.merge_classes(schema, ["cat", "dog"], "dog2 "), "without surrounding spaces"),
        (lambda: m.deprecate_class(m.deprecate_class(schema, "cat"), "cat"), "already deprecated"),
        (lambda: m.deprecate_class(m.deprecate_class(schema, "cat"), "dog"), "last class new labels may use"),
        (lambda: m.add_class(m.rename_class(schema, "cat", "feline"), "cat"), "would make them ambiguous"),
        (lambda: m.split_class(schema, "cat", ["kitten", "kitten"]), "at least two different new classes"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError, match=message):
            call()


def test_migrations_split_deprecates_the_class_and_keeps_its_old_labels():
    split = m.split_class(m.new_schema(["cat", "dog"]), "cat", ["kitten", "tomcat"])
    assert split["classes"] == [{"id": 1, "name": "cat", "deprecated": True}, {"id": 2, "name": "dog"},
                                {"id": 3, "name": "kitten"}, {"id": 4, "name": "tomcat"}]
    assert m.active_names(split) == ["dog", "kitten", "tomcat"]
    assert m.remap_record(split, record(1, "cat"))["label"] == "cat"  # ambiguous: kept, relabelled by people
    assert split["history"][-1] == {"version": 2, "change": "split", "from": "cat", "into": ["kitten", "tomcat"],
                                    "ids": {"kitten": 3, "tomcat": 4}}


# --- the commands on a project ---------------------------------------------------------------


def run(args, cwd):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True).stdout


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.parts and ".dvc" not in p.parts}


def test_schema_commands_refuse_bad_changes_and_write_nothing(bare_project, monkeypatch):
    project = bare_project("image_classification", ["cat", "dog"])
    monkeypatch.chdir(project.root)
    before = snapshot(project.root)
    for args, message in [(["rename-class", "cow", "bull"], "unknown class 'cow'"),
                          (["rename-class", "cat", "cat"], "changes nothing"),
                          (["add-class", "cat"], "already exists"),
                          (["merge-classes", "cat", "--into", "pet"], "at least two different classes"),
                          (["merge-classes", "cat", "cow", "--into", "pet"], "unknown class 'cow'"),
                          (["split-class", "cat", "--into", "dog", "--into", "kitten"], "already exists")]:
        result = CliRunner().invoke(app, ["schema", *args])
        assert result.exit_code == 1, result.output
        assert message in result.output and "schema/labels.yaml" in result.output
        assert snapshot(project.root) == before


def test_schema_rename_keeps_the_header_bumps_the_version_and_regenerates_the_label_config(bare_project,
                                                                                          monkeypatch):
    project = bare_project("image_classification", ["cat", "dog"])
    monkeypatch.chdir(project.root)
    header = project.path("schema/labels.yaml").read_text().splitlines()[:2]
    result = CliRunner().invoke(app, ["schema", "rename-class", "cat", "feline"])
    assert result.exit_code == 0, result.output
    assert 'git commit -am "schema v2: rename cat -> feline"' in result.output
    text = project.path("schema/labels.yaml").read_text()
    assert text.splitlines()[:2] == header and header[0].startswith("# ")
    schema = yaml.safe_load(text)
    assert schema["schema_version"] == 2 and schema["classes"][0] == {"id": 1, "name": "feline"}
    assert schema["history"][-1] == {"version": 2, "change": "rename", "from": "cat", "to": "feline", "id": 1}
    config = project.path("schema/label_config.xml").read_text()
    assert '<Choice value="feline"/>' in config and '"cat"' not in config
    assert yaml.safe_load(project.path("params.yaml").read_text())["project"]["classes"] == ["feline", "dog"]
    assert "params.yaml" in result.output  # among the files written
    result = CliRunner().invoke(app, ["schema", "deprecate-class", "dog"])
    assert result.exit_code == 0, result.output
    assert '"dog"' not in project.path("schema/label_config.xml").read_text()  # no longer offered to annotators
    assert Project(project.root).label_schema_unchecked()["classes"][1] == {"id": 2, "name": "dog",
                                                                            "deprecated": True}


def test_schema_split_lists_the_items_carrying_the_class_for_relabelling(bare_project, monkeypatch):
    from data_labeling_pipeline.stages.agree import run_agree
    from data_labeling_pipeline.stages.pull import run_pull

    project = bare_project("text_classification", ["positive", "negative", "neutral"])
    shutil.copy(LS / "textcls.snapshot.json", project.path("inbox") / "export.json")
    run_pull(project)
    run_agree(project)
    carrying = {json.loads(line)["item_id"] for name in ("consensus", "annotations")
                for line in project.path(f"annotations/{name}.jsonl").read_text().splitlines()
                if '"neutral"' in line}
    consensus_before = project.path("annotations/consensus.jsonl").read_text().splitlines()
    monkeypatch.chdir(project.root)
    result = CliRunner().invoke(app, ["schema", "split-class", "neutral", "--into", "mixed", "--into", "flat"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in project.path("annotations/relabel.jsonl").read_text().splitlines()]
    assert {r["item_id"] for r in rows} == carrying and carrying
    assert [r["item_id"] for r in rows] == sorted(r["item_id"] for r in rows)
    assert rows[0]["action"] == "annotate" and rows[0]["classes"] == ["mixed", "flat"]
    assert "git add annotations/relabel.jsonl && git commit -am" in result.output
    run_pull(Project(project.root))  # old 'neutral' labels stay valid under the deprecated class
    summary = run_agree(Project(project.root))
    queue = {json.loads(line)["item_id"]: json.loads(line)
             for line in project.path("annotations/review.jsonl").read_text().splitlines()}
    relabelled = {i for i, r in queue.items() if "relabel" in r["reasons"]}
    # Relabelled: every item whose consensus was the split class; not those where enough annotators
    # chose another class (the one 'neutral' vote is outvoted, so nobody is asked again).
    was_neutral = {r["item_id"] for r in map(json.loads, consensus_before) if r.get("label") == "neutral"}
    assert was_neutral and was_neutral <= relabelled <= carrying
    assert all(queue[i]["action"] == "annotate" for i in relabelled)
    assert summary.review_metrics["n_relabel"] == len(relabelled)


@pytest.mark.slow
def test_schema_rename_and_merge_then_dvc_repro_exports_the_new_names(tmp_path, tool_env, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text("project:\n  name: t\n  task_type: text_classification\n"
                      "  classes: [positive, negative, neutral]\n", encoding="utf-8")
    root = tmp_path / "labels"
    assert CliRunner().invoke(app, ["init", "--config", str(config), str(root)]).exit_code == 0
    shutil.copy(LS / "textcls.snapshot.json", root / "inbox/export-1.json")
    run(["dvc", "repro"], root)

    def exported() -> set[str]:
        rows = [row for name in ("train", "val")
                for row in csv.DictReader((root / f"labeled_data/csv/{name}.csv").read_text("utf-8").splitlines())]
        return {r["label"] for r in rows}

    assert "positive" in exported()
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["schema", "rename-class", "positive", "good"])
    assert result.exit_code == 0, result.output
    run(["dvc", "repro"], root)
    assert "good" in exported() and "positive" not in exported()
    annotations = (root / "annotations/annotations.jsonl").read_text()
    assert '"positive"' not in annotations and '"schema_version":2' in annotations
    assert "up to date" in run(["dvc", "status"], root)

    result = CliRunner().invoke(app, ["schema", "merge-classes", "negative", "neutral", "--into", "not_good"])
    assert result.exit_code == 0, result.output
    run(["dvc", "repro"], root)
    assert exported() <= {"good", "not_good"} and "not_good" in exported()
    schema = yaml.safe_load((root / "schema/labels.yaml").read_text())
    assert [c["name"] for c in schema["classes"]] == ["good", "not_good"]
    assert [c["id"] for c in schema["classes"]] == [1, 4] and schema["history"][-1]["retired_ids"] == [2, 3]


def test_a_deprecated_class_is_neither_offered_nor_warned_about(bare_project, monkeypatch):
    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.stages.push import _Tasks
    from data_labeling_pipeline.stages.validate import _check_label_config

    project = bare_project("image_classification", ["cat", "dog", "bird"])
    monkeypatch.chdir(project.root)
    assert CliRunner().invoke(app, ["schema", "deprecate-class", "bird"]).exit_code == 0
    project = Project(project.root)
    warnings = []
    _check_label_config(project, project.path("schema/label_config.xml"), "schema/label_config.xml", warnings.append)
    assert warnings == []
    project.path("schema/label_config.xml").unlink()  # push then builds the config itself
    config = _Tasks(project, {}).config
    assert 'value="cat"' in config and 'value="dog"' in config and "bird" not in config
