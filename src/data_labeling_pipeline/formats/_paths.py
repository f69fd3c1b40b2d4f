"""Image paths read from foreign files, made safe (pure string work, no file system).

A path in a COCO, VOC or YOLO file is data from outside: `../../etc/passwd` or an absolute
path elsewhere on the machine must never become an item that a later stage opens or links.
So a path is accepted only when it stays inside the dataset's image folder; an absolute path
is accepted only with `rebase_paths`, and only when it lies inside that folder.
"""

from __future__ import annotations

import posixpath
import re

_DRIVE = re.compile(r"^[A-Za-z]:/")


def _is_absolute(path: str) -> bool:
    return path.startswith("/") or bool(_DRIVE.match(path))


def safe_image_path(name: str, *, image_dir: str, rebase_paths: str | None = None) -> str:
    """The item path of an image named in a foreign file, or ValueError saying why not.

    Args:
        name: the path as written in the file (`file_name`, `<filename>`, ...); backslashes
            count as separators.
        image_dir: the folder, relative to the project, that `name` is relative to.
        rebase_paths: an absolute folder; an absolute `name` inside it becomes relative to it.
            Without it every absolute `name` is refused.

    >>> safe_image_path("cats/a.png", image_dir="images")
    'images/cats/a.png'
    >>> safe_image_path("/data/coco/a.png", image_dir="images", rebase_paths="/data/coco")
    'images/a.png'
    >>> safe_image_path("../secret.png", image_dir="images")
    Traceback (most recent call last):
    ...
    ValueError: '../secret.png' escapes the image folder; image paths must stay inside it
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"expected a non-empty image path, got {name!r}")
    path = name.replace("\\", "/")
    if _is_absolute(path):
        if not rebase_paths:
            raise ValueError(f"{name!r} is an absolute path; pass rebase_paths=<its image folder> to "
                             "make paths inside that folder relative")
        root = posixpath.normpath(rebase_paths.replace("\\", "/"))
        norm = posixpath.normpath(path)
        if norm == root or not (norm + "/").startswith(root.rstrip("/") + "/"):
            raise ValueError(f"{name!r} is not inside rebase_paths {rebase_paths!r}")
        path = norm[len(root.rstrip("/")) + 1:]
    rel = posixpath.normpath(path)
    if rel == ".." or rel.startswith("../") or rel == ".":
        raise ValueError(f"{name!r} escapes the image folder; image paths must stay inside it")
    base = posixpath.normpath(image_dir.replace("\\", "/")) if image_dir else ""
    return rel if base in ("", ".") else posixpath.join(base, rel)


def item_ids_for(names: list[str]) -> dict[str, str]:
    """name -> item id: the name without extension, or the full name where two share a stem.

    >>> item_ids_for(["a.png", "b.png", "b.jpg"])
    {'a.png': 'a', 'b.png': 'b.png', 'b.jpg': 'b.jpg'}
    """
    stems: dict[str, int] = {}
    for n in names:
        s = posixpath.splitext(n)[0]
        stems[s] = stems.get(s, 0) + 1
    out = {}
    for n in names:
        s = posixpath.splitext(n)[0]
        out[n] = s if stems[s] == 1 and s else n
    if len(set(out.values())) < len(out):  # a stem equal to another full name: use full names
        return {n: n for n in names}
    return out
