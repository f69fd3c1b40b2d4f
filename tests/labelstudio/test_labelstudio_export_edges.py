"""parse_export on crafted variants of the reference exports: repairs, duplicates, bad input."""

from __future__ import annotations

import pytest

from data_labeling_pipeline.errors import Problem
from data_labeling_pipeline.labelstudio.exports import image_path_from_url, parse_export


def _task(tasks, item_id):
    return next(i for i, t in enumerate(tasks) if t["data"]["item_id"] == item_id)


def test_exports_utf16_offsets_are_repaired(parse_reference, export_tasks, truth):
    tasks = export_tasks("ner", "snapshot")
    i = _task(tasks, "a-ner-02")
    (want,) = [
        a
        for t in truth["projects"]["ner"]["tasks"]
        if t["item_id"] == "a-ner-02"
        for a in t["annotations"]
        if a["annotation_id"] == 45
    ]
    ann = next(a for a in tasks[i]["annotations"] if a["id"] == 45)
    by_text = {s["text"]: s for s in want["spans"]}
    for result in ann["result"]:  # what a UTF-16 based editor would have written
        span = by_text[result["value"]["text"]]
        result["value"]["start"], result["value"]["end"] = span["utf16_start"], span["utf16_end"]
    assert any(s["start"] != s["utf16_start"] for s in want["spans"])
    out = parse_reference("ner", "snapshot", tasks=tasks)
    assert out.problems == []
    assert out.stats["spans_repaired_utf16"] == len(want["spans"]) == 4
    (record,) = [r for r in out.annotations if r["source"]["annotation"] == 45]
    assert record["spans"] == sorted(
        ({k: s[k] for k in ("start", "end", "label", "text")} for s in want["spans"]),
        key=lambda s: s["start"],
    )


def test_exports_unrepairable_span_is_reported_dropped_and_counted(parse_reference, export_tasks):
    tasks = export_tasks("ner", "export")
    i = _task(tasks, "a-ner-01")
    j = next(j for j, a in enumerate(tasks[i]["annotations"]) if a["id"] == 42)
    tasks[i]["annotations"][j]["result"][1]["value"]["start"] += 3  # 'Paris' no longer fits
    out = parse_reference("ner", "export", tasks=tasks)
    assert [p.field for p in out.problems] == [f"$[{i}].annotations[{j}].result[1].value.start"]
    assert out.problems[0].path == "inbox/ner.export.json" and "'Paris'" in out.problems[0].message
    assert out.stats["spans_unrepairable"] == 1
    (record,) = [r for r in out.annotations if r["source"]["annotation"] == 42]
    assert [s["text"] for s in record["spans"]] == ["Angela Merkel", "3 May 2019"]


def test_exports_span_out_of_text_without_quote_is_reported(parse_reference, export_tasks):
    tasks = export_tasks("ner", "export")
    value = tasks[0]["annotations"][0]["result"][0]["value"]
    del value["text"]
    value["end"] = 999
    out = parse_reference("ner", "export", tasks=tasks)
    assert [p.field for p in out.problems] == ["$[0].annotations[0].result[0].value.start"]


@pytest.mark.parametrize("newer_first", [False, True])
def test_exports_duplicate_annotation_newest_wins_and_is_counted(parse_reference, export_tasks, newer_first):
    tasks = export_tasks("textcls", "snapshot")
    i = _task(tasks, "a-txt-01")
    old = tasks[i]["annotations"][0]
    new = {
        **old,
        "id": 999,
        "updated_at": "2026-12-01T00:00:00Z",
        "result": [{**old["result"][0], "value": {"choices": ["negative"]}}],
    }
    tasks[i]["annotations"].insert(0 if newer_first else len(tasks[i]["annotations"]), new)
    out = parse_reference("textcls", "snapshot", tasks=tasks)
    (record,) = [
        r for r in out.annotations if r["item_id"] == "a-txt-01" and r["annotator"] == "ann1@example.com"
    ]
    assert (record["label"], record["source"]["annotation"]) == ("negative", 999)
    assert out.stats["superseded"] == 1


def test_exports_duplicate_with_same_time_keeps_higher_annotation_id(parse_reference, export_tasks):
    tasks = export_tasks("imgcls", "export")
    old = tasks[0]["annotations"][0]
    twin = {**old, "id": old["id"] + 1000, "result": [{**old["result"][0], "value": {"choices": ["dog"]}}]}
    tasks[0]["annotations"] = [twin, *tasks[0]["annotations"]]
    out = parse_reference("imgcls", "export", tasks=tasks)
    record = next(r for r in out.annotations if r["item_id"] == "a-img-01" and r["annotator"] == "ls-user-2")
    assert record["label"] == "dog" and out.stats["superseded"] == 1


