"""Every stage at 1M and 3M annotations (10M with ``--full``): wall time and peak RSS, beside a naive pandas pipeline.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/bench_scale.py [--sizes 1000000,3000000] [--full] [--stages pull,agree,export]

For each size the parent writes a text-classification project (params.yaml, schema/, no git)
and its inbox: Label Studio default JSON exports of 100,000 tasks each (3 annotators per task
from a crowd of 30, each right 80% of the time, 4 classes 40/30/20/10%; the shape of a real
1.23 export: task and annotation ids, ``completed_by``, ``result``, ``lead_time``, timestamps),
plus one task in ten that nobody labelled yet (the pool select picks from).
Each stage (pull, prelabel, agree, select, export with csv + huggingface) then runs in a fresh
child process, one after the other as ``dvc repro`` would, and reports its wall time and its peak
RSS (``VmHWM``: getrusage would count the parent's; plus twice the largest worker process when the
stage starts two, as pull does for big inboxes). ``diff`` is ``dlp diff HEAD`` after the
parent committed the outputs (label files tracked by DVC) and relabelled 1% of the annotations in
the workspace (the commit and the relabelling are not timed). The peer is what a user writes without the
tool, in a child of its own: ``pd.read_json`` of each export, one row per annotation, majority vote
by ``groupby``, ``to_csv`` (no validation, no Dawid-Skene, no review routing: a floor, not an equal).
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

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["positive", "negative", "neutral", "mixed"]
PRIOR = (0.4, 0.3, 0.2, 0.1)
TASKS_PER_FILE = 100_000
PER_TASK = 3
N_ANNOTATORS = 30
UNLABELLED_EVERY = 10  # every tenth task has no annotation: the pool of select
STAGES = ("pull", "prelabel", "agree", "select", "export", "diff")
CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single"><Choice value="positive"/><Choice value="negative"/>
  <Choice value="neutral"/><Choice value="mixed"/></Choices>
</View>
"""


def write_project(root: Path, n_annotations: int, seed: int = 0) -> None:
    import numpy as np

    from data_labeling_pipeline.config import dump_params, with_defaults
    from data_labeling_pipeline.labels import new_label_schema
    from data_labeling_pipeline.repo.scaffold import labels_yaml

    params = with_defaults({"project": {"name": "scale", "task_type": "text_classification", "classes": CLASSES},
                            "export": {"formats": ["csv", "huggingface"]}})
    for folder in ("schema", "annotations", "inbox"):
        (root / folder).mkdir(parents=True)
    (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
    (root / "schema/labels.yaml").write_text(labels_yaml(new_label_schema("text_classification", CLASSES)),
                                             encoding="utf-8")
    (root / "schema/label_config.xml").write_text(CONFIG, encoding="utf-8")
    (root / "annotations/items.ingested.jsonl").write_text("", encoding="utf-8")
    (root / "annotations/corrections.jsonl").write_text("", encoding="utf-8")
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3000)]
    n_labelled = n_annotations // PER_TASK
    n_tasks = n_labelled + n_labelled // (UNLABELLED_EVERY - 1)
    annotation_id = 0
    for start in range(0, n_tasks, TASKS_PER_FILE):
        tasks = []
        for t in range(start, min(start + TASKS_PER_FILE, n_tasks)):
            truth = int(rng.choice(4, p=PRIOR))
            text = " ".join(rng.choice(words, 10).tolist()) + f" c{truth}"
            annotations = []
            crowd = [] if t % UNLABELLED_EVERY == UNLABELLED_EVERY - 1 else \
                rng.choice(N_ANNOTATORS, PER_TASK, replace=False).tolist()
            for who in crowd:
                label = truth if rng.random() < 0.8 else int((truth + rng.integers(1, 4)) % 4)
                annotation_id += 1
                annotations.append({
                    "id": annotation_id, "completed_by": who + 1, "was_cancelled": False, "ground_truth": False,
                    "result": [{"id": f"r{annotation_id}", "type": "choices", "from_name": "sentiment",
                                "to_name": "text", "value": {"choices": [CLASSES[label]]}, "origin": "manual"}],
                    "created_at": f"2026-11-{1 + t % 28:02d}T10:{t % 60:02d}:{annotation_id % 60:02d}.000000Z",
                    "updated_at": f"2026-11-{1 + t % 28:02d}T10:{t % 60:02d}:{annotation_id % 60:02d}.000000Z",
                    "lead_time": round(float(rng.uniform(2, 20)), 1), "task": t + 1, "project": 1,
                    "parent_prediction": None, "parent_annotation": None})
            tasks.append({"id": t + 1, "data": {"text": text}, "annotations": annotations, "predictions": [],
                          "project": 1, "created_at": "2026-11-01T09:00:00.000000Z",
                          "updated_at": "2026-11-01T09:00:00.000000Z", "inner_id": t + 1,
                          "total_annotations": len(annotations),
                          "cancelled_annotations": 0, "total_predictions": 0})
        path = root / "inbox" / f"export-{start // TASKS_PER_FILE:03d}.json"
        path.write_text(json.dumps(tasks), encoding="utf-8")


def reuse(root: Path) -> None:
    """A kept project back to its generated state: the inbox and the config, no outputs, no git."""
    for name in ("annotations", "metrics", "reports", "plots", "models", "queue", "labeled_data", ".git", ".dvc"):
        shutil.rmtree(root / name, ignore_errors=True)
    (root / ".dvcignore").unlink(missing_ok=True)
    (root / "annotations").mkdir()
    (root / "annotations/items.ingested.jsonl").write_text("", encoding="utf-8")
    (root / "annotations/corrections.jsonl").write_text("", encoding="utf-8")


def vmhwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(stage: str, root: str) -> dict:
    started = time.perf_counter()
    if stage == "pandas":
        import pandas as pd

        frames = []
        for path in sorted(Path(root, "inbox").glob("*.json")):
            tasks = pd.read_json(path)
            rows = tasks[["id", "annotations"]].explode("annotations").dropna(subset=["annotations"])
            frames.append(pd.DataFrame({
                "task": rows["id"].to_numpy(),
                "annotator": [a["completed_by"] for a in rows["annotations"]],
                "label": [a["result"][0]["value"]["choices"][0] for a in rows["annotations"]]}))
        table = pd.concat(frames, ignore_index=True)
        votes = table.groupby(["task", "label"]).size().reset_index(name="n")
        consensus = votes.sort_values(["task", "n"], ascending=[True, False]).drop_duplicates("task")
        consensus.to_csv(Path(root, "pandas_consensus.csv"), index=False)
        detail = f"{len(table)} annotations, {len(consensus)} items"
    elif stage == "diff":
        from data_labeling_pipeline.stages.diff import run_diff

        result = run_diff("HEAD", None, fmt="json", start=Path(root))
        totals = result.report["totals"]
        detail = f"relabels {totals.get('relabels')}, consensus flips {totals.get('consensus_flips')}"
    else:
        from data_labeling_pipeline.project import Project

        project = Project(Path(root))
        module = __import__(f"data_labeling_pipeline.stages.{stage}", fromlist=["x"])
        run = getattr(module, f"run_{stage}")
        summary = run(project, verify=False) if stage == "export" else run(project)
        detail = summary.describe().splitlines()[0][:110]
    import resource

    # pull parses big inboxes in two worker processes: their peak (the largest one) counts too.
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(time.perf_counter() - started, 2), "peak_mib": round(vmhwm_mib() + 2 * workers),
            "detail": detail + (f" [this process {vmhwm_mib():.0f} MiB + 2 workers of at most {workers:.0f}]"
                                if workers else "")}


def prepare_diff(root: Path, every: int = 100) -> None:
    """Commit the project, then relabel one annotation in ``every`` in the workspace (the change dlp diff reads).

    The label files are tracked by DVC, as a project's dvc.yaml outputs are: the committed side is
    read from the DVC cache as a stream (a file committed to git itself would come as one blob).
    """
    def run(*args: str) -> None:
        subprocess.run(list(args), cwd=root, check=True, capture_output=True)

    dvc = str(Path(sys.executable).with_name("dvc"))
    run("git", "init", "-q", "-b", "main")
    run(dvc, "init", "-q")
    run(dvc, "add", "-q", *(str(p.relative_to(root)) for p in sorted((root / "annotations").glob("*.jsonl"))
                           if p.stat().st_size))
    run("git", "add", "-A", "params.yaml", "schema", "annotations", "metrics", ".dvc")
    run("git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "labels")
    path = root / "annotations" / "annotations.jsonl"
    changed = path.with_suffix(".tmp")
    with path.open("rb") as source, changed.open("wb") as target:
        for n, line in enumerate(source):
            if n % every == 0:
                record = json.loads(line)
                record["label"] = CLASSES[(CLASSES.index(record["label"]) + 1) % len(CLASSES)]
                line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
            target.write(line)
    changed.replace(path)


def run_child(stage: str, root: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", stage, str(root)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"seconds": None, "peak_mib": None, "detail": "failed: " + proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000")
    parser.add_argument("--full", action="store_true", help="also 10,000,000 annotations")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--workdir", type=Path, help="keep each size's project in WORKDIR/<size> and reuse its "
                        "inbox on the next run (generating 10M annotations takes ~20 minutes)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    sizes = [int(s) for s in args.sizes.split(",")] + ([10_000_000] if args.full else [])
    stages = [s for s in args.stages.split(",") if s]
    table: dict[int, dict[str, dict]] = {}
    for size in sizes:
        folder = args.workdir / str(size) if args.workdir else Path(tempfile.mkdtemp(prefix=f"dlp-scale-{size}-"))
        try:
            started = time.perf_counter()
            if args.workdir and (folder / "inbox").is_dir():
                reuse(folder)
            else:
                shutil.rmtree(folder, ignore_errors=True)
                write_project(folder, size)
            mb = sum(p.stat().st_size for p in (folder / "inbox").glob("*.json")) / 1e6
            print(f"{size:,} annotations: {mb:,.0f} MB of exports, written in {time.perf_counter() - started:.0f} s",
                  flush=True)
            table[size] = {}
            for stage in [*stages, "pandas"]:
                if stage == "diff":
                    prepare_diff(folder)
                table[size][stage] = row = run_child(stage, folder)
                print(f"  {stage:9} {row['seconds']!s:>8} s {row['peak_mib']!s:>6} MiB  {row['detail']}", flush=True)
        finally:
            if not args.workdir:
                shutil.rmtree(folder, ignore_errors=True)
    print("\nstage      " + "".join(f"{size:>24,}" for size in sizes))
    for stage in [*stages, "pandas"]:
        cells = "".join(f"{table[s][stage]['seconds']!s:>12} s {table[s][stage]['peak_mib']!s:>6} MiB" for s in sizes)
        print(f"{stage:10} {cells}")
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        ratios = ", ".join(f"{stage} {table[last][stage]['seconds'] / table[first][stage]['seconds']:.1f}"
                           for stage in [*stages, "pandas"]
                           if table[first][stage]["seconds"] and table[last][stage]["seconds"])
        print(f"time ratio {last:,} / {first:,} (linear: {last / first:.0f}): {ratios}")


if __name__ == "__main__":
    main()
