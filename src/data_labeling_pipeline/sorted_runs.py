"""Records put in order without holding them all: an external merge sort over sorted runs on disk.

A stage adds records one by one; every ``spill_every`` of them are sorted and written to a run
file, and :meth:`SortedRuns.merged` streams all of them back in ``(key, arrival)`` order with
:func:`heapq.merge`. Memory holds one buffer while adding and one record per run while merging,
so pulling tens of millions of annotations needs the memory of ``spill_every`` records, not of
all of them. Below ``spill_every`` records nothing touches the disk.

The arrival number breaks ties between equal keys, so "the first one wins" keeps meaning the
first one added, and a run holds ``[arrival, record]`` lines (orjson; the stdlib for what orjson
cannot write, such as integers beyond 64 bits).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

SPILL_EVERY = 200_000  # records per run: ~200 MB of annotation dicts


def _dump(entry: list) -> bytes:
    import orjson

    try:
        return orjson.dumps(entry) + b"\n"
    except TypeError:
        return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class SortedRuns:
    """Records in ``key`` order, spilled to sorted run files under ``folder`` as they come.

    Example:
        >>> import tempfile
        >>> runs = SortedRuns(Path(tempfile.mkdtemp()), key=lambda r: r["id"], spill_every=2)
        >>> for r in [{"id": "b"}, {"id": "a"}, {"id": "c"}, {"id": "a", "late": True}]:
        ...     runs.add(r)
        >>> [(arrival, r) for _, arrival, r in runs.merged()]
        [(1, {'id': 'a'}), (3, {'id': 'a', 'late': True}), (0, {'id': 'b'}), (2, {'id': 'c'})]
        >>> runs.n_runs
        2
    """

    def __init__(self, folder: Path, key: Callable[[dict], Hashable], *, spill_every: int = SPILL_EVERY,
                 first_arrival: int = 0):
        self.folder, self.key, self.spill_every = Path(folder), key, max(1, spill_every)
        self.paths: list[Path] = []
        self._buffer: list[tuple[Any, int, dict]] = []
        self._arrivals = first_arrival  # runs written elsewhere (another process) number theirs apart

    def flush(self) -> list[Path]:
        """Write what is buffered as a run; the run files (for another SortedRuns to :meth:`adopt`)."""
        if self._buffer:
            self._spill()
        return list(self.paths)

    def adopt(self, paths: list[Path]) -> None:
        """Merge these run files (of the same key, written by :meth:`flush` elsewhere) with the own."""
        self.paths.extend(paths)

    @property
    def n_runs(self) -> int:
        return len(self.paths)

    def add(self, record: dict) -> None:
        self._buffer.append((self.key(record), self._arrivals, record))
        self._arrivals += 1
        if len(self._buffer) >= self.spill_every:
            self._spill()

    def merged(self) -> Iterator[tuple[Any, int, dict]]:
        """``(key, arrival, record)`` of every record added so far, in (key, arrival) order (repeatable)."""
        if not self.paths:
            self._buffer.sort(key=_without_record)
            return iter(list(self._buffer))
        if self._buffer:
            self._spill()
        return heapq.merge(*(self._read(path) for path in self.paths), key=_without_record)

    def _spill(self) -> None:
        self._buffer.sort(key=_without_record)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"run-{len(self.paths):06d}.jsonl"
        with path.open("wb", buffering=1 << 20) as fh:
            fh.writelines(_dump([arrival, record]) for _, arrival, record in self._buffer)
        self.paths.append(path)
        self._buffer = []

    def _read(self, path: Path) -> Iterator[tuple[Any, int, dict]]:
        import orjson

        key = self.key
        with path.open("rb", buffering=1 << 20) as fh:
            for line in fh:
                try:
                    arrival, record = orjson.loads(line)
                except orjson.JSONDecodeError:  # a line the stdlib wrote (a huge integer)
                    arrival, record = json.loads(line)
                yield key(record), arrival, record


def _without_record(entry: tuple[Any, int, dict]) -> tuple[Any, int]:
    return entry[0], entry[1]
