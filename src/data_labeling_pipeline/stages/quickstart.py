"""`dlp quickstart`: a demo labeling project, made and run end to end, offline.

scikit-learn's digits become PNG images; three simulated annotators of known
accuracy (0.95, 0.85, 0.70) write Label Studio export files into the inbox;
`dvc repro` runs the pipeline; everything is committed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from ..errors import ProjectError

DEMO_PARAMS = {
    "project": {
        "name": "digits-demo",
        "description": "scikit-learn's digits, labelled by three simulated annotators",
        "task_type": "image_classification",
        "classes": [str(d) for d in range(10)],
    },
    "quality": {"min_annotators_per_sample": 2},
    "export": {"formats": ["coco", "csv"]},
}


def demo_params() -> dict:
    """The demo's params: HuggingFace Datasets joins the formats where `datasets` is installed."""
    import copy
    import importlib.util

    params = copy.deepcopy(DEMO_PARAMS)
    if importlib.util.find_spec("datasets") is not None:
        params["export"]["formats"].append("huggingface")
    return params


def run_quickstart(directory: str | Path, *, force: bool = False, echo=print, progress=None,
                   n_items: int = 300) -> dict:
    """Create the demo project in ``directory``, run `dvc repro`, and return a summary."""
    from ..project import Project
    from ..repo import git
    from ..repo.scaffold import create_project

    root = Path(directory).resolve()
    if root.exists() and any(root.iterdir()):
        if not force:
            raise ProjectError(f"{directory} exists and is not empty; choose another directory or pass --force")
        shutil.rmtree(root)
    echo(f"Creating the demo project in {root}")
    create_project(demo_params(), root, own_repo=True)
    project = Project(root)
    counts = write_demo_data(project, n_items=n_items, progress=progress)
    echo(f"  {counts['items']} digit images in images/, {counts['annotations']} labels from "
         f"{counts['annotators']} simulated annotators in {counts['files']} Label Studio export files in inbox/")
    echo("Running dvc repro ...")
    repro(root)
    git.commit(root, "quickstart: demo images and simulated Label Studio exports, dvc repro", ["."])
    summary = summarize(project)
    for line in describe(summary):
        echo(line)
    return summary


def write_demo_data(project, *, n_items: int, progress=None, track: bool = True) -> dict:
    """Digit PNGs into images/, ingested, and two simulated Label Studio exports into the inbox."""
    from PIL import Image

    from ..demo import digit_images, simulate_annotations
    from ..labels import class_names
    from ..labelstudio.exports import to_label_studio_tasks
    from ..records import atomic_write_text
    from .ingest import ingest

    pixels, truth = digit_images(n_items)
    images = project.path("images")
    images.mkdir(exist_ok=True)
    for i, picture in enumerate(pixels):
        Image.fromarray(picture, mode="L").save(images / f"digit-{i:04d}.png", optimize=False)
    ingest(project, images, track=track, progress=progress)
    items = project.read_items("annotations/items.ingested.jsonl")
    annotations = simulate_annotations([item["item_id"] for item in items], truth)
    schema = project.label_schema
    users = {i: email for i, email in enumerate(sorted({a["annotator"] for a in annotations}), start=2)}
    half = len(items) // 2
    batches = {"export-batch-1.json": items[:half], "export-batch-2.json": items[half:]}
    inbox = project.params["pull"]["inbox"]
    for n, (name, batch) in enumerate(batches.items()):
        ids = {item["item_id"] for item in batch}
        tasks = to_label_studio_tasks(batch, [a for a in annotations if a["item_id"] in ids],
                                      task_type=schema["task_type"], classes=class_names(schema), users=users)
        if n == 0:
            as_snapshot(tasks, users)
        atomic_write_text(project.path(f"{inbox}/{name}"), json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
    truth_by_item = {item["item_id"]: class_names(schema)[int(t)] for item, t in zip(items, truth, strict=True)}
    atomic_write_text(project.path("demo_truth.json"), json.dumps(truth_by_item, indent=1, sort_keys=True) + "\n")
    return {"items": len(items), "annotations": len(annotations), "annotators": len(users), "files": len(batches)}


def as_snapshot(tasks: list[dict], users: dict[int, str]) -> None:
    """Name annotators as a snapshot export does (``completed_by`` objects with e-mails).

    The demo's second batch is a default export (user ids only); the pull stage
    learns the e-mails of those ids from this batch.
    """
    for task in tasks:
        for annotation in task.get("annotations", ()):
            uid = annotation["completed_by"]
            annotation["completed_by"] = {"id": uid, "email": users[uid], "first_name": "", "last_name": ""}


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def repro(root: Path) -> None:
    """`dvc repro` with this environment's `dlp` first on PATH (stages call `dlp`)."""
    from ..repo import git

    bin_dir = str(Path(sys.executable).parent)
    git.dvc(["repro", "--quiet"], root, env={"PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")})


