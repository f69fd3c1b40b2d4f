"""Coordinates and offsets at the Label Studio edge.

Label Studio stores a rectangle as ``x, y, width, height`` in percent of
``original_width`` / ``original_height`` plus ``rotation``: clockwise degrees about
the top-left corner ``(x, y)``; ``width`` stays a percent of the image width and
``height`` of the image height even when rotated. Our records store absolute pixels
and, for a rotated rectangle, its axis-aligned envelope (the rotation is computed
in pixel space: in percent space it would shear on non-square images).

Text offsets in our records are Python code points; some Label Studio versions
wrote UTF-16 code units (JavaScript string indices), which differ after any
character outside the Basic Multilingual Plane (emoji).
"""

from __future__ import annotations

import math

#: Below this |cos 2θ| the envelope -> rectangle system is singular (θ = 45° + k·90°).
_SINGULAR = 1e-9


def _cos_sin(rotation: float) -> tuple[float, float]:
    # Exact values at multiples of 90° keep the common cases free of 1e-17 noise.
    quarter = (rotation % 360.0) / 90.0
    if quarter.is_integer():
        return [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][int(quarter)]
    rad = math.radians(rotation)
    return math.cos(rad), math.sin(rad)


def _corner_offsets(w: float, h: float, c: float, s: float) -> tuple[list[float], list[float]]:
    # Corners relative to the pivot, clockwise on screen (y points down).
    xs = [0.0, w * c, w * c - h * s, -h * s]
    ys = [0.0, w * s, w * s + h * c, h * c]
    return xs, ys


def rotated_envelope(
    x: float, y: float, w: float, h: float, rotation: float
) -> tuple[float, float, float, float]:
    """Axis-aligned envelope ``(x, y, w, h)`` of a rectangle rotated clockwise about ``(x, y)``.

    Args:
        x, y: top-left corner before rotation (the pivot), pixels.
        w, h: side lengths, pixels.
        rotation: clockwise degrees.

    Example:
        >>> tuple(round(v, 9) for v in rotated_envelope(400, 100, 200, 80, 90))
        (320.0, 100.0, 80.0, 200.0)
    """
    c, s = _cos_sin(rotation)
    xs, ys = _corner_offsets(w, h, c, s)
    return x + min(xs), y + min(ys), max(xs) - min(xs), max(ys) - min(ys)


def rectangle_from_envelope(
    x: float, y: float, w: float, h: float, rotation: float
) -> tuple[float, float, float, float] | None:
    """The rectangle (pivot ``x, y``, sides ``w, h``) rotated by ``rotation`` whose envelope is given.

    The inverse of :func:`rotated_envelope`. At 45° + k·90° every split of the
    sides fits a square envelope, so a square rectangle is returned. None when
    no rectangle at this angle has this envelope.

    Example:
        >>> tuple(round(v, 9) for v in rectangle_from_envelope(320, 100, 80, 200, 90))
        (400.0, 100.0, 200.0, 80.0)
    """
    c, s = _cos_sin(rotation)
    ac, as_ = abs(c), abs(s)
    det = ac * ac - as_ * as_
    if abs(det) < _SINGULAR:
        if not math.isclose(w, h, rel_tol=1e-9, abs_tol=1e-9):
            return None
        rw = rh = (w + h) / 2 / (ac + as_)
    else:
        rw = (w * ac - h * as_) / det
        rh = (h * ac - w * as_) / det
    # Tiny negative sides are round-off of a degenerate (line-like) rectangle.
    if rw <= 1e-12 * max(w, h, 1.0) or rh <= 1e-12 * max(w, h, 1.0):
        return None
    xs, ys = _corner_offsets(rw, rh, c, s)
    return x - min(xs), y - min(ys), rw, rh


def percent_to_pixels(value: float, size: float) -> float:
    """A Label Studio percentage of ``size`` in pixels."""
    return value * size / 100.0


def pixels_to_percent(value: float, size: float) -> float:
    """Pixels as a Label Studio percentage of ``size``."""
    return value * 100.0 / size


def utf16_to_codepoints(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Code-point offsets of the UTF-16 offsets ``start:end`` of ``text``; None if impossible.

    Impossible: out of range, or an offset falls between the two halves of a
    surrogate pair.

    Example:
        >>> text = "\\U0001F600 Zoë"
        >>> utf16_to_codepoints(text, 3, 6), text[2:5]
        ((2, 5), 'Zoë')
    """
    if not (0 <= start <= end):
        return None
    raw = text.encode("utf-16-le", "surrogatepass")
    if 2 * end > len(raw):
        return None
    try:
        cp_start = len(raw[: 2 * start].decode("utf-16-le"))
        cp_end = cp_start + len(raw[2 * start : 2 * end].decode("utf-16-le"))
    except UnicodeDecodeError:
        return None
    return cp_start, cp_end


def codepoints_to_utf16(text: str, start: int, end: int) -> tuple[int, int]:
    """UTF-16 offsets (JavaScript string indices) of the code-point offsets ``start:end``.

    >>> codepoints_to_utf16("\\U0001F600 Zoë", 2, 5)
    (3, 6)
    """
    before = len(text[:start].encode("utf-16-le", "surrogatepass")) // 2
    inside = len(text[start:end].encode("utf-16-le", "surrogatepass")) // 2
    return before, before + inside
