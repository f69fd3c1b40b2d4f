"""Label Studio result regions -> the payload of our records (label, labels, spans, boxes).

Rules (the reference exports in ``tests/assets/labelstudio`` show every case):

- classification: the ``choices`` of the results. Single-label: exactly one class,
  an empty result is no label (the annotation is skipped and counted
  ``empty_skipped``); more than one is a problem. Multi-label: ``labels`` in
  schema class order, an empty result is kept as ``labels: []``.
- ner: one span per region and label; offsets are checked against the text
  (``text[start:end] == value.text``); offsets that only match as UTF-16 code units
  are converted to code points (``spans_repaired_utf16``); others are problems and
  dropped (``spans_unrepairable``). An empty result is an explicit negative.
- bbox: percent -> pixels of ``original_width`` / ``original_height``; a rotated
  rectangle becomes its axis-aligned envelope in pixel space and keeps
  ``rotation`` (``boxes_rotated_enveloped``). An empty result is an explicit negative.
- a class name not in the schema's classes is a problem; the label is kept, so a
  schema migration (rename, merge) can still map it.
"""

from __future__ import annotations

from typing import Any

from .common import clean_number, is_int, is_number
from .geometry import percent_to_pixels, rotated_envelope, utf16_to_codepoints
from .shapes import ReadContext, Region


def build_payload(
    regions: list[Region],
    ctx: ReadContext,
    *,
    multi_label: bool,
    text: str | None,
    size: tuple[int, int] | None,
    keep_score: bool,
    count: bool = True,
) -> dict | None:
    """The payload dict of one annotation or prediction, or None when it must be skipped.

    ``count=False`` leaves the annotation counters alone (used for predictions);
    problems are always reported.
    """
    stats = ctx.stats if count else {key: 0 for key in ctx.stats}
    if ctx.task_type == "ner":
        return {"spans": _spans(regions, ctx, stats, text=text, keep_score=keep_score)}
    if ctx.task_type == "bbox":
        return {"boxes": _boxes(regions, ctx, stats, size=size, keep_score=keep_score)}
    return _classification(regions, ctx, stats, multi_label=multi_label)


def _check_class(label: str, field: str, ctx: ReadContext, stats: dict) -> None:
    if ctx.classes is not None and label not in ctx.classes:
        stats["unknown_class_labels"] += 1
        ctx.bad(
            field,
            f"class {label!r} is not one of {ctx.classes}; add it to schema/labels.yaml "
            "(or a migration) or fix the annotation",
        )


def _label_list(value: Any, field: str, ctx: ReadContext, stats: dict, key: str) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        stats["regions_invalid"] += 1
        ctx.bad(f"{field}.{key}", f"expected a non-empty list of class names, got {value!r}")
        return None
    for k, label in enumerate(value):
        _check_class(label, f"{field}.{key}[{k}]", ctx, stats)
    return list(dict.fromkeys(value))


def _classification(
    regions: list[Region], ctx: ReadContext, stats: dict, *, multi_label: bool
) -> dict | None:
    chosen: list[str] = []
    for region in regions:
        labels = _label_list(region.value.get("choices"), region.path, ctx, stats, "choices")
        if labels is None:
            return None
        chosen.extend(label for label in labels if label not in chosen)
    if multi_label:
        order = {name: i for i, name in enumerate(ctx.classes or [])}
        if not chosen:
            stats["empty_kept"] += 1
        return {"labels": sorted(chosen, key=lambda c: (order.get(c, len(order)), c))}
    if not chosen:
        stats["empty_skipped"] += 1  # submitted without a choice: no label to record
        return None
    if len(chosen) > 1:
        stats["annotations_invalid"] += 1
        where = regions[0].path
        ctx.bad(
            f"{where}.choices",
            f"expected one class for a single-label task, got {chosen}; "
            "set multi_label in schema/labels.yaml or fix the annotation",
        )
        return None
    return {"label": chosen[0]}


def resolve_offsets(
    text: str | None, start: int, end: int, quoted: str | None
) -> tuple[int, int, str] | None:
    """Code-point offsets of a span and how they were found (``"ok"`` or ``"utf16"``); None if wrong.

    >>> resolve_offsets("\\U0001F600 Zoë", 3, 6, "Zoë")
    (2, 5, 'utf16')
    """
    if text is None:
        return (start, end, "ok") if 0 <= start < end else None
    if 0 <= start < end <= len(text) and (quoted is None or text[start:end] == quoted):
        return start, end, "ok"
    if quoted is None:
        return None
    converted = utf16_to_codepoints(text, start, end)
    if converted is not None and converted[0] < converted[1] and text[converted[0] : converted[1]] == quoted:
        return converted[0], converted[1], "utf16"
    return None