def summarize(project) -> dict:
    """What the pipeline produced, read back from its output files."""
    from collections import Counter

    summary: dict = {"root": str(project.root)}
    for key, relative in (("pull", "metrics/pull.json"), ("agreement", "metrics/agreement.json"),
                          ("annotators", "metrics/annotators.json"), ("export", "metrics/export.json")):
        path = project.path(relative)
        if path.exists():
            summary[key] = json.loads(path.read_text("utf-8"))
    review = project.path("annotations/review.jsonl")
    if review.exists():
        rows = [json.loads(line) for line in review.read_text("utf-8").splitlines()]
        summary["review"] = {"items": len(rows), "reasons": dict(Counter(r for row in rows for r in row["reasons"]))}
    truth_path, consensus_path = project.path("demo_truth.json"), project.path("annotations/consensus.jsonl")
    if truth_path.exists() and consensus_path.exists():
        truth = json.loads(truth_path.read_text("utf-8"))
        consensus = [json.loads(line) for line in consensus_path.read_text("utf-8").splitlines()]
        hits = [c.get("label") == truth.get(c["item_id"]) for c in consensus]
        summary["consensus_accuracy"] = sum(hits) / len(hits) if hits else None
    return summary


def describe(summary: dict) -> list[str]:
    lines = []
    if "pull" in summary:
        p = summary["pull"]
        lines.append(f"pull:   {p['annotations']} annotations by {p['annotators']} annotators on {p['items']} items "
                     f"-> annotations/annotations.jsonl")
    if "agreement" in summary:
        a = summary["agreement"]
        ci = a.get("bootstrap_ci95", {})
        lines.append("agree:  " + "  ".join(f"{k} {_num(a.get(k))}" for k in (
            "krippendorff_alpha", "fleiss_kappa", "cohens_kappa", "gwet_ac1", "percent_agreement")))
        if ci:
            lines.append(f"        krippendorff_alpha 95% interval (bootstrap over items): "
                         f"{_num(ci.get('metric_low'))} .. {_num(ci.get('metric_high'))}")
        lines.append(f"        {'annotator':<20} {'items':>5} {'acc vs consensus':>16} {'kappa vs consensus':>18} "
                     f"{'Dawid-Skene acc':>15}")
        for who, f in summary.get("annotators", {}).items():
            lines.append(f"        {who:<20} {f.get('n_items', 0):>5} {_num(f.get('accuracy_vs_consensus')):>16} "
                         f"{_num(f.get('kappa_vs_consensus')):>18} {_num(f.get('ds_accuracy')):>15}")
        if summary.get("consensus_accuracy") is not None:
            lines.append(f"        consensus labels match the demo's true digits on "
                         f"{summary['consensus_accuracy']:.1%} of items")
    if "review" in summary:
        r = summary["review"]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items()))
        lines.append(f"review: {r['items']} items routed -> annotations/review.jsonl ({reasons})")
    if "export" in summary:
        e = summary["export"]
        shown = []
        for name, figures in sorted(e.items()):
            if isinstance(figures, dict) and "items" in figures:
                counts = " / ".join(f"{split} {c['out']}" for split, c in sorted(figures["items"].items()))
                shown.append(f"{name} ({counts})")
        lines.append(f"export: {e['items_exported']} items -> labeled_data/: {', '.join(shown)}; "
                     f"verified with the official loaders; {e['items_unlabeled']} without a label")
    lines.append(f"Done. The project is a git repository: cd {summary['root']} && git log --stat; "
                 "change labels in inbox/ and run dvc repro again.")
    return lines
