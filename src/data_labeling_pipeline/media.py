"""Facts about media files that items record once, so later stages never open them."""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# EXIF orientations 5-8 turn the picture a quarter: width and height swap.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as trainers see the image: after applying its EXIF orientation.

    Reads the header only (Pillow opens lazily); the pixels are never decoded.
    """
    from PIL import Image

    with Image.open(path) as img:
        return oriented_size(img)


def oriented_size(img, *, decode: bool = True) -> tuple[int, int]:
    """(width, height) of an open Pillow image after its EXIF orientation.

    With ``decode=False`` no pixels are ever decoded, so a truncated file (the first bytes of a
    remote image) will do: a PNG is then upright unless its eXIf chunk comes before the pixel
    data (Pillow would decode the whole PNG to find one after it).
    """
    width, height = img.size
    if not decode and img.format == "PNG" and "exif" not in img.info:
        return width, height
    orientation = img.getexif().get(0x0112, 1)
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)
