"""Shared machinery of span and box agreement: group records per item, match pairs, accumulate F1.

Pairwise F1 between annotators A and B on their shared items is ``2 TP / (|A| + |B|)``
(symmetric: either side can be the reference). Counts are summed over all annotator pairs
(micro average) overall and per class.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.result import NO_MATCHABLE, NO_PAIRABLE, Score, score, undefined

# match(list_a, list_b) -> [(index in a, index in b, quality)], one-to-one
Matcher = Callable[[list, list], list]


def group_payloads(records: Iterable[Mapping[str, Any]], key: str) -> dict[Any, dict[Any, list]]:
    """``item_id -> annotator -> payload list`` (e.g. ``key="spans"``), items and annotators sorted.

    Records without the payload key are skipped; an empty list is kept (an explicit negative).

    Raises:
        DataError: The same annotator has two records for one item.
    """
    grouped: dict[Any, dict[Any, list]] = defaultdict(dict)
    for rec in records:
        if key not in rec or rec[key] is None:
            continue
        item, ann = rec["item_id"], rec["annotator"]
        if ann in grouped[item]:
            raise DataError.single(
                "<records>", None, "annotator",
                f"annotator {ann!r} has two records for item {item!r}; keep one (the latest)",
            )
        grouped[item][ann] = list(rec[key])
    return {item: dict(sorted(by_ann.items())) for item, by_ann in sorted(grouped.items())}


def greedy_match(quality: list[list[float]], threshold: float) -> list[tuple[int, int, float]]:
    """One-to-one matching: best quality first, ties by (i, j); pairs below ``threshold`` never match.

    Example:
        >>> greedy_match([[0.9, 0.6], [0.8, 0.1]], 0.5)
        [(0, 0, 0.9)]
    """
    cands = sorted(
        ((-q, i, j) for i, row in enumerate(quality) for j, q in enumerate(row) if q >= threshold and q > 0)
    )
    used_i: set[int] = set()
    used_j: set[int] = set()
    out = []
    for neg_q, i, j in cands:
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        out.append((i, j, -neg_q))
    return out


@dataclass(frozen=True)
class MatchAgreement:
    """Pairwise agreement of structured annotations (spans, boxes).

    Attributes:
        overall: Micro-averaged pairwise F1 (or mean IoU) over all annotator pairs and classes.
        per_class: ``class -> Score``.
        pairs: One JSON-safe dict per annotator pair (a < b): ``annotator_a``, ``annotator_b``,
            ``n_items``, ``value``, ``reason``.
    """

    overall: Score
    per_class: dict
    pairs: list

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "per_class": {c: s.to_dict() for c, s in self.per_class.items()},
            "pairs": self.pairs,
        }


class _Tally:
    """Counts for one scope (a pair, a class, or everything)."""

    __slots__ = ("tp", "n_a", "n_b", "q_sum", "items")

    def __init__(self, n_thresholds: int):
        self.tp = [0] * n_thresholds
        self.n_a = 0
        self.n_b = 0
        self.q_sum = 0.0
        self.items = 0

    def f1(self, t: int, n_items: int) -> Score:
        total = self.n_a + self.n_b
        if total == 0:
            return undefined(NO_MATCHABLE, n_items=n_items)
        return score(2 * self.tp[t] / total, n_items=n_items, true_positives=self.tp[t], n_a=self.n_a, n_b=self.n_b)

    def mean_quality(self, n_items: int) -> Score:
        if self.tp[0] == 0:
            return undefined(NO_MATCHABLE, n_items=n_items)
        return score(self.q_sum / self.tp[0], n_items=n_items, n_matches=self.tp[0])


def pairwise_tallies(
    grouped: Mapping[Any, Mapping[Any, list]],
    matcher: Matcher,
    thresholds: tuple[float, ...],
    label_of: Callable[[Any], Any] = lambda x: x["label"],
) -> tuple[_Tally, dict, dict, int]:
    """Match every pair of annotators on every shared item; tally overall, per class and per pair.

    ``matcher`` must return matches of the lowest threshold; a match counts at threshold t when
    its quality is >= t (greedy matching by descending quality makes this exact).
    """
    nt = len(thresholds)
    overall = _Tally(nt)
    per_class: dict[Any, _Tally] = defaultdict(lambda: _Tally(nt))
    per_pair: dict[tuple, _Tally] = defaultdict(lambda: _Tally(nt))
    n_items = 0
    for by_ann in grouped.values():
        anns = list(by_ann)
        if len(anns) < 2:
            continue
        n_items += 1
        for x in range(len(anns)):
            for y in range(x + 1, len(anns)):
                a, b = by_ann[anns[x]], by_ann[anns[y]]
                pair = per_pair[(anns[x], anns[y])]
                pair.items += 1
                for scope_n, objs in (("n_a", a), ("n_b", b)):
                    for obj in objs:
                        for tally in (overall, per_class[label_of(obj)], pair):
                            setattr(tally, scope_n, getattr(tally, scope_n) + 1)
                for i, _, q in matcher(a, b):
                    for tally in (overall, per_class[label_of(a[i])], pair):
                        for t, thr in enumerate(thresholds):
                            if q >= thr:
                                tally.tp[t] += 1
                        tally.q_sum += q
    return overall, dict(per_class), dict(per_pair), n_items


def build_agreement(overall: _Tally, per_class: dict, per_pair: dict, n_items: int, t: int | None) -> MatchAgreement:
    """F1 at threshold index ``t`` (or mean match quality when ``t`` is None) as a :class:`MatchAgreement`."""
    if n_items == 0:
        return MatchAgreement(undefined(NO_PAIRABLE), {}, [])

    def value(tally: _Tally, n: int) -> Score:
        return tally.mean_quality(n) if t is None else tally.f1(t, n)

    pairs = []
    for (a, b), tally in sorted(per_pair.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        s = value(tally, tally.items)
        pairs.append({"annotator_a": a, "annotator_b": b, "n_items": tally.items, "value": s.value, "reason": s.reason})
    classes = {c: value(per_class[c], n_items) for c in sorted(per_class, key=str)}
    return MatchAgreement(value(overall, n_items), classes, pairs)
