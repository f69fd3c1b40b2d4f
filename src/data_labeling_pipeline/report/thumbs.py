"""Small inline thumbnails and text excerpts for the example items of the dashboard (pure: bytes in, text out)."""

from __future__ import annotations

import base64
import io

THUMB_SIZE = 72
MAX_THUMB_BYTES = 12_000
EXCERPT = 240


def thumbnail_uri(data: bytes, *, size: int = THUMB_SIZE) -> str | None:
    """A PNG (or, when that is too big, JPEG) data URI of the image scaled to fit ``size`` pixels.

    Small images are scaled up with nearest-neighbour so they stay sharp; None when the bytes
    are no image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            picture = image.convert("L" if image.mode in ("1", "L", "I;16", "I") else "RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    scale = size / max(picture.size)
    target = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    picture = picture.resize(target, resample)
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    mime = "image/png"
    if out.tell() > MAX_THUMB_BYTES:
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=70)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(out.getvalue()).decode('ascii')}"


def excerpt(text: str, *, start: int = 0, end: int | None = None, width: int = EXCERPT) -> tuple[int, str]:
    """``(offset, piece)``: the text around ``[start, end)``, at most about ``width`` characters.

    >>> excerpt("abcdefghij", start=4, end=5, width=4)
    (2, 'cdef')
    """
    end = start if end is None else end
    if len(text) <= width:
        return 0, text
    middle = (start + end) // 2
    offset = max(0, min(middle - width // 2, len(text) - width))
    return offset, text[offset:offset + width]
