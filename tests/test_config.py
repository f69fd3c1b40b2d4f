from __future__ import annotations

from pathlib import Path

import pytest

from data_labeling_pipeline.config import LEGACY_NAMES, dump_params, load_params, with_defaults
from data_labeling_pipeline.errors import ConfigError

SEED = Path(__file__).parent / "assets/config/seed.config.yaml"


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = "project:\n  name: p\n  task_type: ner\n  classes: [PER, LOC]\n"


def test_config_defaults_fill_every_section(tmp_path):
    params = load_params(write(tmp_path, BASE))
    assert params["quality"]["min_annotators_per_sample"] == 2
    assert params["export"]["train_val_split"] == 0.85
    assert params["pull"] == {"source": "files", "inbox": "inbox", "on_invalid": "fail", "control": None,
                              "data_key": None, "timeout": 60, "retries": 4, "backoff": 0.5, "page_size": 500,
                              "incremental": True}
    assert params["project"]["label_studio"]["routing"] == "shared"
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
    example = Path(__file__).parents[1] / "config.example.yaml"
    params = load_params(example)
    assert params["project"]["task_type"] in ("image_classification", "text_classification", "ner", "bbox")


def test_config_seed_file_loads_in_canonical_form():
    from data_labeling_pipeline.config import read_params

    params, warnings = read_params(SEED)
    assert warnings == []
    assert params["export"]["formats"] == ["coco"] and "format" not in params["export"]
    assert params["export"]["output_dir"] == "labeled_data"
    assert params["quality"]["auto_flag_low_confidence"] == 0.7
    assert params["quality"]["agreement_threshold"] == 0.75 and params["quality"]["review_gate"] is True
    al = params["active_learning"]
    assert al["enabled"] is True and al["strategy"] == "uncertainty"
    assert al["model_checkpoint"] == "models/weak_classifier.pt"  # need not exist
    assert al["query_batch_size"] == 100 and al["retrain_every_n_labels"] == 500
    assert params["prelabel"] == {"enabled": True, "min_labels": 50, "trust_checkpoint": False, "engine": "local",
                                  "scheduler": None, "shards": 8, "batch_size": 256, "cv_folds": 5, "max_train_labels": 20000,
                                  "seed": 0}


def test_config_seed_file_dump_round_trips(tmp_path):
    params = load_params(SEED)
    text = dump_params(params)
    assert "format:" not in text.replace("formats:", "") and "./" not in text
    assert load_params(write(tmp_path, text)) == params
    assert dump_params(load_params(write(tmp_path, text))) == text


@pytest.mark.parametrize("section, legacy, canonical", [(s, k, c) for (s, k), c in LEGACY_NAMES.items()])
def test_config_legacy_name_loads_with_a_warning(tmp_path, section, legacy, canonical):
    from data_labeling_pipeline.config import read_params

    path = write(tmp_path, BASE + f"{section}:\n  {legacy}: 7\n")
    params, warnings = read_params(path, display_path="params.yaml")
    assert params[section][canonical] == 7 and legacy not in params[section]
    assert [str(w) for w in warnings] == [f"params.yaml:6: $.{section}.{legacy}: a legacy name; use {canonical}"]
    with pytest.raises(ConfigError) as err:
        load_params(write(tmp_path, BASE + f"{section}:\n  {legacy}: 7\n  {canonical}: 8\n"), display_path="params.yaml")
    assert str(err.value).startswith(f"params.yaml:6: $.{section}.{legacy}: given together with "
                                     f"$.{section}.{canonical} (line 7)")


def test_config_schema_marks_exactly_the_legacy_names_deprecated():
    from data_labeling_pipeline.config import params_schema

    schema = params_schema()["properties"]
    deprecated = {(s, k) for s, sub in schema.items() for k, v in sub.get("properties", {}).items()
                  if v.get("deprecated")}
    assert deprecated == set(LEGACY_NAMES)
    for (section, legacy), canonical in LEGACY_NAMES.items():
        assert "default" not in schema[section]["properties"][legacy]  # a default would shadow the canonical one
        assert canonical in schema[section]["properties"]


