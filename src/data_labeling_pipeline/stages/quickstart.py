"""`dlp quickstart`: a demo labeling project, made and run end to end, offline.

scikit-learn's 1,797 digits become PNG images. Round 1: three simulated annotators of
known accuracy (0.95, 0.85, 0.70) label a seeded random 300 and write Label Studio export
files into the inbox; `dvc repro` pulls, pre-labels every item with a weak model, agrees,
selects the next batch by active learning and exports. Round 2: the same annotators label
exactly that batch (a new export file) and `dvc repro` runs again. The summary shows the
weak model's accuracy after each round beside what a random batch of the same size would
have given (the same simulation, computed). Round 3, the versioning loop: a reviewer corrects
one wrong consensus label (`dlp correct`), the team renames class ``0`` to ``zero``
(`dlp schema rename-class`), `dvc repro` runs, and the label diff of the two commits
(`dlp diff HEAD~1 HEAD`) is printed as it would appear in a pull request. Everything is committed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
    # Small rounds: retrain after every batch, so round 2 shows what its labels bought.
    "active_learning": {"query_batch_size": 100, "retrain_every_n_labels": 50},
    "export": {"formats": ["coco", "csv"]},
}
N_LABELLED = 300  # items the annotators label in round 1
# Round 3's correction carries this time, so the demo's files are the same bytes on every run.
REVIEW_TIME = "2026-01-05T09:30:00+00:00"
# The init and rounds' commits carry these dates, so their ids (which the dashboard's label economy shows) are too.
INIT_TIME = "2026-01-05T08:45:00+00:00"
ROUND_TIMES = ("2026-01-05T09:00:00+00:00", "2026-01-05T09:15:00+00:00", "2026-01-05T09:45:00+00:00")
DEMO_REVIEWER = {"user.name": "Demo reviewer", "user.email": "reviewer@demo.example"}


def demo_params() -> dict:
    """The demo's params: HuggingFace Datasets joins the formats where `datasets` is installed."""
    import copy
    import importlib.util

    params = copy.deepcopy(DEMO_PARAMS)
    if importlib.util.find_spec("datasets") is not None:
        params["export"]["formats"].append("huggingface")
    return params


