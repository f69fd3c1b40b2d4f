"""Annotation columns: the same validation as the record reader, and agree's outputs unchanged by them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_labeling_pipeline.checks import annotation_checker
from data_labeling_pipeline.columns import AnnotationColumns, read_annotation_columns
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.labels import new_label_schema, record_schemas
from data_labeling_pipeline.records import Validator, read_records
from data_labeling_pipeline.stages import agree as agree_stage
from data_labeling_pipeline.stages.agree import run_agree
from data_labeling_pipeline.stages.pull import run_pull

SCHEMA = new_label_schema("text_classification", ["positive", "negative"])
VALIDATOR = Validator(record_schemas(SCHEMA)["annotation"])
ITEMS = {f"i{n}": {"item_id": f"i{n}", "data": {"text": f"t{n}"}} for n in range(4)}
LS = Path(__file__).parent / "assets" / "labelstudio"


def ann(item_id, annotator, **extra):
    return json.dumps({"item_id": item_id, "annotator": annotator, "schema_version": 1, "label": "positive",
                       **extra})


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def both_errors(path):
    """The messages of the record reader and of the column reader for one file."""
    messages = []
    with pytest.raises(DataError) as records_error:
        read_records(path, VALIDATOR, check=annotation_checker(ITEMS), display_path="annotations.jsonl")
    messages.append(str(records_error.value))
    with pytest.raises(DataError) as columns_error:
        read_annotation_columns(path, VALIDATOR, item_ids=ITEMS, display_path="annotations.jsonl")
    messages.append(str(columns_error.value))
    return messages


def test_columns_report_the_problems_of_the_record_reader_in_the_same_words(tmp_path):
    lines = [ann("i0", "a"), "{not json", ann("i0", "b", label="cow"), ann("i9", "a"), ann("i0", "a"),
             ann("i9", "a"), ann("i1", "a", lead_time="slow"), "[1]", ann("i1", "b")]
    records_message, columns_message = both_errors(write_lines(tmp_path / "a.jsonl", lines))
    assert columns_message == records_message
    shown = columns_message.splitlines()
    assert shown[0].startswith("annotations.jsonl:2: invalid JSON")
    assert "annotations.jsonl:5: $.annotator: duplicate record for item 'i0' and annotator 'a'; keep one per pair" \
        in shown
    # Line 6 repeats line 4's pair and names a missing item: the duplicate is said first, as the checker does.
    assert shown.index("annotations.jsonl:6: $.annotator: duplicate record for item 'i9' and annotator 'a'; "
                       "keep one per pair") < shown.index("annotations.jsonl:6: $.item_id: 'i9' is not in "
                                                          "items.jsonl; ingest or pull the item first")


def test_columns_cap_the_problems_as_the_record_reader_does(tmp_path):
    lines = [ann(f"i{n % 4}", "a") for n in range(120)]  # 116 duplicates
    records_message, columns_message = both_errors(write_lines(tmp_path / "a.jsonl", lines))
    assert columns_message == records_message
    assert columns_message.endswith("... more errors not shown (stopped after 50)")


def test_columns_hold_the_fields_agree_reads(tmp_path):
    lines = [ann("i0", "a", lead_time=2.5, created_at="2026-11-01T10:00:00Z"), ann("i0", "b", label="negative"),
             ann("i1", "a", ground_truth=True)]
    columns = read_annotation_columns(write_lines(tmp_path / "a.jsonl", lines), VALIDATOR, item_ids=ITEMS)
    assert len(columns) == 3
    assert columns.item_id.tolist() == ["i0", "i0", "i1"] and columns.annotator.tolist() == ["a", "b", "a"]
    assert columns.label.tolist() == ["positive", "negative", "positive"]
    assert np.isnan(columns.lead_time[1:]).all() and columns.lead_time[0] == 2.5
    assert columns.created_at.mask.tolist() == [False, True, True]
    assert columns.created_at[0].decode() == "2026-11-01T10:00:00Z"
    assert columns.line.tolist() == [1, 2, 3]
    assert [r["item_id"] for r in columns.ground_truth] == ["i1"]


def test_columns_give_way_to_records_for_label_sets_spans_and_boxes(tmp_path):
    permissive = Validator({"type": "object"})
    for payload in ({"labels": ["a"]}, {"spans": []}, {"boxes": []}):
        path = write_lines(tmp_path / "a.jsonl", [ann("i0", "a"), json.dumps({"item_id": "i1", "annotator": "a",
                                                                              **payload})])
        assert read_annotation_columns(path, permissive) is None, payload


def test_columns_from_records_equal_the_file_reader(tmp_path):
    lines = [ann("i0", "a", lead_time=1), ann("i1", "b", created_at="2026-11-01T10:00:00Z")]
    read = read_annotation_columns(write_lines(tmp_path / "a.jsonl", lines), VALIDATOR)
    built = AnnotationColumns.from_records(json.loads(line) for line in lines)
    for name in ("item_id", "annotator", "label", "lead_time", "line"):
        np.testing.assert_array_equal(getattr(read, name), getattr(built, name))
    assert read.created_at.tolist() == built.created_at.tolist()


@pytest.mark.parametrize("key", ["textcls", "imgcls"])
def test_agree_writes_the_same_bytes_from_columns_as_from_records(bare_project, monkeypatch, key):
    """The columnar reading is a speed-up only: every output of agree is the same, byte for byte."""
    from data_labeling_pipeline.stages.schema import read_current

    task_type, classes = {"textcls": ("text_classification", ["positive", "negative", "neutral"]),
                          "imgcls": ("image_classification", ["cat", "dog", "bird", "other"])}[key]
    outputs = {}
    for reader in ("columns", "records"):
        project = bare_project(task_type, classes)
        shutil.copy(LS / f"{key}.snapshot.json", project.path("inbox") / "export.json")
        if task_type == "image_classification":
            shutil.copytree(LS / "images", project.path("images"))
        run_pull(project)
        if reader == "records":
            monkeypatch.setattr(agree_stage, "read_agree_annotations", lambda p, items: read_current(
                p, "annotations/annotations.jsonl", items, fields=agree_stage.AGREE_FIELDS))
        else:
            assert isinstance(agree_stage.read_agree_annotations(project, {
                i["item_id"]: i for i in project.read_items("annotations/items.jsonl")}), AnnotationColumns)
        run_agree(project)
        outputs[reader] = {p.relative_to(project.root).as_posix(): p.read_bytes()
                           for folder in ("annotations", "metrics", "reports", "plots")
                           for p in sorted(project.path(folder).rglob("*")) if p.is_file()}
        shutil.rmtree(project.root)
    assert outputs["columns"] == outputs["records"]
    assert "annotations/consensus.jsonl" in outputs["columns"]
