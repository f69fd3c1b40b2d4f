"""Cohen's kappa for two annotators, plain or weighted, with its asymptotic standard errors.

Weights are *disagreement* weights over category positions (schema order):
``"linear"`` is ``|i - j|``, ``"quadratic"`` is ``(i - j)**2``, a 1-D array ``w`` means
``w[|i - j|]`` (a Toeplitz matrix, as R's ``irr::kappa2`` takes them) and a 2-D array is
used as it is. Only the ratios matter, so agreement weights ``1 - d / max(d)`` (SAS's
Cicchetti-Allison weights for equally spaced scores) give the same kappa.

The standard errors follow Fleiss, Cohen & Everitt (1969), as SAS PROC FREQ prints them:
``ase`` (for the confidence interval) and ``ase_h0`` (under kappa = 0, for the z test).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.encoding import encode_labels, is_missing
from data_labeling_pipeline.quality.result import (
    EMPTY,
    NO_OVERLAP,
    NO_VARIATION,
    Score,
    score,
    undefined,
)

Z_975 = 1.959963984540054  # two-sided 95% normal quantile


def disagreement_weights(n_categories: int, weights: Any = None) -> np.ndarray:
    """K x K disagreement weights (0 on the diagonal for the built-in schemes).

    Example:
        >>> disagreement_weights(3, "linear").tolist()
        [[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]
    """
    k = n_categories
    idx = np.arange(k)
    dist = np.abs(idx[:, None] - idx[None, :]).astype(float)
    if weights is None:
        return (dist > 0).astype(float)
    if isinstance(weights, str):
        if weights == "linear":
            return dist
        if weights == "quadratic":
            return dist**2
        raise DataError.single(
            "<kappa>", None, "weights", f"expected None, 'linear', 'quadratic' or an array, got {weights!r}"
        )
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        if len(w) < k:
            raise DataError.single("<kappa>", None, "weights", f"need {k} distance weights, got {len(w)}")
        return w[dist.astype(int)]
    if w.shape != (k, k):
        raise DataError.single("<kappa>", None, "weights", f"expected a {k}x{k} matrix, got shape {w.shape}")
    return w


def kappa_from_table(table: Any, *, weights: Any = None) -> Score:
    """Cohen's kappa from a K x K contingency table (rows: annotator A, columns: B).

    Args:
        table: Counts of items per (label of A, label of B), categories in the same order.
        weights: ``None`` (plain kappa), ``"linear"``, ``"quadratic"`` or custom disagreement weights.

    Returns:
        A :class:`Score` whose details hold ``observed`` and ``expected`` (weighted) agreement,
        ``ase``, ``ci95``, ``ase_h0``, ``z`` and, for plain kappa, ``kappa_max`` (the largest
        kappa the two marginals allow).

    Example:
        >>> round(kappa_from_table([[20, 5], [10, 15]]).value, 6)
        0.4
    """
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise DataError.single("<kappa>", None, "table", f"expected a square table, got shape {t.shape}")
    if (t < 0).any():
        raise DataError.single("<kappa>", None, "table", "counts must be non-negative")
    n = t.sum()
    k = t.shape[0]
    if n == 0:
        return undefined(EMPTY)
    if k < 2:
        return undefined(NO_VARIATION, n_items=int(n))
    d = disagreement_weights(k, weights)
    dmax = d.max()
    if dmax <= 0:
        return undefined(NO_VARIATION, n_items=int(n))
    w = 1.0 - d / dmax  # agreement weights: the form the variance formulas are written in
    p = t / n
    row, col = p.sum(1), p.sum(0)
    po = float((w * p).sum())
    pe = float((w * np.outer(row, col)).sum())
    if pe >= 1.0 - 1e-12:
        return undefined(NO_VARIATION, n_items=int(n), observed=po, expected=pe)
    kappa = (po - pe) / (1.0 - pe)
    wi = w @ col  # mean weight of row category i against B's marginal
    wj = row @ w  # mean weight of column category j against A's marginal
    spread = w - (wi[:, None] + wj[None, :]) * (1.0 - kappa)
    var = ((p * spread**2).sum() - (kappa - pe * (1.0 - kappa)) ** 2) / ((1.0 - pe) ** 2 * n)
    var0 = ((np.outer(row, col) * (w - (wi[:, None] + wj[None, :])) ** 2).sum() - pe**2) / ((1.0 - pe) ** 2 * n)
    ase = float(np.sqrt(max(var, 0.0)))
    ase0 = float(np.sqrt(max(var0, 0.0)))
    details: dict[str, Any] = {
        "observed": po,
        "expected": pe,
        "ase": ase,
        "ci95": [kappa - Z_975 * ase, kappa + Z_975 * ase],
        "ase_h0": ase0,
        "z": kappa / ase0 if ase0 > 0 else None,
    }
    if weights is None:
        pmax = float(np.minimum(row, col).sum())
        details["kappa_max"] = (pmax - pe) / (1.0 - pe)
    return score(kappa, n_items=int(n), **details)


def confusion_table(labels_a: Any, labels_b: Any, *, labels: Sequence | None = None) -> tuple[np.ndarray, list]:
    """Contingency table of two annotators over the items both labelled.

    Positions where either label is ``None``/NaN are skipped. Categories are ``labels`` (schema
    order, unused ones included) or the sorted union of observed labels.

    Example:
        >>> confusion_table(["a", "b", None], ["a", "a", "b"])[0].tolist()
        [[1, 0], [1, 0]]
    """
    a = np.asarray(labels_a, dtype=object if not isinstance(labels_a, np.ndarray) else None)
    b = np.asarray(labels_b, dtype=object if not isinstance(labels_b, np.ndarray) else None)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise DataError.single(
            "<kappa>", None, "labels", f"expected two 1-D columns of equal length, got {a.shape} and {b.shape}"
        )
    keep = ~(is_missing(a) | is_missing(b))
    a, b = a[keep], b[keep]
    if len(a) == 0:
        k = 0 if labels is None else len(labels)
        return np.zeros((k, k), dtype=np.int64), ([] if labels is None else list(labels))
    both = np.concatenate([a, b])
    if both.dtype.kind == "O":
        both = np.array(both.tolist())
    codes, cats = encode_labels(both, labels)
    k = len(cats)
    flat = np.bincount(codes[: len(a)] * k + codes[len(a):], minlength=k * k)
    return flat.reshape(k, k), cats


def cohens_kappa(labels_a: Any, labels_b: Any, *, weights: Any = None, labels: Sequence | None = None) -> Score:
    """Cohen's kappa between two annotators' labels of the same items.

    Args:
        labels_a: Labels of annotator A, one per item (``None``/NaN where A did not label it).
        labels_b: Labels of annotator B for the same items, in the same order.
        weights: ``None``, ``"linear"``, ``"quadratic"`` or custom disagreement weights (see module doc).
        labels: The schema's classes in schema order; weighted kappa measures distance along this
            order. ``None`` uses the sorted observed labels, like scikit-learn and R's irr.

    Returns:
        A :class:`Score`; ``value`` is ``None`` when no item is shared or both annotators used one
        and the same class everywhere (chance agreement 1).

    Raises:
        DataError: A label is not in ``labels`` (scikit-learn would silently drop the item).

    Example:
        >>> cohens_kappa(["y", "y", "n", "n"], ["y", "n", "n", "n"]).value
        0.5
    """
    table, _ = confusion_table(labels_a, labels_b, labels=labels)
    if table.sum() == 0:
        return undefined(NO_OVERLAP)
    return kappa_from_table(table, weights=weights)


def kappa_many(tables: np.ndarray, *, weights: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Kappa of a stack of P x K x K tables at once; returns (kappa, defined mask)."""
    tables = np.asarray(tables, dtype=float)
    n = tables.sum(axis=(1, 2))
    k = tables.shape[1]
    d = disagreement_weights(k, weights)
    dmax = d.max() if k > 1 else 0.0
    if dmax <= 0:
        return np.zeros(len(tables)), np.zeros(len(tables), bool)
    w = 1.0 - d / dmax
    safe_n = np.where(n > 0, n, 1.0)
    row = tables.sum(2) / safe_n[:, None]
    col = tables.sum(1) / safe_n[:, None]
    po = np.einsum("ij,pij->p", w, tables) / safe_n
    pe = np.einsum("ij,pi,pj->p", w, row, col)
    ok = (n > 0) & (pe < 1.0 - 1e-12)
    kappa = np.where(ok, (po - pe) / np.where(ok, 1.0 - pe, 1.0), 0.0)
    return kappa, ok
