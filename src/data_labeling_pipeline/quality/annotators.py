"""Per-annotator statistics: accuracy and kappa against consensus and ground truth, speed, habits.

Pure: everything comes in as columns and mappings, nothing is read. Metric fields are
:class:`~data_labeling_pipeline.quality.result.Score` objects; ``jsonable()`` turns a
result into JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.quality.cohen import kappa_many
from data_labeling_pipeline.quality.encoding import LongTable, encode_long
from data_labeling_pipeline.quality.pairwise import pairwise_kappa_table
from data_labeling_pipeline.quality.result import EMPTY, NO_VARIATION, Score, score, undefined


def _reference_codes(table: LongTable, reference: Mapping | None) -> np.ndarray:
    """Class index of the reference label per item code (-1 where the item has none)."""
    codes = np.full(table.n_items, -1, dtype=np.int64)
    if not reference:
        return codes
    position = {c: i for i, c in enumerate(table.classes)}
    for i, item in enumerate(table.items.tolist()):
        label = reference.get(item)
        if label is not None and label in position:
            codes[i] = position[label]
    return codes


def _versus(table: LongTable, ref: np.ndarray) -> tuple[list[Score], list[Score]]:
    """Accuracy and Cohen's kappa of each annotator against per-item reference codes."""
    n_ann, k = table.n_annotators, table.n_classes
    ref_row = ref[table.item]
    has = ref_row >= 0
    ann, lab, rr = table.annotator[has], table.label[has], ref_row[has]
    n = np.bincount(ann, minlength=n_ann)
    hits = np.bincount(ann, weights=(lab == rr).astype(float), minlength=n_ann)
    tables = np.bincount(ann * k * k + lab * k + rr, minlength=n_ann * k * k).reshape(n_ann, k, k)
    kap, ok = kappa_many(tables) if k else (np.zeros(n_ann), np.zeros(n_ann, bool))
    acc = [score(hits[a] / n[a], n_items=int(n[a])) if n[a] else undefined(EMPTY) for a in range(n_ann)]
    kappa = [
        score(kap[a], n_items=int(n[a]))
        if ok[a]
        else undefined(EMPTY if n[a] == 0 else NO_VARIATION, n_items=int(n[a]))
        for a in range(n_ann)
    ]
    return acc, kappa


def spammer_score(confusion: Any, *, row_mass: Any = None, min_mass: float = 5.0) -> float | None:
    """Raykar & Yu (2012) spammer score of a confusion matrix (rows: true class, columns: label).

    ``1 / (K (K-1)) * sum over pairs of rows of the squared distance``, over the rows with at
    least ``min_mass`` (posterior) items: 0 when every row is the same (labels independent of
    the truth, a spammer), 1 for a perfect annotator. ``None`` with fewer than two usable rows.

    Example:
        >>> spammer_score(np.eye(3)), spammer_score(np.full((3, 3), 1 / 3))
        (1.0, 0.0)
    """
    conf = np.asarray(confusion, dtype=float)
    rows = np.arange(len(conf)) if row_mass is None else np.flatnonzero(np.asarray(row_mass) >= min_mass)
    k = len(rows)
    if k < 2:
        return None
    sub = conf[rows]
    dist = ((sub[:, None, :] - sub[None, :, :]) ** 2).sum(2)
    return float(np.triu(dist, 1).sum() / (k * (k - 1)))


