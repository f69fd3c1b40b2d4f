"""Single-label annotations as parallel columns: what agree holds of millions of records.

A record dict costs about 1 KiB in memory; the columns cost under 100 bytes per annotation
(item ids shared by an item's rows, annotators and labels interned, times as UTF-8 bytes,
lead times as floats). `read_annotation_columns` fills them straight from the JSONL file,
validating every record as `records.read_records` does, and checks item ids and
(item, annotator) duplicates on the columns instead of holding a set of every pair.
"""

from __future__ import annotations

import array
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, Problem
from .records import MAX_ERRORS, Validator, _DecodeError, _loads, paused_gc

# Keys of payloads the columns do not hold (label sets, spans, boxes): such files are read as records.
NOT_COLUMNAR = ("labels", "spans", "boxes")
_CHUNK = 1 << 16


@dataclass
class AnnotationColumns:
    """One row per annotation, in file order.

    Attributes:
        item_id: Item id per annotation (object array).
        annotator: Annotator per annotation (object array).
        label: Label per annotation (object array; ``None`` where a record has none).
        created_at: ``created_at`` as UTF-8 bytes, masked where unknown (sorts as the strings do).
        lead_time: Seconds per annotation, NaN where unknown.
        line: Line of each row in the file (for messages).
        ground_truth: The records marked ``ground_truth`` (review decisions), whole.
    """

    item_id: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    created_at: np.ma.MaskedArray
    lead_time: np.ndarray
    line: np.ndarray
    ground_truth: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.item_id)

    @classmethod
    def from_records(cls, records: Iterable[Mapping]) -> AnnotationColumns:
        """Columns of annotation records (numbered from 1 as lines).

        >>> c = AnnotationColumns.from_records([{"item_id": "i", "annotator": "a", "label": "x", "lead_time": 2}])
        >>> c.item_id.tolist(), c.label.tolist(), c.lead_time.tolist(), c.created_at.mask.tolist()
        (['i'], ['x'], [2.0], [True])
        """
        builder = _Builder()
        for line, record in enumerate(records, start=1):
            builder.add(record, line)
        return builder.columns()


class _Builder:
    """Appends records to compact buffers; `columns` turns them into arrays."""

    def __init__(self) -> None:
        self.items: list = []
        self.annotators: list = []
        self.labels: list = []
        self.times: list[np.ndarray] = []
        self.pending: list = []
        self.lead = array.array("d")
        self.lines = array.array("q")
        self.truth: list[dict] = []
        self.interned: dict = {}
        self.previous = None

    def add(self, record: Mapping, line: int) -> None:
        item = record["item_id"]
        if item == self.previous:
            item = self.previous  # one string object for all rows of an item
        self.previous = item
        self.items.append(item)
        intern = self.interned.setdefault
        annotator = record.get("annotator")
        self.annotators.append(intern(annotator, annotator))
        label = record.get("label")
        self.labels.append(intern(label, label) if isinstance(label, str) else label)
        self.pending.append(record.get("created_at"))
        lead = record.get("lead_time")
        self.lead.append(math.nan if lead is None else lead)
        self.lines.append(line)
        if record.get("ground_truth"):
            self.truth.append(dict(record))
        if len(self.pending) >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            known = [t if isinstance(t, str) else "" for t in self.pending]
            missing = np.array([not isinstance(t, str) for t in self.pending], dtype=bool)
            self.times.append((np.strings.encode(np.array(known, dtype=str), "utf-8"), missing))
            self.pending = []

    def columns(self) -> AnnotationColumns:
        self._flush()
        if self.times:
            data = np.concatenate([t for t, _ in self.times])
            mask = np.concatenate([m for _, m in self.times])
        else:
            data, mask = np.array([], dtype="S1"), np.array([], dtype=bool)
        self.times = []
        return AnnotationColumns(
            item_id=_objects(self.items), annotator=_objects(self.annotators), label=_objects(self.labels),
            created_at=np.ma.MaskedArray(data, mask=mask), lead_time=np.frombuffer(self.lead, dtype=np.float64),
            line=np.frombuffer(self.lines, dtype=np.int64), ground_truth=self.truth)


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def read_annotation_columns(
    path: str | Path,
    validator: Validator,
    *,
    item_ids: set[str] | None = None,
    display_path: str | None = None,
    cap: int = MAX_ERRORS,
) -> AnnotationColumns | None:
    """The single-label annotations of a JSONL file as columns, every record validated.

    Problems (invalid JSON or records, items not in ``item_ids``, a second record of the same
    item and annotator) are collected in line order, capped, and raised as one DataError.

    Returns:
        The columns, or None when a record carries label sets, spans or boxes (read records then).
    """
    shown = display_path or str(path)
    problems: list[Problem] = []
    builder = _Builder()
    is_valid = validator.is_valid
    missing_item = None
    with open(path, "rb") as fh, paused_gc():
        for line, raw in enumerate(fh, start=1):
            try:
                record = _loads(raw)
            except (_DecodeError, ValueError) as exc:
                if raw.strip():
                    problems.append(Problem(shown, line, "", f"invalid JSON: {exc}"))
                continue
            if not (isinstance(record, dict) and is_valid(record)):
                problems += ([Problem(shown, line, "$", f"expected a JSON object, got {type(record).__name__}")]
                             if not isinstance(record, dict) else validator.problems(record, shown, line))
            elif any(key in record for key in NOT_COLUMNAR):
                return None
            else:
                item = record["item_id"]
                if item_ids is not None and item != builder.previous:
                    missing_item = item not in item_ids
                if missing_item and item_ids is not None:
                    problems.append(Problem(shown, line, "$.item_id",
                                            f"{item!r} is not in items.jsonl; ingest or pull the item first"))
                builder.add(record, line)
            if len(problems) >= cap:
                break
    columns = builder.columns()
    problems += duplicate_problems(columns, shown)
    if problems:
        # Line order; on one line the duplicate first, as the record checker reports it.
        problems.sort(key=lambda p: (p.line or 0, p.field != "$.annotator"))
        raise DataError(problems[:cap], truncated=len(problems) > cap)
    return columns


def duplicate_problems(columns: AnnotationColumns, shown: str) -> list[Problem]:
    """A problem at every record repeating an earlier record's (item, annotator), as the record checker says it."""
    from .quality.encoding import factorize

    if len(columns) < 2:
        return []
    _, item = factorize(columns.item_id)
    names, who = factorize(columns.annotator)
    key = item * max(len(names), 1) + who
    order = np.argsort(key, kind="stable")
    repeated = order[1:][key[order][1:] == key[order][:-1]]
    return [Problem(shown, int(columns.line[i]), "$.annotator",
                    f"duplicate record for item {columns.item_id[i]!r} and annotator {columns.annotator[i]!r}; "
                    "keep one per pair")
            for i in np.sort(repeated).tolist()]
