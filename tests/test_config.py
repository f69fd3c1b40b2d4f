from __future__ import annotations

import pytest

from data_labeling_pipeline.config import dump_params, load_params, with_defaults
from data_labeling_pipeline.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = "project:\n  name: p\n  task_type: ner\n  classes: [PER, LOC]\n"


def test_config_defaults_fill_every_section(tmp_path):
    params = load_params(write(tmp_path, BASE))
    assert params["quality"]["min_annotators_per_sample"] == 2
    assert params["export"]["train_val_split"] == 0.85
    assert params["pull"] == {"source": "files", "inbox": "inbox", "on_invalid": "fail"}
    assert params["project"]["label_studio"]["api_key_env"] == "LABEL_STUDIO_API_KEY"


def test_config_unknown_key_and_wrong_type_name_line_and_key(tmp_path):
    path = write(tmp_path, BASE + "quality:\n  agreement_threshold: high\n  kappa_min: 0.5\nexport:\n  formats: [coco, tiff]\n")
    with pytest.raises(ConfigError) as err:
        load_params(path, display_path="params.yaml")
    lines = str(err.value).splitlines()
    assert lines[0] == "params.yaml:6: $.quality.agreement_threshold: 'high' is not of type 'number'"
    assert lines[1].startswith("params.yaml:7: $.quality.kappa_min: unknown key; expected one of ['agreement_metric'")
    assert lines[2].startswith("params.yaml:9: $.export.formats[1]: 'tiff' is not one of ['coco'")


def test_config_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"params.yaml:5: \$.trainer: unknown key"):
        load_params(write(tmp_path, BASE + "trainer: {}\n"), display_path="params.yaml")


def test_config_invalid_yaml_names_line(tmp_path):
    with pytest.raises(ConfigError, match=r"params.yaml:4: invalid YAML: expected .,. or .\]."):
        load_params(write(tmp_path, "project:\n  name: p\n  task_type: [ner\n"), display_path="params.yaml")


def test_config_missing_required_key(tmp_path):
    with pytest.raises(ConfigError, match=r"\$.project: 'classes' is a required property"):
        load_params(write(tmp_path, "project:\n  name: p\n  task_type: ner\n"))


def test_config_dump_round_trips_in_schema_order(tmp_path):
    params = with_defaults({"project": {"name": "p", "task_type": "bbox", "classes": ["car"]}})
    text = dump_params(params)
    assert text.index("project:") < text.index("quality:") < text.index("export:")
    assert load_params(write(tmp_path, text)) == params


def test_config_example_file_is_valid():
    from pathlib import Path

    example = Path(__file__).parents[1] / "config.example.yaml"
    params = load_params(example)
    assert params["project"]["task_type"] in ("image_classification", "text_classification", "ner", "bbox")
