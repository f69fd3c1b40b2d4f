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
        width, height = img.size
        orientation = img.getexif().get(0x0112, 1)
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)
