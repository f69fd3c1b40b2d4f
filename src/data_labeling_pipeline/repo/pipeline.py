"""dvc.yaml of a labeling project, composed from the stages that exist.

Each stage declares exactly what it reads (deps, params) and writes (outs,
metrics), so `dvc repro` re-runs only what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..report.economy import BASELINE


def pull_stage(params: dict) -> dict[str, Any]:
    outs: list[Any] = ["annotations/items.jsonl", "annotations/annotations.jsonl",
                       "annotations/pulled_predictions.jsonl", {"reports/pull.json": {"cache": False}}]
    stage: dict[str, Any] = {"cmd": "dlp pull --quiet"}
    if params["pull"]["source"] == "label_studio":
        # The server changes behind DVC's back: always run; the fetched tasks persist for incremental pulls.
        stage["always_changed"] = True
        deps = ["annotations/items.ingested.jsonl", "schema/labels.yaml"]
        outs.append({"annotations/label_studio": {"persist": True}})
    else:
        deps = [params["pull"]["inbox"], "annotations/items.ingested.jsonl", "schema/labels.yaml",
                "schema/label_config.xml"]
    return {**stage, "deps": deps, "params": ["project", "pull"], "outs": outs,
            "metrics": [{"metrics/pull.json": {"cache": False}}]}


def agree_stage(params: dict) -> dict[str, Any]:
    classification = params["project"]["task_type"] in ("image_classification", "text_classification")
    plots: list[Any] = [{"plots/agreement_trend.json": {"cache": False, "x": "window",
                                                         "y": "agreement_with_consensus", "template": "linear"}}]
    if classification:
        plots.insert(0, {"plots/confusion": {"cache": False, "x": "consensus", "y": "label", "template": "confusion"}})
    deps = ["annotations/items.jsonl", "annotations/annotations.jsonl", "annotations/corrections.jsonl",
            "schema/labels.yaml"]
    if params["prelabel"]["enabled"]:  # the weak model may vote (quality.model_votes) and flags model_disagrees
        deps += ["annotations/predictions.jsonl", "metrics/prelabel.json"]
    return {
        "cmd": "dlp agree --quiet",
        "deps": deps,
        "params": ["project", "quality", "prelabel.enabled"],
        "outs": ["annotations/consensus.jsonl", "annotations/review.jsonl",
                 {"reports/agreement.json": {"cache": False}}],
        "metrics": [{"metrics/agreement.json": {"cache": False}}, {"metrics/annotators.json": {"cache": False}},
                    {"metrics/review.json": {"cache": False}}],
        "plots": plots,
    }


def prelabel_stage(params: dict, root: Path | None = None) -> dict[str, Any]:
    deps = ["annotations/items.jsonl", "annotations/annotations.jsonl", "annotations/pulled_predictions.jsonl",
            "annotations/corrections.jsonl", "schema/labels.yaml"]
    checkpoint = params["active_learning"]["model_checkpoint"]
    # dvc refuses a dep that does not exist, and the seed's checkpoint may come later: until then the stage
    # uses the default weak model; `dlp init --force` adds the dep once the file is there.
    if checkpoint and root is not None and (root / checkpoint).exists():
        deps.append(checkpoint)
    # Image files need no dep of their own: items.jsonl records each image's sha256 at ingest.
    return {
        "cmd": "dlp prelabel --quiet",
        "deps": deps,
        "params": ["project", "quality", "prelabel", "active_learning.model_checkpoint",
                   "active_learning.retrain_every_n_labels"],
        "outs": ["annotations/predictions.jsonl", "annotations/embeddings.npy", "annotations/embeddings.items.json",
                 {"models/prelabel": {"persist": True}}, {"reports/prelabel.json": {"cache": False}}],
        "metrics": [{"metrics/prelabel.json": {"cache": False}}],
    }


def select_stage(params: dict) -> dict[str, Any]:
    return {
        "cmd": "dlp select --quiet",
        "deps": ["annotations/items.jsonl", "annotations/consensus.jsonl", "annotations/review.jsonl",
                 "annotations/predictions.jsonl", "annotations/embeddings.npy", "annotations/embeddings.items.json",
                 "schema/labels.yaml"],
        "params": ["active_learning"],
        "outs": ["queue/next.jsonl"],
        "metrics": [{"metrics/select.json": {"cache": False}}],
    }


def export_stage(params: dict) -> dict[str, Any]:
    return {
        "cmd": "dlp export --verify --quiet",
        "deps": ["annotations/items.jsonl", "annotations/consensus.jsonl", "schema/labels.yaml"],
        "params": ["project.task_type", "export"],
        "outs": [params["export"]["output_dir"]],
        "metrics": [{"metrics/export.json": {"cache": False}}],
    }


# Outputs that read git history besides their deps (the dashboard's label economy over time).
HISTORY_OUTS = frozenset({"reports/dashboard.html"})


def report_stage(params: dict, root: Path | None = None) -> dict[str, Any]:
    """The dashboard: it reads the other stages' metrics, plots and reports, and streams a few records.

    Annotations are a dependency only for spans and boxes, whose confused class pairs are counted
    from them (classification takes its pairs from the consensus votes and the annotator metrics).
    The page also shows the metrics of earlier commits: git history, not a file DVC could track.
    """
    task_type = params["project"]["task_type"]
    prelabel = params["prelabel"]["enabled"]
    select = params["active_learning"]["enabled"] and prelabel
    deps = ["annotations/items.jsonl", "annotations/consensus.jsonl", "annotations/review.jsonl"]
    if task_type in ("ner", "bbox"):
        deps.append("annotations/annotations.jsonl")
    if prelabel:
        deps.append("annotations/predictions.jsonl")
    deps += ["schema/labels.yaml", "metrics/agreement.json", "metrics/annotators.json", "metrics/review.json",
             "metrics/export.json", "reports/agreement.json"]
    if prelabel:
        deps += ["metrics/prelabel.json", "reports/prelabel.json"]
    if select:
        deps.append("metrics/select.json")
    if task_type in ("image_classification", "text_classification"):
        deps.append("plots/confusion")
    if root is not None and (root / BASELINE).is_file():  # a simulation's random-batch baseline (the quickstart)
        deps.append(BASELINE)
    return {
        "cmd": "dlp report --quiet",
        "deps": deps,
        "params": ["project", "quality", "prelabel.enabled", "active_learning.enabled"],
        "outs": [{"reports/dashboard.html": {"cache": False}}],
    }


# The pipeline in order: (name, the stage's dvc.yaml entry, whether these params turn it on).
# prelabel runs before agree: it trains on its own human-only consensus, so agree can count the
# model as a voter without a cycle. select needs prelabel's probabilities and embeddings.
STAGES: tuple[tuple[str, Callable[[dict], dict[str, Any]], Callable[[dict], bool]], ...] = (
    ("pull", pull_stage, lambda params: True),
    ("prelabel", prelabel_stage, lambda params: params["prelabel"]["enabled"]),
    ("agree", agree_stage, lambda params: True),
    ("select", select_stage, lambda params: params["active_learning"]["enabled"] and params["prelabel"]["enabled"]),
    ("export", export_stage, lambda params: True),
    ("report", report_stage, lambda params: True),
)


def pipeline_stages(params: dict, root: Path | None = None) -> dict[str, dict[str, Any]]:
    """name -> dvc.yaml entry of every stage these (canonical) params turn on, in pipeline order.

    >>> from data_labeling_pipeline.config import with_defaults
    >>> list(pipeline_stages(with_defaults({"project": {"name": "x", "task_type": "ner", "classes": ["PER"]}})))
    ['pull', 'prelabel', 'agree', 'select', 'export', 'report']
    """
    return {name: build(params, root) if name in ("prelabel", "report") else build(params)
            for name, build, wanted in STAGES if wanted(params)}


def dvc_yaml(params: dict, root: Path | None = None) -> str:
    """The text of dvc.yaml for a project with these params (in ``root``, to see which files exist)."""
    import yaml

    header = "# Written by `dlp init`. `dvc repro` runs the stages whose inputs changed.\n"
    return header + yaml.safe_dump({"stages": pipeline_stages(params, root)}, sort_keys=False, allow_unicode=True,
                                   width=100)
