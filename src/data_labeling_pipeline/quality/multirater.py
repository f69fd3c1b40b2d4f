"""Multi-rater chance-corrected agreement from an items x categories count matrix.

All coefficients here share one observed agreement and differ only in chance agreement
(Gwet, *Handbook of Inter-Rater Reliability*, 4th ed., ch. 2; R's irrCAC implements the same):

- observed ``pa``: mean over items with >= 2 annotations of the proportion of agreeing
  annotator pairs, ``sum_k n_ik (n_ik - 1) / (r_i (r_i - 1))``;
- ``pi_k``: mean over items with >= 1 annotation of the share ``n_ik / r_i``.

Fleiss' kappa uses ``pe = sum pi_k**2`` (with a constant number of annotators this is
Fleiss 1971 exactly, and with two annotators it is Scott's pi); Gwet's AC1
``pe = sum pi_k (1 - pi_k) / (K - 1)``; Brennan-Prediger ``pe = 1 / K``. The number of
annotators may vary per item. ``K`` is the number of columns: pass the schema's classes,
unused ones included, because AC1 and Brennan-Prediger depend on it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.result import (
    CATEGORY_UNUSED,
    EMPTY,
    NO_PAIRABLE,
    NO_VARIATION,
    SINGLE_ANNOTATOR,
    Score,
    score,
    undefined,
)


def as_counts(counts: Any) -> np.ndarray:
    """Validate an items x categories count matrix and return it as float."""
    c = np.asarray(counts, dtype=float)
    if c.ndim != 2:
        raise DataError.single("<counts>", None, "counts", f"expected items x categories, got shape {c.shape}")
    if (c < 0).any():
        raise DataError.single("<counts>", None, "counts", "counts must be non-negative")
    return c


def item_agreement(counts: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per item, the proportion of agreeing annotator pairs; and which items have >= 2 annotations.

    Items with fewer than two annotations get 0.0 and ``False`` in the mask.

    Example:
        >>> values, pairable = item_agreement([[2, 1], [3, 0], [1, 0]])
        >>> [round(v, 4) for v in values.tolist()], pairable.tolist()
        ([0.3333, 1.0, 0.0], [True, True, False])
    """
    prep = _prepare(counts)
    return prep.agree, prep.pairable


class _Prepared(NamedTuple):
    """What every coefficient of this module shares, computed once per count matrix."""

    c: np.ndarray  # counts as float
    r: np.ndarray  # annotations per item
    pairable: np.ndarray  # r >= 2
    agree: np.ndarray  # proportion of agreeing pairs per item (0 where unpairable)
    n: int  # pairable items
    pa: float | None  # mean agreement over pairable items
    pi: np.ndarray  # category shares averaged over annotated items


def _prepare(counts: Any) -> _Prepared:
    c = as_counts(counts)
    k = c.shape[1]
    r = c @ np.ones(k)  # row sums; matrix-vector products beat reductions over short rows
    pairable = r >= 2
    denom = np.where(pairable, r * (r - 1), 1.0)
    agree = np.where(pairable, (np.einsum("ij,ij->i", c, c) - r) / denom, 0.0)
    n = int(pairable.sum())
    pa = float(agree.sum() / n) if n else None
    rated = r > 0
    n_rated = int(rated.sum())
    inv_r = np.divide(1.0, r, out=np.zeros_like(r), where=rated)
    pi = (inv_r @ c) / n_rated if n_rated else np.zeros(k)
    return _Prepared(c, r, pairable, agree, n, pa, pi)