def test_exports_unknown_class_is_reported_and_kept(parse_reference):
    out = parse_reference("imgcls", "export", classes=["cat", "dog", "other"])
    birds = [r for r in out.annotations if r["label"] == "bird"]
    assert birds and out.stats["unknown_class_labels"] >= len(birds)
    fields = [p.field for p in out.problems]
    assert len(fields) == out.stats["unknown_class_labels"] == 5
    assert all(f.endswith(".value.choices[0]") for f in fields)
    assert "'bird' is not one of ['cat', 'dog', 'other']" in out.problems[0].message
    # Predictions are checked too (a-img-08's 'bird' prediction is only in the snapshot).
    snapshot = parse_reference("imgcls", "snapshot", classes=["cat", "dog", "other"])
    assert [p.field for p in snapshot.problems][-1] == "$[7].predictions[0].result[0].value.choices[0]"


def test_exports_unknown_box_class_names_the_region(parse_reference):
    out = parse_reference("bbox", "min", classes=["car", "person"])
    assert out.problems and all(p.field.endswith(".rectanglelabels[0]") for p in out.problems)
    assert all(p.field.startswith("$[") and ".label[" in p.field for p in out.problems)


def test_exports_empty_single_label_classification_is_skipped(export_tasks, parse_reference):
    tasks = export_tasks("textcls", "export")
    tasks[0]["annotations"][0]["result"] = []
    out = parse_reference("textcls", "export", tasks=tasks)
    assert out.stats["empty_skipped"] == 1
    assert not [r for r in out.annotations if r["source"]["annotation"] == tasks[0]["annotations"][0]["id"]]
    multi = parse_reference("textcls", "export", tasks=tasks, multi_label=True)
    (record,) = [
        r for r in multi.annotations if r["source"]["annotation"] == tasks[0]["annotations"][0]["id"]
    ]
    assert record["labels"] == [] and multi.stats["empty_kept"] == 1


def test_exports_multi_label_choices_follow_class_order(export_tasks, parse_reference):
    tasks = export_tasks("imgcls", "export")
    tasks[0]["annotations"][0]["result"][0]["value"]["choices"] = ["other", "cat"]
    out = parse_reference("imgcls", "export", tasks=tasks, multi_label=True)
    assert out.annotations[0]["labels"] == ["cat", "other"]
    single = parse_reference("imgcls", "export", tasks=tasks)
    assert [p.field for p in single.problems] == ["$[0].annotations[0].result[0].value.choices"]
    assert single.stats["annotations_invalid"] == 1


def test_exports_rectangle_and_labels_pair_into_a_box(export_tasks, parse_reference):
    tasks = export_tasks("bbox", "export")
    result = tasks[0]["annotations"][0]["result"]
    rect = {
        **result[0],
        "type": "rectangle",
        "value": {k: v for k, v in result[0]["value"].items() if k != "rectanglelabels"},
    }
    label = {
        "id": rect["id"],
        "type": "labels",
        "from_name": "tag",
        "to_name": "image",
        "value": {"labels": result[0]["value"]["rectanglelabels"]},
    }
    tasks[0]["annotations"][0]["result"] = [rect, label, *result[1:]]
    assert (
        parse_reference("bbox", "export", tasks=tasks).annotations
        == parse_reference("bbox", "export").annotations
    )


def test_exports_rotated_editor_image_is_reported(export_tasks, parse_reference):
    tasks = export_tasks("bbox", "export")
    tasks[0]["annotations"][0]["result"][0]["image_rotation"] = 90
    out = parse_reference("bbox", "export", tasks=tasks)
    assert [p.field for p in out.problems] == ["$[0].annotations[0].result[0].image_rotation"]
    assert out.stats["regions_invalid"] == 1


def test_exports_item_id_falls_back_to_project_and_task(export_tasks, parse_reference):
    tasks = export_tasks("bbox", "export")
    del tasks[3]["data"]["item_id"]
    out = parse_reference("bbox", "export", tasks=tasks)
    assert "ls-4-28" in {i["item_id"] for i in out.items}
    assert {r["item_id"] for r in out.annotations if r["source"]["task"] == 28} == {"ls-4-28"}
    rows = [{k: v for k, v in row.items() if k != "item_id"} for row in export_tasks("textcls", "min")]
    assert parse_reference("textcls", "min", tasks=rows).items[0]["item_id"] == "ls-10"
    assert parse_reference("textcls", "min", tasks=rows, project=2).items[0]["item_id"] == "ls-2-10"


def test_exports_image_sizes_fill_items_without_results(parse_reference):
    out = parse_reference("imgcls", "export", image_sizes={"a-img-01": (64, 48)})
    assert out.items[0]["data"] == {"image": "images/a-img-01.png", "width": 64, "height": 48}


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/data/local-files/?d=images/a-box-01.png", "images/a-box-01.png"),
        ("http://localhost:8080/data/local-files/?d=images%2Fsub%2Fa%20b.png", "images/sub/a b.png"),
        ("/data/upload/12/1a2b3c4d-cat.png", "cat.png"),
        ("s3://bucket/images/x.png", "s3://bucket/images/x.png"),
        ("./images\\x.png", "images/x.png"),
    ],
)
def test_exports_image_path_from_url(url, path):
    assert image_path_from_url(url) == path


