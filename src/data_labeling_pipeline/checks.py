"""Semantic checks that a JSON Schema cannot express.

A checker takes one schema-valid record and returns a list of (field, message)
pairs (empty when fine); `records.read_records` attaches the file and line.
Checkers run on every record of every file, so the common case returns early.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

# Box edges may sit this far outside the image: Label Studio stores percentages,
# and percent -> pixel arithmetic is not exact.
BOX_TOLERANCE_PX = 1e-3

Check = Callable[[dict], list[tuple[str, str]]]


def annotation_checker(items: Mapping[str, dict] | None, *, key_field: str = "annotator") -> Check:
    """A checker for annotation (or prediction, with ``key_field="model_version"``) records of one file.

    Checks that (item_id, annotator) is unique within the file, that the item
    exists when ``items`` is given, spans against the item's text
    (start < end <= len(text), and the quoted text when present) and boxes
    against the item's image size.
    """
    seen: set[tuple[str, str]] = set()

    def check(record: dict) -> list[tuple[str, str]]:
        key = (record["item_id"], record.get(key_field, ""))
        if items is None and key not in seen and "spans" not in record:
            seen.add(key)  # without items there is no text or image size to check against
            return []
        problems: list[tuple[str, str]] = []
        if key in seen:
            problems.append((f"$.{key_field}",
                             f"duplicate record for item {key[0]!r} and {key_field} {key[1]!r}; keep one per pair"))
        seen.add(key)
        data: dict = {}
        if items is not None:
            item = items.get(record["item_id"])
            if item is None:
                problems.append(("$.item_id",
                                 f"{record['item_id']!r} is not in items.jsonl; ingest or pull the item first"))
            else:
                data = item.get("data") or {}  # items read without their data (classification) check ids only
        if "spans" in record:
            problems += span_problems(record["spans"], data.get("text"))
        if "boxes" in record:
            problems += box_problems(record["boxes"], data.get("width"), data.get("height"))
        return problems

    return check


def span_problems(spans: list[dict], text: str | None) -> list[tuple[str, str]]:
    """Spans must be non-empty, inside the text and quote it right."""
    problems = []
    for i, span in enumerate(spans):
        start, end = span["start"], span["end"]
        if start >= end:
            problems.append((f"$.spans[{i}]", f"start {start} must be < end {end}"))
        elif text is not None and end > len(text):
            problems.append((f"$.spans[{i}].end", f"{end} is beyond the text (length {len(text)} code points)"))
        elif text is not None and "text" in span and text[start:end] != span["text"]:
            problems.append((
                f"$.spans[{i}].text",
                f"{span['text']!r} does not match the item text at {start}:{end} ({text[start:end]!r})",
            ))
    return problems


def box_problems(boxes: list[dict], width: int | None, height: int | None) -> list[tuple[str, str]]:
    """Boxes must lie inside the image (within a rounding tolerance)."""
    if width is None or height is None:
        return []
    tol = BOX_TOLERANCE_PX
    problems = []
    for i, box in enumerate(boxes):
        x, y, w, h = box["x"], box["y"], box["w"], box["h"]
        if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
            problems.append((f"$.boxes[{i}]",
                             f"box x={x:g} y={y:g} w={w:g} h={h:g} is outside the {width}x{height} image"))
    return problems


def item_checker() -> Check:
    """A checker for item records: item ids unique within the file."""
    seen: set[str] = set()

    def check(record: dict) -> list[tuple[str, str]]:
        item_id = record["item_id"]
        if item_id in seen:
            return [("$.item_id", f"duplicate item {item_id!r}; item ids must be unique")]
        seen.add(item_id)
        return []

    return check
