"""Every classification agreement metric from one long table, encoded once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from data_labeling_pipeline.quality.bootstrap import bootstrap_interval
from data_labeling_pipeline.quality.encoding import LongTable, category_counts, encode_long
from data_labeling_pipeline.quality.krippendorff import alpha_from_counts
from data_labeling_pipeline.quality.multirater import multirater_scores
from data_labeling_pipeline.quality.pairwise import pairwise_kappa_table
from data_labeling_pipeline.quality.result import Score


def agreement_summary_table(
    table: LongTable,
    *,
    level: str = "nominal",
    weights: Any = None,
    n_resamples: int = 0,
    headline: str = "krippendorff_alpha",
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`agreement_summary` on an already encoded :class:`LongTable`."""
    counts = category_counts(table).astype(float)
    multi = multirater_scores(counts)
    values = table.classes if level in ("interval", "ratio") else None
    pairwise = pairwise_kappa_table(table, weights=weights)
    out: dict[str, Any] = {
        "n_annotations": len(table),
        "n_items": table.n_items,
        "n_annotators": table.n_annotators,
        "percent_agreement": multi["percent_agreement"],
        "fleiss_kappa": multi["fleiss_kappa"],
        "gwet_ac1": multi["gwet_ac1"],
        "krippendorff_alpha": alpha_from_counts(counts, values=values, level=level),
        "mean_pairwise_kappa": pairwise.mean(),
        "pairwise": pairwise,
    }
    if n_resamples:
        out["bootstrap"] = bootstrap_interval(counts, metric=headline, n_resamples=n_resamples, seed=seed)
    return out


def agreement_summary(
    item_ids: Any,
    annotators: Any,
    labels: Any,
    *,
    classes: Sequence | None = None,
    level: str = "nominal",
    weights: Any = None,
    n_resamples: int = 0,
    headline: str = "krippendorff_alpha",
    seed: int = 0,
) -> dict[str, Any]:
    """Percent agreement, Fleiss' kappa, Gwet's AC1, Krippendorff's alpha and pairwise Cohen's kappa.

    Args:
        item_ids: Item id per annotation (the long table).
        annotators: Annotator per annotation.
        labels: Label per annotation (``None`` rows are skipped).
        classes: The schema's classes in schema order; ``None`` uses the observed labels.
        level: Krippendorff level; interval and ratio read the classes as numbers.
        weights: Weights of the pairwise Cohen's kappas.
        n_resamples: When > 0, add a ``"bootstrap"`` :class:`Score` (95% interval of ``headline``).
        headline: The metric the bootstrap interval is for.
        seed: Bootstrap seed.

    Returns:
        A dict of :class:`Score` per metric, the :class:`PairwiseKappa` under ``"pairwise"`` and
        the table sizes. :func:`summary_to_dict` makes it JSON-safe.

    Example:
        >>> s = agreement_summary([1, 1, 2, 2], ["a", "b", "a", "b"], ["x", "x", "y", "y"])
        >>> s["fleiss_kappa"].value, s["percent_agreement"].value
        (1.0, 1.0)
    """
    table = encode_long(item_ids, annotators, labels, classes=classes)
    return agreement_summary_table(
        table, level=level, weights=weights, n_resamples=n_resamples, headline=headline, seed=seed
    )


def summary_to_dict(summary: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe form of an :func:`agreement_summary` result (pairwise kappas as records)."""
    out: dict[str, Any] = {}
    for key, val in summary.items():
        if isinstance(val, Score):
            out[key] = val.to_dict()
        elif hasattr(val, "records"):
            out[key] = val.records()
        else:
            out[key] = val
    return out
