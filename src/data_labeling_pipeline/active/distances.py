"""Chunked squared Euclidean distances in float32: never an n x n (or n x m) matrix.

``||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c`` by BLAS over blocks of at most
:data:`BLOCK_ELEMENTS` distances (64 MiB of float32), clipped at 0 where rounding makes it
negative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_labeling_pipeline.active._checks import float32_finite

CHUNK_ROWS = 65_536
BLOCK_ELEMENTS = 1 << 24


def squared_norms(x: np.ndarray) -> np.ndarray:
    """Row-wise ``||x||^2`` in float32.

    Example:
        >>> squared_norms(np.array([[3.0, 4.0]], dtype=np.float32)).tolist()
        [25.0]
    """
    return np.einsum("ij,ij->i", x, x)


def min_sq_distances(
    points: Any, centers: Any, *, chunk_rows: int = CHUNK_ROWS, field: str = "embeddings"
) -> np.ndarray:
    """For each row of ``points``, the squared distance to its nearest row of ``centers``.

    Both are read in float32 blocks (``points`` may be any float array, even a memory map);
    NaN or infinite rows are refused as they are read.

    Returns:
        float32 array of ``len(points)`` values (``inf`` when ``centers`` is empty).

    Example:
        >>> min_sq_distances([[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0]]).tolist()
        [0.0, 25.0]
    """
    pts = np.asarray(points)
    cen = float32_finite(np.asarray(centers).reshape(-1, pts.shape[1]), field="labeled_embeddings")
    out = np.full(len(pts), np.inf, dtype=np.float32)
    if len(cen) == 0:
        return out
    cen_sq = squared_norms(cen)
    for lo in range(0, len(pts), chunk_rows):
        x = float32_finite(pts[lo : lo + chunk_rows], field=field)
        x_sq = squared_norms(x)
        step = max(1, BLOCK_ELEMENTS // len(x))
        best = out[lo : lo + len(x)]
        for clo in range(0, len(cen), step):
            c = cen[clo : clo + step]
            d = x @ c.T
            d *= -2.0
            d += x_sq[:, None]
            d += cen_sq[None, clo : clo + step]
            np.minimum(best, d.min(axis=1), out=best)
            del d  # else the next block is allocated while this one is alive: twice the memory
    np.maximum(out, 0.0, out=out)
    return out


def nearest_center(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest center of each float32 row (ties to the lower center index).

    Example:
        >>> nearest_center(np.array([[0.0], [2.9]], np.float32), np.array([[0.0], [3.0]], np.float32)).tolist()
        [0, 1]
    """
    out = np.empty(len(points), dtype=np.int64)
    cen_sq = squared_norms(centers)
    step = max(1, BLOCK_ELEMENTS // max(1, len(centers)))
    for lo in range(0, len(points), step):
        x = points[lo : lo + step]
        # ||x||^2 is the same for every center of a row, so it cannot change the argmin
        d = x @ centers.T
        d *= -2.0
        d += cen_sq[None, :]
        out[lo : lo + len(x)] = d.argmin(axis=1)
        del d
    return out


def sq_distances_to(points: np.ndarray, points_sq: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Squared distances of float32 ``points`` (with precomputed norms) to one center, clipped at 0.

    Example:
        >>> x = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
        >>> sq_distances_to(x, squared_norms(x), x[1]).tolist()
        [2.0, 0.0]
    """
    d = points @ center
    d *= -2.0
    d += points_sq
    d += np.float32(center @ center)
    return np.maximum(d, 0.0, out=d)
