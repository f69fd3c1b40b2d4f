"""LossReport: every object that goes in is either written or counted as a loss."""

from __future__ import annotations

import pytest
from fmt_golden import load_case

from data_labeling_pipeline.formats import LossReport, to_coco, to_csv, to_hf, to_spacy, to_voc, to_yolo


def test_report_refuses_unknown_events():
    with pytest.raises(KeyError, match="unknown loss event"):
        LossReport().count("boxes_lost_somehow")


@pytest.mark.parametrize("writer", [to_coco, to_voc, to_yolo, to_csv, to_hf])
@pytest.mark.parametrize("crowd", ["keep", "drop", "difficult"])
def test_report_boxes_in_minus_out_equals_counted_losses(writer, crowd):
    report = LossReport()
    writer(load_case("bbox", crowd=crowd), report=report)
    d = report.as_dict()
    missing = sum(c["in"] - c["out"] for split in d["objects"].values() for c in split.values())
    assert missing == d["events"].get("crowd_dropped", 0) + d["events"].get("boxes_degenerate", 0)
    assert d["events"]["unlabeled_skipped"] == 1


@pytest.mark.parametrize("writer", [to_spacy, to_hf])
def test_report_spans_in_minus_out_equals_counted_losses(writer):
    report = LossReport()
    writer(load_case("ner"), report=report)
    d = report.as_dict()
    missing = sum(c["in"] - c["out"] for split in d["objects"].values() for c in split.values())
    assert missing == d["events"]["spans_not_aligned"] + d["events"]["spans_overlapping"] == 2
