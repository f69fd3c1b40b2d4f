"""NER spans: pairwise agreement (exact or overlap match) and consensus by matching then voting.

Spans are ``{"start", "end", "label"}`` with ``end`` exclusive (Python code-point offsets).
Two spans match when they have the same label and either the same offsets (``"exact"``) or
at least one character in common (``"overlap"``); matching is one-to-one, greedy by
overlap length, ties by position, so results are deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality.matching import (
    MatchAgreement,
    build_agreement,
    greedy_match,
    group_payloads,
    pairwise_tallies,
)

MATCHES = ("exact", "overlap")


def _sorted_spans(spans: list) -> list:
    return sorted(spans, key=lambda s: (s["start"], s["end"], str(s["label"])))


def _overlap(a: Mapping, b: Mapping) -> int:
    return max(0, min(a["end"], b["end"]) - max(a["start"], b["start"]))


def match_spans(spans_a: list, spans_b: list, *, match: str = "exact") -> list[tuple[int, int, float]]:
    """One-to-one matches ``(i, j, overlap length)`` between two annotators' spans of one item.

    Example:
        >>> a = [{"start": 0, "end": 5, "label": "PER"}]
        >>> b = [{"start": 2, "end": 5, "label": "PER"}]
        >>> match_spans(a, b), match_spans(a, b, match="overlap")
        ([], [(0, 0, 3.0)])
    """
    if match not in MATCHES:
        raise DataError.single("<spans>", None, "match", f"expected one of {MATCHES}, got {match!r}")
    quality = []
    for sa in spans_a:
        row = []
        for sb in spans_b:
            same = sa["label"] == sb["label"]
            if match == "exact":
                ok = same and sa["start"] == sb["start"] and sa["end"] == sb["end"]
            else:
                ok = same
            row.append(float(_overlap(sa, sb)) if ok else 0.0)
        quality.append(row)
    return greedy_match(quality, 0.0)


def span_agreement(records: Iterable[Mapping[str, Any]], *, match: str = "exact") -> MatchAgreement:
    """Pairwise span F1 between annotators, overall and per entity type.

    Args:
        records: Annotation records with ``item_id``, ``annotator`` and ``spans`` (an empty list
            is an explicit "no entity"); records without ``spans`` are ignored.
        match: ``"exact"`` (same offsets and label) or ``"overlap"`` (same label, overlapping).

    Returns:
        A :class:`MatchAgreement`: micro-averaged F1 over all annotator pairs on their shared
        items, per entity type, and per pair. Undefined (``None`` + reason) when no item has two
        annotators or the shared items hold no span at all.

    Example:
        >>> recs = [
        ...     {"item_id": "t1", "annotator": "a", "spans": [{"start": 0, "end": 4, "label": "PER"}]},
        ...     {"item_id": "t1", "annotator": "b", "spans": [{"start": 0, "end": 4, "label": "PER"},
        ...                                                   {"start": 9, "end": 12, "label": "LOC"}]},
        ... ]
        >>> round(span_agreement(recs).overall.value, 4)
        0.6667
    """
    grouped = group_payloads(records, "spans")
    grouped = {item: {a: _sorted_spans(s) for a, s in by.items()} for item, by in grouped.items()}
    tallies = pairwise_tallies(grouped, lambda a, b: match_spans(a, b, match=match), (0.0,))
    return build_agreement(*tallies, t=0)


def _clusters(spans: list[tuple[Any, Mapping]], match: str) -> list[list[tuple[Any, Mapping]]]:
    """Group (annotator, span) pairs: by identical offsets, or by chains of overlapping spans."""
    ordered = sorted(spans, key=lambda p: (p[1]["start"], p[1]["end"], str(p[1]["label"]), str(p[0])))
    if match == "exact":
        by_offsets: dict[tuple, list] = {}
        for pair in ordered:
            by_offsets.setdefault((pair[1]["start"], pair[1]["end"]), []).append(pair)
        return list(by_offsets.values())
    clusters: list[list] = []
    reach = -1
    for pair in ordered:
        if clusters and pair[1]["start"] < reach:
            clusters[-1].append(pair)
            reach = max(reach, pair[1]["end"])
        else:
            clusters.append([pair])
            reach = pair[1]["end"]
    return clusters


def span_consensus(
    records: Iterable[Mapping[str, Any]],
    *,
    match: str = "overlap",
    quorum: float = 0.5,
    classes: Sequence | None = None,
) -> list[dict[str, Any]]:
    """Consensus spans per item: cluster the annotators' spans, then vote.

    A cluster is a set of identical spans (``"exact"``) or a chain of overlapping spans
    (``"overlap"``). Its label is the one the most annotators gave (ties: schema order of
    ``classes``, else alphabetical); its offsets the most frequent among those annotators
    (ties: earliest, then shortest). It is kept when more than ``quorum`` of the item's
    annotators voted for it; an annotator with an empty list votes "no entity".

    Returns:
        One dict per item, sorted by item id: ``item_id``, ``spans`` (each with ``score``, the
        share of annotators who agreed), ``n_annotations``, ``method``.

    Example:
        >>> recs = [{"item_id": "t", "annotator": a, "spans": s} for a, s in [
        ...     ("a", [{"start": 0, "end": 4, "label": "PER"}]),
        ...     ("b", [{"start": 0, "end": 5, "label": "PER"}]),
        ...     ("c", [{"start": 0, "end": 4, "label": "PER"}])]]
        >>> span_consensus(recs)[0]["spans"]
        [{'start': 0, 'end': 4, 'label': 'PER', 'score': 1.0}]
    """
    if match not in MATCHES:
        raise DataError.single("<spans>", None, "match", f"expected one of {MATCHES}, got {match!r}")
    rank = {c: i for i, c in enumerate(classes or [])}
    out = []
    for item, by_ann in group_payloads(records, "spans").items():
        n = len(by_ann)
        flat = [(ann, span) for ann, spans in by_ann.items() for span in spans]
        kept = []
        for cluster in _clusters(flat, match):
            voters: dict[Any, set] = {}
            for ann, span in cluster:
                voters.setdefault(span["label"], set()).add(ann)
            label = min(voters, key=lambda lab: (-len(voters[lab]), rank.get(lab, len(rank)), str(lab)))
            support = len(voters[label]) / n
            if support <= quorum:
                continue
            offsets = Counter((s["start"], s["end"]) for _, s in cluster if s["label"] == label)
            (start, end), _ = min(offsets.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
            kept.append({"start": start, "end": end, "label": label, "score": support})
        out.append({"item_id": item, "spans": kept, "n_annotations": n, "method": f"span_vote_{match}"})
    return out
