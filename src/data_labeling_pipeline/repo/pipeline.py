"""dvc.yaml of a labeling project, composed from the stages that exist.

Each stage declares exactly what it reads (deps, params) and writes (outs,
metrics), so `dvc repro` re-runs only what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def pull_stage(params: dict) -> dict[str, Any]:
    inbox = params["pull"]["inbox"]
    return {
        "cmd": "dlp pull --quiet",
        "deps": [inbox, "annotations/items.ingested.jsonl", "schema/labels.yaml", "schema/label_config.xml"],
        "params": ["project", "pull"],
        "outs": ["annotations/items.jsonl", "annotations/annotations.jsonl", "annotations/pulled_predictions.jsonl",
                 {"reports/pull.json": {"cache": False}}],
        "metrics": [{"metrics/pull.json": {"cache": False}}],
    }


def agree_stage(params: dict) -> dict[str, Any]:
    classification = params["project"]["task_type"] in ("image_classification", "text_classification")
    plots: list[Any] = [{"plots/agreement_trend.json": {"cache": False, "x": "window",
                                                         "y": "agreement_with_consensus", "template": "linear"}}]
    if classification:
        plots.insert(0, {"plots/confusion": {"cache": False, "x": "consensus", "y": "label", "template": "confusion"}})
    return {
        "cmd": "dlp agree --quiet",
        "deps": ["annotations/items.jsonl", "annotations/annotations.jsonl", "annotations/corrections.jsonl",
                 "schema/labels.yaml"],
        "params": ["project", "quality"],
        "outs": ["annotations/consensus.jsonl", "annotations/review.jsonl",
                 {"reports/agreement.json": {"cache": False}}],
        "metrics": [{"metrics/agreement.json": {"cache": False}}, {"metrics/annotators.json": {"cache": False}}],
        "plots": plots,
    }


def export_stage(params: dict) -> dict[str, Any]:
    return {
        "cmd": "dlp export --verify --quiet",
        "deps": ["annotations/items.jsonl", "annotations/consensus.jsonl", "schema/labels.yaml"],
        "params": ["project.task_type", "export"],
        "outs": [params["export"]["output_dir"]],
        "metrics": [{"metrics/export.json": {"cache": False}}],
    }


# The pipeline in order: (name, the stage's dvc.yaml entry, whether these params turn it on).
# A new stage is one entry here, e.g. between agree and export:
#     ("prelabel", prelabel_stage, lambda params: params["prelabel"]["enabled"]),
#     ("select", select_stage, lambda params: params["active_learning"]["enabled"]),
STAGES: tuple[tuple[str, Callable[[dict], dict[str, Any]], Callable[[dict], bool]], ...] = (
    ("pull", pull_stage, lambda params: True),
    ("agree", agree_stage, lambda params: True),
    ("export", export_stage, lambda params: True),
)


def pipeline_stages(params: dict) -> dict[str, dict[str, Any]]:
    """name -> dvc.yaml entry of every stage these (canonical) params turn on, in pipeline order.

    >>> from data_labeling_pipeline.config import with_defaults
    >>> list(pipeline_stages(with_defaults({"project": {"name": "x", "task_type": "ner", "classes": ["PER"]}})))
    ['pull', 'agree', 'export']
    """
    return {name: build(params) for name, build, wanted in STAGES if wanted(params)}


def dvc_yaml(params: dict) -> str:
    """The text of dvc.yaml for a project with these params."""
    import yaml

    header = "# Written by `dlp init`. `dvc repro` runs the stages whose inputs changed.\n"
    return header + yaml.safe_dump({"stages": pipeline_stages(params)}, sort_keys=False, allow_unicode=True,
                                   width=100)
