"""Consensus with the weak model as one more voter, against crowd-kit's Dawid-Skene, GLAD and majority vote.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/bench_model_votes.py [--seeds 10] [--per-item 3]

What ``quality.model_votes: auto`` does under ``consensus_method: dawid_skene``, simulated with
known truth. Items: scikit-learn's 1,797 digits. A crowd of 10 annotators of accuracy drawn from
0.45 .. 0.85 (seeded); each item gets ``--per-item`` distinct annotators; a wrong label is one of
the item's two most confusable digits (a fixed confusion of digits the pixels also confuse) half of
the time, any other digit otherwise. The model: a logistic regression on the pixels, trained on
the human-only Dawid-Skene consensus and predicting each item out of fold (5 folds), as the
prelabel stage does; its prediction joins the votes as one more annotator, whose confusion
Dawid-Skene learns like anyone's, unless its estimated accuracy is not above chance (the
commonest class's prior) by 3 standard errors: then agree leaves it out, and so does this benchmark.

Two crowds per seed: with signal (the real pixels) and without (the same votes, pixels replaced
by noise: the model is at chance, and its weight must fall to nothing). Printed: consensus accuracy
vs truth, mean +- std over seeds, and ours with the model minus crowd-kit's Dawid-Skene per seed
(mean, min), with wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

CONFUSABLE = {0: (6, 8), 1: (7, 4), 2: (3, 8), 3: (8, 5), 4: (9, 1), 5: (3, 9), 6: (5, 0), 7: (1, 9), 8: (3, 1),
              9: (4, 7)}
N_ANNOTATORS = 10


def crowd(y: np.ndarray, *, per_item: int, seed: int):
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.45, 0.85, size=N_ANNOTATORS)
    items, who, labels = [], [], []
    for i, truth in enumerate(y):
        for a in rng.choice(N_ANNOTATORS, size=per_item, replace=False):
            if rng.random() < accuracy[a]:
                label = truth
            elif rng.random() < 0.5:
                label = CONFUSABLE[int(truth)][int(rng.integers(2))]
            else:
                label = int(rng.choice([c for c in range(10) if c != truth]))
            items.append(i)
            who.append(f"ann{a}")
            labels.append(int(label))
    return np.array(items), np.array(who), np.array(labels)


def out_of_fold(X: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    return cross_val_predict(LogisticRegression(max_iter=300), X, labels, cv=5)


def ours_ds(items, who, labels, truth):
    from data_labeling_pipeline.quality import DawidSkene

    return _by_item(DawidSkene().fit(items, who, labels, classes=list(range(10))).consensus(), len(truth))


def ours_mv(items, who, labels, truth):
    from data_labeling_pipeline.quality import majority_vote

    return _by_item(majority_vote(items, who, labels, classes=list(range(10))), len(truth))


def _by_item(result, n: int) -> np.ndarray:
    predicted = {int(i): int(result.classes[k]) for i, k in zip(result.items, result.label_index, strict=True)}
    return np.array([predicted[i] for i in range(n)])


def crowdkit(method: str, items, who, labels, truth):
    import pandas as pd
    from crowdkit.aggregation import GLAD, DawidSkene, MajorityVote

    frame = pd.DataFrame({"task": items, "worker": who, "label": labels})
    model = {"ds": lambda: DawidSkene(n_iter=100), "glad": lambda: GLAD(n_iter=100, silent=True),
             "mv": MajorityVote}[method]()
    result = model.fit_predict(frame)
    return np.array([result.loc[i] for i in range(len(truth))])


def main() -> None:
    from sklearn.datasets import load_digits

    from data_labeling_pipeline.quality import DawidSkene, add_model_votes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--per-item", type=int, default=3)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    started = time.perf_counter()
    methods = ("majority vote (ours)", "crowd-kit MV", "crowd-kit GLAD", "crowd-kit DS", "ours DS",
               "ours DS + model (auto)")
    for signal in (True, False):
        scores: dict[str, list[float]] = {m: [] for m in methods}
        model_accuracy, model_kept = [], []
        for seed in range(args.seeds):
            items, who, labels = crowd(y, per_item=args.per_item, seed=seed)
            features = X if signal else np.random.default_rng(1000 + seed).normal(size=X.shape)
            human = ours_ds(items, who, labels, y)
            model = out_of_fold(features, human, seed)
            model_accuracy.append(float((model == y).mean()))
            votes = add_model_votes(items, who, labels, np.arange(len(y)), model)
            with_model = DawidSkene().fit(*votes, classes=list(range(10)))
            kept = with_model.above_chance("model", len(y))  # else agree leaves the model out, as here
            model_kept.append(kept)
            runs = {"majority vote (ours)": ours_mv(items, who, labels, y),
                    "crowd-kit MV": crowdkit("mv", items, who, labels, y),
                    "crowd-kit GLAD": crowdkit("glad", items, who, labels, y),
                    "crowd-kit DS": crowdkit("ds", items, who, labels, y),
                    "ours DS": human,
                    "ours DS + model (auto)": _by_item(with_model.consensus(), len(y)) if kept else human}
            for name, predicted in runs.items():
                scores[name].append(float((np.asarray(predicted, dtype=int) == y).mean()))
        kind = "with signal (real pixels)" if signal else "without signal (pixels replaced by noise)"
        print(f"\ncrowd {kind}: {args.seeds} seeds, {args.per_item} annotators per item, model accuracy vs truth "
              f"{np.mean(model_accuracy):.4f} +- {np.std(model_accuracy):.4f}; a voter in {sum(model_kept)} of "
              f"{len(model_kept)} seeds (above chance)")
        for name in methods:
            print(f"  {name:26} {np.mean(scores[name]):.4f} +- {np.std(scores[name]):.4f}")
        for other in ("crowd-kit DS", "ours DS"):
            gain = np.array(scores["ours DS + model (auto)"]) - np.array(scores[other])
            print(f"  ours DS + model minus {other}: mean {gain.mean() * 100:+.2f} points, "
                  f"min {gain.min() * 100:+.2f}, max {gain.max() * 100:+.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nwall {time.perf_counter() - started:.1f} s, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
