"""dvc.yaml of a labeling project, composed from the stages that exist.

Each stage declares exactly what it reads (deps, params) and writes (outs,
metrics), so `dvc repro` re-runs only what changed.
"""

from __future__ import annotations

from typing import Any


def pull_stage(params: dict) -> dict[str, Any]:
    inbox = params["pull"]["inbox"]
    return {
        "cmd": "dlp pull --quiet",
        "deps": [inbox, "annotations/items.ingested.jsonl", "schema/labels.yaml"],
        "params": ["project", "pull"],
        "outs": ["annotations/items.jsonl", "annotations/annotations.jsonl"],
        "metrics": [{"metrics/pull.json": {"cache": False}}],
    }


STAGES = {"pull": pull_stage}


def dvc_yaml(params: dict) -> str:
    """The text of dvc.yaml for a project with these params."""
    import yaml

    stages = {name: build(params) for name, build in STAGES.items()}
    header = "# Written by `dlp init`. `dvc repro` runs the stages whose inputs changed.\n"
    return header + yaml.safe_dump({"stages": stages}, sort_keys=False, allow_unicode=True, width=100)
