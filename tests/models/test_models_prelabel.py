"""Glue of the prelabel stage: prediction records, model version, acceptance, retraining; saved models."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jsonschema
import numpy as np
import pytest

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.labels import new_label_schema, record_schemas
from data_labeling_pipeline.models import (
    WeakClassifier,
    acceptance_rate,
    dumps_model,
    load_model,
    model_meta,
    model_version,
    predictions_from_boxes,
    predictions_from_probabilities,
    predictions_from_spans,
    same_payload,
    save_model,
    should_retrain,
    skip_reason,
    training_set,
)

CLASSES = ["cat", "dog", "bird"]


def _validator(task_type, classes, multi_label=False):
    schema = record_schemas(new_label_schema(task_type, classes, multi_label=multi_label))["prediction"]
    return jsonschema.Draft202012Validator(schema)


def test_models_prelabel_prediction_records_match_the_schema():
    p = np.array([[0.1, 0.7, 0.2], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3]])
    records = predictions_from_probabilities(["c", "a", "b"], p, CLASSES, model_version="v1")
    assert [r["item_id"] for r in records] == ["a", "b", "c"]
    validator = _validator("image_classification", CLASSES)
    for record in records:
        validator.validate(record)
    by_id = {r["item_id"]: r for r in records}
    assert by_id["c"]["label"] == "dog" and by_id["c"]["score"] == 0.7
    assert by_id["a"]["label"] == "cat"  # tie between cat and dog: the lower schema index
    assert by_id["b"]["label"] == "cat" and by_id["b"]["probabilities"] == {"cat": 0.333333, "dog": 0.333333,
                                                                               "bird": 0.333333}


def test_models_prelabel_multi_label_records():
    records = predictions_from_probabilities(["x"], [[0.9, 0.2, 0.5]], CLASSES, model_version="v", multi_label=True)
    assert records[0]["labels"] == ["cat", "bird"] and records[0]["score"] == 0.5
    _validator("image_classification", CLASSES, multi_label=True).validate(records[0])


def test_models_prelabel_span_and_box_records_match_the_schema():
    spans = predictions_from_spans(["t2", "t1"], [[], [{"start": 0, "end": 2, "label": "PER", "score": 0.5},
                                                       {"start": 3, "end": 5, "label": "PER", "score": 1.0}]],
                                   model_version="g")
    assert [(r["item_id"], r["score"]) for r in spans] == [("t1", 0.75), ("t2", None)]
    for record in spans:
        _validator("ner", ["PER"]).validate(record)
    boxes = predictions_from_boxes(["i"], [[{"x": 1, "y": 2, "w": 3, "h": 4, "label": "car", "score": 0.9}]],
                                   model_version="d")
    _validator("bbox", ["car"]).validate(boxes[0])


@pytest.mark.parametrize(("ids", "p", "message"), [
    (["a", "a"], [[0.5, 0.5, 0], [0.5, 0.5, 0]], "unique item ids"),
    (["a"], [[0.5, 0.5]], "shape"),
    (["a"], [[1.5, 0, 0]], "in \\[0, 1\\]"),
    (["a", "b"], [[1, 0, 0]], "one item id per row"),
])
def test_models_prelabel_bad_probabilities_are_data_errors(ids, p, message):
    with pytest.raises(DataError, match=message):
        predictions_from_probabilities(ids, p, CLASSES, model_version="v")


def test_models_prelabel_model_version_hashes_training_data_and_params():
    base = model_version([("a", "cat"), ("b", "dog")], {"C": 1.0, "classes": CLASSES})
    assert base == model_version([("b", "dog"), ("a", "cat")], {"classes": CLASSES, "C": 1.0})
    assert base != model_version([("a", "cat"), ("b", "cat")], {"C": 1.0, "classes": CLASSES})
    assert base != model_version([("a", "cat"), ("b", "dog")], {"C": 2.0, "classes": CLASSES})
    spans = [("t", [{"start": 0, "end": 1, "label": "X"}]), ("t", [{"start": 1, "end": 2, "label": "X"}])]
    assert model_version(spans, {}) == model_version(spans[::-1], {})
    assert model_version([], {"C": np.float64(1.0)}) == model_version([], {"C": 1.0})
    with pytest.raises(DataError, match="plain JSON"):
        model_version([], {"C": float("nan")})


def test_models_prelabel_training_set_and_skip_reason():
    consensus = [{"item_id": "c", "label": "cat", "status": "reviewed"},
                 {"item_id": "a", "label": "dog", "status": "accepted"},
                 {"item_id": "b", "label": "dog", "status": "held"},
                 {"item_id": "d", "status": "accepted"}]
    pairs = training_set(consensus, key="label")
    assert pairs == [("a", "dog"), ("c", "cat")]
    assert "prelabel.min_labels is 50" in skip_reason([p for _, p in pairs], min_labels=50)
    assert skip_reason([p for _, p in pairs], min_labels=2) is None
    assert "two classes" in skip_reason(["dog", "dog"], min_labels=2)
    assert skip_reason([[], []], min_labels=2, classification=False) is None


def test_models_prelabel_acceptance_rate_counts_kept_pre_labels():
    predictions = [{"item_id": "a", "label": "cat"}, {"item_id": "b", "label": "dog"},
                   {"item_id": "c", "label": "cat"}]
    consensus = [{"item_id": "a", "label": "cat", "status": "accepted"},
                 {"item_id": "b", "label": "cat", "status": "reviewed"},
                 {"item_id": "c", "label": "cat", "status": "flagged"},  # not final: not counted
                 {"item_id": "z", "label": "cat", "status": "accepted"}]  # never pre-labelled
    annotations = [{"item_id": "a", "label": "cat", "parent_prediction": 1},
                   {"item_id": "b", "label": "cat", "parent_prediction": 2},
                   {"item_id": "b", "label": "dog", "parent_prediction": 2},
                   {"item_id": "a", "label": "cat", "parent_prediction": None}]
    result = acceptance_rate(predictions, consensus, annotations)
    assert result["consensus"] == {"n": 2, "accepted": 1, "rate": 0.5}
    assert result["annotations"] == {"n": 3, "unchanged": 2, "rate": pytest.approx(2 / 3)}
    empty = acceptance_rate([], consensus, annotations)
    assert empty["consensus"]["rate"] is None and "no pre-labelled item" in empty["consensus"]["reason"]


def test_models_prelabel_same_payload_per_task_type():
    assert same_payload({"labels": ["a", "b"]}, {"labels": ["b", "a"]})
    assert not same_payload({"labels": ["a"]}, {"label": "a"})
    span = {"start": 0, "end": 2, "label": "X"}
    assert same_payload({"spans": [span]}, {"spans": [{**span, "score": 0.3}]})
    assert not same_payload({"spans": [span]}, {"spans": []})
    box = {"x": 0, "y": 0, "w": 10, "h": 10, "label": "car"}
    assert not same_payload({"boxes": [box]}, {"boxes": [{**box, "x": 6}]})  # IoU 0.25
    assert not same_payload({"boxes": [box]}, {"boxes": [{**box, "label": "bus"}]})
    assert same_payload({"boxes": [box, {**box, "x": 50}]}, {"boxes": [{**box, "x": 51}, {**box, "x": 1}]})


def test_models_prelabel_should_retrain_rules():
    meta = model_meta(model_version="m1", n_labels=100, params_version="p")
    assert should_retrain(None, n_labels=10, params_version="p", retrain_every=500) == (True, "no saved model")
    assert should_retrain(meta, n_labels=599, params_version="p", retrain_every=500)[0] is False
    assert should_retrain(meta, n_labels=600, params_version="p", retrain_every=500)[0] is True
    assert "changed" in should_retrain(meta, n_labels=100, params_version="q", retrain_every=500)[1]
    assert "shrank" in should_retrain(meta, n_labels=90, params_version="p", retrain_every=500)[1]


def _fit_text_model():
    texts = ["good movie", "great film!", "bad movie", "awful, awful film"] * 3
    return WeakClassifier("text", classes=["neg", "pos"]).fit(texts, ["pos", "pos", "neg", "neg"] * 3)


def test_models_persist_round_trip_and_same_bytes(tmp_path):
    model = _fit_text_model()
    save_model(model, tmp_path / "models" / "weak.pkl")
    loaded = load_model(tmp_path / "models" / "weak.pkl")
    assert np.array_equal(loaded.predict_proba(["good film"]), model.predict_proba(["good film"]))
    assert dumps_model(model) == dumps_model(_fit_text_model())
    assert dumps_model(model) == (tmp_path / "models" / "weak.pkl").read_bytes()  # predicting changed nothing


def test_models_persist_bytes_do_not_depend_on_the_process():
    # scikit-learn's TfidfVectorizer caches an object id; string hashing changes with the seed.
    code = textwrap.dedent("""
        import hashlib
        from data_labeling_pipeline.models import WeakClassifier, dumps_model
        texts = ["good movie", "great film!", "bad movie", "awful, awful film"] * 3
        model = WeakClassifier("text", classes=["neg", "pos"]).fit(texts, ["pos", "pos", "neg", "neg"] * 3)
        model.predict_proba(["good"])
        print(hashlib.sha256(dumps_model(model)).hexdigest())
    """)
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={"PYTHONHASHSEED": seed, "PATH": ""}) for seed in ("1", "2")]
    digests = {run.communicate(timeout=60)[0] for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 64


def test_models_persist_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="weak.pkl.*not found"):
        load_model(tmp_path / "weak.pkl")
    (tmp_path / "other.pkl").write_bytes(b"\x80\x05N.")
    with pytest.raises(DataError, match="other.pkl.*header missing"):
        load_model(tmp_path / "other.pkl")
    (tmp_path / "cut.pkl").write_bytes(dumps_model(_fit_text_model())[:100])
    with pytest.raises(DataError, match="cut.pkl.*cannot read"):
        load_model(tmp_path / "cut.pkl")


@pytest.mark.parametrize("multi_label", [False, True])
def test_prediction_records_written_as_made_equal_the_sorted_list(tmp_path, multi_label):
    from data_labeling_pipeline.models.prelabel import PredictionRecords
    from data_labeling_pipeline.records import write_jsonl

    rng = np.random.default_rng(3)
    ids = [f"item-{k}" for k in rng.permutation(200)]
    p = rng.dirichlet(np.ones(3), size=200)
    lazy = PredictionRecords(ids, p, ["a", "b", "c"], model_version="v", multi_label=multi_label)
    listed = predictions_from_probabilities(ids, p, ["a", "b", "c"], model_version="v", multi_label=multi_label)
    assert len(lazy) == 200 and list(lazy) == listed and list(lazy) == listed  # iterated again, same records
    write_jsonl(tmp_path / "lazy.jsonl", lazy, sort=False)
    write_jsonl(tmp_path / "list.jsonl", listed)
    assert (tmp_path / "lazy.jsonl").read_bytes() == (tmp_path / "list.jsonl").read_bytes()
    with pytest.raises(DataError, match="probabilities"):
        PredictionRecords(ids, p[:, :2], ["a", "b", "c"], model_version="v")  # checked when built, not when written
