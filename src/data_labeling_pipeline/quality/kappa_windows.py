"""Per-annotator Cohen's kappa against consensus, per window of ``qa_every_n_labels`` labels.

The product's advice is "retrain annotators if kappa drops below 0.7": a whole-history kappa
hides a recent drop, so each annotator's labels are cut, in label order (``created_at``,
then item id), into windows of ``window`` labels, and the flag looks at the latest window
that has at least ``min_labels`` labels (a short last window is too little evidence on its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.cohen import kappa_many
from data_labeling_pipeline.quality.encoding import encode_labels, is_missing

LOW_KAPPA = "low_kappa"
_WHERE = "<windowed kappa>"


def _time_key(created_at: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(missing flag, sortable time) per label; missing times sort after known ones."""
    if created_at is None:
        return np.zeros(n, dtype=np.int8), np.zeros(n)
    if isinstance(created_at, np.ma.MaskedArray):  # UTF-8 bytes (b"" where masked): they sort as the strings
        if len(created_at) != n:
            raise DataError.single(_WHERE, None, "created_at", f"expected {n} entries, got {len(created_at)}")
        return np.ma.getmaskarray(created_at).astype(np.int8), created_at.data
    t = np.asarray(created_at, dtype=object)
    if len(t) != n:
        raise DataError.single(_WHERE, None, "created_at", f"expected {n} entries, got {len(t)}")
    missing = is_missing(t)
    known = t[~missing].tolist()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in known):
        key = np.zeros(n)
        key[~missing] = np.asarray(known, dtype=float)
    else:
        key = np.array(["" if m else str(v) for v, m in zip(t.tolist(), missing.tolist(), strict=True)])
    return missing.astype(np.int8), key


def windowed_kappa(
    annotators: Any,
    labels: Any,
    reference: Any,
    *,
    item_ids: Any,
    created_at: Any = None,
    window: int = 200,
    min_kappa: float | None = 0.7,
    min_labels: int = 20,
    classes: Sequence | None = None,
    weights: Any = None,
) -> dict[Any, dict[str, Any]]:
    """Cohen's kappa of each annotator against a reference label, per window of their labels.

    Args:
        annotators: Annotator per annotation.
        labels: Label per annotation.
        reference: Reference label per annotation (the item's consensus); ``None`` leaves the
            annotation out.
        item_ids: Item id per annotation (orders labels with the same time).
        created_at: Time per annotation (ISO-8601 strings in one format, or numbers); ``None``
            entries sort last; or a masked array of UTF-8 bytes, masked entries last.
            ``None`` for the whole column: item id order.
        window: Labels per window (``quality.qa_every_n_labels``).
        min_kappa: ``quality.min_annotator_kappa``; ``None`` never flags.
        min_labels: A window needs this many labels to count as the latest.
        classes: The schema's classes (schema order).
        weights: Cohen's kappa weights (see :mod:`.cohen`).

    Returns:
        ``annotator -> figures``, numbers only (``None`` where kappa is undefined): ``n_labels``,
        ``n_windows``, ``kappa_by_window`` (``"0", "1", ... -> kappa``), ``latest_window``,
        ``latest_kappa``, ``latest_n`` and ``below_min_kappa`` (0/1: the flag :data:`LOW_KAPPA`).

    Example:
        >>> anns = ["a"] * 8
        >>> labels = list("xyxyxyxx")
        >>> ref = list("xyxyyxyx")
        >>> out = windowed_kappa(anns, labels, ref, item_ids=range(8), window=4, min_labels=4)
        >>> out["a"]["kappa_by_window"], out["a"]["below_min_kappa"]
        ({'0': 1.0, '1': -0.5}, 1)
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise DataError.single(_WHERE, None, "window", f"expected an integer >= 1, got {window!r}")
    anns = np.asarray(annotators, dtype=object)
    lab = np.asarray(labels, dtype=object)
    ref = np.asarray(reference, dtype=object)
    items = np.asarray(list(item_ids) if not isinstance(item_ids, np.ndarray) else item_ids, dtype=object)
    n = len(anns)
    if not (len(lab) == len(ref) == len(items) == n):
        raise DataError.single(_WHERE, None, "columns",
                               f"annotators, labels, reference and item_ids must have the same length, got "
                               f"{n}, {len(lab)}, {len(ref)}, {len(items)}")
    missing_t, time_key = _time_key(created_at, n)
    keep = ~(is_missing(lab) | is_missing(ref))
    anns, lab, ref, items, missing_t, time_key = (c[keep] for c in (anns, lab, ref, items, missing_t, time_key))
    names, ann_code = np.unique(anns.astype(str), return_inverse=True)
    out: dict[Any, dict[str, Any]] = {}
    if len(anns) == 0:
        return out
    codes, cats = encode_labels(np.array(np.concatenate([lab, ref]).tolist()), classes)
    k = len(cats)
    lab_code, ref_code = codes[: len(lab)], codes[len(lab):]
    order = np.lexsort((items.astype(str), time_key, missing_t, ann_code))
    ann_sorted = ann_code[order]
    starts = np.searchsorted(ann_sorted, np.arange(len(names)))
    n_labels = np.bincount(ann_code, minlength=len(names))
    n_windows = -(-n_labels // window)
    first_window = np.concatenate([[0], np.cumsum(n_windows)[:-1]])
    within = np.arange(len(order)) - starts[ann_sorted]
    win = first_window[ann_sorted] + within // window  # global window id
    total = int(n_windows.sum())
    cell = (win * k + lab_code[order]) * k + ref_code[order]
    tables = np.bincount(cell, minlength=total * k * k).reshape(total, k, k)
    kappa, ok = kappa_many(tables, weights=weights) if k > 1 else (np.zeros(total), np.zeros(total, bool))
    size = tables.sum(axis=(1, 2))
    original = {str(a): a for a in np.asarray(annotators, dtype=object)[keep].tolist()}
    for a, name in enumerate(names.tolist()):
        ids = range(int(first_window[a]), int(first_window[a] + n_windows[a]))
        by_window = {str(w - first_window[a]): (float(kappa[w]) if ok[w] else None) for w in ids}
        enough = [w for w in ids if size[w] >= min_labels]
        latest = enough[-1] if enough else None
        latest_kappa = float(kappa[latest]) if latest is not None and ok[latest] else None
        below = min_kappa is not None and latest_kappa is not None and latest_kappa < min_kappa
        out[original[name]] = {
            "n_labels": int(n_labels[a]),
            "n_windows": int(n_windows[a]),
            "kappa_by_window": by_window,
            "latest_window": None if latest is None else int(latest - first_window[a]),
            "latest_kappa": latest_kappa,
            "latest_n": 0 if latest is None else int(size[latest]),
            "below_min_kappa": int(below),
        }
    return out
