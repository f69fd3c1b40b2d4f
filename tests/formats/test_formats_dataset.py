"""The shared Dataset: one DataError with every problem, policies, box cleaning."""

from __future__ import annotations

import pytest
from fmt_golden import load_case

from data_labeling_pipeline.errors import ConfigError, DataError
from data_labeling_pipeline.formats import LossReport, check_policies, make_dataset
from data_labeling_pipeline.formats._boxes import clean_boxes
from data_labeling_pipeline.formats._dataset import image_names

SCHEMA = {"task_type": "bbox", "schema_version": 1, "multi_label": False, "classes": [{"id": 1, "name": "car"}]}


def test_dataset_collects_every_problem_in_one_error():
    items = [{"item_id": "a", "data": {"image": "a.png", "width": 0, "height": 5}},
             {"item_id": "a", "data": {"image": "b.png", "width": 5, "height": 5}}]
    labels = {"a": {"boxes": [{"x": 0, "y": 0, "w": 0, "h": 1, "label": "car"},
                              {"x": 0, "y": 0, "w": 1, "h": 1, "label": "cow"}]},
              "ghost": {"boxes": []}}
    with pytest.raises(DataError) as err:
        make_dataset(items, labels, SCHEMA, split={"a": "test"})
    text = str(err.value)
    for part in ("width", "appears twice", "w and h must be > 0", "'cow' is not a class", "not in items",
                 "split is 'test'"):
        assert part in text


def test_dataset_single_label_schema_needs_one_class():
    schema = {**SCHEMA, "task_type": "text_classification"}
    with pytest.raises(DataError, match="exactly one class"):
        make_dataset([{"item_id": "a", "data": {"text": "x"}}], {"a": {"labels": ["car", "car"]}}, schema)


def test_dataset_spans_must_fit_the_text():
    schema = {**SCHEMA, "task_type": "ner"}
    with pytest.raises(DataError, match="start < end <= 2"):
        make_dataset([{"item_id": "a", "data": {"text": "hi"}}], {"a": {"spans": [{"start": 1, "end": 3,
                                                                                  "label": "car"}]}}, schema)


def test_dataset_policies_are_checked():
    assert check_policies(None) == {"crowd": "keep", "empty_images": "keep", "span_alignment": "strict"}
    with pytest.raises(ConfigError, match="'sometimes' is not one of"):
        check_policies({"crowd": "sometimes"})
    with pytest.raises(ConfigError, match="unknown policy"):
        check_policies({"colour": "red"})


@pytest.mark.parametrize(("crowd", "flag", "written", "flagged", "event"), [
    ("keep", "iscrowd", 1, True, None),
    ("keep", None, 1, False, "crowd_remapped"),
    ("keep", "difficult", 1, False, "crowd_remapped"),
    ("difficult", "difficult", 1, True, "crowd_remapped"),
    ("difficult", "iscrowd", 1, True, None),
    ("difficult", None, 0, None, "crowd_dropped"),
    ("drop", "iscrowd", 0, None, "crowd_dropped"),
])
def test_dataset_crowd_policy_per_format_flag(crowd, flag, written, flagged, event):
    report = LossReport()
    out = clean_boxes([{"x": 1, "y": 1, "w": 2, "h": 2, "label": "car", "iscrowd": True}], 10, 10,
                      split="train", crowd=crowd, flag=flag, report=report)
    assert len(out) == written
    if written:
        assert out[0].flagged is flagged
    assert report.lost() == ({event: 1} if event else {})


def test_dataset_clean_boxes_clips_and_drops_degenerate():
    report = LossReport()
    out = clean_boxes([{"x": -2, "y": 8, "w": 5, "h": 5, "label": "car"},
                       {"x": 11, "y": 0, "w": 3, "h": 3, "label": "car"}], 10, 10,
                      split="val", crowd="keep", flag=None, report=report)
    assert [(b.x, b.y, b.w, b.h, b.clipped) for b in out] == [(0, 8, 3, 2, True)]
    assert report.lost() == {"boxes_clipped": 1, "boxes_degenerate": 1}
    assert report.as_dict()["objects"]["val"]["car"] == {"in": 2, "out": 1}


def test_dataset_image_names_are_relative_to_the_common_folder():
    names = image_names(load_case("bbox"))
    assert names["border"] == "sub/border.png" and names["street"] == "street.png"
    with pytest.raises(DataError, match="not inside the image root"):
        image_names(load_case("bbox"), image_root="images/sub")
