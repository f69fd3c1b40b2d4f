"""Small shared pieces of the Label Studio converters: task types, names, numbers.

Pure helpers only; nothing here reads files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from data_labeling_pipeline.errors import DataError, Problem
from data_labeling_pipeline.labels import DATA_KIND, TASK_TYPES

#: Label Studio result ``type`` each task type reads and writes.
RESULT_TYPE = {
    "image_classification": "choices",
    "text_classification": "choices",
    "ner": "labels",
    "bbox": "rectanglelabels",
}

#: A URL (``s3://``, ``https://``) rather than a repository path.
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

#: Decimals kept for pixel coordinates: far below a pixel, far above float noise
#: (``41.66666666666667 * 480 / 100`` is ``200.00000000000003``).
PX_DECIMALS = 6


def check_task_type(task_type: str, where: str = "task_type") -> str:
    """Return ``task_type`` or raise a DataError naming the four known ones."""
    if task_type not in TASK_TYPES:
        raise DataError.single("<arguments>", None, where, f"{task_type!r} is not one of {list(TASK_TYPES)}")
    return task_type


def data_key_for(task_type: str) -> str:
    """The task ``data`` key Label Studio reads: ``image`` or ``text``."""
    return DATA_KIND[task_type]


def is_classification(task_type: str) -> bool:
    """True for image and text classification."""
    return RESULT_TYPE[task_type] == "choices"


def class_names(classes: Iterable[Any] | None) -> list[str] | None:
    """Class names in schema order from names or ``{"id", "name"}`` dicts; None stays None.

    >>> class_names([{"id": 1, "name": "cat"}, "dog"])
    ['cat', 'dog']
    """
    if classes is None:
        return None
    names = []
    for cls in classes:
        name = cls.get("name") if isinstance(cls, Mapping) else cls
        if not isinstance(name, str) or not name:
            raise DataError.single("<arguments>", None, "classes", f"expected class names, got {cls!r}")
        names.append(name)
    return names


def users_by_id(users: Mapping[Any, str] | None) -> dict[int, str]:
    """Normalise a user-id -> e-mail mapping; keys may be ints or digit strings (YAML, JSON)."""
    out: dict[int, str] = {}
    for key, email in (users or {}).items():
        try:
            out[int(key)] = str(email)
        except (TypeError, ValueError):
            raise DataError.single(
                "<arguments>", None, "users", f"user id {key!r} is not an integer"
            ) from None
    return out


def is_number(value: Any) -> bool:
    """A finite int or float, not a bool (parsed JSON holds no other number types)."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def is_int(value: Any) -> bool:
    """An int, not a bool."""
    return type(value) is int


def clean_number(value: float, decimals: int = PX_DECIMALS) -> int | float:
    """Round away float noise; an integral result becomes an int (``200.00000000000003`` -> ``200``).

    >>> clean_number(41.66666666666667 * 480 / 100), clean_number(0.1 + 0.2)
    (200, 0.3)
    """
    rounded = round(float(value), decimals)
    if rounded == 0:
        return 0  # also turns -0.0 into 0
    return int(rounded) if rounded.is_integer() else rounded


def problem(path: str, field: str, message: str) -> Problem:
    """A Problem of an export file (no line: JSON files are addressed by field path)."""
    return Problem(path, None, field, message)
