"""Reading one Label Studio export file, with the label config that describes it.

For scripts and ``dlp convert``, which read exports without a project: the config is
the ``label_config.xml`` beside the export (as in a project's inbox), or the one given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data_labeling_pipeline.errors import DataError

from .config_reader import LabelConfig, parse_label_config

CONFIG_NAME = "label_config.xml"


def read_export_file(path: str | Path, *, label_config: str | Path | None = None) -> tuple[Any, LabelConfig | None]:
    """The parsed JSON of an export and its label config (given, else ``label_config.xml`` beside it, else None)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError.single(str(path), exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    config_path = Path(label_config) if label_config is not None else path.parent / CONFIG_NAME
    if label_config is None and not config_path.is_file():
        return document, None
    try:
        text = config_path.read_text("utf-8")
    except FileNotFoundError:
        raise DataError.single(str(config_path), None, "", "label config not found") from None
    return document, parse_label_config(text, path=str(config_path))
