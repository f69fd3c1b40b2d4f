"""The one result type of every agreement metric: a value, or ``None`` with the reason.

A statistic that is undefined on the data at hand (no variation, a single
annotator, no shared items, empty input) is reported as ``Score(value=None,
reason=...)``: never NaN, never an exception. ``Score.to_dict()`` is JSON-safe,
so stages can write it to ``metrics/*.json`` as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The reasons a statistic can be undefined; stages and reports match on these strings.
EMPTY = "empty input"
NO_PAIRABLE = "no item has two or more annotations"
NO_OVERLAP = "the two annotators share no item"
NO_VARIATION = "no variation: chance agreement is 1"
SINGLE_ANNOTATOR = "fewer than two annotators"
CATEGORY_UNUSED = "category never used (or always used)"
NO_MATCHABLE = "no spans or boxes on shared items"


@dataclass(frozen=True)
class Score:
    """A metric value, or ``None`` with the reason it is undefined.

    Attributes:
        value: The statistic, a finite float, or ``None`` when undefined.
        reason: Why ``value`` is ``None`` (one of this module's constants); ``None`` otherwise.
        n_items: How many items (or pairs of annotations, as the metric says) it is based on.
        details: Metric-specific figures (observed and chance agreement, standard errors, ...).

    Example:
        >>> Score(0.5, n_items=10).defined
        True
        >>> Score(None, "empty input").to_dict()
        {'value': None, 'reason': 'empty input', 'n_items': 0}
    """

    value: float | None
    reason: str | None = None
    n_items: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def defined(self) -> bool:
        """Whether the statistic has a value."""
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: numpy values become plain numbers, non-finite numbers ``None``."""
        out: dict[str, Any] = {"value": self.value, "reason": self.reason, "n_items": int(self.n_items)}
        for key, val in self.details.items():
            out[key] = jsonable(val)
        return out


def score(value: float, *, n_items: int = 0, **details: Any) -> Score:
    """A defined score; a non-finite value turns into an undefined one instead of leaking NaN."""
    value = float(value)
    if not math.isfinite(value):
        return Score(None, NO_VARIATION, int(n_items), details)
    return Score(value, None, int(n_items), details)


def undefined(reason: str, *, n_items: int = 0, **details: Any) -> Score:
    """An undefined score with its reason."""
    return Score(None, reason, int(n_items), details)


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and nested containers to JSON-safe Python values."""
    if isinstance(value, Score):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