def _chance_corrected(prep: _Prepared, chance: str) -> Score:
    c = prep.c
    if c.size == 0 or not prep.r.any():
        return undefined(EMPTY)
    if prep.pa is None:
        return undefined(NO_PAIRABLE)
    pa, n, pi = prep.pa, prep.n, prep.pi
    k = c.shape[1]
    if k < 2:
        return undefined(NO_VARIATION, n_items=n)
    if chance == "fleiss":
        pe = float((pi**2).sum())
    elif chance == "gwet":
        pe = float((pi * (1 - pi)).sum() / (k - 1))
    else:
        pe = 1.0 / k
    if pe >= 1.0 - 1e-12:
        return undefined(NO_VARIATION, n_items=n, observed=pa, expected=pe)
    return score((pa - pe) / (1 - pe), n_items=n, observed=pa, expected=pe, category_shares=pi.tolist())


def _fleiss(prep: _Prepared) -> Score:
    result = _chance_corrected(prep, "fleiss")
    if not result.defined:
        return result
    # Fleiss 1971 eq. 11 with r_i annotators: mean over pairable items of
    # n_ij (r_i - n_ij) / (r_i (r_i - 1)), as matrix-vector products.
    c, r = prep.c, prep.r
    w = np.divide(1.0, r * (r - 1), out=np.zeros_like(r), where=prep.pairable)
    disagree = ((w * r) @ c - w @ (c * c)) / prep.n
    per_category: list[Score] = []
    for k, p in enumerate(prep.pi.tolist()):
        spread = p * (1 - p)
        per_category.append(
            score(1 - disagree[k] / spread, n_items=result.n_items)
            if spread > 1e-12
            else undefined(CATEGORY_UNUSED, n_items=result.n_items)
        )
    details = dict(result.details, per_category=per_category)
    return Score(result.value, None, result.n_items, details)


def fleiss_kappa(counts: Any) -> Score:
    """Fleiss' kappa, generalised to a varying number of annotators per item.

    Args:
        counts: Items x categories matrix; cell (i, k) is how many annotators put item i in
            category k. Items with a single annotation count only towards the category shares.

    Returns:
        A :class:`Score`; details hold ``observed`` (Fleiss' P-bar), ``expected`` (P_e-bar),
        ``category_shares`` (p_j) and ``per_category`` kappas (one :class:`Score` per category,
        undefined for a category nobody or everybody used; Fleiss 1971, eq. 11).

    Example:
        >>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]).value, 4)
        0.3333
    """
    return _fleiss(_prepare(counts))


def multirater_scores(counts: Any) -> dict[str, Score]:
    """Percent agreement, Fleiss' kappa, Gwet's AC1 and Brennan-Prediger from one pass over ``counts``.

    Example:
        >>> sorted(multirater_scores([[2, 0], [0, 2], [1, 1]]))
        ['brennan_prediger', 'fleiss_kappa', 'gwet_ac1', 'percent_agreement']
    """
    prep = _prepare(counts)
    return {
        "percent_agreement": _percent(prep, "item"),
        "fleiss_kappa": _fleiss(prep),
        "gwet_ac1": _chance_corrected(prep, "gwet"),
        "brennan_prediger": _chance_corrected(prep, "uniform"),
    }


def gwet_ac1(counts: Any) -> Score:
    """Gwet's AC1 (Gwet 2008), multi-rater, from an items x categories count matrix.

    Robust to skewed class distributions where kappa collapses ("high agreement, low kappa").

    Example:
        >>> round(gwet_ac1([[2, 0]] * 8 + [[0, 2], [1, 1]]).value, 4)
        0.8658
    """
    return _chance_corrected(_prepare(counts), "gwet")


def brennan_prediger(counts: Any) -> Score:
    """Brennan-Prediger coefficient: chance agreement ``1 / K`` (uniform categories).

    Example:
        >>> brennan_prediger([[2, 0], [0, 2], [1, 1]]).value
        0.33333333333333326
    """
    return _chance_corrected(_prepare(counts), "uniform")


def percent_agreement(counts: Any, *, weighting: str = "item") -> Score:
    """Raw agreement among annotators, without chance correction.

    Definition (``weighting="item"``, the default, as irrCAC): the mean over items with >= 2
    annotations of the proportion of agreeing annotator pairs in the item. With
    ``weighting="value"`` each item weighs by its number of annotations (``1 - D_o`` of nominal
    Krippendorff's alpha, the DKPro definition); the two differ only when items have different
    numbers of annotations.

    Example:
        >>> percent_agreement([[3, 0], [2, 1]]).value
        0.6666666666666666
    """
    return _percent(_prepare(counts), weighting)


