"""`dlp diff` on two revisions of 1,000,000 annotations, vs `dvc diff` and a naive pandas merge.

Run by hand (not part of the test suite):

    PATH=.venv/bin:$PATH .venv/bin/python benchmarks/bench_diff.py [--items 333334] [--task classification|bbox]

Data: synthetic and seeded, ``items`` items x 3 annotators, records shaped like the pull
stage's (annotator, created_at, item_id, payload, lead_time, schema_version, source,
updated_at). Revision A is committed with the record files `dvc add`-ed in a real git +
dvc repository in a temp folder; revision B relabels ``--relabel`` of the annotations
(classification: a new class; bbox: a moved box or a relabelled box), flips the consensus
of the relabelled items whose majority changed and adds 1% new items, then is committed.

Each side runs in its own child process (a wrapper reads the child's peak RSS with
``resource.getrusage(RUSAGE_CHILDREN)``):
- ours: ``dlp diff A B --format json --out report.json`` (the complete report);
- ``dvc diff A B`` (it only says which files changed);
- naive pandas: ``dvc.api.open`` both revisions, ``pd.read_json(lines=True)``, an outer
  merge on (item_id, annotator), then the rows whose payload differs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

CLASSES = [f"class{i}" for i in range(10)]
ANNOTATORS = ["ann1@example.com", "ann2@example.com", "ann3@example.com"]

WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - t
if proc.returncode != 0:
    sys.stderr.write(proc.stderr)
print(json.dumps({"seconds": elapsed, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "rc": proc.returncode, "stdout": proc.stdout[-400:]}))
"""

PANDAS_PEER = """
import sys
import dvc.api
import pandas as pd
root, rev_a, rev_b = sys.argv[1:4]
def load(rev):
    with dvc.api.open("annotations/annotations.jsonl", repo=root, rev=rev) as fh:
        return pd.read_json(fh, lines=True)
a, b = load(rev_a), load(rev_b)
key = ["item_id", "annotator"]
payload = "label" if "label" in a.columns else "boxes"
m = a[key + [payload]].merge(b[key + [payload]], on=key, how="outer", suffixes=("_a", "_b"), indicator=True)
both = m[m["_merge"] == "both"]
changed = both[both[payload + "_a"].astype(str) != both[payload + "_b"].astype(str)]
print(len(changed), int((m["_merge"] == "right_only").sum()), int((m["_merge"] == "left_only").sum()))
"""


def sh(root: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=True).stdout.strip()


def payload_of(task: str, rng: random.Random, label: str) -> dict:
    if task == "classification":
        return {"label": label}
    x, y = rng.randrange(0, 600), rng.randrange(0, 400)
    return {"boxes": [{"x": x, "y": y, "w": 40 + rng.randrange(40), "h": 30 + rng.randrange(30), "label": label}]}


