"""The prelabel stage on real files: the default weak models, user checkpoints, shards and Dask."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.config import dump_params
from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.project import EMBEDDING_IDS, EMBEDDINGS, PREDICTIONS, Project
from data_labeling_pipeline.records import write_jsonl
from data_labeling_pipeline.stages.prelabel import METRICS, MODEL, run_prelabel
from data_labeling_pipeline.stages.pull import run_pull
from data_labeling_pipeline.stages.quickstart import write_demo_data

DIGITS = [str(d) for d in range(10)]
OUTPUTS = (PREDICTIONS, EMBEDDINGS, EMBEDDING_IDS, METRICS, MODEL)


def digits(bare_project, n_items=400, n_labelled=200, **sections):
    project = bare_project("image_classification", DIGITS, **sections)
    write_demo_data(project, n_items=n_items, n_labelled=n_labelled, track=False)
    run_pull(project)
    return project


def lines(project, relative):
    return [json.loads(line) for line in project.path(relative).read_text("utf-8").splitlines()]


def set_params(project, **sections):
    params = dict(project.params)
    for name, values in sections.items():
        params[name] = {**params[name], **values}
    project.path("params.yaml").write_text(dump_params(params), "utf-8")
    return Project(project.root)


def test_prelabel_digits_predictions_embeddings_and_metrics(bare_project):
    project = digits(bare_project)
    summary = run_prelabel(project)
    predictions = lines(project, PREDICTIONS)
    assert len(predictions) == 400 and summary.metrics["trained"] == 1
    for record in predictions:
        assert abs(sum(record["probabilities"].values()) - 1) < 1e-5
        assert record["label"] == max(DIGITS, key=lambda c: (record["probabilities"][c], -DIGITS.index(c)))
    truth = json.loads(project.path("demo_truth.json").read_text("utf-8"))
    accuracy = np.mean([p["label"] == truth[p["item_id"]] for p in predictions])
    assert accuracy > 0.85 and summary.metrics["cv_accuracy"] > 0.8 and summary.metrics["cv_accuracy_std"] >= 0
    embeddings = np.load(project.path(EMBEDDINGS))
    ids = json.loads(project.path(EMBEDDING_IDS).read_text("utf-8"))["item_ids"]
    assert embeddings.dtype == np.float32 and embeddings.shape == (400, 64) and ids == sorted(ids)
    assert "cross-validated accuracy" in summary.describe()


def test_prelabel_reuses_the_saved_model_until_enough_new_labels(bare_project):
    project = digits(bare_project)
    run_prelabel(project)
    first = {name: project.path(name).read_bytes() for name in OUTPUTS if name != METRICS}
    again = run_prelabel(project)
    assert again.metrics["trained"] == 0
    assert {name: project.path(name).read_bytes() for name in first} == first  # same inputs, same bytes
    project = set_params(project, active_learning={"retrain_every_n_labels": 1}, prelabel={"seed": 0})
    assert run_prelabel(project).metrics["trained"] == 0  # no new label since the saved model
    project = set_params(project, prelabel={"seed": 1})
    assert run_prelabel(project).metrics["trained"] == 1  # params changed


def test_prelabel_too_few_labels_still_succeeds_without_predictions(bare_project):
    project = digits(bare_project, prelabel={"min_labels": 10_000})
    summary = run_prelabel(project)
    assert project.path(PREDICTIONS).read_text("utf-8") == ""
    metrics = json.loads(project.path(METRICS).read_text("utf-8"))
    assert metrics["skipped_too_few_labels"] == 1 and metrics["items_predicted"] == 0
    assert all(isinstance(v, int | float) or v is None for v in metrics.values())
    assert "prelabel.min_labels is 10000" in summary.describe()
    assert np.load(project.path(EMBEDDINGS)).shape == (400, 64)  # select can still go by diversity


def test_prelabel_text_classification_and_ner(bare_project):
    rng = np.random.default_rng(0)
    words = {"pos": ["great", "love", "fine"], "neg": ["awful", "hate", "broken"]}
    texts = [(f"t{i:03d}", " ".join(rng.choice(words[c], 3)) + f" item {i}", c)
             for i, c in enumerate(rng.choice(["pos", "neg"], 120))]
    project = bare_project("text_classification", ["pos", "neg"], prelabel={"min_labels": 20})
    write_jsonl(project.path("annotations/items.jsonl"), [{"item_id": i, "data": {"text": t}} for i, t, _ in texts])
    write_jsonl(project.path("annotations/annotations.jsonl"), [
        {"item_id": i, "annotator": who, "schema_version": 1, "label": c}
        for i, _, c in texts[:80] for who in ("a@x", "b@x")])
    summary = run_prelabel(project)
    predictions = lines(project, PREDICTIONS)
    assert len(predictions) == 120 and summary.metrics["cv_accuracy"] > 0.9
    assert np.mean([p["label"] == c for p, (_, _, c) in zip(predictions, texts, strict=True)]) > 0.9

    ner = bare_project("ner", ["PER", "LOC"], prelabel={"min_labels": 5})
    sentences = [(f"n{i:02d}", f"Ada met Bob in Paris on day {i}.") for i in range(30)]
    spans = [{"start": 0, "end": 3, "label": "PER"}, {"start": 8, "end": 11, "label": "PER"},
             {"start": 15, "end": 20, "label": "LOC"}]
    write_jsonl(ner.path("annotations/items.jsonl"), [{"item_id": i, "data": {"text": t}} for i, t in sentences])
    write_jsonl(ner.path("annotations/annotations.jsonl"), [
        {"item_id": i, "annotator": who, "schema_version": 1, "spans": spans}
        for i, _ in sentences[:20] for who in ("a@x", "b@x")])
    summary = run_prelabel(ner)
    predicted = lines(ner, PREDICTIONS)
    assert len(predicted) == 30 and [(s["start"], s["end"], s["label"]) for s in predicted[-1]["spans"]] == [
        (0, 3, "PER"), (8, 11, "PER"), (15, 20, "LOC")]
    assert summary.metrics["cv_accuracy"] == 1.0  # span F1 for NER


def test_prelabel_bbox_without_a_detector_says_so_and_succeeds(bare_project):
    project = bare_project("bbox", ["car"])
    write_jsonl(project.path("annotations/items.jsonl"), [])
    write_jsonl(project.path("annotations/annotations.jsonl"), [])
    summary = run_prelabel(project)
    assert summary.metrics["no_model_for_task"] == 1 and "detection model" in summary.describe()
    assert project.path(PREDICTIONS).read_text("utf-8") == ""


@pytest.fixture
def tiny_models(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 10)).eval()
    scripted = tmp_path / "weak_classifier.pt"
    torch.jit.script(model).save(str(scripted))
    pickled = tmp_path / "pickled.pt"
    torch.save(model, pickled)
    wrong = tmp_path / "three_classes.pt"
    torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 3)).eval()).save(str(wrong))
    return {"scripted": scripted, "pickled": pickled, "wrong": wrong}


def test_prelabel_uses_a_torchscript_checkpoint(bare_project, tiny_models):
    project = digits(bare_project, active_learning={"model_checkpoint": str(tiny_models["scripted"])})
    summary = run_prelabel(project)
    predictions = lines(project, PREDICTIONS)
    assert len(predictions) == 400 and predictions[0]["model_version"].startswith("user-")
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in predictions)
    assert summary.metrics["user_model"] == 1 and summary.metrics["trained"] == 0


@pytest.mark.parametrize(("name", "message"), [
    ("pickled", "torch.jit.script"),
    ("wrong", "returns 3 scores per item, expected 10"),
])
def test_prelabel_refuses_bad_checkpoints_and_keeps_previous_outputs(bare_project, tiny_models, name, message):
    project = digits(bare_project)
    run_prelabel(project)
    before = {n: project.path(n).read_bytes() for n in OUTPUTS}
    project = set_params(project, active_learning={"model_checkpoint": str(tiny_models[name])})
    with pytest.raises(DataError, match=message):
        run_prelabel(project)
    assert {n: project.path(n).read_bytes() for n in OUTPUTS} == before


def test_prelabel_checkpoint_not_there_yet_uses_the_default_model_and_says_so(bare_project):
    project = digits(bare_project, active_learning={"model_checkpoint": "models/weak_classifier.pt"})
    summary = run_prelabel(project)
    assert summary.metrics["checkpoint_missing"] == 1 and summary.metrics["trained"] == 1
    assert "models/weak_classifier.pt does not exist yet; the default weak model pre-labels" in summary.describe()
    assert len(lines(project, PREDICTIONS)) == 400


def test_prelabel_shards_then_merge_equal_a_local_run(bare_project):
    project = digits(bare_project)
    run_prelabel(project)
    local = {n: project.path(n).read_bytes() for n in (PREDICTIONS, EMBEDDINGS, EMBEDDING_IDS)}
    project.path(MODEL).unlink()
    for i in range(3):
        run_prelabel(project, shard=(i, 3))
    with pytest.raises(DataError, match="expected 0 <= i < n"):
        from data_labeling_pipeline.stages.prelabel import parse_shard
        parse_shard("3/3")
    run_prelabel(project, merge=True)
    assert {n: project.path(n).read_bytes() for n in local} == local


@pytest.mark.slow
def test_prelabel_dask_local_cluster_equals_a_local_run(bare_project):
    pytest.importorskip("dask.distributed")
    project = digits(bare_project)
    run_prelabel(project)
    local = {n: project.path(n).read_bytes() for n in (PREDICTIONS, EMBEDDINGS, EMBEDDING_IDS, METRICS)}
    project.path(MODEL).unlink()
    project = set_params(project, prelabel={"engine": "dask", "shards": 4})
    run_prelabel(project)
    assert {n: project.path(n).read_bytes() for n in local} == local


def test_prelabel_images_not_in_the_project_degrade_with_the_reason(bare_project):
    project = digits(bare_project, n_items=120, n_labelled=100)
    for path in project.path("images").glob("digit-00*.png"):
        path.unlink()
    summary = run_prelabel(project)
    # The 20 images still there are pre-labelled and embedded; the 100 missing ones are reported.
    assert summary.metrics["items_missing_image"] == 100 and summary.metrics["items_embedded"] == 20
    assert "images are not in the project (first: images/digit-0000.png)" in summary.describe()
    reachable = sorted(f"images/{p.name}" for p in project.path("images").glob("digit-*.png"))
    assert json.loads(project.path(EMBEDDING_IDS).read_text("utf-8")) == {"item_ids": reachable}
    predicted = {json.loads(line)["item_id"] for line in project.path(PREDICTIONS).read_text("utf-8").splitlines()}
    assert predicted <= set(reachable)


def test_prelabel_bbox_with_a_torchscript_detector(bare_project, tmp_path):
    import shutil
    import warnings

    torch = pytest.importorskip("torch")
    from pathlib import Path

    class Detector(torch.nn.Module):
        def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
            out: list[dict[str, torch.Tensor]] = []
            for image in images:
                h, w = image.shape[-2], image.shape[-1]
                out.append({"boxes": torch.tensor([[0.0, 0.0, w / 2, h / 2]]), "labels": torch.tensor([2]),
                            "scores": torch.tensor([0.9])})
            return out

    path = tmp_path / "detector.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(Detector()).save(str(path))
    project = bare_project("bbox", ["car", "person", "bicycle"], active_learning={"model_checkpoint": str(path)})
    assets = Path(__file__).parent / "assets/labelstudio"
    shutil.copy(assets / "bbox.snapshot.json", project.path("inbox/export.json"))
    shutil.copytree(assets / "images", project.path("images"))
    run_pull(project)
    summary = run_prelabel(project)
    predictions = lines(project, PREDICTIONS)
    items = {i["item_id"]: i for i in lines(project, "annotations/items.jsonl")}
    assert len(predictions) == len(items) and summary.metrics["user_model"] == 1
    for record in predictions:  # label 2 is the schema's id 2: person (0 would be the background)
        data = items[record["item_id"]]["data"]
        assert record["boxes"] == [{"x": 0, "y": 0, "w": data["width"] / 2, "h": data["height"] / 2,
                                    "label": "person", "score": 0.9}]


def test_prelabel_reuses_the_image_features_of_unchanged_items(bare_project, monkeypatch):
    from data_labeling_pipeline.models import features as features_module

    project = digits(bare_project, n_items=120, n_labelled=60)
    run_prelabel(project)
    first = {name: project.path(name).read_bytes() for name in (PREDICTIONS, EMBEDDINGS)}
    project.path(MODEL).unlink(missing_ok=True)  # a retrain, if any, takes its inputs from the cache
    reads = []
    real = features_module.load_gray
    monkeypatch.setattr(features_module, "load_gray", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    run_prelabel(project)
    assert reads == []  # nothing re-read: same items, same sha256
    assert {name: project.path(name).read_bytes() for name in first} == first
    # An item whose bytes changed (a new sha256 at ingest) is read again, with every other one.
    items = lines(project, "annotations/items.jsonl")
    items[0]["data"]["sha256"] = "0" * 64
    write_jsonl(project.path("annotations/items.jsonl"), items)
    run_prelabel(project)
    assert len(reads) == 120
    assert list(project.root.glob(".dlp/cache/features-*.npz")) and (project.root / ".dlp/.gitignore").read_text() == "*\n"


def sentiment(bare_project, shares=(("pos", 420), ("neg", 180)), unlabelled=30, **prelabel):
    """A text project: every labelled item has two agreeing annotators (an accepted consensus), then a few unlabelled."""
    rng = np.random.default_rng(0)
    words = {"pos": ["great", "love", "fine", "nice"], "neg": ["awful", "hate", "broken", "sad"]}
    labels = [c for c, n in shares for _ in range(n)] + [None] * unlabelled
    rows = [(f"t{i:04d}", " ".join(rng.choice(words[c or "pos"], 3)) + f" item {i}", c)
            for i, c in enumerate(rng.permutation(np.asarray(labels, dtype=object)))]
    project = bare_project("text_classification", ["pos", "neg"], prelabel={"min_labels": 20, "cv_folds": 2, **prelabel})
    write_jsonl(project.path("annotations/items.jsonl"), [{"item_id": i, "data": {"text": t}} for i, t, _ in rows])
    write_jsonl(project.path("annotations/annotations.jsonl"), [
        {"item_id": i, "annotator": who, "schema_version": 1, "label": c}
        for i, _, c in rows if c is not None for who in ("a@x", "b@x")])
    return project


@pytest.fixture
def fitted_labels(monkeypatch):
    """The labels of every WeakClassifier.fit call (the stage's model first, then the cross-validation copies)."""
    from data_labeling_pipeline.models.classifier import WeakClassifier

    calls = []
    real = WeakClassifier.fit
    monkeypatch.setattr(WeakClassifier, "fit", lambda self, X, y: calls.append(list(y)) or real(self, X, y))
    return calls


def test_prelabel_caps_the_training_sample_stratified_by_class(bare_project, fitted_labels):
    project = sentiment(bare_project, max_train_labels=400)
    summary = run_prelabel(project)
    sample = fitted_labels[0]
    # 420 / 180 labels (70% / 30%) -> 280 / 120 of 400: the population's shares.
    assert len(sample) == 400 and {c: sample.count(c) for c in ("pos", "neg")} == {"pos": 280, "neg": 120}
    assert sum(len(y) for y in fitted_labels[1:]) == 400  # 2 folds: each copy trains on the other half
    assert len(lines(project, PREDICTIONS)) == 630 and summary.metrics["trained"] == 1


def test_prelabel_cap_keeps_a_rare_class_up_to_the_floor():
    from data_labeling_pipeline.models.prelabel import cap_training_set

    pairs = [(f"i{n:04d}", "common" if n < 950 else "rare") for n in range(1000)]
    sample = [label for _, label in cap_training_set(pairs, max_labels=200, seed=0, min_per_class=30)]
    assert len(sample) == 200 and sample.count("rare") == 30  # its proportional share is 10: lifted to the floor
    few = [label for _, label in cap_training_set(pairs, max_labels=200, seed=0, min_per_class=80)]
    assert few.count("rare") == 50  # all of a class smaller than the floor


def test_prelabel_capped_sample_is_deterministic_and_seeded(bare_project):
    from data_labeling_pipeline.models.prelabel import cap_training_set

    project = sentiment(bare_project, max_train_labels=400)
    run_prelabel(project)
    names = (PREDICTIONS, EMBEDDINGS, EMBEDDING_IDS, METRICS, MODEL, "models/prelabel/meta.json")
    first = {name: project.path(name).read_bytes() for name in names}
    for name in ("models/prelabel/model.pkl", "models/prelabel/meta.json"):
        project.path(name).unlink()  # train again from scratch
    assert run_prelabel(project).metrics["trained"] == 1
    assert {name: project.path(name).read_bytes() for name in names} == first
    pairs = [(f"i{n:04d}", "ab"[n % 2]) for n in range(100)]
    assert cap_training_set(pairs, max_labels=10, seed=0) == cap_training_set(pairs[::-1], max_labels=10, seed=0)
    assert cap_training_set(pairs, max_labels=10, seed=0) != cap_training_set(pairs, max_labels=10, seed=1)


def test_prelabel_metrics_report_labels_available_and_used(bare_project):
    project = sentiment(bare_project, max_train_labels=400)
    summary = run_prelabel(project)
    metrics = json.loads(project.path(METRICS).read_text("utf-8"))
    assert (metrics["n_labels"], metrics["n_labels_used"], metrics["max_train_labels"]) == (600, 400, 400)
    assert "a stratified sample of 400 of 600 consensus labels (prelabel.max_train_labels: 400)" in summary.describe()
    again = run_prelabel(project)  # the saved model is reused: it still says what it was trained on
    assert again.metrics["trained"] == 0 and again.metrics["n_labels_used"] == 400


def test_prelabel_below_the_cap_changes_nothing(bare_project):
    project = sentiment(bare_project, max_train_labels=None)
    names = (PREDICTIONS, EMBEDDINGS, EMBEDDING_IDS, MODEL, "models/prelabel/meta.json")
    outputs = []
    for cap, batch_size in ((None, 256), (600, 256), (10_000, 7)):  # no cap, a cap of exactly the labels, a small batch
        project = set_params(project, prelabel={"max_train_labels": cap, "batch_size": batch_size})
        project.path(MODEL).unlink(missing_ok=True)
        summary = run_prelabel(project)
        assert summary.metrics["trained"] == 1 and summary.metrics["n_labels_used"] == 600
        outputs.append({name: project.path(name).read_bytes() for name in names})
    assert outputs[0] == outputs[1] == outputs[2]
    assert "n_labels_used" not in json.loads(project.path("models/prelabel/meta.json").read_text("utf-8"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=6), st.integers(1, 600), st.integers(0, 150),
       st.integers(0, 3))
def test_prelabel_cap_sample_sizes_follow_the_class_shares(counts, cap, floor, seed):
    from data_labeling_pipeline.models.prelabel import cap_training_set

    pairs = [(f"{c}-{n:03d}", f"class{c}") for c, count in enumerate(counts) for n in range(count)]
    sample = cap_training_set(pairs, max_labels=cap, seed=seed, min_per_class=floor)
    assert len(sample) == min(cap, len(pairs)) and set(sample) <= set(pairs) and sample == sorted(sample)
    if len(pairs) <= cap:
        return
    kept = [sum(label == f"class{c}" for _, label in sample) for c in range(len(counts))]
    lowest = min(floor, cap // len(counts))
    assert all(k >= min(n, lowest) for k, n in zip(kept, counts, strict=True))
    if all(cap * n >= min(n, lowest) * len(pairs) for n in counts):  # no class lifted to the floor: shares kept
        assert all(abs(k - cap * n / len(pairs)) < 1 for k, n in zip(kept, counts, strict=True))


def test_prelabel_reads_classification_as_columns_with_the_same_outputs_as_records(bare_project, monkeypatch):
    """Columns for the consensus and one streamed pass for acceptance and lead times: the same bytes as records."""
    import data_labeling_pipeline.columns as columns
    from data_labeling_pipeline.project import PULLED_PREDICTIONS

    project = sentiment(bare_project)
    annotations = lines(project, "annotations/annotations.jsonl")
    for n, record in enumerate(annotations):
        record["lead_time"] = 2.0 + n % 7
        if n % 3 == 0:  # made from a pre-label: kept (two in three) or changed
            record["parent_prediction"] = n
            record["prediction_accepted"] = n % 9 != 0
    write_jsonl(project.path("annotations/annotations.jsonl"), annotations)
    write_jsonl(project.path(PULLED_PREDICTIONS), [{"item_id": r["item_id"], "label": "pos"} for r in annotations[:50]])

    def outputs():
        run_prelabel(project)
        return {name: project.path(name).read_bytes() for name in (PREDICTIONS, METRICS)}

    as_columns = outputs()
    metrics = json.loads(as_columns[METRICS])
    assert metrics["acceptance_annotations_n"] > 0 and metrics["lead_time_kept_n"] > 0
    assert metrics["acceptance_consensus_n"] > 0
    monkeypatch.setattr(columns, "read_annotation_columns", lambda *args, **kwargs: None)  # the records path
    project.path(MODEL).unlink()
    assert outputs() == as_columns
