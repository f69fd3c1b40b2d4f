"""parse_export against what the annotators really sent (truth.json), for every task type and shape."""

from __future__ import annotations

import itertools
import json

import jsonschema
import pytest
from conftest import SHAPES, TASK_TYPES

from data_labeling_pipeline.labels import new_label_schema, record_schemas
from data_labeling_pipeline.records import canonical_line

CASES = list(itertools.product(TASK_TYPES, SHAPES))
EMAILS = {2: "ann1@example.com", 3: "ann2@example.com", 4: "ann3@example.com"}


def _truth_tasks(truth, key):
    return truth["projects"][key]["tasks"]


def _annotator(ann, shape):
    return ann["annotator"] if shape == "snapshot" else f"ls-user-{ann['user_id']}"


def _payload(source, key):
    """Comparable payload of a truth annotation/prediction or of a parsed record."""
    if key in ("imgcls", "textcls"):
        return source["label"]
    if key == "ner":
        return sorted((s["start"], s["end"], s["label"], s["text"]) for s in source["spans"])
    boxes = []
    for b in source["boxes"]:
        if "aabb_xyxy" in b:  # truth keeps the rotated rectangle and its envelope
            x0, y0, x1, y1 = b["aabb_xyxy"]
            boxes.append((b["label"], x0, y0, x1 - x0, y1 - y0, b["rotation"]))
        else:
            boxes.append((b["label"], b["x"], b["y"], b["w"], b["h"], b.get("rotation") or 0))
    return sorted(boxes)


def _same_payload(got, want, key):
    if key != "bbox":
        return got == want
    return len(got) == len(want) and all(
        g[0] == w[0] and all(abs(a - b) <= 1e-6 for a, b in zip(g[1:], w[1:], strict=True))
        for g, w in zip(got, want, strict=True)
    )


@pytest.mark.parametrize(("key", "shape"), CASES)
def test_exports_annotations_match_truth(parse_reference, truth, key, shape):
    out = parse_reference(key, shape)
    assert out.problems == []
    expected = {}
    for task in _truth_tasks(truth, key):
        for ann in task["annotations"]:
            if not ann["was_cancelled"]:
                expected[(task["item_id"], _annotator(ann, shape))] = (task, ann)
    got = {(r["item_id"], r["annotator"]): r for r in out.annotations}
    assert sorted(got) == sorted(expected)
    for pair, record in got.items():
        task, ann = expected[pair]
        assert _same_payload(_payload(record, key), _payload(ann, key), key), pair
        assert record["lead_time"] == ann["lead_time"]
        assert record["schema_version"] == 1
        assert record["source"]["annotation"] == ann["annotation_id"]
        assert record["source"]["task"] == task["task_id"]
        assert record["source"]["file"] == f"inbox/{key}.{shape}.json"
        assert record.get("ground_truth", False) == (ann["ground_truth"] and shape != "min")
        assert isinstance(record["created_at"], str) and isinstance(record["updated_at"], str)


@pytest.mark.parametrize(("key", "shape"), CASES)
def test_exports_items_match_truth(parse_reference, truth, key, shape):
    out = parse_reference(key, shape)
    tasks = _truth_tasks(truth, key)
    assert [i["item_id"] for i in out.items] == sorted(t["item_id"] for t in tasks)
    by_id = {t["item_id"]: t for t in tasks}
    for item in out.items:
        task = by_id[item["item_id"]]
        if "image_file" in task:
            assert item["data"]["image"] == task["image_file"]
            if key == "bbox":  # the size comes from the results' original_width/height
                has_results = task["annotations"] or (task["predictions"] and shape == "snapshot")
                if has_results and any(a.get("boxes") for a in task["annotations"] + task["predictions"]):
                    assert [item["data"]["width"], item["data"]["height"]] == task["display_size"]
            else:
                assert "width" not in item["data"]  # classification results carry no size
        else:
            assert item["data"] == {"text": task["data"]["text"]}


@pytest.mark.parametrize(("key", "shape"), CASES)
def test_exports_predictions_match_truth(parse_reference, truth, key, shape):
    out = parse_reference(key, shape)
    expected = {}
    for task in _truth_tasks(truth, key):
        # The default export only embeds the newest prediction in each annotation.
        if task["predictions"] and (shape == "snapshot" or (shape == "export" and task["annotations"])):
            expected[task["item_id"]] = task["predictions"][-1]
    assert {p["item_id"] for p in out.predictions} == set(expected)
    for record in out.predictions:
        want = expected[record["item_id"]]
        assert record["model_version"] == want["model_version"]
        assert record["score"] == want["score"]
        assert record["source"]["prediction"] == want["prediction_id"]
        assert _same_payload(_payload(record, key), _payload(want, key), key)
        if key in ("ner", "bbox"):
            region_scores = sorted(
                r["score"] for r in record[key.replace("ner", "spans").replace("bbox", "boxes")]
            )
            want_scores = sorted(r["score"] for r in want["spans" if key == "ner" else "boxes"])
            assert region_scores == want_scores


@pytest.mark.parametrize(("key", "shape"), CASES)
def test_exports_cancelled_are_skipped_and_counted(parse_reference, truth, key, shape):
    out = parse_reference(key, shape)
    cancelled = sum(a["was_cancelled"] for t in _truth_tasks(truth, key) for a in t["annotations"])
    assert cancelled == 1
    # JSON_MIN drops cancelled annotations itself, so there is nothing to skip.
    assert out.stats["cancelled_skipped"] == (0 if shape == "min" else cancelled)
    assert out.stats["annotations"] == len(out.annotations)