def run_quickstart(directory: str | Path, *, force: bool = False, echo=print, progress=None,
                   n_items: int = 1797, n_labelled: int = N_LABELLED, versioning: bool = True) -> dict:
    """Create the demo project in ``directory``, run `dvc repro`, and return a summary.

    ``versioning=False`` stops after round 2 (no correction, rename or diff).
    """
    from ..project import Project
    from ..repo import git
    from ..repo.scaffold import create_project

    root = Path(directory).resolve()
    if root.exists() and any(root.iterdir()):
        if not force:
            raise ProjectError(f"{directory} exists and is not empty; choose another directory or pass --force")
        shutil.rmtree(root)
    started = last = time.perf_counter()

    def took(what: str) -> None:  # wall time of each step, for the user (never written to a file)
        nonlocal last
        now = time.perf_counter()
        echo(f"  {what} took {now - last:.1f} s")
        last = now

    echo(f"Creating the demo project in {root}")
    with ThreadPoolExecutor(max_workers=1) as background:
        # The PNGs are encoded while git and dvc initialise the repository in their own processes.
        pngs = background.submit(digit_pngs, n_items)
        create_project(demo_params(), root, own_repo=True, commit_date=INIT_TIME)
        project = Project(root)
        declare_baseline(project)
        counts = write_demo_data(project, n_items=n_items, n_labelled=n_labelled, progress=progress,
                                 pngs=pngs.result())
    echo(f"  {counts['items']} digit images in images/; {counts['annotations']} labels of {counts['labelled']} of "
         f"them from {counts['annotators']} simulated annotators in {counts['files']} Label Studio export files "
         "in inbox/")
    took("setup")
    echo("Round 1: dvc repro ...")
    repro(root)
    git.commit(root, "quickstart round 1: demo images and simulated Label Studio exports, dvc repro", ["."],
               date=ROUND_TIMES[0])
    rounds = [model_accuracy(project)]
    took("round 1")
    batch = label_queue(project, round_number=2)
    echo(f"Round 2: the annotators label the {len(batch)} items select queued (inbox/export-batch-3.json); "
         "dvc repro ...")
    with ThreadPoolExecutor(max_workers=1) as background:
        # The random-batch baseline trains in this process while dvc repro runs the stages in theirs.
        baseline = background.submit(random_batch_model, **random_batch_inputs(project, len(batch)))
        repro(root)
        rounds.append(model_accuracy(project, random_batch=baseline.result()))
    # The dashboard's label economy shows what the random batch would have given: its file is
    # a dep of the report stage, so this dvc repro runs that stage only.
    write_baseline(project, rounds)
    repro(root)
    git.commit(root, "quickstart round 2: labels of the selected batch, dvc repro", ["."], date=ROUND_TIMES[1])
    took("round 2 (with its random-batch baseline)")
    if versioning:
        fixed = review_round(project)
        echo(f"Round 3: a reviewer corrects {fixed['item_id']} ({fixed['was']} -> {fixed['label']}) with dlp "
             "correct, and class 0 is renamed zero with dlp schema rename-class; dvc repro ...")
        repro(root)
        git.commit(root, f"quickstart round 3: correct {fixed['item_id']}, rename class 0 -> zero, dvc repro", ["."],
                   date=ROUND_TIMES[2])
        took("round 3")
    summary = summarize(Project(root))
    summary["rounds"] = rounds
    for line in describe(summary):
        echo(line)
    if not versioning:
        echo(f"The quickstart took {time.perf_counter() - started:.1f} s")
        return summary
    from .diff import run_diff

    summary["diff"] = run_diff("HEAD~1", "HEAD", fmt="md", top=5, start=root).output
    echo("The label diff of round 3, as a pull request would show it (dlp diff HEAD~1 HEAD):")
    echo(summary["diff"].rstrip("\n"))
    echo(f"The quickstart took {time.perf_counter() - started:.1f} s")
    return summary


def declare_baseline(project) -> None:
    """Start ``metrics/baseline.json`` (no rounds yet) and make it a dep of the report stage."""
    from ..records import atomic_write_text
    from ..repo.pipeline import dvc_yaml

    write_baseline(project, [])
    atomic_write_text(project.path("dvc.yaml"), dvc_yaml(project.params, project.root))


def write_baseline(project, rounds: list[dict]) -> None:
    """``metrics/baseline.json``: each round's weak-model accuracy on the true digits, and the random batch's.

    What only a simulation with known truth can say; the dashboard draws it beside the
    project's own figures. ``labels`` is the round's ``n_annotations``, the economy's x axis.
    """
    from ..records import atomic_write_text
    from ..report.economy import BASELINE

    rows = []
    for n, figures in enumerate(rounds, start=1):
        rows.append({"round": n, "labels": figures["labels"], "labelled_items": figures["labelled_items"],
                     "evaluated_on": figures["evaluated_on"],
                     "model_accuracy_vs_truth": _rounded(figures["model_accuracy"]),
                     "random_batch_accuracy_vs_truth": _rounded(figures.get("random_batch_accuracy"))})
    body = {"what": "dlp quickstart's simulation: the weak model's accuracy on the true digits of the items "
                    "neither batch labelled, after active learning's batch and after a seeded random batch "
                    "of the same size instead", "rounds": rows}
    atomic_write_text(project.path(BASELINE), json.dumps(body, indent=2, sort_keys=True) + "\n")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def review_round(project) -> dict:
    """Round 3's edits: one correction of a wrong consensus label, then the rename of class 0."""
    from datetime import datetime

    from ..project import Project
    from ..repo import git
    from .correct import run_correct
    from .schema import migrate

    if not git.has_identity(project.root):  # corrections are signed by the git user
        for key, value in DEMO_REVIEWER.items():
            git.run(["git", "config", key, value], project.root)
    truth = json.loads(project.path("demo_truth.json").read_text("utf-8"))
    consensus = [json.loads(line) for line in project.path("annotations/consensus.jsonl").read_text("utf-8")
                 .splitlines()]
    wrong = next(c for c in consensus if c.get("label") is not None and c["label"] != truth[c["item_id"]])
    label = truth[wrong["item_id"]]
    run_correct(project, wrong["item_id"], label=label, now=datetime.fromisoformat(REVIEW_TIME),
                reason=f"checked the image at full size: it is a {label}")
    migrate(Project(project.root), "rename_class", "0", "zero")
    return {"item_id": wrong["item_id"], "was": wrong["label"], "label": label}


