"""The label economy over time: one point per commit that changed the figures, from its metrics files.

A point is what the metrics of one revision say about cost (labels, labels per item, the
review queue) and quality (the weak model's accuracy, the estimated accuracy of the exported
labels, the headline agreement). :func:`series` turns the points of the commits (newest
first) and the current files into the rows the dashboard shows, oldest first.

The current figures are always the last row, called ``current``, and commits whose figures
equal them are left out: the dashboard built before a commit and the one rebuilt from that
commit are the same bytes (`dvc repro` on a fresh clone must reproduce what is committed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FILES = ("metrics/agreement.json", "metrics/review.json", "metrics/prelabel.json", "metrics/export.json")
CURRENT = "current"
# A simulation's figures against known truth (the quickstart writes it): the weak model after each
# round, and after a random batch of the same size instead. Read from the current files only.
BASELINE = "metrics/baseline.json"
BASELINE_KEYS = ("round", "labels", "labelled_items", "evaluated_on", "model_accuracy_vs_truth",
                 "random_batch_accuracy_vs_truth")


def point(files: Mapping[str, Mapping | None]) -> dict[str, Any]:
    """The economy figures of one revision's metrics files (``path -> parsed JSON or None``).

    Example:
        >>> point({"metrics/agreement.json": {"n_annotations": 10, "n_items": 4, "fleiss_kappa": 0.5},
        ...        "metrics/prelabel.json": {"cv_accuracy": 0.9}})["labels_per_item"]
        2.5
    """
    agreement = files.get("metrics/agreement.json") or {}
    review = files.get("metrics/review.json") or {}
    prelabel = files.get("metrics/prelabel.json") or {}
    exported = files.get("metrics/export.json") or {}
    labels, items = agreement.get("n_annotations"), agreement.get("n_items")
    return {
        "labels": labels, "items": items,
        "labels_per_item": round(labels / items, 6) if labels and items else None,
        "annotators": agreement.get("n_annotators"),
        "cv_accuracy": prelabel.get("cv_accuracy"),
        "estimated_accuracy_exported": review.get("estimated_accuracy_exported"),
        "n_review": review.get("n_review"),
        "items_exported": exported.get("items_exported"),
        "headline": _headline(agreement),
    }


def _headline(agreement: Mapping) -> float | None:
    from .sections import AGREEMENT_KEYS

    for key in AGREEMENT_KEYS:
        if agreement.get(key) is not None:
            return agreement[key]
    return None


def series(commits: list[tuple[Mapping, dict]], current: dict) -> list[dict]:
    """Rows oldest first: one per run of equal consecutive points, labelled by its first commit, then ``current``.

    ``commits`` is ``(commit info, point)`` newest first, as ``git log --first-parent`` lists them.
    Leading commits whose point equals ``current`` are dropped: they are the current state.

    Example:
        >>> a, b = {"labels": 1}, {"labels": 2}
        >>> [r["commit"] for r in series([({"commit": "c3"}, b), ({"commit": "c2"}, a), ({"commit": "c1"}, a)], b)]
        ['c1', 'current']
    """
    rows: list[dict] = []
    skipping = True
    for info, p in commits:
        if skipping and p == current:
            continue
        skipping = False
        if rows and rows[-1]["point"] == p:
            rows[-1]["info"] = info  # the run began earlier (we walk back in time)
            continue
        rows.append({"info": info, "point": p})
    out = [{"commit": r["info"]["commit"], "subject": r["info"].get("subject", ""), **r["point"]}
           for r in reversed(rows)]
    out.append({"commit": CURRENT, "subject": "these files", **current})
    return out


def baseline_rows(baseline: Mapping | None) -> list[dict]:
    """The rounds of ``metrics/baseline.json``, in order, with the keys the dashboard shows.

    >>> baseline_rows({"rounds": [{"round": 2, "labels": 9, "model_accuracy_vs_truth": 0.9}, {"round": 1}]})[0]
    {'round': 1, 'labels': None, 'labelled_items': None, 'evaluated_on': None, 'model_accuracy_vs_truth': None, \
'random_batch_accuracy_vs_truth': None}
    """
    rounds = (baseline or {}).get("rounds") or []
    rows = [{key: r.get(key) for key in BASELINE_KEYS} for r in rounds if isinstance(r, Mapping)]
    return sorted(rows, key=lambda r: (r["round"] is None, r["round"] or 0))
