from __future__ import annotations

import pytest

from data_labeling_pipeline.errors import ConfigError
from data_labeling_pipeline.labels import check_label_schema, extend_label_schema, new_label_schema, record_schemas


def test_labels_new_schema_has_explicit_ids_in_given_order():
    schema = new_label_schema("bbox", ["zebra", "apple"])
    assert schema["classes"] == [{"id": 1, "name": "zebra"}, {"id": 2, "name": "apple"}]
    assert schema["schema_version"] == 1


def test_labels_extend_appends_and_never_renumbers():
    schema = {"task_type": "ner", "schema_version": 3, "multi_label": False,
              "classes": [{"id": 7, "name": "PER"}, {"id": 2, "name": "ORG"}], "history": []}
    out = extend_label_schema(schema, ["ORG", "LOC", "PER", "DATE"])
    assert out["classes"] == [{"id": 7, "name": "PER"}, {"id": 2, "name": "ORG"},
                              {"id": 8, "name": "LOC"}, {"id": 9, "name": "DATE"}]
    assert out["schema_version"] == 4
    assert extend_label_schema(out, ["PER"]) == out


def test_labels_check_lists_every_problem():
    bad = {"task_type": "segmentation", "schema_version": 0, "colour": 1,
           "classes": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}, {"id": 3, "name": "a"}, {"id": -1, "name": " c"}]}
    with pytest.raises(ConfigError) as err:
        check_label_schema(bad, "schema/labels.yaml")
    text = str(err.value)
    assert "schema/labels.yaml: $.colour: unknown key" in text
    assert "$.task_type: 'segmentation' is not one of" in text
    assert "$.schema_version: expected an integer >= 1, got 0" in text
    assert "$.classes[1].id: id 1 is already used by classes[0]" in text
    assert "$.classes[2].name: 'a' is already classes[0]" in text
    assert "$.classes[3].id: expected an integer >= 0, got -1" in text
    assert "$.classes[3].name: expected a non-empty name without surrounding spaces" in text


def test_labels_record_schemas_require_the_task_payload():
    schemas = record_schemas(new_label_schema("ner", ["PER"]))
    assert "spans" in schemas["annotation"]["required"]
    assert schemas["annotation"]["$defs"]["class_name"] == {"enum": ["PER"]}
    assert schemas["item"]["properties"]["data"] == {"$ref": "#/$defs/text"}
    assert "spans" in schemas["prediction"]["required"]
    multi = record_schemas(new_label_schema("text_classification", ["a", "b"], multi_label=True))
    assert "labels" in multi["annotation"]["required"]
