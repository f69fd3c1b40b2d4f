"""label_config: XML label configs for the four task types."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from conftest import ASSETS, TASK_TYPES

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.labelstudio.label_config import label_config


def _shape(element):
    """Tags and attributes of a config, ignoring label colours."""
    attrs = {k: v for k, v in element.attrib.items() if k != "background"}
    return (element.tag, attrs, [_shape(child) for child in element])


@pytest.mark.parametrize("key", TASK_TYPES)
def test_label_config_matches_the_reference_config(truth, key):
    reference = ET.fromstring((ASSETS / f"{key}.config.xml").read_text(encoding="utf-8"))
    control = next(child for child in reference if "toName" in child.attrib)
    ours = ET.fromstring(
        label_config(TASK_TYPES[key], truth["projects"][key]["labels"], from_name=control.attrib["name"])
    )
    assert _shape(ours) == _shape(reference)


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES.values()))
def test_label_config_escapes_and_names_every_class(task_type):
    classes = [{"id": 1, "name": 'a & "b"'}, {"id": 2, "name": "<c>"}, {"id": 3, "name": "d'e"}]
    root = ET.fromstring(label_config(task_type, classes))
    values = [e.attrib["value"] for e in root.iter() if e.tag in ("Label", "Choice")]
    assert values == ['a & "b"', "<c>", "d'e"]
    control = next(e for e in root if "toName" in e.attrib)
    assert control.attrib["name"] == "label"
    assert control.attrib["toName"] == ("image" if task_type in ("bbox", "image_classification") else "text")


def test_label_config_multi_label_choices():
    root = ET.fromstring(label_config("image_classification", ["cat", "dog"], multi_label=True))
    assert root.find("Choices").attrib["choice"] == "multiple"


def test_label_config_unknown_task_type_raises():
    with pytest.raises(DataError, match="is not one of"):
        label_config("segmentation", ["a"])