def digit_pngs(n_items: int) -> tuple[list[bytes], list[int]]:
    """The first ``n_items`` digits encoded as PNG files in memory, and their true digits."""
    from io import BytesIO

    from PIL import Image

    from ..demo import digit_images

    pixels, truth = digit_images(n_items)
    encoded = []
    for picture in pixels:
        buffer = BytesIO()
        Image.fromarray(picture, mode="L").save(buffer, format="PNG", optimize=False)
        encoded.append(buffer.getvalue())
    return encoded, [int(t) for t in truth]


def write_demo_data(project, *, n_items: int, n_labelled: int = N_LABELLED, progress=None,
                    track: bool = True, pngs: tuple[list[bytes], list[int]] | None = None) -> dict:
    """Digit PNGs into images/, ingested; a seeded random ``n_labelled`` of them labelled in two exports.

    ``pngs`` is what :func:`digit_pngs` returns for ``n_items``, when the caller encoded them already.
    """
    import numpy as np

    from ..labels import class_names
    from ..records import atomic_write_text
    from .ingest import ingest

    encoded, truth = pngs if pngs is not None else digit_pngs(n_items)
    images = project.path("images")
    images.mkdir(exist_ok=True)
    for i, png in enumerate(encoded):
        (images / f"digit-{i:04d}.png").write_bytes(png)
    ingest(project, images, track=track, progress=progress)
    items = project.read_items("annotations/items.ingested.jsonl")
    classes = class_names(project.label_schema)
    index_of = {f"images/digit-{i:04d}.png": i for i in range(len(encoded))}
    truth_by_item = {item["item_id"]: classes[truth[index_of[item["data"]["image"]]]] for item in items}
    atomic_write_text(project.path("demo_truth.json"), json.dumps(truth_by_item, indent=1, sort_keys=True) + "\n")
    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(len(items), size=min(n_labelled, len(items)), replace=False).tolist())
    labelled = [items[i] for i in chosen]
    half = len(labelled) // 2
    annotations = write_export(project, labelled[:half], "export-batch-1.json", seed=0, snapshot=True)
    annotations += write_export(project, labelled[half:], "export-batch-2.json", seed=1)
    return {"items": len(items), "labelled": len(labelled), "annotations": len(annotations),
            "annotators": len(USERS), "files": 2}


USERS = {2: "ann1@example.com", 3: "ann2@example.com", 4: "ann3@example.com"}


