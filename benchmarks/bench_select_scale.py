"""``active.select`` on a pool of 1,000,000 items: wall time and peak memory per strategy.

Run by hand (also the last part of ``benchmarks/active_learning.py``):

    .venv/bin/python benchmarks/bench_select_scale.py [--n 1000000] [--k 100] [--strategies margin,hybrid]

Each strategy runs in a fresh child process so its peak RSS (``ru_maxrss``) is its own: the
child builds seeded inputs (float64 probabilities over 10 classes from random logits, as a
stage reads them from JSONL; float32 128-d embeddings; 20 labelled items), records the RSS
after building them, then times one ``select`` call (the first: nothing warmed up). Targets
from issue 9: margin < 0.5 s, hybrid < 1 s, peak < 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

N_CLASSES = 10
DIM = 128
TARGETS = {"margin": 0.5, "hybrid": 1.0}
PEAK_LIMIT_MIB = 2048


def make_inputs(n: int, *, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    probabilities = np.empty((n, N_CLASSES))
    for lo in range(0, n, 65_536):
        logits = rng.standard_normal((min(65_536, n - lo), N_CLASSES)) * 3.0
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities[lo : lo + len(e)] = e / e.sum(axis=1, keepdims=True)
    embeddings = rng.standard_normal((n, DIM), dtype=np.float32)
    labeled = rng.standard_normal((20, DIM), dtype=np.float32)
    return probabilities, embeddings, labeled


def child(strategy: str, n: int, k: int) -> dict:
    import resource
    import time

    from data_labeling_pipeline.active import select

    probabilities, embeddings, labeled = make_inputs(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    picks = select(probabilities, k, strategy=strategy, embeddings=embeddings, labeled_embeddings=labeled, seed=0)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "strategy": strategy,
        "seconds": seconds,
        "inputs_mib": base,
        "peak_mib": peak,
        "unique": len(set(picks.tolist())) == k,
    }


def run_scale(strategies, *, n: int = 1_000_000, k: int = 100) -> list[dict]:
    print(
        f"\n## select {k} from a pool of {n:,} ({DIM}-d float32 embeddings, {N_CLASSES} classes), "
        "fresh process per strategy"
    )
    print("| strategy | seconds | target | peak RSS MiB (inputs alone) | < 2 GiB |")
    print("| --- | --- | --- | --- | --- |")
    rows = []
    for strategy in strategies:
        out = subprocess.run(
            [sys.executable, __file__, "--child", strategy, "--n", str(n), "--k", str(k)],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        target = TARGETS.get(strategy)
        verdict = "-" if target is None else f"< {target} s: {'yes' if row['seconds'] < target else 'NO'}"
        print(
            f"| {strategy} | {row['seconds']:.3f} | {verdict} | {row['peak_mib']:.0f} ({row['inputs_mib']:.0f}) | "
            f"{'yes' if row['peak_mib'] < PEAK_LIMIT_MIB else 'NO'} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--strategies", default="margin,hybrid,entropy,kcenter")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n, args.k)))
        return
    run_scale([s for s in args.strategies.split(",") if s], n=args.n, k=args.k)


if __name__ == "__main__":
    main()
