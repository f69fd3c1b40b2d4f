"""Guideline gaps: the class pairs annotators confuse most, with a few items where they disagreed.

Classification ranks pairs by the Dawid-Skene confusions of ``metrics/annotators.json``
(``ds_confusion``: P(label | true class) per annotator), weighted by each annotator's labels;
without them (majority vote) by how often both classes got votes on one item. The example
items come from the consensus records' ``votes``. Spans and boxes have no confusions:
pairs are regions two annotators drew on the same place (overlapping spans, boxes with
IoU >= 0.5) with different classes, counted from the annotations one item at a time.

Everything here takes records one at a time and keeps a bounded number of examples per pair,
so a stage can stream the files.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

MATCH_IOU = 0.5


def ds_pairs(annotators: Mapping[str, Mapping], *, top: int = 5) -> list[dict]:
    """The ``top`` class pairs by the labels-weighted mean of P(b | a) + P(a | b) over annotators.

    Example:
        >>> conf = {"x": {"x": 0.8, "y": 0.2}, "y": {"x": 0.1, "y": 0.9}}
        >>> ds_pairs({"a": {"n_items": 10, "ds_confusion": conf}})
        [{'a': 'x', 'b': 'y', 'score': 0.3, 'a_as_b': 0.2, 'b_as_a': 0.1}]
    """
    weight = 0.0
    rate: dict[tuple[str, str], float] = {}
    for who in sorted(annotators):
        figures = annotators[who]
        confusion, n = figures.get("ds_confusion"), figures.get("n_items") or 0
        if not confusion or not n:
            continue
        weight += n
        for truth, row in confusion.items():
            for label, p in row.items():
                if truth != label:
                    rate[(truth, label)] = rate.get((truth, label), 0.0) + n * p
    if not weight:
        return []
    pairs = {tuple(sorted(k)) for k in rate}
    out = [{"a": a, "b": b, "score": round((rate.get((a, b), 0.0) + rate.get((b, a), 0.0)) / weight, 6),
            "a_as_b": round(rate.get((a, b), 0.0) / weight, 6), "b_as_a": round(rate.get((b, a), 0.0) / weight, 6)}
           for a, b in pairs]
    return sorted(out, key=lambda p: (-p["score"], p["a"], p["b"]))[:top]


class PairExamples:
    """Counts class pairs over items and keeps the ``per_pair`` most evenly split items of each.

    ``add(item_id, counts, detail)`` takes one item: ``counts`` maps each class to its votes (or
    regions) on the item, ``pairs`` the disagreeing pairs when they are known (spans, boxes).
    Ties of evenness are broken by item id, so the same records give the same examples.
    ``n_items`` is the number of items looked at (the caller counts them, added or not).

    Example:
        >>> p = PairExamples(per_pair=1)
        >>> p.add("i1", {"cat": 2, "dog": 1}); p.add("i2", {"cat": 1, "dog": 1}); p.n_items = 3
        >>> p.ranked(top=5)
        [{'a': 'cat', 'b': 'dog', 'score': 0.666667, 'n_items': 2, 'examples': [{'item_id': 'i2', 'detail': None}]}]
    """

    def __init__(self, *, per_pair: int = 3):
        self.per_pair = per_pair
        self.n_items = 0
        self.counts: dict[tuple[str, str], int] = {}
        self._heaps: dict[tuple[str, str], list] = {}

    def add(self, item_id: str, counts: Mapping[str, int], detail: Any = None, *,
            pairs: Iterable[tuple[str, str]] | None = None) -> None:
        total = sum(counts.values()) or 1
        if pairs is None:
            present = sorted(c for c, n in counts.items() if n > 0)
            pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]]
        for a, b in sorted({tuple(sorted(p)) for p in pairs}):
            key = (a, b)
            self.counts[key] = self.counts.get(key, 0) + 1
            evenness = min(counts.get(a, 0), counts.get(b, 0)) / total
            entry = (evenness, _Reverse(item_id), item_id, detail)
            heap = self._heaps.setdefault(key, [])
            if len(heap) < self.per_pair:
                heapq.heappush(heap, entry)
            elif entry[:2] > heap[0][:2]:
                heapq.heapreplace(heap, entry)

    def examples(self, a: str, b: str) -> list[dict]:
        key = tuple(sorted((a, b)))
        best = sorted(self._heaps.get(key, []), key=lambda e: (-e[0], e[2]))
        return [{"item_id": item_id, "detail": detail} for _, _, item_id, detail in best]

    def ranked(self, *, top: int = 5) -> list[dict]:
        """The ``top`` pairs by the share of items where both classes came up, with their examples."""
        order = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [{"a": a, "b": b, "score": round(n / max(self.n_items, 1), 6), "n_items": n,
                 "examples": self.examples(a, b)} for (a, b), n in order]


class _Reverse:
    """Orders item ids backwards inside the min-heap, so that of two equally even items the smaller id stays."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value


def _overlap(a: Mapping, b: Mapping) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def _iou(a: Mapping, b: Mapping) -> float:
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


def region_disagreements(annotations: list[Mapping], field: str) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Class counts and disagreeing class pairs of one item's annotations (``field``: spans or boxes).

    A region of one annotator that overlaps (spans) or matches at IoU >= 0.5 (boxes) regions of
    another annotator, none of its class, makes a pair with each of their classes.

    Example:
        >>> region_disagreements([{"spans": [{"start": 0, "end": 5, "label": "PER"}]},
        ...                       {"spans": [{"start": 0, "end": 5, "label": "ORG"}]}], "spans")
        ({'ORG': 1, 'PER': 1}, {('ORG', 'PER')})
    """
    same = _overlap if field == "spans" else (lambda a, b: _iou(a, b) >= MATCH_IOU)
    counts: dict[str, int] = {}
    pairs: set[tuple[str, str]] = set()
    regions = [list(a.get(field) or []) for a in annotations]
    for i, mine in enumerate(regions):
        for region in mine:
            counts[region["label"]] = counts.get(region["label"], 0) + 1
            for j, theirs in enumerate(regions):
                if i == j:
                    continue
                hits = [r for r in theirs if same(region, r)]
                if hits and all(r["label"] != region["label"] for r in hits):
                    pairs.update(tuple(sorted((region["label"], r["label"]))) for r in hits)
    return dict(sorted(counts.items())), pairs


def group_by_item(records: Iterable[Mapping]) -> Iterable[tuple[str, list[Mapping]]]:
    """Consecutive records of one item (the canonical files are sorted by item id)."""
    current, group = None, []
    for record in records:
        if record["item_id"] != current and group:
            yield current, group
            group = []
        current = record["item_id"]
        group.append(record)
    if group:
        yield current, group