def write_export(project, items: list[dict], name: str, *, seed: int, snapshot: bool = False) -> list[dict]:
    """The simulated annotators label ``items``; their work lands in the inbox as one Label Studio export."""
    import numpy as np

    from ..demo import simulate_annotations
    from ..labels import class_names
    from ..labelstudio.exports import to_label_studio_tasks
    from ..records import atomic_write_text

    schema = project.label_schema
    from ..migrations import current_label

    classes = class_names(schema)
    truth = json.loads(project.path("demo_truth.json").read_text("utf-8"))  # digit names of schema version 1
    codes = np.asarray([classes.index(current_label(schema, truth[item["item_id"]], 1)) for item in items])
    annotations = simulate_annotations([item["item_id"] for item in items], codes, seed=seed)
    tasks = to_label_studio_tasks(items, annotations, task_type=schema["task_type"], classes=classes, users=USERS)
    if snapshot:
        as_snapshot(tasks, USERS)
    inbox = project.params["pull"]["inbox"]
    atomic_write_text(project.path(f"{inbox}/{name}"), json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
    return annotations


def label_queue(project, *, round_number: int) -> list[str]:
    """The annotators label the batch the select stage queued: a new export file in the inbox."""
    from ..stages.select import QUEUE

    queued = [json.loads(line)["item_id"] for line in project.path(QUEUE).read_text("utf-8").splitlines()]
    by_id = {item["item_id"]: item for item in project.read_items("annotations/items.ingested.jsonl")}
    write_export(project, [by_id[i] for i in sorted(queued)], f"export-batch-{round_number + 1}.json",
                 seed=round_number)
    return queued


def model_accuracy(project, *, random_batch: tuple[dict, list[str]] | None = None) -> dict:
    """The weak model's accuracy on the demo's true digits, over items nobody has labelled yet.

    With ``random_batch`` (what :func:`random_batch_model` returns), also what the same
    simulation gives when the last batch is a seeded random draw of that size from the pool
    instead of the selected one: the round-1 labels plus the random batch's simulated labels,
    the same consensus, the same model, scored on the items in neither batch.
    """
    from ..project import PREDICTIONS

    truth = json.loads(project.path("demo_truth.json").read_text("utf-8"))
    predictions = {json.loads(line)["item_id"]: json.loads(line)["label"]
                   for line in project.path(PREDICTIONS).read_text("utf-8").splitlines()}
    labelled = {json.loads(line)["item_id"] for line in project.path("annotations/annotations.jsonl")
                .read_text("utf-8").splitlines()}
    unlabelled = sorted(set(truth) - labelled)
    annotations = json.loads(project.path("metrics/agreement.json").read_text("utf-8"))["n_annotations"]
    out = {"labelled_items": len(labelled), "labels": annotations,
           "model_accuracy": _accuracy(predictions, truth, unlabelled)}
    if random_batch:
        random_labels, batch = random_batch
        both = sorted(set(unlabelled) - set(batch))
        out["model_accuracy"] = _accuracy(predictions, truth, both)
        out["random_batch_accuracy"] = _accuracy(random_labels, truth, both)
        out["evaluated_on"] = len(both)
    else:
        out["evaluated_on"] = len(unlabelled)
    return out


def _accuracy(predicted: dict, truth: dict, item_ids: list[str]) -> float | None:
    scored = [predicted.get(i) == truth[i] for i in item_ids]
    return sum(scored) / len(scored) if scored else None


def random_batch_inputs(project, size: int) -> dict:
    """What the random-batch baseline reads, read now (round 1's files), for :func:`random_batch_model`."""
    from ..project import ANNOTATIONS, ITEMS
    from .prelabel import compute_features, feature_kind

    params = project.params
    items = sorted(project.read_items(ITEMS), key=lambda item: item["item_id"])
    features = compute_features(project, items, feature_kind(project.label_schema["task_type"]),
                                {**params["prelabel"], "engine": "local"})
    return {"project": project, "size": size, "items": items, "features": features,
            "annotations": project.read_annotations(ANNOTATIONS),
            "truth": json.loads(project.path("demo_truth.json").read_text("utf-8"))}


def random_batch_model(project, size: int, items: list[dict], features, annotations: list[dict],
                       truth: dict) -> tuple[dict, list[str]]:
    """Predictions of the weak model trained on round 1 plus a random batch of ``size``, as prelabel trains it."""
    import numpy as np

    from ..demo import simulate_annotations
    from ..labels import class_names
    from ..models.classifier import WeakClassifier
    from .prelabel import TRAINED_STATUSES, human_consensus

    classes = class_names(project.label_schema)
    round_1 = {a["item_id"] for a in annotations if not a["source"]["file"].endswith("export-batch-3.json")}
    pool = sorted(i for i in truth if i not in round_1)
    rng = np.random.default_rng(1)
    batch = sorted(pool[i] for i in rng.choice(len(pool), size=min(size, len(pool)), replace=False))
    codes = np.asarray([classes.index(truth[i]) for i in batch])
    simulated = simulate_annotations(batch, codes, seed=2)  # the seed the selected batch was labelled with
    votes = [a for a in annotations if a["item_id"] in round_1] + simulated
    consensus = human_consensus(project, items, votes)  # as the prelabel stage would have trained
    training = {c["item_id"]: c["label"] for c in consensus if c.get("status") in TRAINED_STATUSES}
    rows = [r for r, item in enumerate(items) if item["item_id"] in training]
    model = WeakClassifier("image", classes=classes, seed=project.params["prelabel"]["seed"])
    model.fit(features[rows], [training[items[r]["item_id"]] for r in rows])
    predicted = model.predict(features)
    return {item["item_id"]: label for item, label in zip(items, predicted, strict=True)}, batch


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

    summary: dict = {"root": str(project.root)}
    if project.path("reports/dashboard.html").is_file():
        summary["dashboard"] = str(project.path("reports/dashboard.html"))
    for key, relative in (("pull", "metrics/pull.json"), ("agreement", "metrics/agreement.json"),
                          ("annotators", "metrics/annotators.json"), ("export", "metrics/export.json"),
                          ("prelabel", "metrics/prelabel.json"), ("review_metrics", "metrics/review.json"),
                          ("select", "metrics/select.json")):
        path = project.path(relative)
        if path.exists():
            summary[key] = json.loads(path.read_text("utf-8"))
    truth_path, consensus_path = project.path("demo_truth.json"), project.path("annotations/consensus.jsonl")
    if truth_path.exists() and consensus_path.exists():
        from ..migrations import current_label

        schema = project.label_schema
        truth = {i: current_label(schema, name, 1) for i, name in json.loads(truth_path.read_text("utf-8")).items()}
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
    if "prelabel" in summary:
        p = summary["prelabel"]
        lines.append(f"prelabel: weak model (image features + logistic regression) cross-validated accuracy "
                     f"{_num(p.get('cv_accuracy'))} on {p['n_labels']} consensus labels; {p['items_predicted']} "
                     "items pre-labelled -> annotations/predictions.jsonl")
    for n, figures in enumerate(summary.get("rounds", []), start=1):
        line = (f"round {n}: weak model accuracy {_num(figures['model_accuracy'])} on {figures['evaluated_on']} "
                f"unlabelled items after {figures['labelled_items']} labelled")
        if "random_batch_accuracy" in figures:
            line += f"; a random batch of the same size would have given {_num(figures['random_batch_accuracy'])}"
        lines.append(line)
    if "review_metrics" in summary:
        m = summary["review_metrics"]
        lines.append(f"review: {m.get('n_review', 0)} items for an expert (budget {m.get('budget', 0)}, plus "
                     f"{m.get('n_spot_check_outside_budget', 0)} spot checks), {m.get('n_annotate', 0)} for one more "
                     "annotator -> annotations/review.jsonl")
        if m.get("estimated_accuracy_exported") is not None:
            lines.append(f"        estimated accuracy of the exported labels {m['estimated_accuracy_exported']:.3f} "
                         f"+/- {m.get('estimated_accuracy_exported_se', 0):.3f} (mean consensus posterior)")
    if "select" in summary:
        s = summary["select"]
        lines.append(f"select: next batch of {s['batch_size']} from {s['pool_size']} unlabelled items -> "
                     "queue/next.jsonl")
    if "export" in summary:
        e = summary["export"]
        shown = []
        for name, figures in sorted(e.items()):
            if isinstance(figures, dict) and "items" in figures:
                counts = " / ".join(f"{split} {c['out']}" for split, c in sorted(figures["items"].items()))
                shown.append(f"{name} ({counts})")
        lines.append(f"export: {e['items_exported']} items -> labeled_data/: {', '.join(shown)}; "
                     f"verified with the official loaders; {e['items_unlabeled']} without a label")
    if summary.get("dashboard"):
        lines.append(f"report: the QA & review dashboard, one file that opens offline -> {summary['dashboard']}")
    lines.append(f"Done. The project is a git repository: cd {summary['root']} && git log --stat; "
                 "change labels in inbox/ and run dvc repro again.")
    return lines
