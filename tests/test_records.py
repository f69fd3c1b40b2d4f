from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.checks import annotation_checker, item_checker
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.labels import new_label_schema, record_schemas
from data_labeling_pipeline.records import (
    Validator,
    canonical_bytes,
    canonical_line,
    iter_records,
    pretty_json_bytes,
    read_records,
    write_jsonl,
)

SCHEMA = new_label_schema("image_classification", ["cat", "dog"])
ANNOTATION = record_schemas(SCHEMA)["annotation"]


def ann(item_id="a", annotator="x", **extra):
    return {"item_id": item_id, "annotator": annotator, "schema_version": 1, "label": "cat", **extra}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_records_error_names_file_line_and_field(tmp_path):
    lines = [json.dumps(ann(f"i{n}")) for n in range(41)] + [json.dumps({**ann("i41"), "label": "cow"})]
    path = write_lines(tmp_path / "x.jsonl", lines)
    with pytest.raises(DataError) as err:
        read_records(path, Validator(ANNOTATION), display_path="annotations/x.jsonl")
    assert str(err.value) == "annotations/x.jsonl:42: $.label: 'cow' is not one of ['cat', 'dog']"
    assert isinstance(err.value, ValueError)


def test_records_iter_yields_the_valid_records_then_raises_what_read_records_raises(tmp_path):
    lines = [json.dumps(ann("a")), "{not json", json.dumps({**ann("c"), "label": "cow"}), json.dumps(ann("d"))]
    path = write_lines(tmp_path / "x.jsonl", lines)
    seen = []
    with pytest.raises(DataError) as streamed:
        for record in iter_records(path, Validator(ANNOTATION), display_path="x.jsonl", fields=("item_id",)):
            seen.append(record)
    assert seen == [{"item_id": "a"}, {"item_id": "d"}]  # valid records, only the fields asked for
    with pytest.raises(DataError) as read:
        read_records(path, Validator(ANNOTATION), display_path="x.jsonl")
    assert str(streamed.value) == str(read.value)
    assert "x.jsonl:2: " in str(read.value) and "x.jsonl:3: $.label: 'cow'" in str(read.value)
    good = write_lines(tmp_path / "y.jsonl", [json.dumps(ann(i)) for i in "ab"])
    assert list(iter_records(good, Validator(ANNOTATION))) == read_records(good, Validator(ANNOTATION))


def test_records_collects_every_error_once(tmp_path):
    lines = [
        json.dumps(ann("a")),
        "{not json",
        json.dumps({"item_id": "b", "annotator": "x", "schema_version": 1}),
        "",
        json.dumps({**ann("c"), "extra": 1}),
        json.dumps({**ann("d"), "schema_version": "1"}),
    ]
    path = write_lines(tmp_path / "x.jsonl", lines)
    with pytest.raises(DataError) as err:
        read_records(path, Validator(ANNOTATION), display_path="x.jsonl")
    found = [(p.line, p.field) for p in err.value.problems]
    assert found == [(2, ""), (3, "$"), (5, "$"), (6, "$.schema_version")]
    text = str(err.value)
    assert "x.jsonl:2: invalid JSON" in text
    assert "x.jsonl:3: $: 'label' is a required property" in text
    assert "'extra' was unexpected" in text


def test_records_error_list_is_capped(tmp_path):
    path = write_lines(tmp_path / "x.jsonl", [json.dumps({**ann(f"i{n}"), "label": "cow"}) for n in range(80)])
    with pytest.raises(DataError) as err:
        read_records(path, Validator(ANNOTATION))
    assert len(err.value.problems) == 50
    assert err.value.truncated
    assert str(err.value).endswith("... more errors not shown (stopped after 50)")


def test_records_semantic_checks(tmp_path):
    schema = new_label_schema("ner", ["PER", "LOC"])
    validator = Validator(record_schemas(schema)["annotation"])
    items = {"t1": {"item_id": "t1", "data": {"text": "Ada in Oslo"}}}
    lines = [
        json.dumps({"item_id": "t1", "annotator": "a", "schema_version": 1, "spans": [{"start": 7, "end": 11, "label": "LOC"}]}),
        json.dumps({"item_id": "t1", "annotator": "b", "schema_version": 1, "spans": [{"start": 7, "end": 20, "label": "LOC"}]}),
        json.dumps({"item_id": "t1", "annotator": "c", "schema_version": 1, "spans": [{"start": 3, "end": 3, "label": "LOC"}]}),
        json.dumps({"item_id": "t1", "annotator": "a", "schema_version": 1, "spans": []}),
        json.dumps({"item_id": "t9", "annotator": "a", "schema_version": 1, "spans": []}),
        json.dumps({"item_id": "t1", "annotator": "d", "schema_version": 1,
                    "spans": [{"start": 0, "end": 3, "label": "PER", "text": "Bob"}]}),
    ]
    path = write_lines(tmp_path / "ner.jsonl", lines)
    with pytest.raises(DataError) as err:
        read_records(path, validator, check=annotation_checker(items), display_path="ner.jsonl")
    messages = str(err.value).splitlines()
    assert messages[0] == "ner.jsonl:2: $.spans[0].end: 20 is beyond the text (length 11 code points)"
    assert messages[1] == "ner.jsonl:3: $.spans[0]: start 3 must be < end 3"
    assert messages[2].startswith("ner.jsonl:4: $.annotator: duplicate record for item 't1' and annotator 'a'")
    assert messages[3] == "ner.jsonl:5: $.item_id: 't9' is not in items.jsonl; ingest or pull the item first"
    assert messages[4] == "ner.jsonl:6: $.spans[0].text: 'Bob' does not match the item text at 0:3 ('Ada')"