@pytest.mark.parametrize("shape", SHAPES)
def test_exports_rotated_box_is_its_pixel_envelope(parse_reference, shape):
    out = parse_reference("bbox", shape)
    (record,) = [r for r in out.annotations if r["item_id"] == "a-box-04" and r["source"]["annotation"] == 70]
    assert record["boxes"] == [{"x": 320, "y": 100, "w": 80, "h": 200, "rotation": 90, "label": "person"}]
    assert out.stats["boxes_rotated_enveloped"] == 1


@pytest.mark.parametrize(
    ("key", "item_id", "empty_source_ids"), [("ner", "a-ner-06", {57, 58}), ("bbox", "a-box-05", {73, 74})]
)
@pytest.mark.parametrize("shape", SHAPES)
def test_exports_empty_result_is_an_explicit_negative(parse_reference, key, item_id, empty_source_ids, shape):
    out = parse_reference(key, shape)
    payload = "spans" if key == "ner" else "boxes"
    empty = {
        r["source"]["annotation"] for r in out.annotations if r["item_id"] == item_id and r[payload] == []
    }
    assert empty == empty_source_ids
    assert out.stats["empty_kept"] == 2


@pytest.mark.parametrize("key", TASK_TYPES)
def test_exports_ground_truth_is_kept(parse_reference, truth, key):
    out = parse_reference(key, "snapshot")
    gt = {(r["item_id"], r["annotator"]) for r in out.annotations if r.get("ground_truth")}
    want = {
        (t["item_id"], a["annotator"])
        for t in _truth_tasks(truth, key)
        for a in t["annotations"]
        if a["ground_truth"]
    }
    assert gt == want and len(gt) == 1
    assert all("ground_truth" not in r for r in out.annotations if (r["item_id"], r["annotator"]) not in gt)


@pytest.mark.parametrize("key", TASK_TYPES)
def test_exports_min_shape_has_user_ids_and_no_predictions(parse_reference, key):
    out = parse_reference(key, "min")
    assert out.shape == "min"
    assert out.predictions == []
    assert {r["annotator"] for r in out.annotations} == {"ls-user-2", "ls-user-3", "ls-user-4"}
    assert all(r["source"]["project"] is None for r in out.annotations)
    named = parse_reference(key, "min", users=EMAILS, project=7)
    assert {r["annotator"] for r in named.annotations} == set(EMAILS.values())
    assert {r["source"]["project"] for r in named.annotations} == {7}


@pytest.mark.parametrize("key", TASK_TYPES)
def test_exports_users_mapping_names_annotators_of_default_export(parse_reference, key):
    by_id = parse_reference(key, "export", users={str(k): v for k, v in EMAILS.items()})
    snapshot = parse_reference(key, "snapshot")
    assert [r["annotator"] for r in by_id.annotations] == [r["annotator"] for r in snapshot.annotations]


@pytest.mark.parametrize("key", TASK_TYPES)
def test_exports_shapes_are_detected(parse_reference, key):
    assert [parse_reference(key, s).shape for s in SHAPES] == ["default", "snapshot", "min"]


@pytest.mark.parametrize("key", TASK_TYPES)
def test_exports_default_export_counts_unresolved_prediction_ids(parse_reference, truth, key):
    out = parse_reference("bbox" if key == "bbox" else key, "export")
    only_prediction = [t for t in _truth_tasks(truth, key) if t["predictions"] and not t["annotations"]]
    assert out.stats["predictions_unresolved"] == len(only_prediction)
    assert parse_reference(key, "snapshot").stats["predictions_unresolved"] == 0


@pytest.mark.parametrize(("key", "shape"), CASES)
def test_exports_output_is_sorted_and_byte_stable(parse_reference, export_tasks, key, shape):
    first = parse_reference(key, shape)
    shuffled = parse_reference(key, shape, tasks=list(reversed(export_tasks(key, shape))))
    lines = [canonical_line(r) for r in first.annotations + first.items + first.predictions]
    assert lines == [canonical_line(r) for r in shuffled.annotations + shuffled.items + shuffled.predictions]
    keys = [(r["item_id"], r["annotator"]) for r in first.annotations]
    assert keys == sorted(keys)
    assert json.dumps(first.stats) == json.dumps(shuffled.stats)


@pytest.mark.parametrize(("key", "shape"), CASES)
def test_exports_records_match_the_json_schemas(parse_reference, truth, key, shape):
    # Images whose results give no size (classification, unannotated) take it from image_sizes.
    sizes = {t["item_id"]: tuple(t["display_size"]) for t in _truth_tasks(truth, key) if "display_size" in t}
    out = parse_reference(key, shape, image_sizes=sizes)
    schemas = record_schemas(new_label_schema(TASK_TYPES[key], truth["projects"][key]["labels"]))
    for kind, records in (("annotation", out.annotations), ("prediction", out.predictions)):
        validator = jsonschema.Draft202012Validator(schemas[kind])
        for record in records:
            assert list(validator.iter_errors(record)) == [], record
    validator = jsonschema.Draft202012Validator(schemas["item"])
    for item in out.items:
        assert list(validator.iter_errors(item)) == [], item
    without_sizes = parse_reference(key, shape)
    if key == "imgcls" or (key == "bbox" and shape != "snapshot"):  # a-box-08: no result with a size
        assert any("width" not in item["data"] for item in without_sizes.items)
