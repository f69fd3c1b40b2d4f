"""Bounding boxes: pairwise IoU-matched F1 and consensus by matching then voting.

Boxes are ``{"x", "y", "w", "h", "label"}`` in absolute pixels (top-left corner, size).
Agreement matches boxes of the same class one-to-one, greedily by IoU (ties by position),
so F1 at 0.75 is exactly the subset of the 0.5 matches with IoU >= 0.75.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from data_labeling_pipeline.quality.matching import (
    MatchAgreement,
    build_agreement,
    greedy_match,
    group_payloads,
    pairwise_tallies,
)


def to_xyxy(boxes: Sequence[Mapping]) -> np.ndarray:
    """``(n, 4)`` corners ``x1, y1, x2, y2`` of box records.

    Example:
        >>> to_xyxy([{"x": 1, "y": 2, "w": 3, "h": 4, "label": "a"}]).tolist()
        [[1.0, 2.0, 4.0, 6.0]]
    """
    arr = np.array([[b["x"], b["y"], b["w"], b["h"]] for b in boxes], dtype=float).reshape(-1, 4)
    arr[:, 2:] += arr[:, :2]
    return arr


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two ``(n, 4)`` / ``(m, 4)`` xyxy arrays.

    Example:
        >>> iou_matrix(np.array([[0, 0, 2, 2.0]]), np.array([[1, 0, 3, 2.0]])).tolist()
        [[0.3333333333333333]]
    """
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _sorted_boxes(boxes: list) -> list:
    return sorted(boxes, key=lambda b: (str(b["label"]), b["x"], b["y"], b["w"], b["h"]))


def match_boxes(boxes_a: list, boxes_b: list, *, iou_threshold: float = 0.5, same_label: bool = True) -> list:
    """One-to-one matches ``(i, j, iou)`` with IoU >= ``iou_threshold``, greedy by IoU.

    Example:
        >>> a = [{"x": 0, "y": 0, "w": 10, "h": 10, "label": "car"}]
        >>> b = [{"x": 1, "y": 0, "w": 10, "h": 10, "label": "car"}]
        >>> [(i, j, round(q, 3)) for i, j, q in match_boxes(a, b)]
        [(0, 0, 0.818)]
    """
    if not boxes_a or not boxes_b:
        return []
    iou = iou_matrix(to_xyxy(boxes_a), to_xyxy(boxes_b))
    if same_label:
        la = np.array([str(b["label"]) for b in boxes_a])
        lb = np.array([str(b["label"]) for b in boxes_b])
        iou = np.where(la[:, None] == lb[None, :], iou, 0.0)
    return greedy_match(iou.tolist(), iou_threshold)


def box_agreement(
    records: Iterable[Mapping[str, Any]], *, iou_thresholds: Sequence[float] = (0.5, 0.75)
) -> dict[str, MatchAgreement]:
    """Pairwise IoU-matched F1 per threshold and mean IoU of matches, overall and per class.

    Args:
        records: Annotation records with ``item_id``, ``annotator`` and ``boxes`` (an empty list
            is an explicit "no object"); records without ``boxes`` are ignored.
        iou_thresholds: IoU thresholds of the F1 figures.

    Returns:
        ``{"f1@0.5": MatchAgreement, "f1@0.75": ..., "mean_iou": MatchAgreement}``; mean IoU is
        over the matches at the lowest threshold.

    Example:
        >>> recs = [{"item_id": "i", "annotator": a, "boxes": [{"x": x, "y": 0, "w": 10, "h": 10, "label": "car"}]}
        ...         for a, x in [("a", 0), ("b", 2)]]
        >>> res = box_agreement(recs)
        >>> res["f1@0.5"].overall.value, res["f1@0.75"].overall.value, round(res["mean_iou"].overall.value, 3)
        (1.0, 0.0, 0.667)
    """
    thresholds = tuple(sorted(float(t) for t in iou_thresholds))
    grouped = group_payloads(records, "boxes")
    grouped = {item: {a: _sorted_boxes(b) for a, b in by.items()} for item, by in grouped.items()}
    tallies = pairwise_tallies(
        grouped, lambda a, b: match_boxes(a, b, iou_threshold=thresholds[0]), thresholds
    )
    out = {f"f1@{thr:g}": build_agreement(*tallies, t=t) for t, thr in enumerate(thresholds)}
    out["mean_iou"] = build_agreement(*tallies, t=None)
    return out


def box_consensus(
    records: Iterable[Mapping[str, Any]],
    *,
    iou_threshold: float = 0.5,
    quorum: float = 0.5,
    classes: Sequence | None = None,
) -> list[dict[str, Any]]:
    """Consensus boxes per item: cluster the annotators' boxes by IoU, vote the class, take medians.

    Annotators are visited in sorted order; each of their boxes joins the cluster whose current
    median box it overlaps best (IoU >= ``iou_threshold``, any class, one box per annotator and
    cluster) or starts a new one. A cluster's class is the one the most annotators gave (ties:
    schema order of ``classes``, else alphabetical), its box the coordinate-wise median of that
    class's boxes, and it is kept when more than ``quorum`` of the item's annotators agree.

    Returns:
        One dict per item, sorted by item id: ``item_id``, ``boxes`` (each with ``score``, the
        share of annotators who agreed), ``n_annotations``, ``method``.

    Example:
        >>> recs = [{"item_id": "i", "annotator": a, "boxes": [{"x": x, "y": 0, "w": 10, "h": 10, "label": "car"}]}
        ...         for a, x in [("a", 0), ("b", 1), ("c", 2)]]
        >>> box_consensus(recs)[0]["boxes"]
        [{'x': 1.0, 'y': 0.0, 'w': 10.0, 'h': 10.0, 'label': 'car', 'score': 1.0}]
    """
    rank = {c: i for i, c in enumerate(classes or [])}
    out = []
    for item, by_ann in group_payloads(records, "boxes").items():
        n = len(by_ann)
        clusters: list[list[tuple[Any, Mapping, np.ndarray]]] = []
        for ann, boxes in by_ann.items():
            boxes = _sorted_boxes(boxes)
            if not boxes:
                continue
            coords = to_xyxy(boxes)
            if clusters:
                refs = np.array([np.median(np.array([m[2] for m in c]), axis=0) for c in clusters])
                matches = greedy_match(iou_matrix(coords, refs).tolist(), iou_threshold)
            else:
                matches = []
            matched = set()
            for i, j, _ in matches:
                clusters[j].append((ann, boxes[i], coords[i]))
                matched.add(i)
            clusters.extend([(ann, boxes[i], coords[i])] for i in range(len(boxes)) if i not in matched)
        kept = []
        for cluster in clusters:
            voters: dict[Any, list] = {}
            for _, box, xyxy in cluster:
                voters.setdefault(box["label"], []).append(xyxy)
            label = min(voters, key=lambda lab: (-len(voters[lab]), rank.get(lab, len(rank)), str(lab)))
            support = len(voters[label]) / n
            if support <= quorum:
                continue
            x1, y1, x2, y2 = np.median(np.array(voters[label]), axis=0).tolist()
            kept.append({"x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1, "label": label, "score": support})
        kept.sort(key=lambda b: (b["x"], b["y"], str(b["label"])))
        out.append({"item_id": item, "boxes": kept, "n_annotations": n, "method": "box_vote"})
    return out
