"""What a label costs: pre-labels to verify in the next batch, the order to verify them in, and lead times."""

from __future__ import annotations

import json

import numpy as np

from data_labeling_pipeline.config import dump_params, load_params
from data_labeling_pipeline.models import lead_times
from data_labeling_pipeline.project import CONSENSUS, EMBEDDING_IDS, EMBEDDINGS, ITEMS, PREDICTIONS, Project
from data_labeling_pipeline.records import write_jsonl
from data_labeling_pipeline.stages.select import METRICS, QUEUE, run_select

CLASSES = ["cat", "dog", "bird"]


def confident_pool(bare_project, **active):
    """40 unlabelled items: every other one's pre-label is 0.95 probable, the rest 0.5 (uncertain)."""
    project = bare_project("text_classification", CLASSES, active_learning={"query_batch_size": 10,
                                                                              "strategy": "random", **active})
    ids = [f"t{i:03d}" for i in range(50)]
    write_jsonl(project.path(ITEMS), [{"item_id": i, "data": {"text": f"text {i}"}} for i in ids])
    write_jsonl(project.path(CONSENSUS), [{"item_id": i, "label": CLASSES[j % 3], "status": "accepted"}
                                          for j, i in enumerate(ids[:10])])
    rows = []
    for j, i in enumerate(ids):
        top = CLASSES[j % 3]
        p = {c: (0.95 if j % 2 else 0.5) if c == top else (0.025 if j % 2 else 0.25) for c in CLASSES}
        rows.append({"item_id": i, "model_version": "m1", "label": top, "score": p[top], "probabilities": p})
    write_jsonl(project.path(PREDICTIONS), rows)
    np.save(project.path(EMBEDDINGS), np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32))
    project.path(EMBEDDING_IDS).write_text(json.dumps({"item_ids": ids}), "utf-8")
    return project


def read(project, relative):
    text = project.path(relative).read_text("utf-8")
    return json.loads(text) if relative.endswith(".json") else [json.loads(x) for x in text.splitlines()]


def test_select_counts_the_batch_pre_labels_annotators_will_verify(bare_project):
    project = confident_pool(bare_project)
    summary = run_select(project)
    queue, metrics = read(project, QUEUE), read(project, METRICS)
    confident = [r for r in queue if r["prelabel_score"] >= 0.9]
    assert metrics["batch_confident_prelabels"] == len(confident) and 0 < len(confident) < 10
    assert metrics["batch_confident_share"] == len(confident) / 10
    assert abs(metrics["batch_confident_expected_correct"] - 0.95 * len(confident)) < 1e-6
    assert metrics["pool_confident_share"] == 0.5 and metrics["confident_score"] == 0.9
    assert metrics["verify_runs"] == 0 and [r["rank"] for r in queue] == list(range(1, 11))  # priority order
    assert all(r["prelabel"] in CLASSES and "verify" not in r for r in queue)
    assert f"{len(confident)} with a pre-label at least 0.9 probable, to verify" in summary.describe()


def test_select_verify_runs_queues_confident_pre_labels_first_in_runs_of_one_class(bare_project):
    plain = confident_pool(bare_project)
    run_select(plain)
    before = read(plain, QUEUE)
    params = load_params(plain.path("params.yaml"))
    params["active_learning"]["verify_runs"] = True
    plain.path("params.yaml").write_text(dump_params(params), "utf-8")
    ordered = Project(plain.root)
    run_select(ordered)
    after = read(ordered, QUEUE)
    assert sorted(r["item_id"] for r in before) == sorted(r["item_id"] for r in after)  # the same batch
    n = sum(r["verify"] for r in after)
    assert [r["verify"] for r in after] == [True] * n + [False] * (10 - n)
    runs = [r["prelabel"] for r in after[:n]]
    assert runs == sorted(runs, key=CLASSES.index)  # one class after another, in schema order
    for name in CLASSES:  # priority kept inside each run, and among the rest
        ranks = [r["rank"] for r in after[:n] if r["prelabel"] == name]
        assert ranks == sorted(ranks)
    assert [r["rank"] for r in after[n:]] == sorted(r["rank"] for r in after[n:])
    assert read(ordered, METRICS)["verify_runs"] == 1


def test_select_without_a_model_has_no_pre_labels_to_count(bare_project):
    project = confident_pool(bare_project)
    project.path(PREDICTIONS).write_text("", "utf-8")
    run_select(project)
    metrics = read(project, METRICS)
    assert metrics["used_model"] == 0 and metrics["batch_confident_prelabels"] is None
    assert all("prelabel" not in r for r in read(project, QUEUE))


def test_lead_times_compare_kept_pre_labels_with_created_labels():
    predictions = [{"item_id": "a", "label": "cat"}, {"item_id": "b", "label": "cat"}]
    annotations = [
        {"item_id": "a", "label": "cat", "parent_prediction": 1, "lead_time": 3.0},   # kept
        {"item_id": "a", "label": "cat", "prediction_accepted": True, "lead_time": 5.0},  # kept (pull says so)
        {"item_id": "b", "label": "dog", "parent_prediction": 1, "lead_time": 30.0},  # edited: neither
        {"item_id": "c", "label": "dog", "lead_time": 10.0},  # created
        {"item_id": "d", "label": "dog", "lead_time": 20.0},  # created
        {"item_id": "e", "label": "dog"},  # no lead time: not counted
    ]
    figures = lead_times(predictions, annotations)
    assert figures == {"lead_time_kept_n": 2, "lead_time_created_n": 2, "median_lead_time_kept": 4.0,
                       "median_lead_time_created": 15.0, "verify_time_ratio": round(4.0 / 15.0, 6)}
    assert lead_times([], [])["verify_time_ratio"] is None
