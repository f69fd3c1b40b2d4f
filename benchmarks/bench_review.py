"""Review economy (issue 10): budgeted routing by expected error vs the old routing and a random sample.

Run by hand (not part of the test suite):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_review.py [--sizes 20000 50000] [--seed 0]

The crowd simulator is our own (seeded, known truth): 6 classes with a Zipf-like class
imbalance (41% .. 7%); 8 annotators, 3 distinct ones per item chosen at random: six
"regular" annotators whose wrong labels are uniform over the other classes, one spammer
(labels uniform over the classes, blind to the truth) and one biased annotator (95%
accurate, except that classes c0/c1 and c2/c3 are swapped 40% of the time). Two profiles
of regular accuracies, both spanning 0.6 .. 0.95:

- ``spread``: evenly spaced 0.95, 0.88, 0.81, 0.74, 0.67, 0.60;
- ``vetted``: mostly good annotators and one weak one: 0.95, 0.93, 0.92, 0.90, 0.85, 0.60.

For each crowd: consensus accuracy of our Dawid-Skene, crowd-kit's ``DawidSkene`` (the
oracle, same data), majority vote, and the Bayes posterior with the *true* confusion
matrices (the ceiling of any ranking). Then for review budgets of 5/10/15/20% of the items:
recall (share of the wrong consensus labels inside the review queue), precision (share of
reviewed items that were wrong) and the estimated vs true accuracy of the accepted labels, for
the new routing (:func:`route` on Dawid-Skene expected errors), a random review sample of the
same size, and the oracle ranking; plus the old routing as ``quality/agree.py`` calls it today
(``annotator_flags`` -> ``route_items`` with outlier annotators and per-annotator spot checks).
Spot checks: the joint sample vs the old per-annotator one, on the crowd and on a 5-annotators-
per-item set with one weak annotator (where the old ``outlier_annotator`` marked every item).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

K = 6
PRIOR = 1.0 / np.arange(1, K + 1)
PRIOR = PRIOR / PRIOR.sum()
PROFILES = {
    "spread": [0.95, 0.88, 0.81, 0.74, 0.67, 0.60],
    "vetted": [0.95, 0.93, 0.92, 0.90, 0.85, 0.60],
}
BUDGETS = (0.05, 0.10, 0.15, 0.20)
CLASSES = [f"c{j}" for j in range(K)]
MIN_CONFIDENCE = 0.7
SPOT_RATE = 0.1


def confusions(accuracies, *, swap: float = 0.4, biased_accuracy: float = 0.95) -> np.ndarray:
    """Annotators x true x given: regular annotators, then the spammer, then the biased annotator."""
    out = []
    for acc in accuracies:
        c = np.full((K, K), (1 - acc) / (K - 1))
        np.fill_diagonal(c, acc)
        out.append(c)
    out.append(np.full((K, K), 1.0 / K))
    b = np.full((K, K), (1 - biased_accuracy) / (K - 1))
    np.fill_diagonal(b, biased_accuracy)
    for x, y in ((0, 1), (2, 3)):
        for s, t in ((x, y), (y, x)):
            b[s, s] -= swap
            b[s, t] += swap
    out.append(b)
    return np.array(out)


def simulate(n_items: int, conf: np.ndarray, *, per_item: int = 3, seed: int = 0):
    """Long table (item ids, annotator names, class names) with the true class per item (index)."""
    rng = np.random.default_rng(seed)
    n_ann = len(conf)
    truth = rng.choice(K, size=n_items, p=PRIOR)
    who = np.sort(np.argsort(rng.random((n_items, n_ann)), axis=1)[:, :per_item], axis=1).ravel()
    item = np.repeat(np.arange(n_items), per_item)
    cum = conf[who, truth[item]].cumsum(1)
    label = np.minimum((rng.random(len(item))[:, None] > cum).sum(1), K - 1)
    ids = np.array([f"t{i:07d}" for i in range(n_items)])
    return ids[item], np.array([f"ann{a}" for a in who]), np.array(CLASSES)[label], truth, (item, who, label)


def oracle_posterior(codes, conf: np.ndarray, n_items: int) -> np.ndarray:
    item, who, label = codes
    logits = np.zeros((n_items, K))
    np.add.at(logits, item, np.log(conf[who, :, label]))
    logits += np.log(PRIOR)
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def top_share(err: np.ndarray, share: float) -> np.ndarray:
    n = int(np.floor(share * len(err) + 1e-9))
    order = np.lexsort((np.arange(len(err)), -err))
    mask = np.zeros(len(err), bool)
    mask[order[:n]] = True
    return mask


def scores(queue: np.ndarray, wrong: np.ndarray, err: np.ndarray | None = None) -> dict:
    accepted = ~queue
    out = {"share": queue.mean(), "recall": wrong[queue].sum() / max(wrong.sum(), 1),
           "precision": wrong[queue].mean() if queue.any() else float("nan"),
           "true_acc": 1 - wrong[accepted].mean()}
    out["est_acc"] = 1 - err[accepted].mean() if err is not None else float("nan")
    return out


def new_routing(items, anns, labels, *, budget, seed=0):
    """The new routing as the agree stage will call it: DS, expected errors, dependence, spot checks, route."""
    from data_labeling_pipeline.quality import DawidSkene, annotator_flags, annotator_stats
    from data_labeling_pipeline.quality.dependence import dependent_items, outlier_dependence
    from data_labeling_pipeline.quality.posterior import error_after_annotation, expected_errors, typical_confusion
    from data_labeling_pipeline.quality.review import consensus_reasons, route
    from data_labeling_pipeline.quality.spotcheck import spot_check_sample

    model = DawidSkene(seed=seed).fit(items, anns, labels, classes=CLASSES)
    cons = model.consensus()
    err = expected_errors(cons)
    stats = annotator_stats(items, anns, labels, consensus=cons.as_mapping(), classes=CLASSES, dawid_skene=model)
    flagged = [a for a, f in annotator_flags(stats).items() if f]
    dep = outlier_dependence(items, anns, labels, cons, flagged, model=model, min_confidence=MIN_CONFIDENCE)
    reasons = consensus_reasons(cons, outlier_items=dependent_items(dep))
    spot = spot_check_sample(items, anns, rate=SPOT_RATE, seed=seed)
    after = error_after_annotation(cons.probas, typical_confusion(model, annotators=anns))
    records, summary = route(cons.items, err, cons.n_annotations, budget=budget, min_annotators=2,
                             max_annotators=3, min_confidence=MIN_CONFIDENCE, error_after=after,
                             reasons=reasons, spot_check=spot)
    return model, cons, err, records, summary, flagged, dep, spot


def old_routing(items, anns, labels, model, cons, *, spot_rate=SPOT_RATE, seed=0):
    from data_labeling_pipeline.quality import annotator_flags, annotator_stats, route_items

    stats = annotator_stats(items, anns, labels, consensus=cons.as_mapping(), classes=CLASSES, dawid_skene=model)
    flags = annotator_flags(stats)
    routed = route_items(cons, items, anns, min_annotators=2, min_confidence=MIN_CONFIDENCE,
                         outlier_annotators=[a for a, f in flags.items() if f], spot_check_rate=spot_rate, seed=seed)
    return routed


def crowd_kit_accuracy(items, anns, labels, truth_by_id):
    import pandas as pd
    from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene

    frame = pd.DataFrame({"task": items, "worker": anns, "label": labels})
    start = time.perf_counter()
    ck = CrowdKitDawidSkene(n_iter=100).fit(frame)
    seconds = time.perf_counter() - start
    lab = ck.labels_.sort_index()
    return float(np.mean(lab.to_numpy() == truth_by_id[lab.index.to_numpy()])), seconds


def run_crowd(profile: str, n_items: int, seed: int) -> None:
    from data_labeling_pipeline.quality import majority_vote
    from data_labeling_pipeline.quality.posterior import expected_errors
    from data_labeling_pipeline.quality.review import route
    from data_labeling_pipeline.quality.spotcheck import spot_check_coverage

    conf = confusions(PROFILES[profile])
    items, anns, labels, truth, codes = simulate(n_items, conf, seed=seed)
    ids = np.array([f"t{i:07d}" for i in range(n_items)])
    truth_names = np.array(CLASSES)[truth]
    import pandas as pd

    truth_by_id = pd.Series(truth_names, index=ids)

    start = time.perf_counter()
    model, cons, err, records, summary, flagged, dep, spot = new_routing(items, anns, labels, budget=0.15, seed=seed)
    t_new = time.perf_counter() - start
    tracemalloc.start()
    new_routing(items, anns, labels, budget=0.15, seed=seed)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    wrong = cons.label_index != truth
    ck_acc, t_ck = crowd_kit_accuracy(items, anns, labels, truth_by_id)
    mv = majority_vote(items, anns, labels, classes=CLASSES)
    mv_wrong = mv.label_index != truth
    mv_err = expected_errors(mv, item_ids=items, annotators=anns, labels=labels)
    post = oracle_posterior(codes, conf, n_items)
    o_err, o_wrong = 1 - post.max(1), post.argmax(1) != truth

    print(f"\n=== crowd '{profile}' ({', '.join(map(str, PROFILES[profile]))} + spammer + biased), "
          f"{n_items:,} items x 3 of 8 annotators, seed {seed} ===")
    print(f"consensus accuracy: ours DS {1 - wrong.mean():.4f} (est {1 - err.mean():.4f}, {model.n_iter_} it) | "
          f"crowd-kit DS {ck_acc:.4f} ({t_ck:.2f} s) | ours - crowd-kit {1 - wrong.mean() - ck_acc:+.5f} | "
          f"majority {1 - mv_wrong.mean():.4f} (stand-in est {1 - mv_err.mean():.4f}) | "
          f"true-parameter posterior {1 - o_wrong.mean():.4f}")
    print(f"new routing at 15%: {t_new:.2f} s incl. DS fit, peak {peak / 2**20:.0f} MiB (tracemalloc); "
          f"flagged annotators {flagged}; outlier-dependent items "
          f"{len(np.unique(np.concatenate([v for v in dep.values()] + [np.array([], dtype=ids.dtype)])))}"
          f" ({100 * sum(len(v) for v in dep.values()) / n_items:.1f}% item-flags)")

    print(f"{'budget':>6} | {'new: recall':>11} {'prec':>6} {'est acc':>8} {'true acc':>8} {'diff pt':>7} | "
          f"{'random: recall':>14} {'prec':>6} | {'ceiling recall':>14} | {'after review est/true':>21}")
    rng = np.random.default_rng(seed + 1)
    for b in BUDGETS:
        records, summary = route(cons.items, err, cons.n_annotations, budget=b, min_annotators=2, max_annotators=3,
                                 min_confidence=MIN_CONFIDENCE, reasons=_reasons(cons, dep))
        queue = np.zeros(n_items, bool)
        pos = np.searchsorted(cons.items, [r["item_id"] for r in records if r["action"] == "review"])
        queue[pos] = True
        s = scores(queue, wrong, err)
        if abs(summary["estimated_accuracy_accepted"] - s["est_acc"]) > 1e-5:
            raise RuntimeError("summary and benchmark disagree")
        rand = np.zeros(n_items, bool)
        rand[rng.choice(n_items, size=int(queue.sum()), replace=False)] = True
        r = scores(rand, wrong)
        o = scores(top_share(o_err, b), o_wrong)
        true_after = 1 - wrong[~queue].sum() / n_items
        print(f"{b:>6.0%} | {s['recall']:>11.4f} {s['precision']:>6.4f} {s['est_acc']:>8.4f} {s['true_acc']:>8.4f} "
              f"{100 * (s['est_acc'] - s['true_acc']):>+7.2f} | {r['recall']:>14.4f} {r['precision']:>6.4f} | "
              f"{o['recall']:>14.4f} | {summary['estimated_accuracy_after_review']:.4f} / {true_after:.4f}")

    old = old_routing(items, anns, labels, model, cons)
    old_nospot = old_routing(items, anns, labels, model, cons, spot_rate=0.0)
    for name, routed in (("old routing", old), ("old, no spot checks", old_nospot)):
        queue = np.zeros(n_items, bool)
        queue[np.searchsorted(cons.items, [x["item_id"] for x in routed])] = True
        s = scores(queue, wrong, err)
        outl = np.mean([1.0 if "outlier_annotator" in x["reasons"] else 0.0 for x in routed]) * len(routed) / n_items
        rand = np.zeros(n_items, bool)
        rand[rng.choice(n_items, size=int(queue.sum()), replace=False)] = True
        rr = scores(rand, wrong)
        print(f"{name:>20}: queue {s['share']:.1%} recall {s['recall']:.4f} precision {s['precision']:.4f} "
              f"(random of that size: recall {rr['recall']:.4f} precision {rr['precision']:.4f}); "
              f"outlier_annotator on {outl:.1%} of items")
    s15 = new_routing(items, anns, labels, budget=0.15, seed=seed)[4]
    print(f"full routing at 15% (spot checks included): review {s15['review_share']:.1%} of items "
          f"({s15['n_spot_check_outside_budget']} spot checks outside the budget), annotate {s15['annotate_share']:.1%}"
          f", reasons {s15['reasons']['review']}")
    spot_accuracy(items, anns, labels, truth_by_id, spot, conf)
    two_queues(items, anns, labels, truth, conf, seed=seed)
    new_cov = spot_check_coverage(items, anns, spot)
    from data_labeling_pipeline.quality import spot_check

    old_pick = spot_check(items, anns, rate=SPOT_RATE, seed=seed)
    old_cov = spot_check_coverage(items, anns, np.unique(items[old_pick]))
    print(f"spot checks at rate {SPOT_RATE}: joint: {new_cov['item_share']:.1%} of items, per-annotator share "
          f"{new_cov['min_annotator_share']:.3f}..{new_cov['max_annotator_share']:.3f} | old per-annotator: "
          f"{old_cov['item_share']:.1%} of items, {old_cov['min_annotator_share']:.3f}.."
          f"{old_cov['max_annotator_share']:.3f}")


def spot_accuracy(items, anns, labels, truth_by_id, spot, conf) -> None:
    """Spot-check results (the reviewer's label = truth) give each annotator's accuracy against truth."""
    picked = np.isin(items, spot)
    names = sorted(set(anns.tolist()))
    true_acc = np.einsum("ak,akk->a", np.tile(PRIOR, (len(conf), 1)), conf)
    rows = []
    for a, name in enumerate(names):
        m = picked & (anns == name)
        rows.append((name, float(np.mean(labels[m] == truth_by_id[items[m]].to_numpy())), float(true_acc[a]), m.sum()))
    worst = max(abs(r[1] - r[2]) for r in rows)
    print("spot-check accuracy vs true (expected over the class prior): "
          + ", ".join(f"{n} {e:.3f}/{t:.3f} (n={k})" for n, e, t, k in rows) + f"; largest gap {worst:.3f}")


def two_queues(items, anns, labels, truth, conf, *, seed=0, budget=0.10) -> None:
    """max_annotators=4: uncertain items get a 4th vote (cheap) first, then the review budget; vs review only."""
    from data_labeling_pipeline.quality import DawidSkene
    from data_labeling_pipeline.quality.posterior import error_after_annotation, expected_errors, typical_confusion
    from data_labeling_pipeline.quality.review import route

    rng = np.random.default_rng(seed + 7)
    model = DawidSkene(seed=seed).fit(items, anns, labels, classes=CLASSES)
    cons = model.consensus()
    err = expected_errors(cons)
    after = error_after_annotation(cons.probas, typical_confusion(model, annotators=anns))
    records, _ = route(cons.items, err, cons.n_annotations, budget=budget, max_annotators=4,
                       min_confidence=MIN_CONFIDENCE, error_after=after)
    more = [r["item_id"] for r in records if r["action"] == "annotate"]
    # Simulate the extra annotation: a random annotator who has not labelled the item yet.
    on_item = {}
    for it, an in zip(items.tolist(), anns.tolist(), strict=True):
        on_item.setdefault(it, set()).add(int(an[3:]))
    idx = np.searchsorted(cons.items, more)
    new_ann = [int(rng.choice(sorted(set(range(len(conf))) - on_item[it]))) for it in more]
    new_lab = [int(rng.choice(K, p=conf[a, truth[i]])) for a, i in zip(new_ann, idx, strict=True)]
    items2 = np.concatenate([items, np.array(more, dtype=items.dtype)])
    anns2 = np.concatenate([anns, np.array([f"ann{a}" for a in new_ann])])
    labels2 = np.concatenate([labels, np.array(CLASSES)[new_lab]])
    model2 = DawidSkene(seed=seed).fit(items2, anns2, labels2, classes=CLASSES)
    cons2 = model2.consensus()
    err2 = expected_errors(cons2)
    records2, s2 = route(cons2.items, err2, cons2.n_annotations, budget=budget, max_annotators=4,
                         min_confidence=MIN_CONFIDENCE)
    review2 = np.isin(cons2.items, [r["item_id"] for r in records2 if r["action"] == "review"])
    wrong2 = cons2.label_index != truth
    only, s1 = route(cons.items, err, cons.n_annotations, budget=budget, max_annotators=3,
                     min_confidence=MIN_CONFIDENCE)
    review1 = np.isin(cons.items, [r["item_id"] for r in only if r["action"] == "review"])
    wrong1 = cons.label_index != truth
    print(f"two queues at a {budget:.0%} review budget, max_annotators=4: {len(more)} items "
          f"({len(more) / len(err):.1%}) got a 4th vote, then review {review2.mean():.1%}: true accuracy after review "
          f"{1 - wrong2[~review2].sum() / len(err):.4f} (est {s2['estimated_accuracy_after_review']:.4f}) vs review "
          f"only {1 - wrong1[~review1].sum() / len(err):.4f} (est {s1['estimated_accuracy_after_review']:.4f})")


def _reasons(cons, dep):
    from data_labeling_pipeline.quality.dependence import dependent_items
    from data_labeling_pipeline.quality.review import consensus_reasons

    return consensus_reasons(cons, outlier_items=dependent_items(dep))


def run_five(n_items: int, seed: int) -> None:
    """5 annotators label every item, one of them weak: outlier flags and spot checks, old vs new."""
    from data_labeling_pipeline.quality import DawidSkene, annotator_flags, annotator_stats, route_items, spot_check
    from data_labeling_pipeline.quality.dependence import dependent_items, outlier_dependence
    from data_labeling_pipeline.quality.spotcheck import spot_check_coverage, spot_check_sample

    conf = []
    for acc in (0.92, 0.9, 0.88, 0.85, 0.45):
        c = np.full((K, K), (1 - acc) / (K - 1))
        np.fill_diagonal(c, acc)
        conf.append(c)
    conf = np.array(conf)
    items, anns, labels, truth, _ = simulate(n_items, conf, per_item=5, seed=seed)
    model = DawidSkene(seed=seed).fit(items, anns, labels, classes=CLASSES)
    cons = model.consensus()
    wrong = cons.label_index != truth
    stats = annotator_stats(items, anns, labels, consensus=cons.as_mapping(), classes=CLASSES, dawid_skene=model)
    flagged = [a for a, f in annotator_flags(stats).items() if f]
    old = route_items(cons, items, anns, min_confidence=MIN_CONFIDENCE, outlier_annotators=flagged, spot_check_rate=0)
    old_out = {x["item_id"] for x in old if "outlier_annotator" in x["reasons"]}
    dep = dependent_items(outlier_dependence(items, anns, labels, cons, flagged, model=model,
                                             min_confidence=MIN_CONFIDENCE))
    dep_wrong = wrong[np.searchsorted(cons.items, dep)].sum() if len(dep) else 0
    joint = spot_check_coverage(items, anns, spot_check_sample(items, anns, rate=SPOT_RATE, seed=seed))
    old_pick = spot_check(items, anns, rate=SPOT_RATE, seed=seed)
    indep = spot_check_coverage(items, anns, np.unique(items[old_pick]))
    print(f"\n=== 5 annotators on each of {n_items:,} items, one weak (0.45), seed {seed} ===")
    print(f"flagged {flagged}; old outlier_annotator: {len(old_out) / n_items:.1%} of items; new (consensus depends "
          f"on the vote): {len(dep) / n_items:.2%} of items ({dep_wrong} of them wrong; {wrong.sum()} wrong overall)")
    print(f"spot checks at rate {SPOT_RATE}: joint {joint['item_share']:.1%} of items (each annotator "
          f"{joint['min_annotator_share']:.3f}..{joint['max_annotator_share']:.3f}); old per-annotator "
          f"{indep['item_share']:.1%} of items")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for profile in args.profiles:
        for n in args.sizes:
            run_crowd(profile, n, args.seed)
    run_five(args.sizes[0], args.seed)


if __name__ == "__main__":
    main()
