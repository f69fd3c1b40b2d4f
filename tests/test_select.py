"""The select stage: the next batch from the unlabelled pool, in priority order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_labeling_pipeline.project import CONSENSUS, EMBEDDING_IDS, EMBEDDINGS, ITEMS, PREDICTIONS, REVIEW
from data_labeling_pipeline.records import write_jsonl
from data_labeling_pipeline.stages.select import QUEUE, run_select, sample_pool

CLASSES = ["cat", "dog", "bird"]


def make_pool(bare_project, *, n=60, predictions=True, embeddings=True, **active):
    project = bare_project("text_classification", CLASSES, active_learning={"query_batch_size": 5, **active})
    ids = [f"t{i:03d}" for i in range(n)]
    write_jsonl(project.path(ITEMS), [{"item_id": i, "data": {"text": f"text {i}"}} for i in ids])
    # the first 10 are labelled, the next 5 wait in the review queue
    write_jsonl(project.path(CONSENSUS), [{"item_id": i, "label": CLASSES[j % 3], "status": "accepted"}
                                          for j, i in enumerate(ids[:10])])
    # an unlabelled item in the annotate queue is still the pool's; one a reviewer is to decide is not
    write_jsonl(project.path(REVIEW), [{"item_id": i, "action": "review"} for i in ids[10:15]]
                + [{"item_id": ids[-1], "action": "annotate"}])
    rng = np.random.default_rng(0)
    if predictions:
        p = rng.dirichlet([1, 1, 1], size=n)
        write_jsonl(project.path(PREDICTIONS), [
            {"item_id": i, "model_version": "m1", "label": CLASSES[int(np.argmax(row))], "score": float(row.max()),
             "probabilities": {c: float(v) for c, v in zip(CLASSES, row, strict=True)}} for i, row in zip(ids, p, strict=True)])
    if embeddings:
        np.save(project.path(EMBEDDINGS), rng.normal(size=(n, 8)).astype(np.float32))
        project.path(EMBEDDING_IDS).write_text(json.dumps({"item_ids": ids}), "utf-8")
    return project, ids


def queue_of(project):
    return [json.loads(line) for line in project.path(QUEUE).read_text("utf-8").splitlines()]


@pytest.mark.parametrize("strategy", ["uncertainty", "auto", "hybrid", "committee", "diversity", "random", "entropy",
                                      "typiclust", "badge"])
def test_select_never_picks_labelled_or_waiting_items_and_is_byte_identical(bare_project, strategy):
    project, ids = make_pool(bare_project, strategy=strategy)
    summary = run_select(project)
    queue = queue_of(project)
    picked = [r["item_id"] for r in queue]
    assert len(picked) == len(set(picked)) == 5
    assert not set(picked) & set(ids[:15])
    assert [r["rank"] for r in queue] == [1, 2, 3, 4, 5]
    assert summary.metrics["pool_size"] == 45 and summary.metrics["used_model"] == 1
    first = project.path(QUEUE).read_bytes()
    run_select(project)
    assert project.path(QUEUE).read_bytes() == first


def test_select_margin_picks_the_most_uncertain_pool_items(bare_project):
    project, ids = make_pool(bare_project, strategy="uncertainty")
    run_select(project)
    predictions = {json.loads(line)["item_id"]: json.loads(line)["probabilities"]
                   for line in project.path(PREDICTIONS).read_text("utf-8").splitlines()}

    def margin(item_id):
        top = sorted(predictions[item_id].values(), reverse=True)
        return top[0] - top[1]

    pool = ids[15:]
    expected = sorted(pool, key=lambda i: (margin(i), i))[:5]
    queue = queue_of(project)
    assert [r["item_id"] for r in queue] == expected
    assert queue[0]["strategy"] == "margin" and queue[0]["uncertainty"] == pytest.approx(1 - margin(expected[0]), abs=1e-6)
    metrics = json.loads(project.path("metrics/select.json").read_text("utf-8"))
    assert metrics["uncertainty_mean_batch"] > metrics["uncertainty_mean_pool"]


def test_select_without_a_model_is_diversity_only_then_random(bare_project):
    project, _ = make_pool(bare_project, predictions=False)
    summary = run_select(project)
    assert summary.metrics["diversity_only"] == 1 and summary.strategy == "kcenter"
    assert summary.metrics["uncertainty_mean_batch"] is None
    project.path(EMBEDDINGS).unlink()
    summary = run_select(project)
    assert summary.metrics["random_fallback"] == 1 and len(queue_of(project)) == 5
    assert "seeded random batch" in summary.describe()


def test_select_pool_smaller_than_the_batch_takes_it_all(bare_project):
    project, ids = make_pool(bare_project, n=18)
    run_select(project)
    assert sorted(r["item_id"] for r in queue_of(project)) == ids[15:]


def test_select_pool_sample_is_stable_when_items_are_added():
    ids = [f"i{k}" for k in range(1000)]
    before = set(sample_pool(ids, 100, seed=3))
    after = set(sample_pool([*ids, *[f"j{k}" for k in range(10)]], 100, seed=3))
    assert len(before) == 100 and len(before - after) <= 10


def test_select_auto_starts_cold_with_typiclust_until_enough_labels(bare_project):
    """10 labels of 3 classes with batches of 5: fewer than 5 per class, so the weak model does not rank yet."""
    project, _ = make_pool(bare_project, strategy="auto")
    summary = run_select(project)
    assert summary.strategy == "typiclust" and {r["strategy"] for r in queue_of(project)} == {"typiclust"}
    assert "typiclust over the embeddings (a cold start" in summary.describe()


@pytest.mark.parametrize("strategy", ["committee", "hybrid", "typiclust"])
def test_select_reads_unsorted_or_foreign_consensus_and_embedding_ids_as_it_reads_sorted_ones(bare_project, strategy):
    # The stage merges the sorted consensus with the items and binary-searches sorted embedding ids;
    # a hand-edited project (out of order, an id that is no item) takes the dict path, to the same queue.
    project, ids = make_pool(bare_project, n=80, strategy=strategy)
    run_select(project)
    first = project.path(QUEUE).read_bytes()
    consensus = project.path(CONSENSUS)
    consensus.write_bytes(b"".join(reversed(consensus.read_bytes().splitlines(keepends=True))))
    order = np.random.default_rng(1).permutation(len(ids))
    matrix = np.load(project.path(EMBEDDINGS))
    np.save(project.path(EMBEDDINGS), matrix[order])
    project.path(EMBEDDING_IDS).write_text(json.dumps({"item_ids": [ids[j] for j in order]}), "utf-8")
    run_select(project)
    assert project.path(QUEUE).read_bytes() == first
    metrics = json.loads(project.path("metrics/select.json").read_text("utf-8"))
    assert metrics["items_labelled"] == 10
    with consensus.open("a") as fh:  # a consensus record of no item counts as labelled, as before
        fh.write(json.dumps({"item_id": "zz-gone", "label": "cat", "status": "accepted"}) + "\n")
    run_select(project)
    assert json.loads(project.path("metrics/select.json").read_text("utf-8"))["items_labelled"] == 11


def test_select_embedding_rows_read_in_blocks_equal_numpy_rows(tmp_path):
    from data_labeling_pipeline.stages.select import _EmbeddingFile

    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(1000, 6)).astype(np.float32)
    ids = [f"i{k:04d}" for k in range(1000)]
    np.save(tmp_path / "e.npy", matrix)
    for sorted_ids in (np.array(ids, dtype=str), None):
        store = _EmbeddingFile(tmp_path / "e.npy", ids, sorted_ids)
        store.BLOCK_ROWS = 64
        wanted = [ids[k] for k in rng.choice(1000, size=300, replace=False)]  # any order
        assert np.array_equal(store.rows(wanted), matrix[[int(w[1:]) for w in wanted]])
        assert store.rows(wanted + ["nope"]) is None and store.rows([]) is None
