"""Boxes on their way out: clipped to the image, crowd policy applied, extras found.

Every box writer (COCO, VOC, YOLO, HF, CSV) goes through `clean_boxes`, so all formats agree on
what a box becomes and every change is counted in the LossReport.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._report import LossReport


class Box(NamedTuple):
    """A box ready to write: clipped to the image, crowd policy applied."""

    x: float
    y: float
    w: float
    h: float
    label: str
    flagged: bool  # written with the format's ignore flag (COCO iscrowd / VOC difficult)
    clipped: bool
    source: dict  # the input box, for ids, rotation, segmentation
    index: int  # position in the input payload


def clean_boxes(
    boxes: list[dict],
    width: int,
    height: int,
    *,
    split: str,
    crowd: str,
    flag: str | None,
    report: LossReport,
) -> list[Box]:
    """Clip boxes to the image, drop empty ones and apply the crowd policy; count everything.

    Args:
        boxes: annotation boxes (pixels).
        width, height: the image size after EXIF orientation.
        split: the item's split, for the counts.
        crowd: the crowd policy ("keep", "drop" or "difficult").
        flag: the format's ignore flag: "iscrowd", "difficult" or None (YOLO has none).
        report: the loss report to fill.

    A crowd region is written with the format's flag when the policy and the format allow it;
    "keep" in a format without iscrowd writes a plain object, "difficult" in a format without
    an ignore flag drops it (training on crowd regions as positives is what it means to avoid).

    >>> r = LossReport()
    >>> clean_boxes([{"x": -5, "y": 0, "w": 10, "h": 5, "label": "a"}], 8, 8,
    ...             split="train", crowd="keep", flag=None, report=r)[0][:4]
    (0, 0, 5, 5)
    """
    out = []
    written = []
    for i, b in enumerate(boxes):
        label = b["label"]
        flagged = False
        if b.get("iscrowd"):
            if crowd == "drop" or (crowd == "difficult" and flag is None):
                report.count("crowd_dropped")
                report.obj(split, label, written=False)
                continue
            flagged = flag == "iscrowd" or (crowd == "difficult" and flag == "difficult")
            if flag != "iscrowd":
                report.count("crowd_remapped")
        x0, y0, w, h = b["x"], b["y"], b["w"], b["h"]
        x1, y1 = x0 + w, y0 + h
        clipped = x0 < 0 or y0 < 0 or x1 > width or y1 > height
        if clipped:
            # Recompute sizes only when clipping, so unclipped floats pass through untouched.
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1, width), min(y1, height)
            w, h = x1 - x0, y1 - y0
            if w <= 0 or h <= 0:
                report.count("boxes_degenerate")
                report.obj(split, label, written=False)
                continue
            report.count("boxes_clipped")
        if b.get("rotation"):
            report.count("rotated_envelopes")
        written.append(label)
        out.append(Box(x0, y0, w, h, label, flagged, clipped, b, i))
    report.objs(split, written)
    return out


def box_extra(item: dict, box: Box, key: str) -> Any:
    """A COCO extra of a box (`id`, `area`, `segmentation`): on the box itself, else in
    `item.meta.coco_annotations[index]` as written by the COCO reader, when that entry's
    `bbox` still equals the box."""
    if key in box.source:
        return box.source[key]
    extras = (item.get("meta") or {}).get("coco_annotations")
    if not isinstance(extras, list) or box.index >= len(extras) or not isinstance(extras[box.index], dict):
        return None
    extra = extras[box.index]
    src = box.source
    # Labels may have been edited since the COCO file was read: use the extras only while
    # they still describe this very box.
    if extra.get("bbox") != [src["x"], src["y"], src["w"], src["h"]]:
        return None
    return extra.get(key)


def fmt_float(v: float) -> str:
    """The shortest text that reads back as the same float (`repr`), integers without '.0'.

    >>> fmt_float(0.1), fmt_float(3.0), fmt_float(2)
    ('0.1', '3', '2')
    """
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 2**53):
        return str(int(v))
    return repr(float(v))
