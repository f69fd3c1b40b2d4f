"""The prelabel stage on 100k and 333k text items (1M at ``--full``): wall time, peak memory, cv accuracy.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/bench_prelabel_scale.py [--sizes 100000,333334] [--full] [--uncapped-at 100000]

For each size N the parent writes a text classification project straight to disk:
``annotations/items.jsonl`` with N synthetic sentences (8-14 pseudo-words; each word is from
the item's class vocabulary with probability 0.2, else from a shared one of 3,000 words; 4
classes, 40 / 30 / 20 / 10 %) and ``annotations/annotations.jsonl`` with 3 of 30 annotators per
item, each right 80 % of the time (else a uniform other class). A fresh child process then runs
``run_prelabel`` once (nothing saved: the model is trained) and reports its own peak RSS
(``ru_maxrss``), so the parent's data generation does not count. The default cap
(``prelabel.max_train_labels: 20000``) runs at every size; the uncapped run (``null``) only at
the smallest, beside it. Columns: the stage's cross-validated accuracy (against the consensus
labels it trained on) and the accuracy of its predictions on every item against the true class.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLASSES = ("billing", "delivery", "product", "account")
SHARES = (0.4, 0.3, 0.2, 0.1)
ANNOTATORS = 30
PER_ITEM = 3
ACCURACY = 0.8
SIGNAL = 0.2  # the share of an item's words drawn from its class vocabulary
PEAK_LIMIT_MIB = 2048


def _words(rng, n: int) -> list[str]:
    letters = list("abcdefghijklmnopqrstuvwxyz")
    return ["".join(rng.choice(letters, size=int(rng.integers(3, 9)))) for _ in range(n)]


def write_project(root: Path, n: int, *, seed: int = 0) -> list[str]:
    """Write the project (params, schema, items, annotations); return the true class of each item in id order."""
    import numpy as np

    from data_labeling_pipeline.config import dump_params, with_defaults
    from data_labeling_pipeline.labels import new_label_schema
    from data_labeling_pipeline.records import canonical_line
    from data_labeling_pipeline.repo.scaffold import labels_yaml

    rng = np.random.default_rng(seed)
    (root / "schema").mkdir(parents=True)
    (root / "annotations").mkdir()
    params = with_defaults({"project": {"name": "scale", "task_type": "text_classification",
                                        "classes": list(CLASSES)}})
    (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
    (root / "schema/labels.yaml").write_text(labels_yaml(new_label_schema("text_classification", list(CLASSES))),
                                             encoding="utf-8")
    shared = _words(rng, 3000)
    own = [_words(rng, 150) for _ in CLASSES]
    names = [f"a{k:02d}@example.org" for k in range(ANNOTATORS)]
    truth = rng.choice(len(CLASSES), size=n, p=SHARES)
    k = len(CLASSES)
    with open(root / "annotations/items.jsonl", "w", encoding="utf-8") as items, \
            open(root / "annotations/annotations.jsonl", "w", encoding="utf-8") as annotations:
        for lo in range(0, n, 10_000):  # drawn a chunk at a time: a Python call per word would take minutes
            m = min(10_000, n - lo)
            lengths = rng.integers(8, 15, size=m)
            mine = rng.random((m, 14)) < SIGNAL
            own_word, shared_word = rng.integers(150, size=(m, 14)), rng.integers(3000, size=(m, 14))
            who = np.sort(np.argsort(rng.random((m, ANNOTATORS)), axis=1)[:, :PER_ITEM], axis=1)
            right = rng.random((m, PER_ITEM)) < ACCURACY
            wrong = (truth[lo : lo + m, None] + rng.integers(1, k, size=(m, PER_ITEM))) % k
            said = np.where(right, truth[lo : lo + m, None], wrong)
            for j in range(m):
                item_id, c = f"t{lo + j:07d}", int(truth[lo + j])
                words = [own[c][own_word[j, w]] if mine[j, w] else shared[shared_word[j, w]]
                         for w in range(lengths[j])]
                items.write(canonical_line({"item_id": item_id, "data": {"text": " ".join(words)}}) + "\n")
                for a in range(PER_ITEM):
                    annotations.write(canonical_line({"item_id": item_id, "annotator": names[who[j, a]],
                                                      "schema_version": 1, "label": CLASSES[said[j, a]]}) + "\n")
    return [CLASSES[c] for c in truth]


def set_cap(root: Path, cap: int | None) -> None:
    from data_labeling_pipeline.config import dump_params, load_params

    params = load_params(root / "params.yaml")
    params["prelabel"]["max_train_labels"] = cap
    (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
    shutil.rmtree(root / "models", ignore_errors=True)  # no saved model: every run trains


def child(root: str) -> dict:
    import resource

    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.stages.prelabel import run_prelabel

    t = time.perf_counter()
    summary = run_prelabel(Project(Path(root)))
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = summary.metrics
    return {"seconds": seconds, "peak_mib": peak, "n_labels": m["n_labels"], "n_labels_used": m["n_labels_used"],
            "cv_accuracy": m["cv_accuracy"], "items_predicted": m["items_predicted"]}


def accuracy(root: Path, truth: list[str]) -> float:
    """Share of items whose prediction is their true class (predictions are in item id order, as the truth)."""
    right = 0
    with open(root / "annotations/predictions.jsonl", encoding="utf-8") as fh:
        for line, true in zip(fh, truth, strict=True):
            right += json.loads(line)["label"] == true
    return right / len(truth)


def run(sizes: list[int], uncapped_at: int | None) -> list[dict]:
    print("| items | annotations | max_train_labels | labels available / used | seconds | peak RSS MiB | < 2 GiB "
          "| cv accuracy | accuracy vs truth |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-prelabel-") as tmp:
            root = Path(tmp) / "project"
            truth = write_project(root, n)
            caps = [20_000] + ([None] if n == uncapped_at else [])
            for cap in caps:
                set_cap(root, cap)
                out = subprocess.run([sys.executable, __file__, "--child", str(root)], check=True,
                                     capture_output=True, text=True)
                row = {"items": n, "max_train_labels": cap, **json.loads(out.stdout.strip().splitlines()[-1]),
                       "accuracy": accuracy(root, truth)}
                rows.append(row)
                print(f"| {n:,} | {n * PER_ITEM:,} | {cap if cap is not None else 'null'} | "
                      f"{row['n_labels']:,} / {row['n_labels_used']:,} | {row['seconds']:.1f} | {row['peak_mib']:.0f} "
                      f"| {'yes' if row['peak_mib'] < PEAK_LIMIT_MIB else 'NO'} | {row['cv_accuracy']:.4f} "
                      f"| {row['accuracy']:.4f} |", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,333334", help="item counts, comma-separated")
    parser.add_argument("--full", action="store_true", help="add 1,000,000 items")
    parser.add_argument("--uncapped-at", type=int, default=None,
                        help="the size that also runs uncapped (max_train_labels: null); default: the smallest")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.full else [])
    rows = run(sizes, args.uncapped_at if args.uncapped_at is not None else min(sizes))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
