"""select: golden queues, properties (k unique rows, never excluded, same seed same queue), errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from active_cases import make_pool
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.active import FAMILIES, SCORE_KEYS, STRATEGIES, resolve_strategy, select
from data_labeling_pipeline.errors import DataError

GOLDEN = Path(__file__).parent / "golden_queues.json"
EXCLUDE = [0, 5, 10, 15]


def _queue(strategy: str, *, seed: int = 0, k: int = 7) -> list[int]:
    p, emb, labeled, committee = make_pool()
    picks = select(
        p, k, strategy=strategy, embeddings=emb, labeled_embeddings=labeled,
        committee_probabilities=committee, seed=seed, exclude=EXCLUDE,
    )
    return picks.tolist()


def _all_queues() -> dict[str, list[int]]:
    return {name: _queue(name) for name in (*STRATEGIES, *FAMILIES)}


def test_select_golden_queues():
    """The queue of every strategy on a fixed pool is the stored one (regenerate with
    REGEN_ACTIVE_GOLDEN=1 after an intended change, and say why in the commit)."""
    got = _all_queues()
    if os.environ.get("REGEN_ACTIVE_GOLDEN"):
        lines = [f"  {json.dumps(name)}: {json.dumps(queue)}" for name, queue in sorted(got.items())]
        GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    assert got == json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_select_golden_queue_margin_by_hand():
    # the margin queue is the top-7 of 1 - (p1 - p2) among the non-excluded rows, ties by row
    p, *_ = make_pool()
    s = np.sort(p, axis=1)
    u = 1 - (s[:, -1] - s[:, -2])
    u[EXCLUDE] = -1
    expected = sorted(range(len(u)), key=lambda i: (-u[i], i))[:7]
    assert _queue("margin") == expected


@pytest.mark.parametrize("strategy", STRATEGIES + FAMILIES)
def test_select_same_inputs_same_bytes(strategy):
    a = np.asarray(_queue(strategy, seed=3), dtype=np.int64)
    b = np.asarray(_queue(strategy, seed=3), dtype=np.int64)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("strategy", ["random", "kmeans_pp"])
def test_select_seed_changes_random_parts(strategy):
    assert {tuple(_queue(strategy, seed=s)) for s in range(4)} != {tuple(_queue(strategy, seed=0))}


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 40),
    n_classes=st.integers(1, 5),
    strategy=st.sampled_from(STRATEGIES),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_select_properties_k_unique_never_excluded_deterministic(n, n_classes, strategy, seed, data):
    rng = np.random.default_rng(seed)
    # coarse values make ties (equal scores, duplicate embeddings) frequent
    raw = rng.integers(0, 3, size=(n, n_classes)).astype(float) + 1e-3
    p = raw / raw.sum(axis=1, keepdims=True)
    emb = rng.integers(0, 3, size=(n, 2)).astype(np.float32)
    committee = np.stack([p, p[::-1]])
    excluded = data.draw(st.lists(st.integers(0, n - 1), max_size=n - 1, unique=True))
    k = data.draw(st.integers(0, n - len(excluded)))
    kwargs = dict(strategy=strategy, embeddings=emb, labeled_embeddings=emb[:1], committee_probabilities=committee,
                  seed=seed, exclude=np.asarray(excluded, dtype=np.int64))
    picks = select(p, k, **kwargs)
    assert picks.dtype == np.int64 and len(picks) == k
    assert len(set(picks.tolist())) == k
    assert not set(picks.tolist()) & set(excluded)
    assert ((picks >= 0) & (picks < n)).all()
    assert select(p, k, **kwargs).tobytes() == picks.tobytes()


def test_select_exclude_mask_equals_indices():
    p, emb, labeled, committee = make_pool()
    mask = np.zeros(len(p), dtype=bool)
    mask[EXCLUDE] = True
    for strategy in ("margin", "kcenter", "hybrid"):
        a = select(p, 9, strategy=strategy, embeddings=emb, exclude=mask)
        b = select(p, 9, strategy=strategy, embeddings=emb, exclude=EXCLUDE)
        assert a.tolist() == b.tolist()


def test_select_everything_selectable_is_returned_when_k_equals_pool():
    p, emb, *_ = make_pool()
    picks = select(p, len(p) - len(EXCLUDE), strategy="hybrid", embeddings=emb, exclude=EXCLUDE)
    assert sorted(picks.tolist()) == sorted(set(range(len(p))) - set(EXCLUDE))


def test_select_ties_go_to_the_lower_row():
    p = np.full((6, 2), 0.5)  # every row equally uncertain
    assert select(p, 3).tolist() == [0, 1, 2]
    assert select(p, 3, exclude=[1]).tolist() == [0, 2, 3]


def test_select_return_scores_parts_per_row():
    p, emb, labeled, committee = make_pool()
    picks, scores = select(p, 5, strategy="hybrid", embeddings=emb, return_scores=True)
    assert set(scores) == set(SCORE_KEYS)
    assert all(len(v) == 5 for v in scores.values())
    s = np.sort(p[picks], axis=1)
    np.testing.assert_allclose(scores["uncertainty"], 1 - (s[:, -1] - s[:, -2]))
    assert len(set(scores["cluster"].tolist())) == 5  # one pick per cluster
    assert list(scores["uncertainty"]) == sorted(scores["uncertainty"], reverse=True)

    picks, scores = select(p, 4, strategy="kcenter", embeddings=emb, labeled_embeddings=labeled, return_scores=True)
    assert (scores["cluster"] == -1).all()
    # the distance of a k-center pick is to the nearest labelled row or earlier pick
    first = np.sqrt(((emb[picks[0]] - labeled) ** 2).sum(axis=1)).min()
    assert scores["distance"][0] == pytest.approx(first, rel=1e-5)
    assert (np.diff(scores["distance"]) <= 1e-6).all()  # farthest-first never increases

    picks, scores = select(p, 3, strategy="random", return_scores=True)
    assert np.isnan(scores["score"]).all() and np.isnan(scores["distance"]).all()


def test_resolve_strategy_params_names():
    assert resolve_strategy("uncertainty", k=10, pool_size=100) == "margin"
    assert resolve_strategy("uncertainty", k=10, pool_size=100, uncertainty_measure="entropy") == "entropy"
    assert resolve_strategy("committee", k=10, pool_size=100) == "vote_entropy"
    assert resolve_strategy("committee", k=10, pool_size=100, committee_measure="kl_disagreement") == "kl_disagreement"
    assert resolve_strategy("diversity", k=10, pool_size=100) == "kcenter"
    assert resolve_strategy("diversity", k=10, pool_size=100, diversity_method="kmeans_pp") == "kmeans_pp"
    assert resolve_strategy("hybrid", k=1, pool_size=10**6) == "hybrid"
    assert resolve_strategy("random", k=1, pool_size=10) == "random"
    # auto: margin up to 1% of the pool, hybrid above
    assert resolve_strategy("auto", k=10, pool_size=1000) == "margin"
    assert resolve_strategy("auto", k=11, pool_size=1000) == "hybrid"


def test_select_accepts_params_names():
    p, emb, *_ = make_pool()
    assert select(p, 5, strategy="uncertainty").tolist() == select(p, 5, strategy="margin").tolist()
    assert select(p, 5, strategy="uncertainty", uncertainty_measure="entropy").tolist() == select(
        p, 5, strategy="entropy"
    ).tolist()
    assert select(p, 5, strategy="auto", embeddings=emb).tolist() == select(p, 5, strategy="hybrid", embeddings=emb).tolist()


@pytest.mark.parametrize(
    "call, field, words",
    [
        (lambda p, e: select(p, 61), "k", "0 <= k <= 60"),
        (lambda p, e: select(p, 58, exclude=[0, 1, 2]), "k", "0 <= k <= 57"),
        (lambda p, e: select(p, -1), "k", "0 <= k"),
        (lambda p, e: select(p, 2.5), "k", "whole number"),
        (lambda p, e: select(p[0], 2), "probabilities", "2-D"),
        (lambda p, e: select(p * 2, 2), "probabilities", "sum to 1"),
        (lambda p, e: select(np.where(p > 0.5, np.nan, p), 2), "probabilities", "finite"),
        (lambda p, e: select(p - 0.5, 2), "probabilities", ">= 0"),
        (lambda p, e: select(p, 2, strategy="kcenter"), "embeddings", "needs"),
        (lambda p, e: select(p, 2, strategy="hybrid", embeddings=e[:10]), "embeddings", "60 rows"),
        (lambda p, e: select(p, 2, strategy="kcenter", embeddings=e, labeled_embeddings=e[:, :2]), "labeled_embeddings", "dim 3"),
        (lambda p, e: select(p, 2, strategy="vote_entropy"), "committee_probabilities", "bootstrap_committee"),
        (lambda p, e: select(p, 2, strategy="kl_disagreement", committee_probabilities=p[None, :5]), "committee_probabilities", "shape"),
        (lambda p, e: select(p, 2, exclude=[60]), "exclude", "[0, 60)"),
        (lambda p, e: select(p, 2, exclude=np.zeros(3, bool)), "exclude", "length 60"),
        (lambda p, e: select(p, 2, strategy="hybrid", embeddings=e, prefilter_factor=0), "prefilter_factor", ">= 1"),
        (lambda p, e: select(p, 2, uncertainty_measure="gini"), "uncertainty_measure", "'margin'"),
    ],
)
def test_select_bad_input_is_a_data_error(call, field, words):
    p, emb, *_ = make_pool()
    with pytest.raises(DataError) as info:
        call(p, emb)
    problem = info.value.problems[0]
    assert problem.path == "<arguments>" and problem.field == field
    assert words in problem.message


def test_select_unknown_strategy_names_the_known_ones():
    p, *_ = make_pool()
    with pytest.raises(DataError) as info:
        select(p, 2, strategy="coreset")
    message = str(info.value)
    assert "'coreset'" in message
    for name in (*FAMILIES, *STRATEGIES):
        assert repr(name) in message


def test_select_nan_embeddings_are_refused():
    p, emb, *_ = make_pool()
    emb = emb.copy()
    emb[3, 1] = np.nan
    with pytest.raises(DataError, match="finite"):
        select(p, 2, strategy="kcenter", embeddings=emb)
