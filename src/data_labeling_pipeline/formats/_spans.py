"""Character spans onto tokens: the alignment rules shared by the spaCy and HF writers.

Offsets are Python code points (an emoji is one character), the same unit spaCy's
`Doc.char_span` uses. The three alignment modes mean what they mean in spaCy:
"strict" needs the span to start and end on token boundaries, "contract" keeps the tokens
entirely inside the span, "expand" takes every token the span touches.
"""

from __future__ import annotations

import re

# Words (letters, digits, underscore) and single other symbols; an emoji is one token.
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[tuple[int, int]]:
    """(start, end) code-point offsets of the tokens of `text`.

    >>> tokenize("Hi, Oslo!")
    [(0, 2), (2, 3), (4, 8), (8, 9)]
    """
    return [m.span() for m in _TOKEN.finditer(text)]


def align(start: int, end: int, tokens: list[tuple[int, int]], mode: str) -> tuple[int, int] | None:
    """The token range [first, last) a character span maps to under `mode`, or None.

    >>> toks = tokenize("in Oslo now")
    >>> align(3, 7, toks, "strict"), align(4, 7, toks, "strict"), align(4, 7, toks, "expand")
    ((1, 2), None, (1, 2))
    """
    if mode == "strict":
        first = next((k for k, (s, _) in enumerate(tokens) if s == start), None)
        last = next((k for k, (_, e) in enumerate(tokens) if e == end), None)
        if first is None or last is None or last < first:
            return None
        return first, last + 1
    if mode == "contract":
        inside = [k for k, (s, e) in enumerate(tokens) if s >= start and e <= end]
    elif mode == "expand":
        inside = [k for k, (s, e) in enumerate(tokens) if s < end and e > start]
    else:
        raise ValueError(f"alignment mode must be 'strict', 'contract' or 'expand', got {mode!r}")
    return (inside[0], inside[-1] + 1) if inside else None


def non_overlapping(ranges: list[tuple[int, int, str]]) -> tuple[list[tuple[int, int, str]], int]:
    """Keep the longest ranges first (then the earliest); return (kept sorted by start, dropped count).

    The same preference as `spacy.util.filter_spans`, so BIO tags and `doc.ents` agree.

    >>> non_overlapping([(0, 3, "ORG"), (2, 3, "LOC"), (4, 5, "PER")])
    ([(0, 3, 'ORG'), (4, 5, 'PER')], 1)
    """
    taken: set[int] = set()
    kept = []
    for r in sorted(ranges, key=lambda r: (-(r[1] - r[0]), r[0], r[2])):
        if any(k in taken for k in range(r[0], r[1])):
            continue
        taken.update(range(r[0], r[1]))
        kept.append(r)
    return sorted(kept), len(ranges) - len(kept)


def bio_tags(n_tokens: int, ranges: list[tuple[int, int, str]]) -> list[str]:
    """BIO tags for non-overlapping token ranges.

    >>> bio_tags(4, [(1, 3, "LOC")])
    ['O', 'B-LOC', 'I-LOC', 'O']
    """
    tags = ["O"] * n_tokens
    for first, last, label in ranges:
        tags[first] = f"B-{label}"
        for k in range(first + 1, last):
            tags[k] = f"I-{label}"
    return tags
