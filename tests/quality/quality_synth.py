"""Seeded synthetic crowds with known truth, shared by the quality tests."""

from __future__ import annotations

import numpy as np


def simulate_crowd(
    n_items: int,
    accuracies,
    *,
    per_item: int = 3,
    class_probs=(0.55, 0.25, 0.13, 0.07),
    seed: int = 0,
):
    """Items with a skewed true class; each seen by ``per_item`` distinct annotators of known accuracy.

    A wrong label is uniform over the other classes. Returns (item_ids, annotators, labels, truth)
    with ids as strings and labels as class names ``c0, c1, ...``.
    """
    rng = np.random.default_rng(seed)
    acc = np.asarray(accuracies, dtype=float)
    k = len(class_probs)
    truth = rng.choice(k, size=n_items, p=np.asarray(class_probs) / np.sum(class_probs))
    who = np.argsort(rng.random((n_items, len(acc))), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    t = truth[item]
    correct = rng.random(len(item)) < acc[who]
    label = np.where(correct, t, (t + rng.integers(1, k, size=len(item))) % k)
    names = np.array([f"c{j}" for j in range(k)])
    item_ids = np.array([f"item{i:06d}" for i in item])
    annotators = np.array([f"ann{a}" for a in who])
    truth_map = {f"item{i:06d}": names[truth[i]] for i in range(n_items)}
    return item_ids, annotators, names[label], truth_map
