"""A labeling project on disk: where its files are, and loading them validated.

Stages and commands find everything through `Project`, so the layout is
written down once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .errors import ConfigError, Problem, ProjectError

ITEMS = "annotations/items.jsonl"
INGESTED = "annotations/items.ingested.jsonl"
ANNOTATIONS = "annotations/annotations.jsonl"
LABELS = "schema/labels.yaml"
CONSENSUS = "annotations/consensus.jsonl"
REVIEW = "annotations/review.jsonl"
PREDICTIONS = "annotations/predictions.jsonl"
PULLED_PREDICTIONS = "annotations/pulled_predictions.jsonl"  # the pre-labels annotators saw in Label Studio
EMBEDDINGS = "annotations/embeddings.npy"
EMBEDDING_IDS = "annotations/embeddings.items.json"  # {"item_ids": [...]}: the row order of embeddings.npy


@dataclass(frozen=True)
class Project:
    """The root of a labeling project (the folder holding params.yaml and schema/)."""

    root: Path

    @classmethod
    def find(cls, start: str | os.PathLike | None = None) -> Project:
        """The project containing ``start`` (default: the working directory)."""
        here = Path(start or os.getcwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / "params.yaml").is_file() and (folder / LABELS).is_file():
                return cls(folder)
        raise ProjectError(
            f"{here} is not inside a labeling project (no params.yaml with schema/labels.yaml); "
            "create one with: dlp init DIR --task-type TYPE --classes A,B (or --config config.example.yaml)"
        )

    def path(self, relative: str) -> Path:
        return self.root / relative

    def rel(self, path: str | os.PathLike) -> str:
        """A path as shown to users: relative to the project root when inside it."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    @cached_property
    def params(self) -> dict:
        from .config import load_params

        return load_params(self.path("params.yaml"), display_path="params.yaml")

    def label_schema_unchecked(self) -> dict:
        """schema/labels.yaml validated on its own (not against params.yaml)."""
        import yaml

        from .labels import check_label_schema

        path = self.path(LABELS)
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ProjectError(f"{LABELS} is missing; run dlp init") from None
        except yaml.YAMLError as exc:
            raise ConfigError([Problem(LABELS, None, "", f"invalid YAML: {exc}")]) from None
        return check_label_schema(data, LABELS)

    @cached_property
    def label_schema(self) -> dict:
        """schema/labels.yaml, validated and checked against params.yaml's task type."""
        schema = self.label_schema_unchecked()
        declared = self.params["project"]["task_type"]
        if schema["task_type"] != declared:
            message = f"{schema['task_type']!r} differs from params.yaml project.task_type {declared!r}"
            raise ConfigError([Problem(LABELS, None, "$.task_type", message)])
        return schema

    @cached_property
    def validators(self) -> dict:
        """Compiled validators of item, annotation and prediction records."""
        from .labels import record_schemas
        from .records import Validator

        return {name: Validator(schema) for name, schema in record_schemas(self.label_schema).items()}

    def read_items(self, relative: str = ITEMS, *, missing_ok: bool = False,
                   fields: Iterable[str] | None = None) -> list[dict]:
        """Items of the project, validated (ids unique); ``fields``: keep only these keys."""
        from .checks import item_checker
        from .records import read_records

        path = self.path(relative)
        if missing_ok and not path.exists():
            return []
        return read_records(path, self.validators["item"], check=item_checker(), display_path=relative,
                            fields=fields)

    def iter_items(self, relative: str = ITEMS, *, fields: Iterable[str] | None = None,
                   check_unique: bool = True) -> Iterator[dict]:
        """:meth:`read_items` one item at a time (see :func:`.records.iter_records`).

        ``check_unique=False`` leaves out the check that ids are unique (a set of every id) for a caller
        that checks it itself, e.g. that the ids ascend.
        """
        from .checks import item_checker
        from .records import iter_records

        return iter_records(self.path(relative), self.validators["item"],
                            check=item_checker() if check_unique else None, display_path=relative, fields=fields)

    def read_annotations(self, relative: str = ANNOTATIONS, *, items: dict[str, dict] | None = None,
                         fields: Iterable[str] | None = None) -> list[dict]:
        """Annotations, validated against the schema and (when given) the items they refer to.

        ``fields``: keep only these keys of each record (see :func:`.records.read_records`).
        """
        from .checks import annotation_checker
        from .records import read_records

        return read_records(self.path(relative), self.validators["annotation"],
                            check=annotation_checker(items), display_path=relative, fields=fields)
