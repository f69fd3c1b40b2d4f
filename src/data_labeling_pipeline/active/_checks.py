"""Argument checks shared by the active-learning functions.

Every failure is a :class:`DataError` on ``<arguments>`` naming the argument, what was
expected, what came, and how to fix it. Checks that would touch every row of a large array
(finiteness of embeddings) are left to the code that reads the rows anyway, chunk by chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError

ARGS = "<arguments>"
# Probabilities from float32 models sum to 1 only within a few ulps per class.
SUM_TOL = 1e-3
CHUNK_ROWS = 65_536


def bad(field: str, message: str) -> DataError:
    return DataError.single(ARGS, None, field, message)


def as_probabilities(probabilities: Any, *, field: str = "probabilities") -> np.ndarray:
    """A float64 ``(n, n_classes)`` array whose rows are distributions, or a DataError."""
    try:
        p = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise bad(
            field, f"expected a 2-D array of numbers (n_items, n_classes), got {type(probabilities).__name__}"
        ) from exc
    if p.ndim != 2 or p.shape[1] < 1:
        raise bad(field, f"expected a 2-D array (n_items, n_classes), got shape {p.shape}; pass one row per item")
    check_distributions(p, field=field)
    return p


def check_distributions(p: np.ndarray, *, field: str) -> None:
    """Rows of the last axis must be finite, non-negative and sum to 1 (within SUM_TOL)."""
    if p.size == 0:
        return
    flat = p.reshape(-1, p.shape[-1])
    # in blocks of rows: cache-friendly and no full-size temporaries on a large pool
    for lo in range(0, len(flat), CHUNK_ROWS):
        block = flat[lo : lo + CHUNK_ROWS]
        sums = block.sum(axis=1)
        off = ~(np.abs(sums - 1.0) <= SUM_TOL)  # NaN sums are off too
        if off.any() or block.min() < 0:
            _explain_distribution(p, field)


def _explain_distribution(p: np.ndarray, field: str) -> None:
    finite = np.isfinite(p)
    if not finite.all():
        where = np.argwhere(~finite)[0].tolist()
        raise bad(field, f"expected finite numbers, got {p[tuple(where)]} at index {where}; drop or fix that row")
    if p.min() < 0:
        where = np.argwhere(p < 0)[0].tolist()
        raise bad(field, f"expected probabilities >= 0, got {p[tuple(where)]} at index {where}")
    sums = p.sum(axis=-1)
    where = np.argwhere(np.abs(sums - 1.0) > SUM_TOL)[0].tolist()
    raise bad(
        field,
        f"expected each row to sum to 1 (within {SUM_TOL}), got {sums[tuple(where)]:.6g} at row {where}; "
        "pass predict_proba output (a softmax), not scores or logits",
    )


def as_committee(committee_probabilities: Any, *, n: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """A float64 ``(n_members, n, n_classes)`` array of distributions, or a DataError."""
    field = "committee_probabilities"
    if committee_probabilities is None:
        raise bad(
            field,
            "a committee strategy needs (n_members, n_items, n_classes) probabilities, got None; "
            "build them with bootstrap_committee(X, y, X_pool, ...)",
        )
    try:
        c = np.asarray(committee_probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise bad(field, "expected a 3-D array of numbers (n_members, n_items, n_classes)") from exc
    want = (n if n is not None else "n_items", n_classes if n_classes is not None else "n_classes")
    if c.ndim != 3 or c.shape[0] < 1 or (n is not None and c.shape[1:] != (n, n_classes)):
        raise bad(field, f"expected shape (n_members, {want[0]}, {want[1]}), as probabilities, got {c.shape}")
    check_distributions(c, field=field)
    return c


def check_k(k: Any, available: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise bad("k", f"expected a whole number of items to select, got {k!r}")
    if k < 0 or k > available:
        raise bad("k", f"expected 0 <= k <= {available} (the selectable rows), got {k}; lower k or pass a larger pool")
    return int(k)


def as_embeddings(embeddings: Any, *, n: int | None, field: str = "embeddings") -> np.ndarray:
    """A 2-D array (dtype kept, converted to float32 by the readers chunk by chunk)."""
    if embeddings is None:
        raise bad(field, "this strategy needs an (n_items, dim) array of embeddings, got None")
    e = np.asarray(embeddings)
    if e.ndim != 2 or not (np.issubdtype(e.dtype, np.floating) or np.issubdtype(e.dtype, np.integer)):
        raise bad(field, f"expected a 2-D numeric array (n_items, dim), got shape {e.shape} of {e.dtype}")
    if n is not None and e.shape[0] != n:
        raise bad(field, f"expected one row per item ({n} rows, as probabilities), got {e.shape[0]}")
    return e


def as_labeled(labeled_embeddings: Any, *, dim: int) -> np.ndarray | None:
    if labeled_embeddings is None:
        return None
    e = as_embeddings(labeled_embeddings, n=None, field="labeled_embeddings")
    if e.shape[0] and e.shape[1] != dim:
        raise bad("labeled_embeddings", f"expected dim {dim} (as embeddings), got {e.shape[1]}")
    return float32_finite(e, field="labeled_embeddings") if e.shape[0] else None


def float32_finite(rows: np.ndarray, *, field: str = "embeddings") -> np.ndarray:
    """``rows`` as float32 (no copy when it already is), refusing NaN and infinities."""
    x = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(x).all():
        bad_row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise bad(field, f"expected finite numbers, got NaN or inf in row {bad_row} of this block; fix that row")
    return x


def available_mask(exclude: Any, n: int) -> np.ndarray | None:
    """``None`` when nothing is excluded, else a boolean mask of the selectable rows.

    ``exclude`` is a boolean mask of length n or integer row indices (already labelled or held).
    """
    if exclude is None:
        return None
    e = np.asarray(exclude)
    if e.dtype == bool:
        if e.shape != (n,):
            raise bad("exclude", f"expected a boolean mask of length {n} or row indices, got a mask of shape {e.shape}")
        return ~e if e.any() else None
    if e.size == 0:
        return None
    if not np.issubdtype(e.dtype, np.integer) or e.ndim != 1:
        raise bad(
            "exclude",
            f"expected a boolean mask of length {n} or 1-D integer row indices, got {e.dtype} {e.shape}",
        )
    if e.min() < 0 or e.max() >= n:
        raise bad("exclude", f"expected row indices in [0, {n}), got {int(e.min())}..{int(e.max())}")
    mask = np.ones(n, dtype=bool)
    mask[e] = False
    return mask


def check_scores(scores: Any, *, field: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise bad(field, f"expected a 1-D array of per-row scores, got shape {s.shape}")
    if np.isnan(s).any():
        raise bad(field, f"expected numbers, got NaN at row {int(np.flatnonzero(np.isnan(s))[0])}")
    return s