def line(item: str, annotator: str, n: int, p: dict) -> str:
    rec = {"annotator": annotator, "created_at": "2026-01-05T09:00:07Z", "item_id": item, "lead_time": 6.4,
           "schema_version": 1, "source": {"annotation": n, "file": "inbox/export-batch-1.json", "kind": "label_studio",
                                           "project": None, "task": n // 3}, "updated_at": "2026-01-05T09:00:07Z", **p}
    return json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n"


def write_revision(root: Path, items: list[str], annotations: dict, consensus: dict) -> None:
    with open(root / "annotations/items.jsonl", "w") as fh:
        for item in items:
            fh.write(json.dumps({"data": {"height": 480, "image": f"images/{item}.png", "width": 640},
                                 "item_id": item, "meta": {}}, sort_keys=True, separators=(",", ":")) + "\n")
    with open(root / "annotations/annotations.jsonl", "w") as fh:
        for n, ((item, annotator), p) in enumerate(sorted(annotations.items())):
            fh.write(line(item, annotator, n, p))
    with open(root / "annotations/consensus.jsonl", "w") as fh:
        for item in sorted(consensus):
            fh.write(json.dumps({"item_id": item, "status": "accepted", "method": "majority", **consensus[item]},
                                sort_keys=True, separators=(",", ":")) + "\n")
    sh(root, sys.executable, "-m", "dvc", "add", "-q", "annotations/items.jsonl", "annotations/annotations.jsonl",
       "annotations/consensus.jsonl")


def consensus_of(annotations: dict, items: list[str], task: str) -> dict:
    out = {}
    for item in items:
        votes = [annotations[(item, a)] for a in ANNOTATORS if (item, a) in annotations]
        labels = [v["label"] if task == "classification" else v["boxes"][0]["label"] for v in votes]
        best = sorted(set(labels), key=lambda c: (-labels.count(c), c))[0]
        box = votes[0].get("boxes", [{}])[0]
        out[item] = {"label": best} if task == "classification" else {"boxes": [{**box, "label": best}]}
    return out


def build(root: Path, n_items: int, task: str, relabel: float, seed: int = 0):
    from data_labeling_pipeline.config import dump_params, with_defaults
    from data_labeling_pipeline.labels import new_label_schema
    from data_labeling_pipeline.repo.scaffold import labels_yaml

    rng = random.Random(seed)
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.name", "bench")
    sh(root, "git", "config", "user.email", "bench@localhost")
    sh(root, sys.executable, "-m", "dvc", "init", "-q")
    params = with_defaults({"project": {"name": "bench", "task_type": "image_classification", "classes": CLASSES}})
    (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
    (root / "schema").mkdir()
    (root / "schema/labels.yaml").write_text(labels_yaml(new_label_schema("image_classification", CLASSES)), "utf-8")
    (root / "annotations").mkdir()
    items = [f"item-{i:07d}" for i in range(n_items)]
    truth = {item: rng.choice(CLASSES) for item in items}
    annotations = {(item, a): payload_of(task, rng, truth[item] if rng.random() < 0.8 else rng.choice(CLASSES))
                   for item in items for a in ANNOTATORS}
    write_revision(root, items, annotations, consensus_of(annotations, items, task))
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "A")
    rev_a = sh(root, "git", "rev-parse", "HEAD")

    keys = sorted(annotations)
    for key in rng.sample(keys, int(len(keys) * relabel)):
        p = annotations[key]
        if task == "classification":
            annotations[key] = {"label": rng.choice([c for c in CLASSES if c != p["label"]])}
        elif rng.random() < 0.5:
            annotations[key] = {"boxes": [{**p["boxes"][0], "x": p["boxes"][0]["x"] + rng.randrange(1, 8)}]}
        else:
            other = rng.choice([c for c in CLASSES if c != p["boxes"][0]["label"]])
            annotations[key] = {"boxes": [{**p["boxes"][0], "label": other}]}
    new_items = [f"item-{i:07d}" for i in range(n_items, n_items + n_items // 100)]
    for item in new_items:
        for a in ANNOTATORS:
            annotations[(item, a)] = payload_of(task, rng, rng.choice(CLASSES))
    items_b = items + new_items
    write_revision(root, items_b, annotations, consensus_of(annotations, items_b, task))
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", "B")
    return rev_a, sh(root, "git", "rev-parse", "HEAD")


def measure(root: Path, *cmd: str) -> dict:
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], cwd=root, capture_output=True, text=True, check=True,
                         env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=333_334)
    parser.add_argument("--task", choices=["classification", "bbox"], default="classification")
    parser.add_argument("--relabel", type=float, default=0.03)
    parser.add_argument("--no-pandas", action="store_true", help="Skip the pandas peer (it needs several GB).")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        root = Path(tmp) / "proj"
        rev_a, rev_b = build(root, args.items, args.task, args.relabel)
        size = (root / "annotations/annotations.jsonl").stat().st_size / 1e6
        print(f"{args.task}: {args.items * 3:,} annotations in A, {size:.0f} MB a revision; "
              f"A={rev_a[:8]} B={rev_b[:8]}")
        ours = measure(root, str(bin_dir / "dlp"), "diff", rev_a, rev_b, "--format", "json", "--out",
                       str(Path(tmp) / "report.json"))
        report = json.loads((Path(tmp) / "report.json").read_text())
        t = report["totals"]
        print(f"ours (dlp diff --format json): {ours['seconds']:.1f} s, peak RSS {ours['peak_rss_mb']:.0f} MB, "
              f"rc {ours['rc']}; relabels {t['relabels']:,} ({t['relabelled']:.2%}), new {t['new_annotations']:,}, "
              f"regions {t['region_changes']:,}, consensus flips {t['consensus_flips']:,}, "
              f"items added {t['added_items']:,}")
        md = measure(root, str(bin_dir / "dlp"), "diff", rev_a, rev_b, "--out", str(Path(tmp) / "report.md"))
        print(f"ours (dlp diff --format md):   {md['seconds']:.1f} s, peak RSS {md['peak_rss_mb']:.0f} MB")
        peer = measure(root, sys.executable, "-m", "dvc", "diff", rev_a, rev_b)
        print(f"dvc diff:                      {peer['seconds']:.1f} s, peak RSS {peer['peak_rss_mb']:.0f} MB "
              f"(reports only: {' '.join(peer['stdout'].split())[:160]})")
        if not args.no_pandas:
            naive = measure(root, sys.executable, "-c", PANDAS_PEER, str(root), rev_a, rev_b)
            print(f"naive pandas merge:            {naive['seconds']:.1f} s, peak RSS {naive['peak_rss_mb']:.0f} MB "
                  f"(changed, added, removed: {naive['stdout'].strip()})")


if __name__ == "__main__":
    main()
