"""to_label_studio_tasks: the inverse of parse_export (round trips, determinism, errors)."""

from __future__ import annotations

import json
import math

import pytest
from conftest import TASK_TYPES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.labelstudio.exports import parse_export, to_label_studio_tasks
from data_labeling_pipeline.labelstudio.geometry import rotated_envelope

EMAILS = {2: "ann1@example.com", 3: "ann2@example.com", 4: "ann3@example.com"}
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _strip(records):
    return [{k: v for k, v in r.items() if k != "source"} for r in records]


def _round_trip(items, annotations=(), predictions=(), *, task_type, classes, **options):
    tasks = to_label_studio_tasks(
        items, annotations, predictions, task_type=task_type, classes=classes, **options
    )
    tasks = json.loads(json.dumps(tasks))  # what a file would hold
    parse_options = {k: v for k, v in options.items() if k in ("users", "multi_label")}
    return parse_export(tasks, task_type=task_type, classes=classes, source_file="x.json", **parse_options)


@pytest.mark.parametrize("key", TASK_TYPES)
def test_tasks_reference_round_trip_gives_the_same_records(parse_reference, truth, key):
    sizes = {
        t["item_id"]: tuple(t["display_size"]) for t in truth["projects"][key]["tasks"] if "display_size" in t
    }
    first = parse_reference(key, "snapshot", image_sizes=sizes)
    classes = truth["projects"][key]["labels"]
    back = _round_trip(
        first.items,
        first.annotations,
        first.predictions,
        task_type=TASK_TYPES[key],
        classes=classes,
        users=EMAILS,
    )
    assert back.problems == []
    assert _strip(back.annotations) == _strip(first.annotations)
    assert _strip(back.predictions) == _strip(first.predictions)
    assert back.items == first.items


def test_tasks_have_the_label_studio_shape(parse_reference):
    out = parse_reference("bbox", "snapshot")
    tasks = to_label_studio_tasks(
        out.items,
        out.annotations,
        out.predictions,
        task_type="bbox",
        classes=["car", "person", "bicycle"],
        users={2: "ann1@example.com"},
        project=4,
    )
    task = next(t for t in tasks if t["data"]["item_id"] == "a-box-04")
    assert task["data"]["image"] == "/data/local-files/?d=images/a-box-04.png"
    ann = task["annotations"][0]
    assert ann["completed_by"] == 2 and ann["was_cancelled"] is False and ann["project"] == 4
    region = ann["result"][0]
    assert (
        region["type"] == "rectanglelabels"
        and region["from_name"] == "label"
        and region["to_name"] == "image"
    )
    assert (region["original_width"], region["original_height"]) == (640, 480)
    # The rotated rectangle is written back as Label Studio drew it (pivot 400,100; 200x80 px).
    value = region["value"]
    assert value["rotation"] == 90 and value["rectanglelabels"] == ["person"]
    assert [round(value[k], 9) for k in ("x", "y", "width", "height")] == [
        62.5,
        20.833333333,
        31.25,
        16.666666667,
    ]
    assert len(region["id"]) == 10
    assert {p["model_version"] for p in task["predictions"]} == {"weak-v1"} and task["predictions"][0][
        "score"
    ] == 0.59
    others = {a["completed_by"]["email"] for a in task["annotations"][1:]}
    assert others == {"ann2@example.com", "ann3@example.com"}


def test_tasks_are_deterministic(parse_reference):
    out = parse_reference("ner", "snapshot")

    def run():
        return to_label_studio_tasks(
            out.items, list(reversed(out.annotations)), out.predictions, task_type="ner", classes=None
        )

    assert json.dumps(run()) == json.dumps(run())
    assert json.dumps(run()) == json.dumps(
        to_label_studio_tasks(
            list(reversed(out.items)), out.annotations, out.predictions, task_type="ner", classes=None
        )
    )


def test_tasks_unknown_item_or_class_raise_one_data_error():
    items = [{"item_id": "t1", "data": {"text": "hello"}}]
    annotations = [
        {"item_id": "t2", "annotator": "a", "schema_version": 1, "label": "pos"},
        {"item_id": "t1", "annotator": "a", "schema_version": 1, "label": "cow"},
    ]
    with pytest.raises(DataError) as info:
        to_label_studio_tasks(items, annotations, task_type="text_classification", classes=["pos", "neg"])
    assert [(p.path, p.field) for p in info.value.problems] == [
        ("<annotations>", "$[0].item_id"),
        ("<annotations>", "$[1].label"),
    ]


def test_tasks_boxes_need_the_image_size():
    items = [{"item_id": "i1", "data": {"image": "images/i1.png"}}]
    boxes = [
        {
            "item_id": "i1",
            "annotator": "a",
            "schema_version": 1,
            "boxes": [{"x": 1, "y": 1, "w": 2, "h": 2, "label": "car"}],
        }
    ]
    with pytest.raises(DataError, match="no width/height"):
        to_label_studio_tasks(items, boxes, task_type="bbox", classes=["car"])


def test_tasks_image_url_prefix_and_quoting_round_trip():
    items = [
        {"item_id": "i1", "data": {"image": "images/a b&c.png", "width": 10, "height": 10}},
        {"item_id": "i2", "data": {"image": "https://example.com/x.png", "width": 10, "height": 10}},
    ]
    tasks = to_label_studio_tasks(items, task_type="image_classification", classes=["cat"])
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=images/a%20b%26c.png"
    assert tasks[1]["data"]["image"] == "https://example.com/x.png"
    back = parse_export(tasks, task_type="image_classification", classes=["cat"], source_file="x.json")
    assert [i["data"]["image"] for i in back.items] == ["images/a b&c.png", "https://example.com/x.png"]


