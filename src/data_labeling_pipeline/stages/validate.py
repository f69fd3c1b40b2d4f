"""`dlp validate`: check params, the label schema and record files; report every problem.

The stages run the same checks when they read their inputs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import DataError, Problem
from ..project import ANNOTATIONS, INGESTED, ITEMS, Project

RECORD_FILES = (INGESTED, ITEMS, ANNOTATIONS, "annotations/corrections.jsonl")
# Stage outputs that are not records of a JSON Schema: checked for JSON syntax only.
DERIVED = ("consensus", "review")


def validate_project(paths: list[Path], *, start: Path | None = None,
                     warn: Callable[[str], None] | None = None) -> str:
    """Validate ``paths`` (default: every known file of the project); return what was checked.

    Warnings (a params file using a legacy name) go to ``warn`` one line each (default:
    stderr); they do not make the check fail.

    Raises:
        DataError: listing the problems of every file checked.
    """
    project = Project.find(start)
    warn = warn or _to_stderr
    targets = [project.rel(p) for p in paths] or ["params.yaml", "schema/labels.yaml", "schema/label_config.xml",
                                                  *_inbox_configs(project), *RECORD_FILES]
    problems: list[Problem] = []
    checked = []
    items: dict[str, dict] | None = None
    for target in targets:
        path = project.path(target)
        if not path.exists():
            if paths:
                problems.append(Problem(target, None, "", "file not found"))
            continue
        try:
            if target.endswith(("params.yaml", ".yml", ".yaml")) and "labels" not in Path(target).name:
                from ..config import read_params

                for warning in read_params(path, display_path=target)[1]:
                    warn(f"warning: {warning}")
            elif Path(target).name == "labels.yaml":
                project.label_schema_unchecked()
            elif target.endswith(".xml"):
                _check_label_config(project, path, target, warn)
            elif target.endswith(".json"):
                _check_export(project, path, target)
            elif Path(target).name.startswith(DERIVED):
                from ..records import read_records

                read_records(path, display_path=target)
            elif "items" in Path(target).name:
                records = project.read_items(target)
                if target == ITEMS or items is None:
                    items = {r["item_id"]: r for r in records}
            elif "predictions" in Path(target).name:
                from ..checks import annotation_checker
                from ..records import read_records

                read_records(path, project.validators["prediction"],
                             check=annotation_checker(items, key_field="model_version"), display_path=target)
            else:
                project.read_annotations(target, items=items)
            checked.append(target)
        except DataError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DataError(problems)
    return ", ".join(checked) or "nothing to check"


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def _inbox_configs(project: Project) -> list[str]:
    from .pull import CONFIG_NAME

    inbox = project.path(project.params["pull"]["inbox"])
    return sorted(project.rel(p) for p in inbox.rglob(CONFIG_NAME)) if inbox.is_dir() else []


def _check_label_config(project: Project, path: Path, shown: str, warn: Callable[[str], None]) -> None:
    """A label config must fit the task type and offer only the schema's classes; other differences warn."""
    from ..labelstudio.config_reader import check_against_schema, parse_label_config
    from ..migrations import active_names

    config = parse_label_config(path.read_text("utf-8"), path=shown)
    problems, warnings = check_against_schema(config, project.label_schema["task_type"],
                                              active_names(project.label_schema),
                                              control=project.params["pull"]["control"])
    for warning in warnings:
        warn(f"warning: {warning}")
    if problems:
        raise DataError(problems)


def _check_export(project: Project, path: Path, shown: str) -> None:
    """A Label Studio export file is checked the way the pull stage reads it (with its label config)."""
    import json

    from ..labels import class_names
    from ..labelstudio.exports import parse_export
    from .pull import LabelConfigs

    try:
        document = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError.single(shown, exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    schema, pull = project.label_schema, project.params["pull"]
    configs = LabelConfigs(project, pull["inbox"], class_names(schema), schema["task_type"], pull["control"])
    parsed = parse_export(document, task_type=schema["task_type"], classes=class_names(schema),
                          multi_label=schema.get("multi_label", False), source_file=shown,
                          schema_version=schema["schema_version"], label_config=configs.for_export(shown),
                          from_name=pull["control"], data_key=pull["data_key"])
    if parsed.problems:
        raise DataError(list(parsed.problems))
