"""Span (NER) and box agreement and consensus."""

from __future__ import annotations

import pytest

from data_labeling_pipeline.errors import DataError
from data_labeling_pipeline.quality import box_agreement, box_consensus, span_agreement, span_consensus
from data_labeling_pipeline.quality.result import NO_MATCHABLE, NO_PAIRABLE


def S(start, end, label):
    return {"start": start, "end": end, "label": label}


def B(x, y, w, h, label):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


SPAN_RECORDS = [
    {"item_id": "t1", "annotator": "a", "spans": [S(0, 4, "PER"), S(10, 15, "LOC")]},
    {"item_id": "t1", "annotator": "b", "spans": [S(0, 4, "PER"), S(11, 15, "LOC")]},
    {"item_id": "t2", "annotator": "a", "spans": [S(3, 8, "ORG")]},
    {"item_id": "t2", "annotator": "b", "spans": []},
    {"item_id": "t3", "annotator": "a", "spans": [S(0, 2, "PER")]},  # single annotator: ignored
]


def test_spans_exact_and_overlap_f1():
    exact = span_agreement(SPAN_RECORDS, match="exact")
    overlap = span_agreement(SPAN_RECORDS, match="overlap")
    # a has 3 spans on shared items, b has 2; exact TP = 1 (PER), overlap TP = 2 (PER, LOC)
    assert exact.overall.value == pytest.approx(2 * 1 / 5)
    assert overlap.overall.value == pytest.approx(2 * 2 / 5)
    assert exact.per_class["PER"].value == 1.0
    assert exact.per_class["LOC"].value == 0.0
    assert overlap.per_class["LOC"].value == 1.0
    assert exact.per_class["ORG"].value == 0.0  # an explicit negative disagrees with a's ORG
    assert exact.pairs == [{"annotator_a": "a", "annotator_b": "b", "n_items": 2, "value": pytest.approx(0.4), "reason": None}]


def test_spans_label_must_match():
    recs = [{"item_id": "t", "annotator": "a", "spans": [S(0, 4, "PER")]},
            {"item_id": "t", "annotator": "b", "spans": [S(0, 4, "ORG")]}]
    assert span_agreement(recs, match="overlap").overall.value == 0.0


def test_spans_degenerate():
    assert span_agreement([]).overall.reason == NO_PAIRABLE
    negatives = [{"item_id": "t", "annotator": a, "spans": []} for a in "ab"]
    assert span_agreement(negatives).overall.reason == NO_MATCHABLE
    with pytest.raises(DataError):
        span_agreement(SPAN_RECORDS, match="fuzzy")
    with pytest.raises(DataError):
        span_agreement(SPAN_RECORDS + [SPAN_RECORDS[0]])


def test_spans_consensus_votes_and_boundaries():
    recs = [
        {"item_id": "t", "annotator": "a", "spans": [S(0, 4, "PER"), S(20, 25, "LOC")]},
        {"item_id": "t", "annotator": "b", "spans": [S(0, 5, "PER"), S(20, 25, "ORG")]},
        {"item_id": "t", "annotator": "c", "spans": [S(0, 4, "PER")]},
    ]
    out = span_consensus(recs)
    assert out == [{
        "item_id": "t", "n_annotations": 3, "method": "span_vote_overlap",
        "spans": [{"start": 0, "end": 4, "label": "PER", "score": 1.0}],
    }]
    exact = span_consensus(recs, match="exact")
    assert exact[0]["spans"] == [{"start": 0, "end": 4, "label": "PER", "score": pytest.approx(2 / 3)}]


BOX_RECORDS = [
    {"item_id": "img1", "annotator": "a", "boxes": [B(0, 0, 10, 10, "car"), B(50, 50, 10, 10, "dog")]},
    {"item_id": "img1", "annotator": "b", "boxes": [B(1, 0, 10, 10, "car"), B(53, 50, 10, 10, "dog")]},
]


def test_boxes_f1_at_thresholds_and_mean_iou():
    res = box_agreement(BOX_RECORDS)
    assert set(res) == {"f1@0.5", "f1@0.75", "mean_iou"}
    # car IoU = 90/110 = 0.818, dog IoU = 70/130 = 0.538
    assert res["f1@0.5"].overall.value == 1.0
    assert res["f1@0.75"].overall.value == 0.5
    assert res["f1@0.75"].per_class["dog"].value == 0.0
    assert res["mean_iou"].overall.value == pytest.approx((90 / 110 + 70 / 130) / 2)
    assert res["mean_iou"].per_class["car"].value == pytest.approx(90 / 110)


def test_boxes_class_must_match():
    recs = [{"item_id": "i", "annotator": "a", "boxes": [B(0, 0, 10, 10, "car")]},
            {"item_id": "i", "annotator": "b", "boxes": [B(0, 0, 10, 10, "bus")]}]
    assert box_agreement(recs)["f1@0.5"].overall.value == 0.0


def test_boxes_consensus_median_and_class_vote():
    recs = [
        {"item_id": "i", "annotator": "a", "boxes": [B(0, 0, 10, 10, "car")]},
        {"item_id": "i", "annotator": "b", "boxes": [B(2, 0, 10, 12, "car")]},
        {"item_id": "i", "annotator": "c", "boxes": [B(1, 1, 10, 10, "bus"), B(80, 80, 5, 5, "dog")]},
        {"item_id": "j", "annotator": "a", "boxes": []},
    ]
    out = box_consensus(recs, classes=["car", "bus", "dog"])
    assert [o["item_id"] for o in out] == ["i", "j"]
    (box,) = out[0]["boxes"]
    assert box["label"] == "car" and box["score"] == pytest.approx(2 / 3)
    # median of the two car boxes' corners: x1 (0, 2) -> 1, y2 (10, 12) -> 11
    assert (box["x"], box["y"], box["w"], box["h"]) == (1.0, 0.0, 10.0, 11.0)
    assert out[1]["boxes"] == []