def test_records_box_outside_image_is_an_error(tmp_path):
    schema = new_label_schema("bbox", ["car"])
    validator = Validator(record_schemas(schema)["annotation"])
    items = {"i": {"item_id": "i", "data": {"image": "i.png", "width": 100, "height": 50}}}
    ok = {"item_id": "i", "annotator": "a", "schema_version": 1, "boxes": [{"x": 0, "y": 0, "w": 100, "h": 50, "label": "car"}]}
    bad = {**ok, "annotator": "b", "boxes": [{"x": 60, "y": 0, "w": 50, "h": 10, "label": "car"}]}
    zero = {**ok, "annotator": "c", "boxes": [{"x": 1, "y": 1, "w": 0, "h": 10, "label": "car"}]}
    path = write_lines(tmp_path / "b.jsonl", [json.dumps(r) for r in (ok, bad, zero)])
    with pytest.raises(DataError) as err:
        read_records(path, validator, check=annotation_checker(items), display_path="b.jsonl")
    lines = str(err.value).splitlines()
    assert lines[0] == "b.jsonl:2: $.boxes[0]: box x=60 y=0 w=50 h=10 is outside the 100x50 image"
    assert lines[1] == "b.jsonl:3: $.boxes[0].w: 0 is less than or equal to the minimum of 0"


def test_records_duplicate_item_ids(tmp_path):
    item = {"item_id": "a", "data": {"text": "hi"}}
    path = write_lines(tmp_path / "items.jsonl", [json.dumps(item), json.dumps(item)])
    with pytest.raises(DataError, match=r"items.jsonl:2: \$.item_id: duplicate item 'a'"):
        read_records(path, check=item_checker(), display_path="items.jsonl")


def test_records_canonical_writer_is_sorted_and_byte_stable(tmp_path):
    records = [ann("b", "y", note="é"), ann("a", "z"), ann("a", "x")]
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    write_jsonl(first, records)
    write_jsonl(second, list(reversed(records)))
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text("utf-8").splitlines()
    assert [json.loads(line)["item_id"] + json.loads(line)["annotator"] for line in lines] == ["ax", "az", "by"]
    assert lines[2] == '{"annotator":"y","item_id":"b","label":"cat","note":"é","schema_version":1}'
    assert list(tmp_path.iterdir()) == [first, second] or sorted(tmp_path.iterdir()) == sorted([first, second])


def test_records_failed_write_leaves_old_file(tmp_path):
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [ann("a")])
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_jsonl(path, [ann("b", score=float("nan"))])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.jsonl"]


def test_records_canonical_line_rejects_nan():
    with pytest.raises(ValueError):
        canonical_line({"x": float("inf")})


BOX_SCHEMA = record_schemas(new_label_schema("bbox", ["car", "person"]))["annotation"]
values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False),
                   st.sampled_from(["car", "person", "", "x"]))
box = st.dictionaries(st.sampled_from(["x", "y", "w", "h", "label", "rotation", "iscrowd", "bogus"]), values)
record = st.fixed_dictionaries(
    {"item_id": st.sampled_from(["a", "", 3]), "annotator": st.sampled_from(["x", ""]),
     "schema_version": st.sampled_from([1, 0, True, 1.0])},
    optional={"boxes": st.lists(box, max_size=3), "label": values, "lead_time": values,
              "source": st.dictionaries(st.sampled_from(["kind", "task", "file"]), values), "extra": values},
)


@settings(max_examples=400, deadline=None)
@given(record)
def test_records_fast_validator_agrees_with_jsonschema(value):
    reference = jsonschema.Draft202012Validator(BOX_SCHEMA).is_valid(value)
    assert Validator(BOX_SCHEMA).is_valid(value) == reference


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e-3, 1e-3), st.floats(1e14, 1e18),
    st.text(), st.sampled_from(["1e5", ":0.00001", "2026-11-01T10:00:00.000000Z", "\u2028\x00\x1f\x7f", "é😀"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_records_fast_writer_gives_the_canonical_bytes(record):
    """orjson writes the lines where it can: the bytes must be canonical_line's, or both refuse."""
    try:
        expected = (canonical_line(record) + "\n").encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        with pytest.raises(type(exc)):
            canonical_bytes(record)
        return
    assert canonical_bytes(record) == expected
    try:
        pretty = (json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
    except (ValueError, UnicodeEncodeError) as exc:
        with pytest.raises(type(exc)):
            pretty_json_bytes(record)
        return
    assert pretty_json_bytes(record) == pretty


@pytest.mark.parametrize("value", [1e-05, 9.999e-05, 0.0001, 1e16, 9999999999999998.0, 2**64, 2**70, -0.0, 5e-324])
def test_records_fast_writer_edge_numbers(value):
    record = {"x": value, "nested": [{"y": value}], "project": None, "empty": [], "none": {}}
    assert canonical_bytes(record) == (canonical_line(record) + "\n").encode()
    assert pretty_json_bytes(record) == (json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def test_records_fast_writers_refuse_nan_like_the_stdlib():
    for value in (float("nan"), float("inf"), [1, {"a": float("-inf")}]):
        with pytest.raises(ValueError):
            canonical_bytes({"x": value, "y": None})
        with pytest.raises(ValueError):
            pretty_json_bytes({"x": value, "y": None})


def test_records_data_errors_survive_pickling():
    """A DataError raised in a Dask worker reaches the user with its problems, not its message split up."""
    import pickle

    from data_labeling_pipeline.errors import ConfigError, Problem
    from data_labeling_pipeline.imagestore import ImageUnreachable

    for error in (DataError([Problem("a.json", 3, "$.x", "bad")], truncated=True), ConfigError.single("p", 1, "k", "no"),
                  ImageUnreachable("s3://b/x.png", "not found", hint="dlp ingest")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert copy.problems == error.problems and copy.truncated == error.truncated
