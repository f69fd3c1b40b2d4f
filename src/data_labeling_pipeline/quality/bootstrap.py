"""Seeded percentile bootstrap over items for the headline agreement metrics.

Each supported metric is a function of per-item sums (agreement, category shares,
coincidences), so a resample is a weighted sum: item multiplicities (a ``bincount`` of
the drawn indexes) times the per-item statistics, done as one matrix product per chunk of
resamples. Nothing is recomputed from scratch per resample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.multirater import as_counts, item_agreement
from data_labeling_pipeline.quality.result import EMPTY, NO_PAIRABLE, Score, score, undefined

METRICS = ("fleiss_kappa", "gwet_ac1", "percent_agreement", "krippendorff_alpha")


def _item_stats(c: np.ndarray) -> np.ndarray:
    """Per item: [pairable, agreement, rated, shares (K), m if pairable, coincident agreement, n_uk if pairable (K)]."""
    r = c.sum(1)
    agree, pairable = item_agreement(c)
    rated = r > 0
    shares = np.where(rated[:, None], c / np.where(rated, r, 1.0)[:, None], 0.0)
    pm = np.where(pairable, r, 0.0)
    coinc = agree * pm  # sum_k n_uk (n_uk - 1) / (m_u - 1)
    return np.column_stack([pairable, agree * pairable, rated, shares, pm, coinc, c * pairable[:, None]])


def _finish(sums: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Metric values from summed item statistics, one row per resample (NaN marks undefined)."""
    n_pairable, agree_sum, n_rated = sums[:, 0], sums[:, 1], sums[:, 2]
    shares = sums[:, 3 : 3 + k]
    m_sum, coinc = sums[:, 3 + k], sums[:, 4 + k]
    n_c = sums[:, 5 + k : 5 + 2 * k]
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = agree_sum / n_pairable
        if metric == "percent_agreement":
            return pa
        if metric == "krippendorff_alpha":
            d_o = (m_sum - coinc) / m_sum
            d_e = (m_sum**2 - (n_c**2).sum(1)) / (m_sum * (m_sum - 1))
            return np.where(d_e > 1e-15, 1 - d_o / d_e, np.nan)
        pi = shares / n_rated[:, None]
        pe = (pi**2).sum(1) if metric == "fleiss_kappa" else (pi * (1 - pi)).sum(1) / (k - 1)
        return np.where(pe < 1 - 1e-12, (pa - pe) / (1 - pe), np.nan)


def bootstrap_interval(
    counts: Any,
    *,
    metric: str = "krippendorff_alpha",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int = 32,
) -> Score:
    """Point estimate and percentile bootstrap interval over items.

    Args:
        counts: Items x categories count matrix (schema classes as columns).
        metric: One of ``"fleiss_kappa"``, ``"gwet_ac1"``, ``"percent_agreement"`` or
            ``"krippendorff_alpha"`` (nominal).
        n_resamples: Number of bootstrap resamples of the items.
        confidence: Coverage of the interval.
        seed: Seed of ``numpy.random.default_rng``; same seed, same interval.
        chunk: Resamples drawn per matrix product (bounds memory at ``chunk x items`` floats and int32s).

    Returns:
        A :class:`Score` whose value is the point estimate and whose details hold ``ci_low``,
        ``ci_high``, ``confidence``, ``n_resamples``, ``n_valid`` (resamples where the metric is
        defined), ``seed`` and ``metric``.

    Example:
        >>> s = bootstrap_interval([[2, 0], [0, 2], [1, 1], [2, 0]] * 5, metric="percent_agreement", n_resamples=200)
        >>> s.value, s.details["ci_low"] <= s.value <= s.details["ci_high"]
        (0.75, True)
    """
    if metric not in METRICS:
        raise DataError.single("<bootstrap>", None, "metric", f"expected one of {METRICS}, got {metric!r}")
    if not 0 < confidence < 1:
        raise DataError.single("<bootstrap>", None, "confidence", f"expected a number in (0, 1), got {confidence!r}")
    if n_resamples < 1:
        raise DataError.single("<bootstrap>", None, "n_resamples", f"expected >= 1, got {n_resamples!r}")
    c = as_counts(counts)
    if c.size == 0 or c.sum() == 0:
        return undefined(EMPTY)
    k = c.shape[1]
    stats = _item_stats(c)
    n_items = len(c)
    point = float(_finish(stats.sum(0, keepdims=True), k, metric)[0])
    n_pairable = int(stats[:, 0].sum())
    if n_pairable == 0:
        return undefined(NO_PAIRABLE)
    if not np.isfinite(point):
        return score(point, n_items=n_pairable)  # undefined, with the no-variation reason
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        # int32 draws are the same numbers as int64 ones (one bounded 32-bit generator) in half the memory;
        # each row is counted into the float matrix directly (no int64 copies of the chunk).
        draws = rng.integers(0, n_items, size=(b, n_items), dtype=np.int32 if n_items < 2**31 else np.int64)
        weights = np.empty((b, n_items))
        for row in range(b):
            weights[row] = np.bincount(draws[row], minlength=n_items)
        del draws
        values[start : start + b] = _finish(weights @ stats, k, metric)
    valid = values[np.isfinite(values)]
    alpha = (1 - confidence) / 2
    lo, hi = (np.quantile(valid, [alpha, 1 - alpha]).tolist() if len(valid) else (None, None))
    return score(
        point,
        n_items=n_pairable,
        metric=metric,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        n_resamples=n_resamples,
        n_valid=int(len(valid)),
        seed=seed,
        method="percentile",
    )
