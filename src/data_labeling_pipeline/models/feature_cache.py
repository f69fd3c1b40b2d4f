"""A local cache of image feature rows, so a labeling round does not re-read every image.

Between rounds only the labels move: the items and their bytes stay the same, and reading and
describing every image again is the slowest part of pre-labelling a large image set. The
cache lives in ``.dlp/cache/`` (gitignored, never a DVC output, so nothing is pushed) and is
keyed by the sha256 of what determines the rows: each item's id, image and content sha256,
and the feature extractor's settings. Items without a recorded sha256 (pulled from an
export, or remote) are never served from the cache: their bytes could change unseen.
A hit returns exactly the rows a fresh computation would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

CACHE_DIR = ".dlp/cache"
KEEP = 4  # newest entries kept; older ones are removed when a new one is written


def cache_key(items: Sequence[dict], settings: dict) -> str | None:
    """The key of these items' feature rows, or None when some item has no content sha256.

    Example:
        >>> item = {"item_id": "a.png", "data": {"image": "a.png", "sha256": "00"}}
        >>> len(cache_key([item], {"size": 32}))
        64
        >>> cache_key([{"item_id": "b", "data": {"image": "s3://x/b.png"}}], {}) is None
        True
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for item in items:
        sha = item["data"].get("sha256")
        if not sha:
            return None
        digest.update(json.dumps([item["item_id"], item["data"]["image"], sha]).encode())
    return digest.hexdigest()


def cached_rows(root: Path, key: str | None, compute: Callable[[], tuple[np.ndarray, dict[int, str]]]
                ) -> tuple[np.ndarray, dict[int, str]]:
    """``compute()``'s (rows, position -> reason unreadable), from the cache when ``key`` is there."""
    if key is None:
        return compute()
    folder = root / CACHE_DIR
    path = folder / f"features-{key[:32]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["key"]) == key:
                    failed = json.loads(str(stored["failed"]))
                    return stored["rows"], {int(k): v for k, v in failed.items()}
        except (OSError, ValueError, KeyError):  # a damaged entry is recomputed
            pass
    rows, failed = compute()
    _store(folder, path, key, rows, failed)
    return rows, failed


def _store(folder: Path, path: Path, key: str, rows: np.ndarray, failed: dict[int, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder.parent / ".gitignore"
    if not ignore.exists():  # projects made before .dlp/ was gitignored stay clean too
        ignore.write_text("*\n", encoding="utf-8")
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, rows=rows, failed=np.array(json.dumps(failed)), key=np.array(key))
    tmp.replace(path)
    entries = sorted(folder.glob("features-*.npz"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)
