"""Disk I/O shared by the `write_<fmt>` functions: a whole export replaced at once.

An export is built in a sibling temporary folder and swapped in by rename, so a reader
(or DVC) sees the old export or the new one, never half of each, and files of items that
left the dataset do not linger. A folder is only replaced when it is empty or carries the
marker file of an earlier export, so a wrong `out_dir` never deletes someone's data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError, ProjectError
from ..records import replace_dir
from ._report import LossReport

MARKER = ".dlp-export"


@contextlib.contextmanager
def staged_dir(out_dir: str | os.PathLike, fmt: str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `out_dir`, on error it is removed."""
    out = Path(out_dir).absolute()
    if out.exists():
        if not out.is_dir():
            raise ProjectError(f"{out} exists and is not a folder; choose another export folder")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise ProjectError(f"{out} is not empty and was not written by an export ({MARKER} is missing); "
                               "refusing to replace it: choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text(f"{fmt}\n", encoding="utf-8")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def put(root: Path, rel: str, content: str | bytes) -> None:
    """Write one file under `root` (UTF-8, '\\n' newlines for text)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(content)


def put_many(root: Path, files: dict[str, str | bytes]) -> None:
    """Write many small files under `root`, creating each folder once (not once per file)."""
    for folder in sorted({(root / rel).parent for rel in files}):
        folder.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        with open(root / rel, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)


def place_images(
    root: Path,
    final_root: Path,
    links: dict[str, str],
    *,
    images_root: str | os.PathLike,
    mode: str,
    report: LossReport,
) -> None:
    """Put each source image at its export path: a relative symlink, else a byte copy.

    Images are never decoded. `final_root` is where `root` will be after the swap, so the
    relative links are computed from there.

    Raises:
        MissingImagesError: one summary of the source images that do not exist (how many,
            the first one, how to fix it); every missing path is in its `missing`.
    """
    from ._missing import MissingImagesError

    if mode == "none":
        return
    if mode not in ("symlink", "copy"):
        raise ValueError(f"link must be 'symlink', 'copy' or 'none', got {mode!r}")
    src_root = Path(images_root).absolute()
    missing = [rel for rel in sorted(set(links.values())) if not (src_root / rel).is_file()]
    if missing:
        raise MissingImagesError(missing, src_root, fix="pass images_root=<the folder where they live>, or "
                                 "link='none' to write labels without images")
    for rel, src_rel in sorted(links.items()):
        src = src_root / src_rel
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if mode == "symlink":
            target = os.path.relpath(src, (final_root / rel).parent)
            try:
                os.symlink(target, dst)
                report.count("images_linked")
                continue
            except OSError:  # no symlink privilege (Windows) or a file system without links
                pass
        shutil.copyfile(src, dst)
        report.count("images_copied")


def load_json(path: Path) -> Any:
    """Parse a JSON file (orjson when available: about twice as fast on large COCO files)."""
    data = Path(path).read_bytes()
    try:
        try:
            import orjson
        except ImportError:  # pragma: no cover - orjson comes with dvc
            return json.loads(data)
        return orjson.loads(data)
    except ValueError as exc:
        raise DataError.single(str(path), None, "", f"not valid JSON: {exc}") from None