def _percent(prep: _Prepared, weighting: str) -> Score:
    if weighting not in ("item", "value"):
        raise DataError.single("<counts>", None, "weighting", f"expected 'item' or 'value', got {weighting!r}")
    if prep.c.size == 0 or not prep.r.any():
        return undefined(EMPTY)
    if prep.pa is None:
        return undefined(NO_PAIRABLE)
    if weighting == "item":
        return score(prep.pa, n_items=prep.n, weighting="item")
    r = np.where(prep.pairable, prep.r, 0.0)
    return score((prep.agree * r).sum() / r.sum(), n_items=prep.n, weighting="value")


def counts_from_table(table: Any) -> np.ndarray:
    """Turn a two-annotator K x K contingency table into an items x K count matrix.

    Each item in cell (i, j) becomes a row with one vote for i and one for j, so the multi-rater
    coefficients apply to two-annotator tables (``fleiss_kappa`` then equals Scott's pi).

    Example:
        >>> counts_from_table([[1, 1], [0, 0]]).tolist()
        [[2, 0], [1, 1]]
    """
    t = np.asarray(table)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise DataError.single("<kappa>", None, "table", f"expected a square table, got shape {t.shape}")
    k = t.shape[0]
    cells = np.repeat(np.arange(k * k), t.astype(np.int64).reshape(-1))
    out = np.zeros((len(cells), k), dtype=np.int64)
    rows = np.arange(len(cells))
    np.add.at(out, (rows, cells // k), 1)
    np.add.at(out, (rows, cells % k), 1)
    return out


def conger_kappa(ratings: Any, *, n_categories: int | None = None) -> Score:
    """Conger's (1980) multi-rater kappa: Cohen-style chance agreement from each annotator's marginals.

    Args:
        ratings: Items x annotators matrix of category indexes (0..K-1), negative for missing.
        n_categories: K; defaults to the largest index + 1.

    Example:
        >>> round(conger_kappa([[0, 0], [1, 1], [0, 1]]).value, 4)
        0.4
    """
    rt = np.asarray(ratings, dtype=np.int64)
    if rt.ndim != 2:
        raise DataError.single("<ratings>", None, "ratings", f"expected items x annotators, got shape {rt.shape}")
    valid = rt >= 0
    if not valid.any():
        return undefined(EMPTY)
    k = int(n_categories if n_categories is not None else rt[valid].max() + 1)
    n_items, n_raters = rt.shape
    if n_raters < 2:
        return undefined(SINGLE_ANNOTATOR)
    items = np.broadcast_to(np.arange(n_items)[:, None], rt.shape)[valid]
    raters = np.broadcast_to(np.arange(n_raters)[None, :], rt.shape)[valid]
    cats = rt[valid]
    counts = np.bincount(items * k + cats, minlength=n_items * k).reshape(n_items, k)
    prep = _prepare(counts)
    pa, n = prep.pa, prep.n
    if pa is None:
        return undefined(NO_PAIRABLE)
    by_rater = np.bincount(raters * k + cats, minlength=n_raters * k).reshape(n_raters, k).astype(float)
    totals = by_rater.sum(1, keepdims=True)
    p_gk = by_rater / np.where(totals > 0, totals, 1.0)
    mean_k = p_gk.mean(0)
    s2 = ((p_gk - mean_k) ** 2).sum(0) / (n_raters - 1)
    pe = float((mean_k**2 - s2 / n_raters).sum())
    if pe >= 1.0 - 1e-12:
        return undefined(NO_VARIATION, n_items=n)
    return score((pa - pe) / (1 - pe), n_items=n, observed=pa, expected=pe)
