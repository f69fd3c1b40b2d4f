"""The elements of a JSON array, read from a file one at a time (a Label Studio export of any size).

The stdlib's C scanner (``JSONDecoder.raw_decode``) parses each element from a sliding window
of decoded text, so memory holds the window and one element, not the file. Measured on a
160 MB export (100k tasks): 1.2 s, against 0.83 s for ``orjson.loads`` of the whole file (which
holds it all) and 1.76 s for ijson's C backend building the same objects.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

CHUNK_BYTES = 1 << 24
_SPACE = re.compile(r"[ \t\n\r]*")


def iter_array(fh: BinaryIO, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Any]:
    """Yield the elements of the JSON array in the UTF-8 file ``fh``, in order.

    Raises:
        ValueError: the file is not one JSON array (json.JSONDecodeError for bad syntax).

    Example:
        >>> import io
        >>> list(iter_array(io.BytesIO(b' [{"a": 1}, 2.5, "x" ,[]] '), chunk_bytes=3))
        [{'a': 1}, 2.5, 'x', []]
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    window, pos, eof = "", 0, False

    def read_more() -> None:
        nonlocal window, pos, eof
        data = fh.read(chunk_bytes)
        eof = not data
        window, pos = window[pos:] + utf8.decode(data, final=eof), 0

    def next_char() -> str:
        """The next non-space character (the window grows as needed), '' at the end of the file."""
        nonlocal pos
        while True:
            pos = _SPACE.match(window, pos).end()
            if pos < len(window) or eof:
                return window[pos] if pos < len(window) else ""
            read_more()

    read_more()
    if next_char() != "[":
        raise ValueError("expected a JSON array")
    pos += 1
    expect_value = True
    if next_char() == "]":
        pos += 1
    else:
        while True:
            if not expect_value:
                char = next_char()
                if char == "]":
                    pos += 1
                    break
                if char != ",":
                    raise json.JSONDecodeError("expected ',' or ']' after an array element", window, pos)
                pos, expect_value = pos + 1, True
                next_char()
            try:
                value, end = decoder.raw_decode(window, pos)
            except json.JSONDecodeError:
                if eof:
                    raise
                read_more()  # the element runs on past the window
                continue
            if not eof and not isinstance(value, (dict, list, str)) and not _delimited(window, end):
                read_more()  # a number cut by the window ("2." of "2.5"): parse it again with more text
                continue
            yield value
            pos, expect_value = end, False
    if next_char():
        raise json.JSONDecodeError("text after the array", window, pos)


def _delimited(window: str, end: int) -> bool:
    """Whether a ',' or ']' follows ``end`` in the window (objects, arrays and strings end themselves)."""
    after = _SPACE.match(window, end).end()
    return after < len(window) and window[after] in ",]"
