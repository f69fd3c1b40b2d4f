"""Image features for the weak image classifier: resized gray pixels + gradient-orientation histograms.

:func:`image_features` is pure: it takes decoded gray arrays and returns one float32 row per
image. :func:`load_gray` (and :func:`load_image` for a model that wants colour) is the only
code here that touches disk, kept apart so the stage decides what to read and when.

The histogram part is a small HOG: central-difference gradients of the ``hog_size`` x
``hog_size`` image, unsigned orientations in ``bins`` bins (each pixel's magnitude split
linearly between its two nearest bins), summed over a ``cells`` x ``cells`` grid, each cell
L2-normalised. Together with the ``size`` x ``size`` pixels (mean-pooled from the same image)
that is ``size**2 + cells**2 * bins`` columns: 400 with the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np

from data_labeling_pipeline.errors import DataError

PIXELS = 16
HOG_SIZE = 32
CELLS = 4
BINS = 9


def feature_dim(*, size: int = PIXELS, cells: int = CELLS, bins: int = BINS) -> int:
    """Columns of :func:`image_features` for these options.

    Example:
        >>> feature_dim()
        400
    """
    return size * size + cells * cells * bins


def image_features(
    images: Sequence[Any],
    *,
    size: int = PIXELS,
    hog_size: int = HOG_SIZE,
    cells: int = CELLS,
    bins: int = BINS,
) -> np.ndarray:
    """One float32 feature row per gray image: ``size``² pixels, then ``cells``² x ``bins`` histograms.

    Args:
        images: 2-D arrays of gray levels, any size each: uint8 (0-255) or float in [0, 1].
            Each is resized to ``hog_size`` x ``hog_size`` (bilinear, Pillow) unless it has that
            size already; :func:`load_gray` with ``size=hog_size`` reads files that way.
        size: side of the pixel block, mean-pooled from the ``hog_size`` image (or resized when
            ``hog_size`` is not a multiple of it).
        hog_size: side of the image the gradients are taken on.
        cells: the histogram grid is ``cells`` x ``cells``.
        bins: orientation bins over [0, 180) degrees.

    Returns:
        float32 array of shape ``(len(images), feature_dim(size=size, cells=cells, bins=bins))``.

    Example:
        >>> ramp = np.tile(np.arange(8, dtype=np.uint8) * 32, (8, 1))
        >>> image_features([ramp, ramp.T]).shape
        (2, 400)
    """
    for name, value in (("size", size), ("hog_size", hog_size), ("cells", cells), ("bins", bins)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DataError.single("<image_features>", None, name, f"expected a positive integer, got {value!r}")
    if hog_size < cells:
        raise DataError.single("<image_features>", None, "cells",
                               f"expected at most hog_size={hog_size} cells per side, got {cells}")
    dim = feature_dim(size=size, cells=cells, bins=bins)
    if len(images) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    batch = np.stack([_as_square(image, hog_size, index) for index, image in enumerate(images)])
    pixels = _pool(batch, size)
    hist = gradient_histograms(batch, cells=cells, bins=bins)
    return np.hstack([pixels.reshape(len(batch), -1), hist]).astype(np.float32, copy=False)


def gradient_histograms(batch: np.ndarray, *, cells: int = CELLS, bins: int = BINS) -> np.ndarray:
    """HOG-like histograms of a batch of same-size gray images ``(n, h, w)``: ``(n, cells**2 * bins)``.

    Example:
        >>> ramp = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))
        >>> h = gradient_histograms(ramp[None], cells=1, bins=4)
        >>> int(np.argmax(h[0]))  # a left-to-right ramp: horizontal gradients, orientation bin 0
        0
    """
    x = np.asarray(batch, dtype=np.float32)
    n, height, width = x.shape
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
    gy[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
    magnitude = np.hypot(gx, gy)
    # Unsigned orientation: a dark-to-light edge and a light-to-dark one are the same stroke.
    position = np.mod(np.arctan2(gy, gx), np.pi) * (bins / np.pi) - 0.5
    low = np.floor(position)
    frac = (position - low).astype(np.float32)
    low_bin = np.mod(low.astype(np.int64), bins)
    high_bin = np.mod(low_bin + 1, bins)
    cell_row = np.minimum(np.arange(height) * cells // height, cells - 1)
    cell_col = np.minimum(np.arange(width) * cells // width, cells - 1)
    cell = cell_row[:, None] * cells + cell_col[None, :]
    base = (np.arange(n)[:, None, None] * (cells * cells) + cell[None]) * bins
    total = n * cells * cells * bins
    # bincount is ~20x faster than np.add.at for this scatter-add.
    hist = np.bincount((base + low_bin).ravel(), weights=(magnitude * (1 - frac)).ravel(), minlength=total)
    hist += np.bincount((base + high_bin).ravel(), weights=(magnitude * frac).ravel(), minlength=total)
    hist = hist.reshape(n, cells * cells, bins).astype(np.float32)
    hist /= np.linalg.norm(hist, axis=2, keepdims=True) + np.float32(1e-6)
    return hist.reshape(n, -1)


def load_gray(path: str | PathLike, *, size: int | None = HOG_SIZE) -> np.ndarray:
    """Read an image as a uint8 gray array, upright (EXIF orientation applied), resized to ``size``².

    ``path`` is a file path or a URI (``file://``, ``s3://``, ``https://``, any fsspec protocol;
    see :mod:`data_labeling_pipeline.imagestore`).

    ``size=None`` keeps the image's own size. JPEGs are decoded at a reduced scale when that
    still leaves at least ``size`` pixels (Pillow's draft mode), which makes large photos cheap.

    Raises:
        ImageUnreachable: the file is missing or cannot be fetched (a DataError; ``reason`` says why).
        DataError: the file is not an image Pillow can read.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
        >>> Image.new("RGB", (40, 20), "white").save(path)
        >>> load_gray(path, size=8).shape
        (8, 8)
    """
    return load_image(path, size=size, mode="L")


def load_image(path: str | PathLike, *, size: int | None = None, mode: str = "L") -> np.ndarray:
    """Read an image file as uint8 ``(h, w)`` (mode ``"L"``) or ``(h, w, 3)`` (``"RGB"``), upright.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "a.png")
        >>> Image.new("RGB", (40, 20), "red").save(path)
        >>> load_image(path, mode="RGB").shape
        (20, 40, 3)
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from data_labeling_pipeline.imagestore import LOCAL_HINT, ImageUnreachable, open_image

    if mode not in ("L", "RGB"):
        raise DataError.single(str(path), None, "mode", f"expected 'L' or 'RGB', got {mode!r}")
    try:
        with open_image(path) as img:
            if size is not None:
                img.draft(mode, (size, size))
            img = ImageOps.exif_transpose(img).convert(mode)
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except ImageUnreachable:  # a DataError (a ValueError too): not a decoding problem
        raise
    except FileNotFoundError:  # removed since open_image looked
        raise ImageUnreachable(path, "image file not found", hint=LOCAL_HINT) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError.single(str(path), None, "data.image",
                               f"cannot decode the image ({exc}); expected a PNG, JPEG or other Pillow format: "
                               "replace or remove the file") from None


def _as_square(image: Any, side: int, index: int) -> np.ndarray:
    """One gray image as float32 in [0, 1], ``side`` x ``side``."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim != 2 or arr.size == 0:
        raise DataError.single(f"<images[{index}]>", None, "image",
                               f"expected a non-empty 2-D gray array, got shape {arr.shape}: "
                               "convert colour images with load_gray()")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / np.float32(255)
    else:
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise DataError.single(f"<images[{index}]>", None, "image", "expected finite gray levels, got NaN or inf")
    if arr.shape != (side, side):
        arr = np.asarray(Image.fromarray(arr).resize((side, side), Image.Resampling.BILINEAR))
    return arr


def _pool(batch: np.ndarray, size: int) -> np.ndarray:
    """``(n, s, s)`` -> ``(n, size, size)``: block means when ``s`` is a multiple of ``size``."""
    from PIL import Image

    n, side, _ = batch.shape
    if side % size == 0:
        k = side // size
        return batch.reshape(n, size, k, size, k).mean(axis=(2, 4))
    return np.stack([np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))
                     for img in batch])