def test_config_export_format_or_formats_not_both(tmp_path):
    one = load_params(write(tmp_path, BASE + "export:\n  format: csv\n"))
    assert one["export"]["formats"] == ["csv"] and "format" not in one["export"]
    several = load_params(write(tmp_path, BASE + "export:\n  formats: [csv, spacy]\n"))
    assert several["export"]["formats"] == ["csv", "spacy"]
    with pytest.raises(ConfigError) as err:
        load_params(write(tmp_path, BASE + "export:\n  format: csv\n  train_val_split: 0.8\n  formats: [csv]\n"),
                    display_path="params.yaml")
    message = str(err.value)
    assert message.startswith("params.yaml:6: $.export.format: given together with $.export.formats (line 8)")
    assert "got both" in message and "keep format: csv for one format or formats: [...] for several" in message


def test_config_export_format_that_cannot_carry_the_task_names_the_key_as_written(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_params(write(tmp_path, BASE + "export:\n  format: coco\n"), display_path="params.yaml")
    assert str(err.value).startswith("params.yaml:6: $.export.format: coco cannot carry ner labels; use one of")


@pytest.mark.parametrize("written, loaded", [("true", 0.7), ("false", None), ("null", None), ("0.55", 0.55),
                                             ("0", 0)])
def test_config_auto_flag_low_confidence_true_false_or_a_number(tmp_path, written, loaded):
    params = load_params(write(tmp_path, BASE + f"quality:\n  auto_flag_low_confidence: {written}\n"))
    assert params["quality"]["auto_flag_low_confidence"] == loaded
    assert type(params["quality"]["auto_flag_low_confidence"]) is type(loaded)
    assert load_params(write(tmp_path, dump_params(params))) == params


def test_config_auto_flag_low_confidence_out_of_range(tmp_path):
    with pytest.raises(ConfigError, match=r"params.yaml:6: \$.quality.auto_flag_low_confidence: 1.5 is greater"):
        load_params(write(tmp_path, BASE + "quality:\n  auto_flag_low_confidence: 1.5\n"), display_path="params.yaml")


@pytest.mark.parametrize("written, stored", [("./labeled_data/", "labeled_data"), ("out//exports/", "out/exports"),
                                             ("data/../labeled", "labeled")])
def test_config_output_dir_is_normalised(tmp_path, written, stored):
    params = load_params(write(tmp_path, BASE + f"export:\n  output_dir: {written}\n"))
    assert params["export"]["output_dir"] == stored


@pytest.mark.parametrize("written", [".", "./", "..", "../elsewhere", "/tmp/labeled"])
def test_config_output_dir_outside_the_project_is_an_error(tmp_path, written):
    with pytest.raises(ConfigError) as err:
        load_params(write(tmp_path, BASE + f"export:\n  output_dir: {written}\n"), display_path="params.yaml")
    assert str(err.value).startswith("params.yaml:6: $.export.output_dir: expected a folder inside the project")
    assert f"got {written!r}" in str(err.value)


def test_config_model_checkpoint_need_not_exist(tmp_path):
    params = load_params(write(tmp_path, BASE + "active_learning:\n  model_checkpoint: ./models//w.pt\n"))
    assert params["active_learning"]["model_checkpoint"] == "models/w.pt"
    assert not (tmp_path / "models").exists()
    assert load_params(write(tmp_path, BASE))["active_learning"]["model_checkpoint"] is None


def test_config_new_sections_defaults_and_checks(tmp_path):
    params = load_params(write(tmp_path, BASE))
    q, al = params["quality"], params["active_learning"]
    assert (q["max_annotators_per_sample"], q["review_budget"], q["min_estimated_accuracy"], q["model_votes"]) == (
        5, 0.15, None, False)
    assert (al["enabled"], al["uncertainty_measure"], al["committee_size"], al["prefilter_factor"]) == (
        True, "margin", 5, 10)
    for value in ("auto", "1.5", "false"):
        load_params(write(tmp_path, BASE + f"quality:\n  model_votes: {value}\n"))
    for value in ("0.5", "40", "null"):
        load_params(write(tmp_path, BASE + f"quality:\n  review_budget: {value}\n"))
    with pytest.raises(ConfigError, match=r"\$.quality.model_votes: True is not valid"):
        load_params(write(tmp_path, BASE + "quality:\n  model_votes: true\n"))
    with pytest.raises(ConfigError) as err:
        load_params(write(tmp_path, BASE + "quality:\n  min_annotators_per_sample: 3\n  max_annotators_per_sample: 2\n"),
                    display_path="params.yaml")
    assert str(err.value) == ("params.yaml:7: $.quality.max_annotators_per_sample: expected at least "
                              "min_annotators_per_sample (3), got 2; raise it or lower min_annotators_per_sample")
    with pytest.raises(ConfigError, match=r"params.yaml:6: \$.prelabel.engine: 'spark' is not one of"):
        load_params(write(tmp_path, BASE + "prelabel:\n  engine: spark\n"), display_path="params.yaml")


def _schema_keys(schema, prefix=""):
    for key, sub in schema.get("properties", {}).items():
        yield f"{prefix}{key}"
        yield from _schema_keys(sub, f"{prefix}{key}.")


def _file_keys(value, prefix=""):
    if isinstance(value, dict):
        for key, sub in value.items():
            yield f"{prefix}{key}"
            yield from _file_keys(sub, f"{prefix}{key}.")


def test_config_example_documents_every_key():
    import yaml

    from data_labeling_pipeline.config import params_schema, read_params

    example = Path(__file__).parents[1] / "config.example.yaml"
    text = example.read_text("utf-8")
    params, warnings = read_params(example)
    assert warnings == []
    written = set(_file_keys(yaml.safe_load(text)))
    legacy = {f"{s}.{k}" for s, k in LEGACY_NAMES}
    # format and formats exclude each other: the file has one, a comment names the other.
    missing = set(_schema_keys(params_schema())) - written - legacy - {"export.format", "export.formats"}
    assert missing == set()
    assert {"export.format", "export.formats"} & written
    comments = "\n".join(line.partition("#")[2] for line in text.splitlines())
    assert "formats: [" in comments and "format" in comments
    for _section, key in LEGACY_NAMES:
        assert f"legacy name: {key}" in comments
    # The seed's short config is a subset of the example, with the same values.
    seed = yaml.safe_load(SEED.read_text("utf-8"))
    for section, block in seed.items():
        for key, value in block.items():
            assert yaml.safe_load(text)[section][key] == value, f"{section}.{key}"


def test_config_enabled_flags_choose_pipeline_stages(tmp_path):
    from data_labeling_pipeline.repo import pipeline

    params = load_params(SEED)
    assert list(pipeline.pipeline_stages(params)) == ["pull", "prelabel", "agree", "select", "export", "report"]
    assert pipeline.pipeline_stages(params)["export"]["outs"] == ["labeled_data"]
    # The seed's checkpoint is a dep of prelabel once the file is there (dvc refuses a missing dep).
    assert "models/weak_classifier.pt" not in pipeline.pipeline_stages(params, tmp_path)["prelabel"]["deps"]
    (tmp_path / "models").mkdir()
    (tmp_path / "models/weak_classifier.pt").write_bytes(b"")
    assert "models/weak_classifier.pt" in pipeline.pipeline_stages(params, tmp_path)["prelabel"]["deps"]
    params["active_learning"]["enabled"] = False
    assert list(pipeline.pipeline_stages(params)) == ["pull", "prelabel", "agree", "export", "report"]
    assert "select" not in pipeline.dvc_yaml(params)
    params["prelabel"]["enabled"] = False
    assert list(pipeline.pipeline_stages(params)) == ["pull", "agree", "export", "report"]
    assert "annotations/predictions.jsonl" not in pipeline.dvc_yaml(params)
