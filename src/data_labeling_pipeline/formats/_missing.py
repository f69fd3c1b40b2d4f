"""What a conversion cannot find: image files (to link) and image sizes (to normalise or record).

Both are reported as one summary line (how many, the first one, how to fix it) rather than
one line per image: when images live elsewhere they are usually all missing, and fifty lines
saying the same thing hide the fix. Every missing path is still on the exception
(`missing`), and the caller that knows its own options (the CLI's flags, the facade's
keywords) swaps in its fix with `with_fix`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


class MissingImagesError(DataError):
    """Image files that a writer has to link or copy do not exist.

    Attributes:
        missing: the item image paths that were not found, sorted.
        root: the folder they were looked for in.
        fix: how to fix it, in the words of the caller's options.

    Example:
        >>> str(MissingImagesError(["images/a.png", "images/b.png"], "/data", fix="pass images_root"))
        '2 images are missing in /data (first: images/a.png); pass images_root'
    """

    def __init__(self, missing: Iterable[str], root: str | os.PathLike, *, fix: str) -> None:
        self.missing = sorted(missing)
        self.root = str(root)
        self.fix = fix
        super().__init__([Problem(self.root, None, "$.data.image", f"image file {m!r} does not exist")
                          for m in self.missing])
        first = self.missing[0] if self.missing else "?"
        self.args = (f"{_plural(len(self.missing), 'image is', 'images are')} missing in {self.root} "
                     f"(first: {first}); {fix}",)

    def __str__(self) -> str:
        return self.args[0]

    def with_fix(self, fix: str) -> MissingImagesError:
        """The same error with another fix (e.g. naming command-line flags)."""
        return MissingImagesError(self.missing, self.root, fix=fix)


class MissingSizesError(DataError):
    """Images whose width and height the source does not record, and that could not be read.

    Attributes:
        missing: the image (or label file) paths without a size, in source order.
        source: the file or folder they come from.
        why: why the conversion needs the sizes.
        fix: how to fix it, in the words of the caller's options.

    Example:
        >>> str(MissingSizesError(["a.png"], "in.json", why="COCO records them", fix="add them"))
        'in.json: 1 image has no width and height (first: a.png): COCO records them; add them'
    """

    def __init__(self, missing: Iterable[str], source: str | os.PathLike, *, why: str, fix: str) -> None:
        self.missing = list(missing)
        self.source = str(source)
        self.why, self.fix = why, fix
        super().__init__([Problem(self.source, None, "", f"{m}: no width and height") for m in self.missing])
        first = self.missing[0] if self.missing else "?"
        self.args = (f"{self.source}: {_plural(len(self.missing), 'image has', 'images have')} no width and "
                     f"height (first: {first}): {why}; {fix}",)

    def __str__(self) -> str:
        return self.args[0]

    def with_fix(self, fix: str) -> MissingSizesError:
        """The same error with another fix (e.g. naming command-line flags)."""
        return MissingSizesError(self.missing, self.source, why=self.why, fix=fix)


# Why a conversion from a source that does not record sizes cannot go on without them.
NEEDED = "the source does not record them and the conversion needs them"
SIZES_FIX = ("pass images_root=<the folder the image paths are relative to> so the sizes are read from "
             "the image headers (nothing is copied), or add width and height to the source")


def with_header_sizes(read: Callable[[Mapping[str, tuple[int, int]] | None], Any],
                      images_root: str | os.PathLike | None, *, source: str | None = None) -> Any:
    """`read(None)`; where it lacks image sizes, `read(sizes)` again with the sizes read from the
    headers of the images under `images_root` (when given), so the common case pays nothing.

    `read` must raise `MissingSizesError` before it counts anything into a report, since it may
    run twice. `source` names the input in the message (default: what `read` says).

    Raises:
        MissingSizesError: sizes still missing, with a fix in terms of `images_root`.
    """
    try:
        return read(None)
    except MissingSizesError as exc:
        if images_root is None:
            raise MissingSizesError(exc.missing, source or exc.source, why=exc.why, fix=SIZES_FIX) from None
        found = read_sizes(exc.missing, images_root)
        try:
            return read(found)
        except MissingSizesError as again:
            raise MissingSizesError(again.missing, source or again.source, fix=SIZES_FIX,
                                    why=f"{again.why} (no image file for them in {Path(images_root).absolute()} "
                                    "either)") from None


def read_sizes(paths: Iterable[str], root: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """(width, height) of each image of `paths` (relative to `root`) that exists there.

    Only the header is read (see `media.image_size`); paths without a file are left out, so
    the caller can report them all at once.

    Raises:
        DataError: an existing file whose header cannot be read as an image.

    Example:
        >>> read_sizes(["nowhere.png"], "/nonexistent")
        {}
    """
    from ..media import image_size

    base = Path(root)
    out: dict[str, tuple[int, int]] = {}
    bad: list[Problem] = []
    for rel in paths:
        path = base / rel
        if not path.is_file():
            continue
        try:
            out[rel] = image_size(path)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad header
            bad.append(Problem(str(path), None, "", f"cannot read the image size from its header: {exc}"))
    if bad:
        raise DataError(bad[:50], truncated=len(bad) > 50)
    return out


# How a project gets the sizes of images outside it (the export stage and `dlp export` share it).
ITEM_SIZES_FIX = ("record the sizes with dlp ingest <uri-prefix or file of URIs> (it reads only the image headers "
                  "and copies nothing), or make the images reachable in the project and run dlp pull again")
SHOWN = 3


class SizesUnknownError(DataError):
    """Labeled items without an image size, for a format that needs one.

    Items of images outside the project (``s3://``, ``https://``) pulled from an export that
    gives no size have none; COCO, VOC and YOLO (and boxes anywhere) need it.

    Attributes:
        item_ids: the items without a size, sorted.
        images: their image references, in the same order.
        fmt: the format that needs them.
        why: why it needs them.
        fix: how to fix it.

    Example:
        >>> str(SizesUnknownError(["a", "b"], ["s3://b/a.png", "s3://b/b.png"], fmt="COCO", why="it records them"))[:76]
        '2 items have no image size (s3://b/a.png, s3://b/b.png): COCO needs them: it'
    """

    def __init__(self, item_ids: Iterable[str], images: Iterable[str], *, fmt: str, why: str,
                 fix: str = ITEM_SIZES_FIX) -> None:
        from ..imagestore import shown

        self.item_ids, self.images = list(item_ids), [shown(i) for i in images]
        self.fmt, self.why, self.fix = fmt, why, fix
        super().__init__([Problem("items", None, f"item {i!r}", "no image size (data.width, data.height)")
                          for i in self.item_ids])
        more = len(self.images) - SHOWN
        named = ", ".join(self.images[:SHOWN]) + (f" and {more} more" if more > 0 else "")
        self.args = (f"{_plural(len(self.item_ids), 'item has', 'items have')} no image size ({named}): {fmt} needs "
                     f"them: {why}; {fix}",)

    def __str__(self) -> str:
        return self.args[0]

    def with_fix(self, fix: str) -> SizesUnknownError:
        """The same error with another fix."""
        return SizesUnknownError(self.item_ids, self.images, fmt=self.fmt, why=self.why, fix=fix)


def require_sizes(dataset: Any, fmt: str, *, why: str) -> None:
    """Raise one `SizesUnknownError` when a labeled item of `dataset` has no image size.

    Writers call it before they count anything, so the error comes first and alone.

    Example:
        >>> from data_labeling_pipeline.formats import make_dataset
        >>> schema = {"task_type": "image_classification", "schema_version": 1, "multi_label": False,
        ...           "classes": [{"id": 1, "name": "cat"}]}
        >>> ds = make_dataset([{"item_id": "a", "data": {"image": "s3://b/a.png"}}], {"a": {"label": "cat"}}, schema)
        >>> require_sizes(ds, "COCO", why="it records them")
        Traceback (most recent call last):
        ...
        data_labeling_pipeline.formats._missing.SizesUnknownError: 1 item has no image size (s3://b/a.png): COCO ...
    """
    missing = [item for item in dataset.items if item["item_id"] in dataset.labels
               and not (item["data"].get("width") and item["data"].get("height"))]
    if missing:
        raise SizesUnknownError([i["item_id"] for i in missing], [i["data"]["image"] for i in missing], fmt=fmt,
                                why=why)
