"""Progress bars for long work: shown on a terminal, silent otherwise or with --quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress_bar(enabled: bool):
    """A function wrapping an iterable in a rich progress bar, or None when disabled."""
    if not enabled or not sys.stderr.isatty():
        return None

    def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        from rich.progress import track as rich_track

        sized = items if total is not None or hasattr(items, "__len__") else list(items)
        yield from rich_track(sized, description=description, total=total, transient=True)

    return track
