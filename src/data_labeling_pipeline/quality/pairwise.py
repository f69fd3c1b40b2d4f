"""Cohen's kappa between every pair of annotators, from the long table, in one vectorised pass.

Pairs of annotations of the same item are formed by a self-join on the item (rows are
sorted by item, so row ``i`` pairs with ``i + d`` for ``d = 1 .. max annotations - 1``);
one ``bincount`` then builds every pair's contingency table. Memory grows with the number
of annotation pairs, not with items x annotators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_labeling_pipeline.quality.cohen import kappa_many
from data_labeling_pipeline.quality.encoding import LongTable, encode_long, factorize
from data_labeling_pipeline.quality.result import (
    NO_OVERLAP,
    NO_VARIATION,
    SINGLE_ANNOTATOR,
    Score,
    score,
    undefined,
)


def annotation_pairs(table: LongTable) -> tuple[np.ndarray, np.ndarray]:
    """Row indexes (first, second) of every pair of annotations on the same item.

    ``first`` always has the smaller annotator code.

    Example:
        >>> t = encode_long([1, 1, 1, 2], ["a", "b", "c", "a"], [0, 0, 1, 1])
        >>> [p.tolist() for p in annotation_pairs(t)]
        [[0, 1, 0], [1, 2, 2]]
    """
    item = table.item
    firsts, seconds = [], []
    d = 1
    while d < len(item):
        same = np.flatnonzero(item[d:] == item[:-d])
        if len(same) == 0:
            break  # rows are grouped by item: no pair at distance d means none further away
        firsts.append(same)
        seconds.append(same + d)
        d += 1
    if not firsts:
        empty = np.array([], dtype=np.int64)
        return empty, empty
    return np.concatenate(firsts), np.concatenate(seconds)


@dataclass(frozen=True)
class PairwiseKappa:
    """Cohen's kappa for every pair of annotators.

    Attributes:
        annotators: Annotator names, sorted; the order of both matrix axes.
        overlap: A x A number of items both annotators labelled (diagonal: items per annotator).
        kappa: A x A masked array; masked where undefined (no shared item, no variation) and on
            the diagonal.
        reasons: ``(annotator_a, annotator_b) -> reason`` for each undefined pair (a < b).
    """

    annotators: list
    overlap: np.ndarray
    kappa: np.ma.MaskedArray
    reasons: dict

    def records(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per pair (a < b), sorted by (a, b)."""
        out = []
        n = len(self.annotators)
        for i in range(n):
            for j in range(i + 1, n):
                a, b = self.annotators[i], self.annotators[j]
                defined = not self.kappa.mask[i, j]
                out.append({
                    "annotator_a": a,
                    "annotator_b": b,
                    "n_items": int(self.overlap[i, j]),
                    "kappa": float(self.kappa.data[i, j]) if defined else None,
                    "reason": None if defined else self.reasons.get((a, b), NO_OVERLAP),
                })
        return out

    def mean(self) -> Score:
        """Light's kappa: the mean of the defined pairwise kappas."""
        upper = np.triu(~self.kappa.mask, 1)
        n_pairs = int(upper.sum())
        if len(self.annotators) < 2:
            return undefined(SINGLE_ANNOTATOR)
        if n_pairs == 0:
            return undefined(NO_OVERLAP)
        return score(self.kappa.data[upper].mean(), n_items=n_pairs, n_pairs=n_pairs)


def _dense_pair_tables(table: LongTable) -> np.ndarray:
    """A x A x K x K contingency tables, one bincount per item offset (few annotators and classes)."""
    n_ann, k = table.n_annotators, table.n_classes
    ak = n_ann * k
    code = table.annotator * k + table.label  # (annotator, label) of each annotation
    item = table.item
    flat = np.zeros(ak * ak, dtype=np.int64)
    d = 1
    while d < len(item):
        same = np.flatnonzero(item[d:] == item[:-d])
        if len(same) == 0:
            break
        flat += np.bincount(code[same] * ak + code[same + d], minlength=ak * ak)
        d += 1
    return flat.reshape(n_ann, k, n_ann, k).transpose(0, 2, 1, 3)


def pairwise_kappa_table(table: LongTable, *, weights: Any = None) -> PairwiseKappa:
    """:func:`pairwise_kappa` on an already encoded :class:`LongTable`."""
    n_ann, k = table.n_annotators, table.n_classes
    if (n_ann * k) ** 2 <= 1 << 22:
        full = _dense_pair_tables(table).reshape(n_ann * n_ann, k, k)
        keys = np.flatnonzero(full.sum(axis=(1, 2)))
        tables = full[keys]
    else:
        first, second = annotation_pairs(table)
        pair_key = table.annotator[first] * n_ann + table.annotator[second]
        keys, inverse = factorize(pair_key)
        cells = inverse * (k * k) + table.label[first] * k + table.label[second]
        tables = np.bincount(cells, minlength=len(keys) * k * k).reshape(len(keys), k, k)
    values, ok = kappa_many(tables, weights=weights) if len(keys) else (np.zeros(0), np.zeros(0, bool))
    overlap = np.zeros((n_ann, n_ann), dtype=np.int64)
    kap = np.zeros((n_ann, n_ann))
    mask = np.ones((n_ann, n_ann), dtype=bool)
    ia, ib = keys // max(n_ann, 1), keys % max(n_ann, 1)
    counts = tables.sum(axis=(1, 2))
    overlap[ia, ib] = counts
    overlap[ib, ia] = counts
    overlap[np.arange(n_ann), np.arange(n_ann)] = np.bincount(table.annotator, minlength=n_ann)
    kap[ia[ok], ib[ok]] = values[ok]
    kap[ib[ok], ia[ok]] = values[ok]
    mask[ia[ok], ib[ok]] = False
    mask[ib[ok], ia[ok]] = False
    names = table.annotators.tolist()
    reasons = {}
    for i in range(n_ann):
        for j in range(i + 1, n_ann):
            if mask[i, j]:
                reasons[(names[i], names[j])] = NO_OVERLAP if overlap[i, j] == 0 else NO_VARIATION
    return PairwiseKappa(names, overlap, np.ma.MaskedArray(kap, mask=mask), reasons)


def pairwise_kappa(
    item_ids: Any,
    annotators: Any,
    labels: Any,
    *,
    classes: Sequence | None = None,
    weights: Any = None,
) -> PairwiseKappa:
    """Cohen's kappa between every pair of annotators over the items they share.

    Args:
        item_ids: Item id per annotation (the long table).
        annotators: Annotator per annotation.
        labels: Label per annotation.
        classes: The schema's classes in schema order (``None``: sorted observed labels).
        weights: ``None``, ``"linear"``, ``"quadratic"`` or custom disagreement weights.

    Returns:
        A :class:`PairwiseKappa` with the kappa matrix, the overlap counts and reasons for
        undefined pairs; ``.mean()`` is Light's kappa.

    Example:
        >>> pk = pairwise_kappa([1, 1, 2, 2, 3, 3], ["a", "b"] * 3, ["x", "x", "y", "y", "x", "y"])
        >>> round(float(pk.kappa[0, 1]), 4), int(pk.overlap[0, 1])
        (0.4, 3)
    """
    return pairwise_kappa_table(encode_long(item_ids, annotators, labels, classes=classes), weights=weights)
