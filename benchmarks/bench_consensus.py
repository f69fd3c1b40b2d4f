"""Dawid-Skene on 1,000,000 annotations: ours vs crowd-kit's ``DawidSkene``.

Run by hand (not part of the test suite):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_consensus.py [--items 200000] [--repeat 2]

Same seeded synthetic data as ``bench_agreement.py`` (items x 5 annotators of accuracy
0.9 .. 0.5, 10 classes, Zipf-like class distribution). Both sides get the same columns
(string item ids and annotator names, integer labels); crowd-kit gets them as the pandas
DataFrame it wants, built before the clock starts. Both run their defaults (ours: tol 1e-9 on
the mean log-likelihood, at most 100 iterations; crowd-kit: tol 1e-5, at most 100). Majority
vote is printed for reference. crowd-kit is imported in-process: installing it into the
project venv left numpy and pandas untouched (it is a dev/benchmark oracle only).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_agreement import N_CLASSES, make_crowd  # noqa: E402


def ours(item_ids, annotators, labels):
    from data_labeling_pipeline.quality import DawidSkene

    ds = DawidSkene().fit(item_ids, annotators, labels, classes=list(range(N_CLASSES)))
    return ds


def peer(frame):
    from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene

    return CrowdKitDawidSkene(n_iter=100).fit(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import pandas as pd

    from data_labeling_pipeline.quality import majority_vote

    item_ids, annotators, labels, _, truth, _ = make_crowd(args.items, seed=args.seed)
    print(f"{len(labels):,} annotations: {args.items:,} items x 5 annotators, {N_CLASSES} classes")
    frame = pd.DataFrame({"task": item_ids, "worker": annotators, "label": labels})
    # make_crowd numbers items in id order, so sorted item ids line up with ``truth``
    sorted_truth = truth

    t_ours, t_peer = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        ds = ours(item_ids, annotators, labels)
        t_ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        ck = peer(frame)
        t_peer.append(time.perf_counter() - start)

    acc_ours = float(np.mean(ds.consensus().label_index == sorted_truth))
    ck_labels = ck.labels_.sort_index()
    acc_peer = float(np.mean(ck_labels.to_numpy().astype(int) == sorted_truth))
    mv = majority_vote(item_ids, annotators, labels, classes=list(range(N_CLASSES)))
    acc_mv = float(np.mean(mv.label_index == sorted_truth))

    tracemalloc.start()
    ours(item_ids, annotators, labels)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"ours:      {min(t_ours):7.3f} s  accuracy {acc_ours:.6f}  "
          f"({ds.n_iter_} iterations, converged={ds.converged_}, tol={ds.tol:g}, max_iter={ds.max_iter})")
    print(f"crowd-kit: {min(t_peer):7.3f} s  accuracy {acc_peer:.6f}  ({len(ck.loss_history_)} iterations)")
    print(f"majority vote accuracy {acc_mv:.6f}")
    print(f"speed-up: {min(t_peer) / min(t_ours):.1f}x (target >= 2x); "
          f"accuracy ours - crowd-kit = {acc_ours - acc_peer:+.6f} (target >= 0)")
    print(f"peak memory, ours (tracemalloc): {peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