def test_tasks_unfit_rotation_is_written_as_the_envelope():
    items = [{"item_id": "i1", "data": {"image": "i.png", "width": 100, "height": 100}}]
    box = {"x": 10, "y": 10, "w": 5, "h": 60, "rotation": 30, "label": "car"}  # no 30° rectangle fits 5x60
    tasks = to_label_studio_tasks(
        items,
        [{"item_id": "i1", "annotator": "a", "schema_version": 1, "boxes": [box]}],
        task_type="bbox",
        classes=["car"],
    )
    assert tasks[0]["annotations"][0]["result"][0]["value"]["rotation"] == 0
    back = parse_export(tasks, task_type="bbox", classes=["car"], source_file="x.json")
    assert back.annotations[0]["boxes"] == [{"x": 10, "y": 10, "w": 5, "h": 60, "label": "car"}]


@pytest.mark.parametrize("multi_label", [False, True])
def test_tasks_classification_round_trip(multi_label):
    classes = ["cat", "dog", "bird"]
    items = [{"item_id": f"i{k}", "data": {"text": f"text {k}"}} for k in range(3)]
    payload = (
        [{"labels": ["cat", "bird"]}, {"labels": []}, {"labels": ["dog"]}]
        if multi_label
        else ([{"label": "cat"}, {"label": "dog"}, {"label": "bird"}])
    )
    annotations = [
        {
            "item_id": f"i{k}",
            "annotator": "ls-user-5",
            "schema_version": 1,
            "lead_time": 2.5,
            "ground_truth": True,
            **p,
        }
        for k, p in enumerate(payload)
    ]
    predictions = [{"item_id": "i0", "model_version": "m1", "score": 0.7, **payload[0]}]
    back = _round_trip(
        items,
        annotations,
        predictions,
        task_type="text_classification",
        classes=classes,
        multi_label=multi_label,
    )
    assert back.problems == []
    assert _strip(back.annotations) == annotations
    assert _strip(back.predictions) == predictions


WORDS = st.text(alphabet=st.sampled_from(list("ab cé\U0001f600\U0001f1f3\u00e9x")), min_size=1, max_size=30)


@FAST
@given(text=WORDS, data=st.data())
def test_tasks_span_round_trip_property(text, data):
    n = len(text)
    spans = []
    for _ in range(data.draw(st.integers(0, 4))):
        start = data.draw(st.integers(0, n - 1))
        end = data.draw(st.integers(start + 1, n))
        spans.append(
            {
                "start": start,
                "end": end,
                "label": data.draw(st.sampled_from(["PER", "LOC"])),
                "text": text[start:end],
            }
        )
    spans.sort(key=lambda s: (s["start"], s["end"], s["label"]))
    spans = [s for k, s in enumerate(spans) if k == 0 or s != spans[k - 1]]
    record = {"item_id": "t1", "annotator": "ann@example.com", "schema_version": 1, "spans": spans}
    back = _round_trip(
        [{"item_id": "t1", "data": {"text": text}}], [record], task_type="ner", classes=["PER", "LOC"]
    )
    assert back.problems == []
    assert _strip(back.annotations) == [record]


def _rotated_box(draw, width, height):
    w = draw(st.floats(1, width))
    h = draw(st.floats(1, height))
    x, y = draw(st.floats(-10, width)), draw(st.floats(-10, height))
    if not draw(st.booleans()):
        return {"x": x, "y": y, "w": w, "h": h}
    # Avoid 45° + k·90°, where the envelope fixes only w + h (tested on its own in geometry).
    rotation = draw(st.floats(1, 359).filter(lambda r: abs(math.cos(math.radians(2 * r))) > 0.05))
    ex, ey, ew, eh = rotated_envelope(x, y, w, h, rotation)
    return {"x": ex, "y": ey, "w": ew, "h": eh, "rotation": rotation}


@FAST
@given(data=st.data())
def test_tasks_box_round_trip_property(data):
    width, height = data.draw(st.integers(16, 4000)), data.draw(st.integers(16, 4000))
    boxes = [
        {**_rotated_box(data.draw, width, height), "label": data.draw(st.sampled_from(["car", "person"]))}
        for _ in range(data.draw(st.integers(0, 4)))
    ]
    record = {"item_id": "i1", "annotator": "ann@example.com", "schema_version": 1, "boxes": boxes}
    items = [{"item_id": "i1", "data": {"image": "images/i1.png", "width": width, "height": height}}]
    back = _round_trip(items, [record], task_type="bbox", classes=["car", "person"])
    assert back.problems == [] and back.items == items
    got = back.annotations[0]["boxes"]
    assert len(got) == len(boxes)
    key = lambda b: (round(b["x"], 3), round(b["y"], 3), round(b["w"], 3), round(b["h"], 3), b["label"])  # noqa: E731
    for g, want in zip(sorted(got, key=key), sorted(boxes, key=key), strict=True):
        assert g["label"] == want["label"]
        assert all(abs(g[k] - want[k]) <= 1e-6 for k in ("x", "y", "w", "h")), (g, want)
        assert abs(g.get("rotation", 0) - want.get("rotation", 0)) <= 1e-6
