"""What labels cost with pre-labels: labels and annotator time to 95% of full-pool accuracy, against the plain way.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/bench_label_cost.py                   # 10 seeds, digits, batch 10 and 2% of the pool
    .venv/bin/python benchmarks/bench_label_cost.py --project demo    # the time model from demo's lead times

Pool-based simulation on scikit-learn's digits (1,797 8x8 images, 10 classes; 25% held out),
the weak model a logistic regression on the scaled pixels. Each seed starts from 20 random
labels; each round fits the model, asks ``active.select`` (margin) or a random draw for a
batch, and "labels" it. A queued item whose pre-label is at least ``--confident`` probable is a
verification: kept when right, and when wrong the annotator changes it (a creation). Every
other item is a creation. The run stops when test accuracy first reaches 95% of the model
trained on the whole pool.

The time model: one created label costs 1; one kept pre-label costs ``verify_time_ratio``, the
median Label Studio ``lead_time`` of kept pre-labels over that of created labels
(``metrics/prelabel.json`` has it once annotators worked from pre-labels; ``--project`` reads a
project's annotations). Without one, the ratio is ``--verify-ratio`` (default 0.33: an assumption,
printed as such). The plain alternative is random batches without pre-labels: every label a creation.
Printed: labels and time per seed (mean +- std over seeds) for random without pre-labels, random with
pre-labels, margin with pre-labels; savings against the plain alternative; wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from data_labeling_pipeline import active

SEED_LABELS = 20
TARGET = 0.95


def digits(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    pool, test = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed, stratify=y)
    return X, y, pool, test


def fit(X, y):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(X, y)


def run(X, y, pool, test, *, strategy: str, batch: int, seed: int, confident: float, reference: float,
        budget: int) -> dict:
    """Labels, verifications kept, and creations until the target (or the budget)."""
    rng = np.random.default_rng(seed)
    labelled = list(rng.choice(pool, size=SEED_LABELS, replace=False))
    kept = created = 0
    created += SEED_LABELS
    while True:
        model = fit(X[labelled], y[labelled])
        if model.score(X[test], y[test]) >= TARGET * reference or len(labelled) >= budget:
            break
        rest = np.setdiff1d(pool, labelled)
        p = np.zeros((len(rest), 10))
        p[:, model.classes_] = model.predict_proba(X[rest])
        k = min(batch, len(rest))
        if strategy == "random":
            picks = rng.choice(len(rest), size=k, replace=False)
        else:
            picks = active.select(p, k, strategy=strategy, embeddings=X[rest].astype(np.float32), seed=seed)
        chosen = rest[picks]
        sure = p[picks].max(axis=1) >= confident
        right = p[picks].argmax(axis=1) == y[chosen]
        kept += int((sure & right).sum())
        created += int((~(sure & right)).sum())
        labelled += list(chosen)
    return {"labels": len(labelled), "kept": kept, "created": created,
            "reached": model.score(X[test], y[test]) >= TARGET * reference}


def time_model(project: str | None, default: float) -> tuple[float, str]:
    if project is None:
        return default, f"assumed verify_time_ratio {default} (no project given: --project reads lead times)"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from data_labeling_pipeline.models import lead_times

    root = Path(project)
    read = [json.loads(x) for x in (root / "annotations/annotations.jsonl").read_text("utf-8").splitlines() if x]
    seen = root / "annotations/pulled_predictions.jsonl"
    predictions = [json.loads(x) for x in seen.read_text("utf-8").splitlines() if x] if seen.is_file() else []
    figures = lead_times(predictions, read)
    if figures["verify_time_ratio"] is None:
        return default, (f"assumed verify_time_ratio {default} ({project} has {figures['lead_time_kept_n']} kept "
                         f"pre-labels and {figures['lead_time_created_n']} created labels with a lead time)")
    return figures["verify_time_ratio"], (f"verify_time_ratio {figures['verify_time_ratio']} measured in {project}: "
                                          f"median lead time {figures['median_lead_time_kept']} s kept "
                                          f"({figures['lead_time_kept_n']}) vs {figures['median_lead_time_created']} s "
                                          f"created ({figures['lead_time_created_n']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--confident", type=float, default=0.9)
    parser.add_argument("--verify-ratio", type=float, default=0.33)
    parser.add_argument("--project", default=None)
    args = parser.parse_args()
    ratio, model_text = time_model(args.project, args.verify_ratio)
    X, y, pool, test = digits()
    reference = fit(X[pool], y[pool]).score(X[test], y[test])
    budget = len(pool)
    print(f"digits: pool {len(pool)}, test {len(test)}, full-pool accuracy {reference:.4f}, target {TARGET:.0%} of "
          f"it; pre-labels at least {args.confident} probable are verified; {model_text}")
    started = time.perf_counter()
    for batch in (10, max(1, round(0.02 * len(pool)))):
        rows = {"random, no pre-labels": [], "random + pre-labels": [], "margin + pre-labels": []}
        for seed in range(args.seeds):
            plain = run(X, y, pool, test, strategy="random", batch=batch, seed=seed, confident=args.confident,
                        reference=reference, budget=budget)
            ours = run(X, y, pool, test, strategy="margin", batch=batch, seed=seed, confident=args.confident,
                       reference=reference, budget=budget)
            rows["random, no pre-labels"].append((plain["labels"], float(plain["labels"])))
            rows["random + pre-labels"].append((plain["labels"], plain["created"] + ratio * plain["kept"]))
            rows["margin + pre-labels"].append((ours["labels"], ours["created"] + ratio * ours["kept"]))
        base_labels = np.array([r[0] for r in rows["random, no pre-labels"]], dtype=float)
        base_time = np.array([r[1] for r in rows["random, no pre-labels"]])
        print(f"\nbatch {batch} ({args.seeds} seeds): labels and annotator time (created-label units) to the target")
        print(f"  {'':24} {'labels':>14} {'time':>14} {'labels saved':>16} {'time saved':>16}")
        for name, values in rows.items():
            labels = np.array([v[0] for v in values], dtype=float)
            cost = np.array([v[1] for v in values])
            saved_l, saved_t = 1 - labels / base_labels, 1 - cost / base_time
            print(f"  {name:24} {labels.mean():8.1f} +- {labels.std():3.0f} {cost.mean():8.1f} +- {cost.std():3.0f} "
                  f"{saved_l.mean():9.1%} +- {saved_l.std():4.1%} {saved_t.mean():9.1%} +- {saved_t.std():4.1%}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nwall {time.perf_counter() - started:.1f} s, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
