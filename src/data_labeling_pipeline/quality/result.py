"""The one result type of every agreement metric: a value, or ``None`` with the reason.

A statistic that is undefined on the data at hand (no variation, a single
annotator, no shared items, empty input) is reported as ``Score(value=None,
reason=...)``: never NaN, never an exception. ``Score.to_dict()`` is JSON-safe,
so stages can write it to ``metrics/*.json`` as it is.

A score also behaves like the number it holds, as scikit-learn's and statsmodels'
floats do: ``float(s)``, ``round(s, 3)``, ``f"{s:.3f}"`` and ``s > 0.6`` work on a defined
score and raise :class:`UndefinedScoreError` (a ``ValueError``) naming the reason on an
undefined one, so a missing value never passes a threshold silently.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import PipelineError

# The reasons a statistic can be undefined; stages and reports match on these strings.
EMPTY = "empty input"
NO_PAIRABLE = "no item has two or more annotations"
NO_OVERLAP = "the two annotators share no item"
NO_VARIATION = "no variation: chance agreement is 1"
SINGLE_ANNOTATOR = "fewer than two annotators"
CATEGORY_UNUSED = "category never used (or always used)"
NO_MATCHABLE = "no spans or boxes on shared items"


class UndefinedScoreError(PipelineError, ValueError):
    """An undefined :class:`Score` was used as a number (``float``, a format spec, ``<``, ...)."""


def _is_number(other: Any) -> bool:
    return isinstance(other, numbers.Real) and not isinstance(other, bool)


@dataclass(frozen=True)
class Score:
    """A metric value, or ``None`` with the reason it is undefined.

    Attributes:
        value: The statistic, a finite float, or ``None`` when undefined.
        reason: Why ``value`` is ``None`` (one of this module's constants); ``None`` otherwise.
        n_items: How many items (or pairs of annotations, as the metric says) it is based on.
        details: Metric-specific figures (observed and chance agreement, standard errors, ...).

    A score is also usable as its number: ``float()``, ``round()``, format specs and the
    order comparisons ``<``, ``<=``, ``>``, ``>=`` with numbers (and other scores) use
    ``value``, and raise :class:`UndefinedScoreError` when it is ``None``. ``score == 0.5``
    compares ``value`` with the number (``False`` when undefined, as NaN would be);
    ``score == other_score`` compares every field, as a dataclass does. ``f"{score}"``
    with no format spec is the ``repr``, like ``str(score)``.

    Example:
        >>> Score(0.5, n_items=10).defined
        True
        >>> Score(None, "empty input").to_dict()
        {'value': None, 'reason': 'empty input', 'n_items': 0}
        >>> s = Score(0.71234, n_items=10)
        >>> s > 0.6, f"{s:.3f}", float(s), round(s, 2), s == 0.71234
        (True, '0.712', 0.71234, 0.71, True)
        >>> float(Score(None, "no variation: chance agreement is 1"))
        Traceback (most recent call last):
        ...
        data_labeling_pipeline.quality.result.UndefinedScoreError: the score is undefined (no variation: ...
    """

    value: float | None
    reason: str | None = None
    n_items: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def defined(self) -> bool:
        """Whether the statistic has a value."""
        return self.value is not None

    def _number(self) -> float:
        if self.value is None:
            raise UndefinedScoreError(
                f"the score is undefined ({self.reason or 'no value'}), so it has no number; "
                "check score.defined before using it as one"
            )
        return float(self.value)

    def __float__(self) -> float:
        return self._number()

    def __round__(self, ndigits: int | None = None) -> float | int:
        return round(self._number(), ndigits)

    def __format__(self, spec: str) -> str:
        # An empty spec is str(): f"{score}" keeps printing the whole record.
        return str(self) if not spec else format(self._number(), spec)

    def _other(self, other: Any) -> float | None:
        if isinstance(other, Score):
            return other._number()
        return float(other) if _is_number(other) else None

    def __lt__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._number() < o

    def __le__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._number() <= o

    def __gt__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._number() > o

    def __ge__(self, other: Any) -> bool:
        o = self._other(other)
        return NotImplemented if o is None else self._number() >= o

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Score):
            if other.__class__ is not self.__class__:
                return NotImplemented
            return (self.value, self.reason, self.n_items, self.details) == (
                other.value, other.reason, other.n_items, other.details)
        if _is_number(other):
            return self.value is not None and self.value == other
        return NotImplemented

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
