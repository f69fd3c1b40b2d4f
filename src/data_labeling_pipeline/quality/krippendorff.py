"""Krippendorff's alpha for any number of annotators, missing values and four levels of measurement.

Computed from the coincidence matrix (Krippendorff 2011, "Computing Krippendorff's
Alpha-Reliability"): every item with ``m_u >= 2`` values adds ``n_uc n_uk / (m_u - 1)``
(minus the self-pairs on the diagonal). The coincidence matrix is ``V x V``, so it comes
from the items x values count matrix by one matrix product, whatever the number of
annotators. An items x annotators matrix is first turned into those per-item counts in one
vectorised pass (:func:`~data_labeling_pipeline.quality.encoding.ratings_to_counts`), so the
dense path costs about what the counts path does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.encoding import ratings_to_counts
from data_labeling_pipeline.quality.multirater import as_counts
from data_labeling_pipeline.quality.result import EMPTY, NO_PAIRABLE, NO_VARIATION, Score, score, undefined

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def coincidences(counts: Any) -> np.ndarray:
    """V x V coincidence matrix from an items x values count matrix (items with < 2 values ignored).

    Example:
        >>> coincidences([[2, 0], [1, 1], [1, 0]]).tolist()
        [[2.0, 1.0], [1.0, 0.0]]
    """
    c = as_counts(counts)
    return _coincidences(c, c @ np.ones(c.shape[1]))


def _coincidences(c: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The coincidence matrix of float counts ``c`` with row sums ``m``, in one pass over the items."""
    pairable = m >= 2
    cp, mp = (c, m) if pairable.all() else (c[pairable], m[pairable])
    scaled = cp / (mp - 1)[:, None]
    return scaled.T @ cp - np.diag(scaled.sum(0))


def distance_matrix(marginals: np.ndarray, values: Sequence | None, level: str) -> np.ndarray:
    """Squared difference function delta^2 between values, per level of measurement.

    Ordinal distance uses the value marginals ``n_c`` (ranks), interval the numeric difference,
    ratio the difference relative to the sum.
    """
    v = len(marginals)
    if level == "nominal":
        return 1.0 - np.eye(v)
    if level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(marginals)])
        idx = np.arange(v)
        lo, hi = np.minimum.outer(idx, idx), np.maximum.outer(idx, idx)
        between = cum[hi + 1] - cum[lo]  # sum of n_g for g from lo to hi
        return (between - (marginals[lo] + marginals[hi]) / 2.0) ** 2
    try:
        x = np.asarray(values if values is not None else np.arange(v), dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError.single(
            "<ratings>", None, "values", f"{level} alpha needs numeric values, got {values!r}"
        ) from exc
    diff = x[:, None] - x[None, :]
    if level == "interval":
        return diff**2
    if level == "ratio":
        total = x[:, None] + x[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total != 0, (diff / np.where(total != 0, total, 1.0)) ** 2, 0.0)
    raise DataError.single("<ratings>", None, "level", f"expected one of {LEVELS}, got {level!r}")


def alpha_from_counts(counts: Any, *, values: Sequence | None = None, level: str = "nominal") -> Score:
    """Krippendorff's alpha from an items x values count matrix.

    Args:
        counts: Cell (u, c) is how many annotators gave value c to item u.
        values: The value of each column (ordered, numeric for interval/ratio); ``None`` means
            column positions 0..V-1.
        level: ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``.

    Returns:
        A :class:`Score` with ``observed_disagreement`` (D_o), ``expected_disagreement`` (D_e) and
        ``n_values`` (pairable values n); ``n_items`` is the number of items with >= 2 values.

    Example:
        >>> round(alpha_from_counts([[2, 0], [0, 2], [1, 1]]).value, 4)
        0.4444
    """
    if level not in LEVELS:
        raise DataError.single("<ratings>", None, "level", f"expected one of {LEVELS}, got {level!r}")
    c = as_counts(counts)
    if c.size == 0 or c.sum() == 0:
        return undefined(EMPTY)
    m = c @ np.ones(c.shape[1])  # values per item
    n_items = int(np.count_nonzero(m >= 2))
    if n_items == 0:
        return undefined(NO_PAIRABLE)
    o = _coincidences(c, m)
    marg = o.sum(1)
    n = float(marg.sum())
    delta = distance_matrix(marg, values, level)
    d_o = float((o * delta).sum() / n)
    d_e = float((np.outer(marg, marg) * delta).sum() / (n * (n - 1)))
    if d_e <= 1e-15:
        return undefined(NO_VARIATION, n_items=n_items, observed_disagreement=d_o, expected_disagreement=d_e)
    return score(
        1.0 - d_o / d_e,
        n_items=n_items,
        observed_disagreement=d_o,
        expected_disagreement=d_e,
        n_values=n,
        level=level,
    )


def krippendorff_alpha(ratings: Any, *, level: str = "nominal", values: Sequence | None = None) -> Score:
    """Krippendorff's alpha from an items x annotators matrix with missing values.

    Args:
        ratings: Items x annotators; ``None`` or NaN where an annotator did not rate an item.
            Items with fewer than two values are unpairable and ignored.
        level: ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``.
        values: The possible values in order (e.g. the schema's classes for ordinal data);
            ``None`` uses the sorted observed values. Interval and ratio need numeric values.

    Returns:
        A :class:`Score`; ``None`` with a reason when no item has two values or there is no
        variation at all.

    Example:
        >>> round(krippendorff_alpha([[1, 1], [2, 2], [1, 2], [None, 1]]).value, 4)
        0.4444
    """
    counts, vals = ratings_to_counts(ratings, values=values)
    if level in ("interval", "ratio") and values is None and vals:
        vals = [float(v) for v in vals]
    return alpha_from_counts(counts, values=vals if level != "nominal" else None, level=level)
