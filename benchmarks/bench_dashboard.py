"""The dashboard (issue 19) from the outputs of 1M annotations: build time and peak memory.

Run by hand (not part of the test suite):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_dashboard.py [--annotations 1000000] [--task text|ner]

Writes a synthetic project whose files are what the stages write for that many annotations
(3 annotators per item from a crowd of 50, 10 classes or 4 entity types): items, consensus
with votes, the review queue, predictions, metrics with Dawid-Skene confusions and windowed
kappas, one confusion plot row per annotation. For NER it also writes the annotations, which
the report streams one item at a time. Then `dlp report` runs in a fresh process, timed,
with its peak resident memory (getrusage of the child, so the generator's memory is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_ANNOTATORS = 50
PER_ITEM = 3


def write_lines(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n")


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def make_project(root: Path, n_annotations: int, task: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from data_labeling_pipeline.config import dump_params, with_defaults
    from data_labeling_pipeline.labels import new_label_schema
    from data_labeling_pipeline.repo.scaffold import labels_yaml

    rng = random.Random(0)
    task_type = "text_classification" if task == "text" else "ner"
    classes = [f"c{i}" for i in range(10)] if task == "text" else ["PER", "ORG", "LOC", "DATE"]
    params = with_defaults({"project": {"name": f"bench-{task}", "task_type": task_type, "classes": classes}})
    (root / "schema").mkdir(parents=True)
    (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
    (root / "schema/labels.yaml").write_text(labels_yaml(new_label_schema(task_type, classes)), encoding="utf-8")
    annotators = [f"ann{i:02d}@example.com" for i in range(N_ANNOTATORS)]
    accuracy = {a: 0.6 + 0.38 * rng.random() for a in annotators}
    n_items = n_annotations // PER_ITEM
    ids = [f"item-{i:07d}" for i in range(n_items)]
    truth = {i: rng.choice(classes) for i in ids}
    labels: dict[str, list[tuple[str, str]]] = {}
    confusion_rows: dict[str, list[dict]] = {a: [] for a in annotators}
    consensus, review = [], []
    for item in ids:
        votes: dict[str, int] = {}
        who = rng.sample(annotators, PER_ITEM)
        labels[item] = []
        for a in who:
            label = truth[item] if rng.random() < accuracy[a] else rng.choice(classes)
            votes[label] = votes.get(label, 0) + 1
            labels[item].append((a, label))
        top = max(sorted(votes), key=votes.get)
        error = round(1 - votes[top] / PER_ITEM + 0.01 * rng.random(), 6)
        for a, label in labels[item]:
            confusion_rows[a].append({"consensus": top, "item_id": item, "label": label})
        consensus.append({"confidence": round(1 - error, 6), "expected_error": error, "item_id": item, "label": top,
                          "method": "dawid_skene", "n_annotations": PER_ITEM, "reasons": [] if error < 0.3 else
                          ["disagreement"], "spot_check": [], "status": "accepted", "tie": False, "votes": votes})
        if error >= 0.3:
            review.append({"action": "annotate" if rng.random() < 0.6 else "review", "confidence": round(1 - error, 6),
                           "expected_error": error, "item_id": item, "label": top, "n_annotations": PER_ITEM,
                           "rank": len(review) + 1, "reasons": ["disagreement"]})
    write_lines(root / "annotations/items.jsonl",
                ({"data": {"text": f"text of {i}: " + " ".join(rng.choice(["lorem", "ipsum", "dolor"]) for _ in
                                                                range(12))}, "item_id": i} for i in ids))
    write_lines(root / "annotations/review.jsonl", review)
    write_lines(root / "annotations/predictions.jsonl",
                ({"item_id": i, "label": truth[i], "model_version": "bench", "score": 0.9} for i in ids))
    if task == "text":
        write_lines(root / "annotations/consensus.jsonl", consensus)
        for a, rows in confusion_rows.items():
            write_json(root / "plots/confusion" / f"{a}.json", rows)
    else:  # spans: one per item, the label the annotator chose
        spans = [{"item_id": item, "annotator": a, "spans": [{"start": 0, "end": 4, "label": label}]}
                 for item in ids for a, label in sorted(labels[item])]
        write_lines(root / "annotations/annotations.jsonl", spans)
        write_lines(root / "annotations/consensus.jsonl",
                    ({**{k: v for k, v in c.items() if k not in ("label", "votes")},
                      "spans": [{"start": 0, "end": 4, "label": c["label"], "score": 1.0}]} for c in consensus))
    figures = {}
    for a in annotators:
        n = len(confusion_rows[a])
        p = accuracy[a]
        off = (1 - p) / (len(classes) - 1)
        figures[a] = {"accuracy_vs_consensus": round(p, 6), "kappa_vs_consensus": round(p - 0.05, 6),
                      "labels_per_hour": 300.0, "n_items": n, "spammer_score": round(p - off, 6), "flags": {},
                      "windows": {"kappa_by_window": {str(w): round(p - 0.1 * rng.random(), 6)
                                                      for w in range(n // 200)}, "latest_kappa": round(p, 6)}}
        if task == "text":
            figures[a]["ds_confusion"] = {t: {lab: round(p if t == lab else off, 6) for lab in classes}
                                          for t in classes}
    write_json(root / "metrics/annotators.json", figures)
    headline = "krippendorff_alpha" if task == "text" else "span_f1_exact"
    write_json(root / "metrics/agreement.json", {"n_items": n_items, "n_annotations": n_items * PER_ITEM,
                                                 "n_annotators": N_ANNOTATORS, headline: 0.71,
                                                 "bootstrap_ci95": {"metric_low": 0.70, "metric_high": 0.72}})
    pairs = [{"annotator_a": a, "annotator_b": b, "kappa": 0.7, "value": 0.7, "n_items": 100, "reason": None}
             for i, a in enumerate(annotators) for b in annotators[i + 1:]]
    report = {"headline": headline, "bootstrap": {"metric": headline, "n_resamples": 200, "confidence": 0.95},
              "undefined": {}, "annotators_below_min_kappa": []}
    report.update({"pairwise_kappa": pairs} if task == "text" else {"pairs": {headline: pairs}})
    write_json(root / "reports/agreement.json", report)
    n_review = sum(r["action"] == "review" for r in review)
    write_json(root / "metrics/review.json", {"n_items": n_items, "n_review": n_review,
                                              "n_annotate": len(review) - n_review, "budget": n_items // 7,
                                              "estimated_accuracy_exported": 0.95,
                                              "estimated_accuracy_exported_se": 0.001})
    write_json(root / "metrics/prelabel.json", {"cv_accuracy": 0.9, "trained": 1, "items_predicted": n_items})
    write_json(root / "metrics/export.json", {"items_exported": n_items, "csv": {
        "items": {"train": {"in": n_items, "out": n_items}}, "events": {}, "objects_in": n_items,
        "objects_out": n_items}})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--task", choices=("text", "ner"), default="text")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into:
        make_project(args.generate_into, args.annotations, args.task)
        return
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        root = Path(tmp) / "project"
        started = time.perf_counter()
        # In a child of its own: a child forked from a parent holding the generated data would count it as its RSS.
        subprocess.run([sys.executable, __file__, "--annotations", str(args.annotations), "--task", args.task,
                        "--generate-into", str(root)], check=True)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"{args.task}: {args.annotations} annotations -> {size / 1e6:.0f} MB of stage outputs "
              f"(generated in {time.perf_counter() - started:.1f} s)")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        code = "from data_labeling_pipeline.cli import main; main()"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, "report"], cwd=root, env=env, check=True)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        page = root / "reports/dashboard.html"
        print(f"dlp report: {elapsed:.2f} s wall, peak RSS {peak:.0f} MiB, "
              f"dashboard {page.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
