"""Images wherever they live: a path in the project, a ``file://`` URI, or any fsspec URL.

fsspec (what DVC itself uses) opens ``s3://``, ``gs://``, ``https://``, ``memory://`` and the
rest; ``s3fs`` and ``gcsfs`` come with the ``[s3]`` and ``[gcs]`` extras. Three verbs:

- :func:`locate`: the local file of a reference, or None for a remote one;
- :func:`open_image`: a Pillow image, opened lazily like ``Image.open``;
- :func:`image_size`: (width, height) after EXIF orientation from the header only; a remote
  file is read from its first ``HEADER_BYTES`` (more only when Pillow cannot tell yet), and
  nothing is copied.

An image that cannot be reached (no such file, HTTP 404, access denied, no credentials, the
protocol's library not installed) raises :class:`ImageUnreachable`, whose ``reason`` says which,
so a stage can leave it out and report it. URIs are shown without user info and query string:
those may hold credentials (a presigned URL's signature). fsspec and Pillow load inside the
functions, so ``dlp --help`` stays fast.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from .errors import DataError, Problem

URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
HEADER_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
# The fsspec protocols whose library is an extra of ours: protocol -> (module, extra).
EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs")}
_URL_IN_TEXT = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^/@\s'\"]*@)?([^\s?#'\"]*)(?:[?#][^\s'\"]*)?")
LOCAL_HINT = "expected a path relative to the project root (run `dvc pull` if the images live in a remote)"


class ImageUnreachable(DataError):
    """An image that cannot be read from where its reference points.

    Attributes:
        ref: the reference as given (path or URI).
        reason: why, in a few words (``image file not found``, ``not found (HTTP 404 or no such
            object)``, ``s3fs is not installed ...``).
    """

    def __init__(self, ref: str | os.PathLike, reason: str, *, hint: str = "") -> None:
        self.ref, self.reason = str(ref), reason
        super().__init__([Problem(shown(ref), None, "data.image", f"{reason}; {hint}" if hint else reason)])


def is_uri(ref: str | os.PathLike) -> bool:
    """Whether a reference is a URI (``scheme://...``) rather than a path.

    >>> is_uri("s3://bucket/a.png"), is_uri("images/a.png")
    (True, False)
    """
    return isinstance(ref, str) and bool(URI.match(ref))


def shown(ref: str | os.PathLike) -> str:
    """A reference as messages show it: URIs without user info, query or fragment.

    >>> shown("https://user:secret@host/a.png?X-Amz-Signature=abc")
    'https://host/a.png'
    """
    return _URL_IN_TEXT.sub(r"\1\2", ref) if is_uri(ref) else str(ref)


def redact(text: str) -> str:
    """Every URL in a message without user info, query or fragment (exceptions quote whole URLs).

    >>> redact("403, url='https://h/a.png?sig=x'")
    "403, url='https://h/a.png'"
    """
    return _URL_IN_TEXT.sub(r"\1\2", text)


def locate(ref: str | os.PathLike, project_root: str | os.PathLike | None = None) -> Path | None:
    """The local file a reference names (it may not exist), or None when it is remote.

    A relative path is relative to ``project_root`` (default: the working folder); a
    ``file://`` URI is its absolute path.

    >>> locate("images/a.png", "/p").as_posix(), locate("file:///data/a.png").as_posix(), locate("s3://b/a.png")
    ('/p/images/a.png', '/data/a.png', None)
    """
    if not is_uri(ref):
        path = Path(ref)
        return path if path.is_absolute() or project_root is None else Path(project_root) / path
    if ref.lower().startswith("file://"):
        from fsspec.implementations.local import LocalFileSystem

        return Path(LocalFileSystem._strip_protocol(ref))  # as fsspec reads it, so listing and reading agree
    return None


def open_image(ref: str | os.PathLike, project_root: str | os.PathLike | None = None):
    """A Pillow image of a path or URI, opened lazily (use it as a context manager).

    A remote image is read whole into memory (a pre-label needs every pixel anyway).

    Raises:
        ImageUnreachable: the file cannot be read (see the module docstring).
        PIL.UnidentifiedImageError: the bytes are not an image Pillow can read.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> folder = tempfile.mkdtemp()
        >>> Image.new("RGB", (4, 3)).save(os.path.join(folder, "a.png"))
        >>> with open_image("a.png", folder) as img:
        ...     img.size
        (4, 3)
    """
    from PIL import Image

    path = locate(ref, project_root)
    if path is not None:
        if not path.is_file():
            raise ImageUnreachable(path if not is_uri(ref) else ref, "image file not found",
                                   hint=LOCAL_HINT if not is_uri(ref) else "")
        return Image.open(path)
    fs, inner = filesystem(str(ref))
    try:
        data = fs.cat_file(inner)
    except Exception as exc:  # noqa: BLE001 - every fsspec backend has its own errors; all mean "not reached"
        raise ImageUnreachable(ref, _reason(exc, str(ref))) from None
    return Image.open(io.BytesIO(data))


def image_size(ref: str | os.PathLike, project_root: str | os.PathLike | None = None) -> tuple[int, int]:
    """(width, height) after EXIF orientation, read from the image's header only.

    A local file goes through :func:`media.image_size` (as ``dlp ingest`` of a folder). A remote
    one is read from its first ``HEADER_BYTES``, then a larger prefix (up to ``MAX_HEADER_BYTES``)
    when Pillow cannot tell the size from it yet (a JPEG with a large EXIF block first).

    Raises:
        ImageUnreachable: the file cannot be read.
        DataError: it is read, but Pillow finds no image size in it.

    Example:
        >>> import fsspec
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGB", (40, 20)).save(buffer, format="PNG")
        >>> fsspec.filesystem("memory").pipe("/doc/a.png", buffer.getvalue())
        >>> image_size("memory://doc/a.png")
        (40, 20)
    """
    from .media import image_size as local_size

    path = locate(ref, project_root)
    if path is not None:
        if not path.is_file():
            raise ImageUnreachable(path if not is_uri(ref) else ref, "image file not found",
                                   hint=LOCAL_HINT if not is_uri(ref) else "")
        try:
            return local_size(path)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad header
            raise DataError.single(str(ref), None, "data.image", f"cannot read the image size from its header: "
                                                                 f"{exc}") from None
    return _remote_size(str(ref))


def _remote_size(uri: str) -> tuple[int, int]:
    fs, inner = filesystem(uri)
    try:
        try:  # no read-ahead cache: a read of n bytes fetches n bytes
            fh = fs.open(inner, "rb", block_size=HEADER_BYTES, cache_type="none")
        except TypeError:  # a backend without those options
            fh = fs.open(inner, "rb")
        with fh:
            data = fh.read(HEADER_BYTES)
            while True:
                size, problem = _size_from_prefix(data)
                if size is not None:
                    return size
                if len(data) >= MAX_HEADER_BYTES:
                    break
                more = fh.read(min(len(data) * 3, MAX_HEADER_BYTES - len(data)))
                if not more:  # the whole file, and still no size
                    break
                data += more
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every fsspec backend has its own errors; all mean "not reached"
        raise ImageUnreachable(uri, _reason(exc, uri)) from None
    raise DataError.single(shown(uri), None, "data.image",
                           f"cannot read the image size from its first {len(data)} bytes ({problem}); expected a "
                           "PNG, JPEG or other Pillow format")


def _size_from_prefix(data: bytes) -> tuple[tuple[int, int] | None, str]:
    """The oriented size Pillow reads from the first bytes of a file, or None and why not."""
    import struct

    from PIL import Image

    from .media import oriented_size

    try:
        with Image.open(io.BytesIO(data)) as img:
            return oriented_size(img, decode=False), ""
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        return None, str(exc)


def list_images(prefix: str, suffixes: frozenset[str]) -> list[str]:
    """The URIs of the files under a URI prefix whose names end in one of ``suffixes``, sorted.

    Each URI is ``prefix`` (with a trailing slash) plus the file's path below it, so ids built
    from them read like the prefix the user gave. HTTP has no folders to list: give a file of
    URLs instead.

    Raises:
        ImageUnreachable: the prefix cannot be listed (no such bucket, no credentials, ...).

    Example:
        >>> import fsspec
        >>> fsspec.filesystem("memory").pipe("/doc/list/b.png", b"x")
        >>> list_images("memory://doc/list", frozenset({".png"}))
        ['memory://doc/list/b.png']
    """
    if protocol(prefix) in ("http", "https"):
        raise ImageUnreachable(prefix, "an HTTP address is not a folder that can be listed; give a text file with one "
                                       "image URL per line instead (dlp ingest urls.txt)")
    fs, root = filesystem(prefix)
    try:
        found = fs.find(root)
    except Exception as exc:  # noqa: BLE001 - every fsspec backend has its own errors
        raise ImageUnreachable(prefix, _reason(exc, prefix)) from None
    base = prefix.rstrip("/") + "/"
    inner = root.rstrip("/") + "/"
    uris = []
    for path in found:
        if os.path.splitext(path)[1].lower() not in suffixes:
            continue
        if path.rstrip("/") == root.rstrip("/"):  # the prefix is one file
            uris.append(prefix)
        else:
            uris.append(base + path[len(inner):] if path.startswith(inner) else fs.unstrip_protocol(path))
    return sorted(uris)


def filesystem(uri: str):
    """The fsspec file system and inner path of a URI, or ImageUnreachable saying what is missing."""
    import fsspec.core

    try:
        return fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        raise ImageUnreachable(uri, _reason(exc, uri)) from None
    except ValueError as exc:  # "Protocol not known: foo"
        raise ImageUnreachable(uri, f"unknown protocol ({redact(str(exc))})") from None


def protocol(uri: str) -> str:
    """The scheme of a URI, lower case.

    >>> protocol("S3://b/a.png")
    's3'
    """
    return uri.split("://", 1)[0].lower()


def _reason(exc: BaseException, uri: str) -> str:
    """Why a URI could not be read, in words that say what to do, without credentials."""
    proto = protocol(uri)
    if isinstance(exc, ImportError):
        if proto in EXTRAS:
            module, extra = EXTRAS[proto]
            return (f"{proto}:// needs {module}, which is not installed; install it with: "
                    f"pip install 'data-labeling-pipeline[{extra}]'")
        return f"{proto}:// needs a library that is not installed ({redact(str(exc))})"
    if isinstance(exc, FileNotFoundError):
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, FileNotFoundError):  # fsspec's HTTP says "not found" for all
            return _reason(cause, uri)
        return "not found (HTTP 404 or no such object)"
    if isinstance(exc, PermissionError):
        return f"access denied; check the credentials fsspec uses for {proto}:// (environment or its config)"
    status = getattr(exc, "status", None) or getattr(exc, "code", None)
    detail = redact(str(exc)) or type(exc).__name__
    if status == 404:
        return "not found (HTTP 404 or no such object)"
    if status in (401, 403):
        return f"access denied (HTTP {status}); check the credentials or the URL's signature"
    if isinstance(status, int):
        return f"HTTP {status} ({type(exc).__name__}: {detail})"
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return f"timed out ({detail})"
    return f"cannot fetch it ({type(exc).__name__}: {detail})"