def test_exports_absolute_image_path_is_reported(parse_reference, export_tasks):
    tasks = export_tasks("imgcls", "export")
    tasks[0]["data"]["image"] = "/home/me/cat.png"
    out = parse_reference("imgcls", "export", tasks=tasks)
    assert [p.field for p in out.problems] == ["$[0].data.image"]


BAD_INPUTS = [
    ({"not": "a list"}, "$"),
    (["a string"], "$[0]"),
    ([{"id": 1, "data": None, "annotations": []}], "$[0].data"),
    ([{"id": 1, "data": {"text": "x", "item_id": "t"}, "annotations": {}}], "$[0].annotations"),
    (
        [
            {
                "id": 1,
                "data": {"text": "x", "item_id": "t"},
                "annotations": [{"completed_by": 2, "result": {}}],
            }
        ],
        "$[0].annotations[0].result",
    ),
    (
        [{"id": 1, "data": {"text": "x", "item_id": "t"}, "annotations": [{"result": []}]}],
        "$[0].annotations[0].completed_by",
    ),
    (
        [
            {
                "id": 1,
                "data": {"text": "x", "item_id": "t"},
                "annotations": [{"completed_by": 2, "result": [{"type": "labels", "value": []}]}],
            }
        ],
        "$[0].annotations[0].result[0].value",
    ),
    (
        [
            {
                "id": 1,
                "data": {"text": "abc", "item_id": "t"},
                "annotations": [
                    {
                        "completed_by": 2,
                        "result": [{"type": "labels", "value": {"start": "0", "end": 2, "labels": ["PER"]}}],
                    }
                ],
            }
        ],
        "$[0].annotations[0].result[0].value.start",
    ),
    (
        [
            {
                "id": 1,
                "data": {"text": "abc", "item_id": "t"},
                "annotations": [
                    {
                        "completed_by": 2,
                        "result": [{"type": "labels", "value": {"start": 0, "end": 2, "labels": "PER"}}],
                    }
                ],
            }
        ],
        "$[0].annotations[0].result[0].value.labels",
    ),
    ([{"id": 1, "data": {"text": "abc", "item_id": "t"}, "predictions": ["x"]}], "$[0].predictions[0]"),
    ([{"id": None, "text": "abc", "label": [], "annotator": 2}], "$[0].id"),
    ([{"id": 1, "data": {"text": 5, "item_id": "t"}}], "$[0].data.text"),
    ([{"id": 1, "data": {"text": "abc", "item_id": ""}}], "$[0].data.item_id"),
]


@pytest.mark.parametrize(("tasks", "field"), BAD_INPUTS)
def test_exports_malformed_input_gives_a_problem_not_a_crash(tasks, field):
    out = parse_export(tasks, task_type="ner", classes=["PER"], source_file="inbox/bad.json")
    assert out.problems and out.problems[0].field == field
    assert all(isinstance(p, Problem) and p.path == "inbox/bad.json" for p in out.problems)


def test_exports_malformed_boxes_give_problems(export_tasks, parse_reference):
    tasks = export_tasks("bbox", "export")
    tasks[0]["annotations"][0]["result"][0]["value"]["x"] = None
    tasks[0]["annotations"][1]["result"][0]["value"]["width"] = 0
    out = parse_reference("bbox", "export", tasks=tasks)
    assert [p.field for p in out.problems] == [
        "$[0].annotations[0].result[0].value.x",
        "$[0].annotations[1].result[0].value.width",
    ]
    assert out.stats["regions_invalid"] == 2


def test_exports_box_without_size_uses_the_task_or_image_sizes(export_tasks, parse_reference):
    tasks = export_tasks("bbox", "export")
    reference = parse_reference("bbox", "export").annotations
    tasks[0]["annotations"][2]["result"][0].pop("original_width")  # a sibling result still knows the size
    assert parse_reference("bbox", "export", tasks=tasks).annotations == reference
    for ann in tasks[0]["annotations"]:
        for result in ann["result"] + ann["prediction"]["result"]:
            result.pop("original_width", None)
    out = parse_reference("bbox", "export", tasks=tasks)
    assert out.problems and all(p.field.endswith(".original_width") for p in out.problems)
    fixed = parse_reference("bbox", "export", tasks=tasks, image_sizes={"a-box-01": (640, 480)})
    assert fixed.problems == [] and fixed.annotations == reference


def test_exports_item_in_two_tasks_is_one_item(export_tasks, parse_reference):
    tasks = export_tasks("bbox", "export")
    twin = {**tasks[0], "id": 100, "annotations": [], "predictions": []}
    out = parse_reference("bbox", "export", tasks=[twin, *tasks])
    assert out.problems == [] and len(out.items) == 8
    assert out.items[0]["data"] == {"image": "images/a-box-01.png", "width": 640, "height": 480}
    twin["data"] = {**twin["data"], "image": "/data/local-files/?d=images/other.png"}
    out = parse_reference("bbox", "export", tasks=[twin, *tasks])
    assert [p.field for p in out.problems] == ["$[1].data"]
