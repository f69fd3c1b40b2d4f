"""The seed's ActiveLearner example, run as the product description writes it, on a real project."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.stages.pull import run_pull
from data_labeling_pipeline.stages.quickstart import write_demo_data

DIGITS = [str(d) for d in range(10)]


@pytest.fixture
def digits_project(bare_project, monkeypatch):
    project = bare_project("image_classification", DIGITS)
    write_demo_data(project, n_items=400, n_labelled=100, track=False)
    run_pull(project)
    monkeypatch.chdir(project.root)
    return project


@pytest.fixture
def saved_model(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 10))  # the demo's 32x32 gray digits
    path = tmp_path / "weak_classifier.pt"
    torch.save(model, path)  # a full pickled module, as many users save theirs
    return path, model


def test_active_learner_seed_example_as_written(digits_project, saved_model):
    import torch

    path, _ = saved_model
    model = torch.load(path, weights_only=False).eval()  # the user's choice for their own file (torch >= 2.6)

    from data_labeling_pipeline.core import ActiveLearner
    learner = ActiveLearner(model=model, strategy="uncertainty", pool_size=10000)
    selected_indices = learner.query(n_instances=100)
    learner.last_uncertainty_mean  # noqa: B018 (the seed example, verbatim)
    learner.export_to_label_studio(selected_indices, project_id="product_cls")

    assert len(selected_indices) == len(set(selected_indices)) == 100
    records = [json.loads(line) for line in
               digits_project.path("annotations/annotations.jsonl").read_text("utf-8").splitlines()]
    counts = {r["item_id"]: 0 for r in records}
    for r in records:
        counts[r["item_id"]] += 1
    enough = {i for i, n in counts.items() if n >= 2} | {r["item_id"] for r in records if r.get("ground_truth")}
    assert len(learner.pool_items) == 400 - len(enough) and not set(learner.pool_items) & enough
    assert 0 <= learner.last_uncertainty_mean <= 1
    tasks = json.loads(digits_project.path("queue/product_cls.tasks.json").read_text("utf-8"))
    assert [t["data"]["item_id"] for t in tasks] == sorted(learner.pool_items[i] for i in selected_indices)
    assert all(t["predictions"] and t["predictions"][0]["result"][0]["value"]["choices"][0] in DIGITS for t in tasks)


def test_active_learner_margin_picks_the_most_uncertain(digits_project, saved_model):
    import torch

    from data_labeling_pipeline.active import margin
    from data_labeling_pipeline.core import ActiveLearner

    learner = ActiveLearner(model=torch.load(saved_model[0], weights_only=False).eval(), strategy="margin")
    picks = learner.query(n_instances=10)
    scores = margin(learner._last_probabilities)
    assert sorted(scores[picks]) == sorted(np.sort(scores)[::-1][:10])


def test_active_learner_loads_a_torchscript_path_and_refuses_a_pickle(digits_project, saved_model, tmp_path):
    import torch

    from data_labeling_pipeline.core import ActiveLearner

    path, model = saved_model
    scripted = tmp_path / "scripted.pt"
    torch.jit.script(model).save(str(scripted))
    by_path = ActiveLearner(model=str(scripted), pool_size=50).query(n_instances=5)
    by_module = ActiveLearner(model=model.eval(), pool_size=50).query(n_instances=5)
    assert by_path == by_module
    with pytest.raises(DataError, match="torch.jit.script"):
        ActiveLearner(model=str(path), pool_size=50).query(n_instances=5)


def test_active_learner_sklearn_model_and_explicit_pool(digits_project):
    from sklearn.linear_model import LogisticRegression

    from data_labeling_pipeline.core import ActiveLearner

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 64))
    model = LogisticRegression(max_iter=500).fit(X, rng.integers(0, 10, size=200))
    learner = ActiveLearner(model=model, strategy="hybrid", pool=X[:120])
    picks = learner.query(n_instances=12)
    assert len(set(picks)) == 12 and max(picks) < 120 and learner.pool_items == []
    by_ids = ActiveLearner(model=model, pool=sorted(json.loads(line)["item_id"] for line in
                           digits_project.path("annotations/items.jsonl").read_text("utf-8").splitlines())[:30])
    assert len(by_ids.query(n_instances=4)) == 4 and len(by_ids.pool_items) == 30