def annotator_stats(
    item_ids: Any,
    annotators: Any,
    labels: Any,
    *,
    consensus: Mapping,
    classes: Sequence | None = None,
    truth: Mapping | None = None,
    lead_times: Any = None,
    dawid_skene: Any = None,
) -> list[dict[str, Any]]:
    """Statistics of every annotator.

    Args:
        item_ids: Item id per annotation (the long table).
        annotators: Annotator per annotation.
        labels: Label per annotation.
        consensus: ``item_id -> consensus label`` (e.g. ``ConsensusResult.as_mapping()``). The
            annotator's own vote is part of it, so accuracy against it is biased upwards.
        classes: The schema's classes in schema order.
        truth: ``item_id -> true label`` for ground-truth items.
        lead_times: Seconds spent per annotation (``None``/NaN unknown), same order as the labels.
        dawid_skene: A :class:`DawidSkene` fitted on the same table, for its per-annotator estimates.

    Returns:
        One dict per annotator, sorted by annotator: ``annotator``, ``n_items``,
        ``accuracy_vs_consensus``, ``kappa_vs_consensus``, ``accuracy_vs_truth``,
        ``kappa_vs_truth``, ``kappa_vs_annotators`` (``other -> Score``, annotators sharing at
        least one item), ``ds_accuracy``,
        ``ds_confusion`` (true x given, schema order), ``spammer_score``, ``median_lead_time``,
        ``labels_per_hour``, ``class_distribution`` and ``consensus_distribution`` (shares of
        the consensus classes on the annotator's items).

    Example:
        >>> st = annotator_stats([1, 1, 2, 2], ["a", "b", "a", "b"], ["x", "x", "y", "x"],
        ...                      consensus={1: "x", 2: "y"})
        >>> [(s["annotator"], s["accuracy_vs_consensus"].value) for s in st]
        [('a', 1.0), ('b', 0.5)]
    """
    table = encode_long(item_ids, annotators, labels, classes=classes)
    n_ann, k = table.n_annotators, table.n_classes
    cons = _reference_codes(table, consensus)
    acc_c, kap_c = _versus(table, cons)
    acc_t, kap_t = _versus(table, _reference_codes(table, truth))
    pairwise = pairwise_kappa_table(table)
    dist = np.bincount(table.annotator * k + table.label, minlength=n_ann * k).reshape(n_ann, k)
    cons_row = cons[table.item]
    has = cons_row >= 0
    cons_dist = np.bincount(table.annotator[has] * k + cons_row[has], minlength=n_ann * k).reshape(n_ann, k)

    lead = None
    if lead_times is not None:
        lt = lead_times.astype(float) if isinstance(lead_times, np.ndarray) and lead_times.dtype.kind == "f" else (
            np.array([np.nan if v is None else float(v) for v in np.asarray(lead_times, dtype=object)]))
        lead = lt[table.order]
    ds_index = {}
    if dawid_skene is not None:
        ds_index = {a: i for i, a in enumerate(dawid_skene.annotators_.tolist())}
        mass = np.zeros((n_ann, k))
        post = dawid_skene.probas_
        for j in range(k):
            mass[:, j] = np.bincount(table.annotator, weights=post[table.item, j], minlength=n_ann)

    by_annotator = np.argsort(table.annotator, kind="stable")
    bounds = np.searchsorted(table.annotator[by_annotator], np.arange(n_ann + 1))
    out = []
    names = table.annotators.tolist()
    for a, name in enumerate(names):
        n_items = int(dist[a].sum())
        rec: dict[str, Any] = {
            "annotator": name,
            "n_items": n_items,
            "accuracy_vs_consensus": acc_c[a],
            "kappa_vs_consensus": kap_c[a],
            "accuracy_vs_truth": acc_t[a],
            "kappa_vs_truth": kap_t[a],
            "kappa_vs_annotators": {
                other: (score(pairwise.kappa.data[a, b], n_items=int(pairwise.overlap[a, b]))
                        if not pairwise.kappa.mask[a, b]
                        else undefined(pairwise.reasons.get(tuple(sorted((name, other))), EMPTY),
                                       n_items=int(pairwise.overlap[a, b])))
                for b, other in enumerate(names)
                if b != a and pairwise.overlap[a, b] > 0
            },
            "class_distribution": {c: float(dist[a, j] / max(n_items, 1)) for j, c in enumerate(table.classes)},
            "consensus_distribution": {
                c: float(cons_dist[a, j] / max(cons_dist[a].sum(), 1)) for j, c in enumerate(table.classes)
            },
            "ds_accuracy": None,
            "ds_confusion": None,
            "spammer_score": None,
            "median_lead_time": None,
            "labels_per_hour": None,
        }
        if name in ds_index:
            d = ds_index[name]
            rec["ds_accuracy"] = float(dawid_skene.skills_[d])
            rec["ds_confusion"] = dawid_skene.confusions_[d].tolist()
            rec["spammer_score"] = spammer_score(dawid_skene.confusions_[d], row_mass=mass[a])
        if lead is not None:
            mine = lead[by_annotator[bounds[a] : bounds[a + 1]]]
            mine = mine[np.isfinite(mine)]
            if len(mine):
                rec["median_lead_time"] = float(np.median(mine))
                total = float(mine.sum())
                rec["labels_per_hour"] = 3600.0 * len(mine) / total if total > 0 else None
        out.append(rec)
    return out


def agreement_trend(times: Any, agree: Any, *, window: int = 100) -> list[dict[str, Any]]:
    """Agreement rate per window of ``window`` consecutive labels in time order.

    Args:
        times: Sortable time per label (numbers or ISO-8601 strings in one format); ``None``
            entries are left out; or a masked array of UTF-8 bytes (masked entries left out), as
            `AnnotationColumns.created_at` holds them. Equal times keep their input order.
        agree: Whether each label agreed with the consensus.
        window: Labels per window; the last window may be shorter.

    Returns:
        One dict per window: ``window`` (index), ``start``, ``end`` (first and last time),
        ``n``, ``agreement``.

    Example:
        >>> [w["agreement"] for w in agreement_trend([3, 1, 2, 4], [True, True, False, False], window=2)]
        [0.5, 0.5]
    """
    if isinstance(times, np.ma.MaskedArray):  # UTF-8 bytes, masked where unknown: sorted in C
        idx = np.flatnonzero(~np.ma.getmaskarray(times))
        order = idx[np.argsort(times.data[idx], kind="stable")]

        def shown(i):
            return times.data[i].decode("utf-8")
    else:
        t = np.asarray(times, dtype=object)
        idx = np.flatnonzero(np.array([v is not None for v in t], dtype=bool))
        order = idx[np.array(sorted(range(len(idx)), key=lambda i: (t[idx[i]], i)), dtype=np.int64)]

        def shown(i):
            return t[i]
    ag = np.asarray(agree, dtype=bool)
    out = []
    for w, start in enumerate(range(0, len(order), max(int(window), 1))):
        chunk = order[start : start + window]
        out.append({
            "window": w,
            "start": shown(chunk[0]),
            "end": shown(chunk[-1]),
            "n": len(chunk),
            "agreement": float(ag[chunk].mean()),
        })
    return out
