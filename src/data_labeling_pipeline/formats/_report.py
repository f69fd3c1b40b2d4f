"""What a conversion kept and what it lost, counted, so nothing is dropped silently.

Every writer and reader fills a `LossReport`: items and objects (boxes, spans,
class labels) in and out per split and class, plus one counter per kind of loss
or change. The export stage writes `as_dict()` next to the data, and a reviewer
sees at a glance that, say, 3 crowd boxes were dropped from the YOLO export.
"""

from __future__ import annotations

from collections import Counter

# The kinds of event a converter counts. A name not listed here is a bug in the
# converter (typo), so `count` refuses it.
EVENTS = {
    "crowd_dropped": "crowd regions left out (policy 'drop', or a format without an ignore flag)",
    "crowd_remapped": "crowd regions written as a plain object or as 'difficult'",
    "boxes_clipped": "boxes partly outside the image, clipped to its borders",
    "boxes_degenerate": "boxes with no area inside the image, left out",
    "rotated_envelopes": "rotated boxes written as their axis-aligned envelope",
    "spans_not_aligned": "spans that do not fall on token boundaries under the alignment policy, left out",
    "spans_overlapping": "spans overlapping a longer (or earlier) span, left out of BIO tags / doc.ents",
    "empty_dropped": "items without any object, left out (policy empty_images='drop')",
    "unlabeled_skipped": "items without a consensus label, not exported",
    "polygons_enveloped": "segmentation polygons read as their bounding box",
    "difficult_read": "VOC objects marked difficult, read as crowd regions",
    "voc_min_pixel": "VOC boxes thinner than one pixel after rounding, widened to one pixel",
    "images_linked": "images symlinked into the export",
    "images_copied": "images copied into the export (symlinks unavailable)",
}


class LossReport:
    """An accumulator of counts in and out per split and class, and of losses.

    Example:
        >>> report = LossReport()
        >>> report.item("train", written=True)
        >>> report.obj("train", "car", written=False)
        >>> report.count("crowd_dropped")
        >>> report.as_dict()["events"]
        {'crowd_dropped': 1}
    """

    def __init__(self) -> None:
        self.items: Counter[tuple[str, bool]] = Counter()
        self._objects: Counter[tuple[str, str, bool]] = Counter()
        self._pending: dict[str, list[str]] = {}  # written objects not yet counted, by split
        self.events: Counter[str] = Counter()
        self.max_rounding_error = 0.0

    @property
    def objects(self) -> Counter[tuple[str, str, bool]]:
        """(split, label, written?) -> count; "written? = False" counts every object seen."""
        for split, labels in self._pending.items():
            for label, n in Counter(labels).items():
                self._objects[(split, label, False)] += n
                self._objects[(split, label, True)] += n
        self._pending = {}
        return self._objects

    def item(self, split: str, *, written: bool) -> None:
        """Count one item seen in `split`, and whether it was written."""
        self.items[(split, False)] += 1
        if written:
            self.items[(split, True)] += 1

    def obj(self, split: str, label: str, *, written: bool) -> None:
        """Count one object (box, span or class label) seen, and whether it was written."""
        self._objects[(split, label, False)] += 1
        if written:
            self._objects[(split, label, True)] += 1

    def objs(self, split: str, labels: list[str]) -> None:
        """Count many objects seen and written (the fast path of large exports: counted later)."""
        self._pending.setdefault(split, []).extend(labels)

    def count(self, event: str, n: int = 1) -> None:
        """Count `n` occurrences of a loss or change (a key of `EVENTS`)."""
        if event not in EVENTS:
            raise KeyError(f"unknown loss event {event!r}; expected one of {sorted(EVENTS)}")
        if n:
            self.events[event] += n

    def rounding(self, error: float) -> None:
        """Record the absolute error of one rounded coordinate (pixels)."""
        if error > self.max_rounding_error:
            self.max_rounding_error = float(error)

    def lost(self) -> dict[str, int]:
        """The non-zero event counters, sorted by name."""
        return {k: self.events[k] for k in sorted(self.events) if self.events[k]}

    def as_dict(self) -> dict:
        """A JSON-ready summary with sorted keys (stable bytes for DVC metrics).

        >>> LossReport().as_dict()
        {'events': {}, 'items': {}, 'max_rounding_error': 0.0, 'objects': {}}
        """
        items: dict[str, dict[str, int]] = {}
        for (split, written), n in sorted(self.items.items()):
            items.setdefault(split, {"in": 0, "out": 0})["out" if written else "in"] = n
        objects: dict[str, dict[str, dict[str, int]]] = {}
        for (split, label, written), n in sorted(self.objects.items()):
            slot = objects.setdefault(split, {}).setdefault(label, {"in": 0, "out": 0})
            slot["out" if written else "in"] = n
        return {
            "events": self.lost(),
            "items": items,
            "max_rounding_error": self.max_rounding_error,
            "objects": objects,
        }

    def __repr__(self) -> str:
        d = self.as_dict()
        items = {s: f"{v['out']}/{v['in']}" for s, v in d["items"].items()}
        return f"LossReport(items written={items}, events={d['events']}, max_rounding_error={self.max_rounding_error})"
