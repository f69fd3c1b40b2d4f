"""A small version of benchmarks/active_learning.py (digits, 2 seeds, batch 10; ~10 s): margin needs
fewer labels than random to reach 95% and 98% of the full-pool accuracy."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import active_learning as bench  # noqa: E402


def test_active_benchmark_margin_beats_random_on_digits():
    task = bench.load_digits_task()
    reference = bench.full_pool_accuracy(task)
    assert reference > 0.95  # logistic regression on the whole pool of digits
    needed = {}
    for strategy in ("random", "margin"):
        for seed in (0, 1):
            counts, accs = bench.simulate(task, strategy, 10, seed, reference=reference)
            needed[strategy, seed] = [bench.labels_to(counts, accs, lv * reference) for lv in bench.TARGETS]
            assert counts[0] == bench.SEED_LABELS and np.all(np.diff(counts) == 10)
    for t, level in enumerate(bench.TARGETS):
        random_mean = np.mean([needed["random", s][t] for s in (0, 1)])
        margin_mean = np.mean([needed["margin", s][t] for s in (0, 1)])
        assert margin_mean < random_mean, (level, needed)
