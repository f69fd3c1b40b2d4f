"""Agreement metrics on 1,000,000 annotations: ours vs scikit-learn + statsmodels + krippendorff.

Run by hand (not part of the test suite):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_agreement.py [--items 200000] [--repeat 3]

Data: synthetic and seeded, ``items`` items x 5 annotators (every annotator labels every
item), 10 classes with a Zipf-like class distribution, annotator accuracies 0.9 .. 0.5.

Ours: ``agreement_summary`` from the long table ``item, annotator, label``: encoding,
percent agreement, Fleiss' kappa, Gwet's AC1, Krippendorff's alpha (nominal) and Cohen's
kappa for all 10 annotator pairs.
Peers: scikit-learn ``cohen_kappa_score`` for the 10 pairs, statsmodels
``aggregate_raters`` + ``fleiss_kappa`` and ``krippendorff.alpha``, each given the integer
items x annotators matrix it wants, built before the clock starts.

The headline compares like with like: ours from the integer-coded long table (item index,
annotator index, label), the peers from the integer matrix. The dense-matrix case gives ours
the very matrix the peers get and computes what they compute: ``krippendorff_alpha`` on the
items x annotators matrix (per-item counts in one pass), ``fleiss_kappa`` on its counts and
``cohens_kappa`` for the 10 pairs of columns (target: >= 3x the peers' sum). Ours is also timed from string
item ids and annotator names (what the pipeline holds; the string factorisation is then
timed on our side only) in the canonical order of ``annotations.jsonl`` (sorted by item,
then annotator), and from a shuffled copy. Runs alternate between the sides, best of
``--repeat``. Peak memory of our side is measured with tracemalloc in a separate run
(tracemalloc slows allocation).
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
import warnings

import numpy as np

N_ANNOTATORS = 5
N_CLASSES = 10
ACCURACIES = (0.9, 0.8, 0.7, 0.6, 0.5)


def make_crowd(n_items: int, *, per_item: int = N_ANNOTATORS, seed: int = 0):
    """Seeded synthetic crowd: (item ids, annotators, labels, wide matrix, truth).

    Labels are class indexes 0..9; a wrong label is uniform over the other classes. The wide
    matrix is items x annotators with -1 where an annotator did not label the item.
    """
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, N_CLASSES + 1)
    truth = rng.choice(N_CLASSES, size=n_items, p=probs / probs.sum())
    if per_item == N_ANNOTATORS:
        who = np.tile(np.arange(N_ANNOTATORS), n_items)
    else:
        who = np.argsort(rng.random((n_items, N_ANNOTATORS)), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    t = truth[item]
    correct = rng.random(len(item)) < np.asarray(ACCURACIES)[who]
    labels = np.where(correct, t, (t + rng.integers(1, N_CLASSES, size=len(item))) % N_CLASSES)
    wide = np.full((n_items, N_ANNOTATORS), -1, dtype=np.int64)
    wide[item, who] = labels
    item_ids = np.char.add("item-", np.char.zfill(item.astype("U7"), 7))
    annotators = np.char.add("annotator-", who.astype("U2"))
    return item_ids, annotators, labels, wide, truth, (item, who)


def ours(item_ids, annotators, labels):
    from data_labeling_pipeline.quality import agreement_summary

    s = agreement_summary(item_ids, annotators, labels, classes=list(range(N_CLASSES)))
    return {
        "fleiss_kappa": s["fleiss_kappa"].value,
        "krippendorff_alpha": s["krippendorff_alpha"].value,
        "gwet_ac1": s["gwet_ac1"].value,
        "percent_agreement": s["percent_agreement"].value,
        "pairwise": [r["kappa"] for r in s["pairwise"].records()],
    }


def ours_dense(wide):
    from data_labeling_pipeline.quality import cohens_kappa, fleiss_kappa, krippendorff_alpha, ratings_to_counts

    classes = list(range(N_CLASSES))
    rated = wide >= 0
    complete = bool(rated.all())
    ratings = wide if complete else np.where(rated, wide, np.nan)  # NaN: not rated
    alpha = krippendorff_alpha(ratings)
    counts, _ = ratings_to_counts(ratings, values=classes)
    pairwise = []
    for a in range(N_ANNOTATORS):
        for b in range(a + 1, N_ANNOTATORS):
            col_a, col_b = (wide[:, a], wide[:, b]) if complete else (ratings[:, a], ratings[:, b])
            pairwise.append(cohens_kappa(col_a, col_b, labels=classes).value)
    return {"fleiss_kappa": fleiss_kappa(counts).value, "krippendorff_alpha": alpha.value, "pairwise": pairwise}


def alpha_only(wide):
    from data_labeling_pipeline.quality import krippendorff_alpha

    return krippendorff_alpha(wide).value


def alpha_counts_only(counts):
    from data_labeling_pipeline.quality import alpha_from_counts

    return alpha_from_counts(counts).value


def peers(wide):
    import krippendorff
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    pairwise = []
    for a in range(N_ANNOTATORS):
        for b in range(a + 1, N_ANNOTATORS):
            both = (wide[:, a] >= 0) & (wide[:, b] >= 0)
            pairwise.append(cohen_kappa_score(wide[both, a], wide[both, b]))
    counts, _ = aggregate_raters(wide, n_cat=N_CLASSES)
    fk = fleiss_kappa(counts, method="fleiss")
    rel = np.where(wide >= 0, wide, np.nan).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alpha = krippendorff.alpha(reliability_data=rel, level_of_measurement="nominal")
    return {"fleiss_kappa": fk, "krippendorff_alpha": alpha, "pairwise": pairwise}


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    item_ids, annotators, labels, wide, _, (item_codes, annotator_codes) = make_crowd(args.items, seed=args.seed)
    print(f"{len(labels):,} annotations: {args.items:,} items x {N_ANNOTATORS} annotators, {N_CLASSES} classes")
    perm = np.random.default_rng(args.seed + 1).permutation(len(labels))
    shuffled = (item_ids[perm], annotators[perm], labels[perm])

    from data_labeling_pipeline.quality import ratings_to_counts

    counts, _ = ratings_to_counts(wide)
    ours(item_ids[:1000], annotators[:1000], labels[:1000])  # warm imports on both sides
    ours_dense(wide[:200])
    peers(wide[:200])
    runs: dict[str, list[float]] = {k: [] for k in ("peers", "ints", "strings", "shuffled", "dense", "alpha",
                                                     "alpha_counts")}
    for _ in range(args.repeat):
        t, ref = timed(peers, wide)
        runs["peers"].append(t)
        t, got = timed(ours, item_codes, annotator_codes, labels)
        runs["ints"].append(t)
        t, got_str = timed(ours, item_ids, annotators, labels)
        runs["strings"].append(t)
        runs["shuffled"].append(timed(ours, *shuffled)[0])
        t, got_dense = timed(ours_dense, wide)
        runs["dense"].append(t)
        runs["alpha"].append(timed(alpha_only, wide)[0])
        runs["alpha_counts"].append(timed(alpha_counts_only, counts)[0])
    t_peer, t_ours, t_str, t_shuffled, t_dense, t_alpha, t_alpha_counts = (
        min(runs[k]) for k in ("peers", "ints", "strings", "shuffled", "dense", "alpha", "alpha_counts"))

    diff = max(
        max(abs(g["fleiss_kappa"] - ref["fleiss_kappa"]),
            abs(g["krippendorff_alpha"] - ref["krippendorff_alpha"]),
            max(abs(x - y) for x, y in zip(g["pairwise"], ref["pairwise"], strict=True)))
        for g in (got, got_dense)
    )
    diff = max(diff, abs(got_str["krippendorff_alpha"] - ref["krippendorff_alpha"]))
    tracemalloc.start()
    ours(item_ids, annotators, labels)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    ours_dense(wide)
    _, peak_dense = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(f"fleiss {got['fleiss_kappa']:.6f}  alpha {got['krippendorff_alpha']:.6f}  "
          f"ac1 {got['gwet_ac1']:.6f}  pa {got['percent_agreement']:.6f}  "
          f"max |ours - peers| = {diff:.2e}")
    print(f"peers (sklearn x10 pairs + statsmodels + krippendorff, int matrix): {t_peer:7.3f} s")
    print(f"ours  (all metrics, int-coded long table):                         {t_ours:7.3f} s"
          f"  speed-up {t_peer / t_ours:.1f}x (target >= 3x)")
    print(f"ours  (string ids, canonical sorted order):                        {t_str:7.3f} s"
          f"  speed-up {t_peer / t_str:.1f}x")
    print(f"ours  (string ids, shuffled rows):                                 {t_shuffled:7.3f} s"
          f"  speed-up {t_peer / t_shuffled:.1f}x")
    print(f"ours  (dense int matrix: alpha + fleiss + 10 cohen pairs):         {t_dense:7.3f} s"
          f"  speed-up {t_peer / t_dense:.1f}x (target >= 3x)")
    print(f"krippendorff_alpha alone: dense matrix {t_alpha:.4f} s, counts {t_alpha_counts:.4f} s "
          f"(dense / counts {t_alpha / t_alpha_counts:.1f}x)")
    print(f"peak memory, ours (tracemalloc): long table {peak / 2**20:.0f} MiB (target < 2048 MiB), "
          f"dense matrix {peak_dense / 2**20:.0f} MiB; process max RSS (both sides): {rss:.0f} MiB")


if __name__ == "__main__":
    main()
