"""assign_split: seeded, stable when items are added, stratified on request."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.errors import ConfigError
from data_labeling_pipeline.formats import assign_split, strata_from_labels

ids = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=60, unique=True)


@settings(max_examples=40, deadline=None)
@given(old=ids, new=ids, seed=st.integers(0, 10), frac=st.floats(0, 1))
def test_split_adding_items_never_moves_existing_ones(old, new, seed, frac):
    before = assign_split(old, val_fraction=frac, seed=seed)
    after = assign_split(old + new, val_fraction=frac, seed=seed)
    assert all(after[k] == v for k, v in before.items())


@settings(max_examples=30, deadline=None)
@given(old=ids, new=ids, seed=st.integers(0, 10))
def test_split_stratified_with_previous_never_moves_existing_ones(old, new, seed):
    strata = {k: str(len(k) % 3) for k in old + new}
    before = assign_split(old, val_fraction=0.3, seed=seed, strata=strata)
    after = assign_split(old + new, val_fraction=0.3, seed=seed, strata=strata, previous=before)
    assert all(after[k] == v for k, v in before.items())


def test_split_is_independent_of_input_order_and_seeded():
    names = [f"item-{k}" for k in range(200)]
    a = assign_split(names, val_fraction=0.2, seed=1)
    assert a == assign_split(list(reversed(names)), val_fraction=0.2, seed=1)
    assert a != assign_split(names, val_fraction=0.2, seed=2)
    assert 20 <= Counter(a.values())["val"] <= 60


def test_split_stratified_gives_each_stratum_its_share():
    strata = {f"r{k}": "rare" for k in range(5)} | {f"c{k}": "common" for k in range(95)}
    split = assign_split(strata, val_fraction=0.2, seed=0, strata=strata)
    val = Counter(strata[k] for k, v in split.items() if v == "val")
    assert val == {"rare": 1, "common": 19}


def test_split_refuses_a_bad_fraction():
    with pytest.raises(ConfigError, match="val_fraction"):
        assign_split(["a"], val_fraction=1.5)


def test_split_strata_from_labels_picks_the_rarest_class():
    schema = {"task_type": "ner", "classes": [{"id": 1, "name": "PER"}, {"id": 2, "name": "LOC"}]}
    labels = {"a": {"spans": [{"label": "PER"}, {"label": "LOC"}]}, "b": {"spans": [{"label": "PER"}]},
              "c": {"spans": []}}
    assert strata_from_labels(labels, schema) == {"a": "LOC", "b": "PER", "c": ""}
