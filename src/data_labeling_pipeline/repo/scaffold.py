"""`dlp init`: a new labeling project as a git repository with DVC."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ProjectError
from ..records import atomic_write_text
from . import git

GITIGNORE = """\
__pycache__/
*.tmp
.dlp/
"""
DVCIGNORE = """\
# Files DVC should not hash inside tracked directories.
.DS_Store
*.tmp
"""
WORKFLOW = """\
# Written by `dlp init`: on every pull request, reproduce the pipeline and gate on agreement.
name: labels
on:
  pull_request:
  push:
    branches: [main]
jobs:
  labels:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install data-labeling-pipeline
      # With a DVC remote, fetch the tracked data first (set its credentials as repository secrets).
      - run: dvc pull || echo "no DVC remote configured; using the data in git"
      - run: dvc repro
      - run: dvc metrics diff --md main >> "$GITHUB_STEP_SUMMARY" || true
      # Exit 3 fails the check when agreement is below quality.agreement_threshold.
      - run: dlp gate
"""
INBOX_README = (
    "Drop Label Studio JSON exports here (Project > Export > JSON, or the snapshot export).\n"
    "Add new exports as new files; `dvc repro` pulls them into annotations/annotations.jsonl.\n"
)


def init_project(config_path: str | Path, target: str | Path = ".", *, force: bool = False) -> Path:
    """Create a labeling project in ``target`` from a config file; return its root."""
    from ..config import load_params

    return create_project(load_params(config_path), target, force=force)


def create_project(params: dict, target: str | Path = ".", *, force: bool = False, own_repo: bool = False) -> Path:
    """Create a labeling project in ``target`` from validated params; return its root.

    Inside an existing git repository the project becomes a DVC subdir project of
    it, unless ``own_repo`` asks for a repository of its own (the demo does, so
    running it inside a checkout never commits to that checkout).

    Writes params.yaml (the config with every default filled in), schema/
    (labels.yaml and the JSON Schemas of records), the Label Studio label
    config, dvc.yaml, annotations/ and inbox/, runs `git init` (unless already
    inside a repository) and `dvc init`, and commits.
    """
    from ..config import dump_params, validate_params
    from ..labels import extend_label_schema, new_label_schema, record_schemas
    from ..labelstudio.label_config import label_config
    from .pipeline import dvc_yaml

    params = validate_params(params)
    root = Path(target).resolve()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{target} exists and is not a directory")
    existing = [name for name in ("params.yaml", "dvc.yaml", "schema/labels.yaml") if (root / name).exists()]
    if existing and not force:
        raise ProjectError(
            f"{root} already holds a labeling project ({', '.join(existing)}); "
            "use --force to overwrite its params, schema and dvc.yaml"
        )
    root.mkdir(parents=True, exist_ok=True)

    toplevel = git.git_toplevel(root)
    if toplevel is None or (own_repo and toplevel != root):
        git.run(["git", "init", "-q", "-b", "main"], root)
        toplevel = root
    if not (root / ".dvc").is_dir():
        git.dvc(["init", "-q", *([] if toplevel == root else ["--subdir"])], root)
    git.dvc(["config", "core.analytics", "false"], root)
    git.dvc(["config", "core.autostage", "true"], root)

    project = params["project"]
    label_schema = new_label_schema(project["task_type"], project["classes"], multi_label=project["multi_label"])
    if (root / "schema/labels.yaml").exists():
        # Re-init keeps every class id that exists (records and exports rely on them).
        from ..project import Project

        label_schema = extend_label_schema(Project(root).label_schema_unchecked(), project["classes"])
    write = _writer(root)
    write("params.yaml", dump_params(params))
    write("schema/labels.yaml", labels_yaml(label_schema))
    for name, schema in record_schemas(label_schema).items():
        write(f"schema/{name}.schema.json", json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    write("schema/label_config.xml", label_config(project["task_type"], project["classes"]))
    write("dvc.yaml", dvc_yaml(params, root))
    write(".gitignore", GITIGNORE, keep=True)
    write(".github/workflows/labels.yml", WORKFLOW, keep=True)
    write(".dvcignore", DVCIGNORE, keep=True)
    inbox = root / params["pull"]["inbox"]
    inbox.mkdir(parents=True, exist_ok=True)
    write(f"{params['pull']['inbox']}/README.txt", INBOX_README, keep=True)
    write("annotations/items.ingested.jsonl", "", keep=True)
    write("annotations/corrections.jsonl", "", keep=True)
    for tracked in (params["pull"]["inbox"], "annotations/items.ingested.jsonl"):
        if not (root / f"{tracked}.dvc").exists():
            git.dvc(["add", "-q", tracked], root)
    git.commit(root, f"dlp init: {project['name']} ({project['task_type']}, {len(project['classes'])} classes)", ["."])
    return root


def labels_yaml(label_schema: dict) -> str:
    import yaml

    header = (
        "# The label schema: class ids are explicit and stable (YOLO index = position, COCO id = id).\n"
        "# Append new classes at the end and bump schema_version; never re-sort or reuse an id.\n"
    )
    return header + yaml.safe_dump(dict(label_schema), sort_keys=False, allow_unicode=True, width=100)


def _writer(root: Path):
    def write(relative: str, text: str, *, keep: bool = False) -> None:
        path = root / relative
        if keep and path.exists():
            return
        atomic_write_text(path, text)

    return write
