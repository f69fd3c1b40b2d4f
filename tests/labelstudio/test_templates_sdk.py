"""The generated label configs, read by label-studio-sdk's own config parser (LabelInterface)."""

from __future__ import annotations

import pytest

from data_labeling_pipeline.labelstudio.label_config import label_config

pytest.importorskip("label_studio_sdk")

ODD_NAMES = ["cat", "a & b", "<tag>", 'say "hi"', "it's", "über"]
EXPECTED = {  # task type -> (control tag, object tag, object data key)
    "image_classification": ("Choices", "Image", "$image"),
    "text_classification": ("Choices", "Text", "$text"),
    "ner": ("Labels", "Text", "$text"),
    "bbox": ("RectangleLabels", "Image", "$image"),
}


@pytest.mark.parametrize("task_type,multi_label", [(t, False) for t in sorted(EXPECTED)] + [
    ("image_classification", True), ("text_classification", True)])
def test_the_sdk_parses_every_template_with_the_schema_classes_in_order(task_type, multi_label):
    from label_studio_sdk.label_interface import LabelInterface

    parsed = LabelInterface(label_config(task_type, ODD_NAMES, multi_label=multi_label))
    control_tag, object_tag, value = EXPECTED[task_type]
    [control] = parsed.controls
    [obj] = parsed.objects
    assert (control.name, control.tag, control.labels) == ("label", control_tag, ODD_NAMES)
    assert (obj.tag, obj.value) == (object_tag, value)
    assert control.to_name == [obj.name]
    if control_tag == "Choices":
        assert control.attr["choice"] == ("multiple" if multi_label else "single")


def test_dlp_init_writes_the_template_of_the_schema(tmp_path, tool_env):
    from label_studio_sdk.label_interface import LabelInterface

    from data_labeling_pipeline.config import with_defaults
    from data_labeling_pipeline.repo.scaffold import create_project

    params = with_defaults({"project": {"name": "odd", "task_type": "ner", "classes": ODD_NAMES}})
    root = create_project(params, tmp_path / "odd")
    [control] = LabelInterface((root / "schema/label_config.xml").read_text("utf-8")).controls
    assert control.labels == ODD_NAMES