def _spans(
    regions: list[Region], ctx: ReadContext, stats: dict, *, text: str | None, keep_score: bool
) -> list:
    spans = []
    if not regions:
        stats["empty_kept"] += 1
    for region in regions:
        value = region.value
        start, end, quoted = value.get("start"), value.get("end"), value.get("text")
        bad_field = "start" if not is_int(start) else "end" if not is_int(end) else None
        if bad_field:
            stats["regions_invalid"] += 1
            ctx.bad(
                f"{region.path}.{bad_field}",
                f"expected an integer character offset, got {value.get(bad_field)!r}",
            )
            continue
        labels = _label_list(value.get("labels"), region.path, ctx, stats, "labels")
        if labels is None:
            continue
        quoted = quoted if isinstance(quoted, str) else None
        resolved = resolve_offsets(text, start, end, quoted)
        if resolved is None:
            stats["spans_unrepairable"] += 1
            ctx.bad(f"{region.path}.start", _offset_message(text, start, end, quoted))
            continue
        s, e, how = resolved
        if how == "utf16":
            stats["spans_repaired_utf16"] += 1
        for label in labels:
            span: dict[str, Any] = {"start": s, "end": e, "label": label}
            span_text = text[s:e] if text is not None else quoted
            if span_text is not None:
                span["text"] = span_text
            if keep_score and is_number(region.score):
                span["score"] = region.score
            spans.append(span)
    spans.sort(key=lambda sp: (sp["start"], sp["end"], sp["label"]))
    return spans


def _offset_message(text: str | None, start: int, end: int, quoted: str | None) -> str:
    if text is None or quoted is None:
        return (
            f"span {start}:{end} is not inside the text (length {len(text or '')} code points); "
            "fix the span in Label Studio"
        )
    return (
        f"span {start}:{end} should quote {quoted!r} but the text there is {text[start:end]!r} "
        "(also as UTF-16 offsets); fix the span in Label Studio"
    )


def _boxes(
    regions: list[Region], ctx: ReadContext, stats: dict, *, size: tuple[int, int] | None, keep_score: bool
) -> list:
    # Rectangle + Labels configs put the geometry and the label in two results sharing an id.
    label_only = {r.region_id: r for r in regions if r.type == "labels" and r.region_id is not None}
    geometry = [r for r in regions if r.type in ("rectanglelabels", "rectangle")]
    if not geometry:
        stats["empty_kept"] += 1
    boxes = []
    for region in geometry:
        value = region.value
        bad_keys = [k for k in ("x", "y", "width", "height") if not is_number(value.get(k))]
        if bad_keys:
            stats["regions_invalid"] += 1
            ctx.bad(
                f"{region.path}.{bad_keys[0]}", f"expected a number (percent), got {value.get(bad_keys[0])!r}"
            )
            continue
        rotation = value.get("rotation") or 0
        if not is_number(rotation):
            stats["regions_invalid"] += 1
            ctx.bad(f"{region.path}.rotation", f"expected degrees, got {rotation!r}")
            continue
        if region.image_rotation not in (None, 0):
            stats["regions_invalid"] += 1
            ctx.bad(
                f"{region.result_path}.image_rotation",
                f"boxes drawn on an image rotated in the editor ({region.image_rotation} degrees) "
                "are not supported; redraw them without rotating the image",
            )
            continue
        labels = _box_labels(region, label_only, ctx, stats)
        if labels is None:
            continue
        dims = _image_size(region, size)
        if dims is None:
            stats["regions_invalid"] += 1
            ctx.bad(
                f"{region.result_path}.original_width",
                "no image size: the result has no original_width/"
                "original_height and the item's size is unknown; pass image_sizes",
            )
            continue
        width, height = dims
        x, y = percent_to_pixels(value["x"], width), percent_to_pixels(value["y"], height)
        w, h = percent_to_pixels(value["width"], width), percent_to_pixels(value["height"], height)
        rotation = rotation % 360.0
        if rotation and w > 0 and h > 0:
            x, y, w, h = rotated_envelope(x, y, w, h, rotation)
            stats["boxes_rotated_enveloped"] += 1
        box: dict[str, Any] = {
            "x": clean_number(x),
            "y": clean_number(y),
            "w": clean_number(w),
            "h": clean_number(h),
        }
        if box["w"] <= 0 or box["h"] <= 0:
            stats["regions_invalid"] += 1
            ctx.bad(
                f"{region.path}.width",
                f"box has no area (width {value['width']!r}%, height {value['height']!r}%)",
            )
            continue
        if rotation:
            box["rotation"] = clean_number(rotation)
        if keep_score and is_number(region.score):
            box["score"] = region.score
        boxes.extend({**box, "label": label} for label in labels)
    boxes.sort(key=lambda b: (b["x"], b["y"], b["w"], b["h"], b["label"], b.get("rotation", 0)))
    return boxes


def _box_labels(region: Region, label_only: dict, ctx: ReadContext, stats: dict) -> list[str] | None:
    if region.type == "rectanglelabels":
        return _label_list(region.value.get("rectanglelabels"), region.path, ctx, stats, "rectanglelabels")
    partner = label_only.get(region.region_id)
    if partner is None:
        stats["regions_invalid"] += 1
        ctx.bad(region.path, "a rectangle without a label (no labels result with the same id)")
        return None
    return _label_list(partner.value.get("labels"), partner.path, ctx, stats, "labels")


def _image_size(region: Region, size: tuple[int, int] | None) -> tuple[float, float] | None:
    ow, oh = region.original_width, region.original_height
    if is_number(ow) and is_number(oh) and ow > 0 and oh > 0:
        return ow, oh
    return size
