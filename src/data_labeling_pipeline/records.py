"""JSONL records: streaming validated reads, canonical atomic writes.

Validation runs a validator compiled once per schema (fastjsonschema code
generation); only a record that fails is re-checked with jsonschema, which
gives the precise path and message users read
(``annotations/x.jsonl:42: $.label: 'cow' is not one of ['cat', 'dog']``).
"""

from __future__ import annotations

import gc
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import DataError, Problem

MAX_ERRORS = 50

try:  # orjson parses ~2x faster; the stdlib parser gives the same objects.
    from orjson import JSONDecodeError as _DecodeError
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson comes with dvc
    from json import JSONDecodeError as _DecodeError
    from json import loads as _loads


def iter_jsonl(lines: Iterable[bytes], display_path: str, *,
               keep: Callable[[bytes], bool] | None = None) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` of each non-blank line, streamed (nothing held but one line).

    ``keep`` skips lines before they are parsed (a byte search for a few items); invalid JSON is
    a DataError naming ``display_path`` and the line.

    >>> list(iter_jsonl([b'{"a":1}\\n', b"\\n", b'{"a":2}\\n'], "x.jsonl", keep=lambda raw: b"2" in raw))
    [(3, {'a': 2})]
    """
    for line, raw in enumerate(lines, start=1):
        if (keep is not None and not keep(raw)) or not raw.strip():
            continue
        try:
            yield line, _loads(raw)
        except (_DecodeError, ValueError) as exc:
            raise DataError.single(display_path, line, "", f"invalid JSON: {exc}") from None


def canonical_line(record: dict) -> str:
    """One record as canonical JSON: sorted keys, compact, UTF-8 text, no newline.

    >>> canonical_line({"b": 1, "a": "é"})
    '{"a":"é","b":1}'
    """
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


try:
    import orjson as _orjson

    _SORTED = _orjson.OPT_SORT_KEYS
    _PRETTY = _orjson.OPT_SORT_KEYS | _orjson.OPT_INDENT_2
except ImportError:  # pragma: no cover - orjson comes with dvc
    _orjson, _SORTED, _PRETTY = None, 0, 0

# Where orjson's bytes may differ from canonical_line's: Python writes a float below 1e-4 with an
# exponent (9.9e-05, 1e-07), orjson as 0.000099 and 1e-7 (2M random floats of every magnitude
# differed nowhere else). Such lines take the slow path, as does text that merely looks alike.
_EXPONENT = re.compile(rb"[0-9][eE][-+]")


def _may_differ(fast: bytes) -> bool:
    return b"0.0000" in fast or ((b"e-" in fast or b"e+" in fast or b"E" in fast) and bool(_EXPONENT.search(fast)))


def canonical_bytes(record: dict) -> bytes:
    """``canonical_line(record)`` plus a newline, UTF-8 encoded: the same bytes, ~5x faster.

    orjson writes them, except where its output could differ (see ``_may_differ``, integers
    beyond 64 bits, keys that are not strings), which the stdlib writes. A NaN or infinity,
    which orjson would write as ``null``, raises ValueError as in ``canonical_line``.

    >>> canonical_bytes({"b": 2.5e-05, "a": "é"}) == (canonical_line({"b": 2.5e-05, "a": "é"}) + "\\n").encode()
    True
    """
    fast = _orjson_bytes(record, _SORTED)
    return fast + b"\n" if fast is not None else (canonical_line(record) + "\n").encode("utf-8")


def _orjson_bytes(value: Any, option: int) -> bytes | None:
    """orjson's bytes of ``value`` when they are the stdlib's, else None."""
    if _orjson is None:
        return None
    try:
        fast = _orjson.dumps(value, option=option)
    except TypeError:
        return None
    if _may_differ(fast) or (b"null" in fast and not _all_finite(value)):
        return None
    return fast


def _all_finite(value: Any) -> bool:
    """No NaN or infinity inside ``value`` (x - x is 0.0 for every finite float, NaN otherwise)."""
    kind = type(value)
    if kind is float:
        return value - value == 0.0
    if kind is dict:
        value = value.values()
    elif kind is not list and kind is not tuple:
        return not isinstance(value, float) or value - value == 0.0
    for inner in value:
        kind = type(inner)
        if kind is str or kind is int or inner is None:
            continue
        if not _all_finite(inner):
            return False
    return True


def record_key(record: dict) -> tuple[str, str]:
    """The sort key of every record file: (item_id, annotator or model version)."""
    return (record["item_id"], record.get("annotator") or record.get("model_version") or "")


def _file_mode() -> int:
    """The mode a plain `open()` would give a new file (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a file so readers see the old or the new content, never half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, _file_mode())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_binary(path: str | os.PathLike):
    """A binary file handle whose content replaces ``path`` only when the block ends without error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, _file_mode())
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_dir(staging: str | os.PathLike, target: str | os.PathLike) -> None:
    """Swap a fully written folder in for ``target`` by rename; the old one is removed afterwards.

    Readers (and DVC) see the old folder or the new one, never a mix, and files that
    left do not linger.
    """
    import shutil

    staging, target = Path(staging), Path(target)
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "x")
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def write_jsonl(path: str | os.PathLike, records: Iterable[dict], *, sort: bool = True) -> int:
    """Write records as canonical JSONL, sorted by (item_id, annotator), atomically.

    Returns the number of records written. Same records, same bytes.
    """
    rows = sorted(records, key=record_key) if sort else records
    with atomic_binary(path) as fh:
        write, count = fh.write, 0
        for record in rows:
            write(canonical_bytes(record))
            count += 1
    return count


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Canonical pretty JSON (sorted keys, 2-space indent, trailing newline), atomically."""
    with atomic_binary(path) as fh:
        fh.write(pretty_json_bytes(obj))


def pretty_json_bytes(obj: Any) -> bytes:
    """``json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False)`` and a newline, UTF-8; orjson when equal.

    >>> pretty_json_bytes({"b": [], "a": 1e-05}).decode().split()
    ['{', '"a":', '1e-05,', '"b":', '[]', '}']
    """
    fast = _orjson_bytes(obj, _PRETTY)
    if fast is not None:
        return fast + b"\n"
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")



class Validator:
    """A JSON Schema compiled once: a fast yes/no check, a precise explanation on failure."""

    def __init__(self, schema: dict):
        import jsonschema

        from .fastcheck import compile_schema

        self.schema = schema
        self.is_valid = compile_schema(schema)
        self._explain = jsonschema.Draft202012Validator(schema)

    def problems(self, record: Any, path: str, line: int | None) -> list[Problem]:
        """Every schema violation of one record (empty when valid)."""
        if self.is_valid(record):
            return []
        errors = sorted(self._explain.iter_errors(record), key=lambda e: (list(e.absolute_path), e.message))
        found = [Problem(path, line, e.json_path, _message(e)) for e in _leaf_errors(errors)]
        # Both validators read the same schema; should they ever disagree, still refuse the record.
        return found or [Problem(path, line, "$", "record does not match its JSON Schema")]


def _leaf_errors(errors):
    """Prefer the most specific errors: a oneOf failure is explained by its best branch."""
    import jsonschema

    out = []
    for error in errors:
        if error.validator in ("oneOf", "anyOf") and error.context:
            out.append(jsonschema.exceptions.best_match(error.context))
        else:
            out.append(error)
    return out


def _message(error) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field(s) not allowed")
    return error.message


class ProblemCollector:
    """Collects problems up to a cap, then raises them once."""

    def __init__(self, cap: int = MAX_ERRORS):
        self.cap = cap
        self.problems: list[Problem] = []
        self.truncated = False

    def add(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            if len(self.problems) >= self.cap:
                self.truncated = True
                return
            self.problems.append(problem)

    @property
    def full(self) -> bool:
        return self.truncated

    def raise_if_any(self, cls: type[DataError] = DataError) -> None:
        if self.problems:
            raise cls(self.problems, truncated=self.truncated)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _no_problems(record: dict) -> list:
    return []


@contextmanager
def paused_gc():
    """Pause the cyclic GC while building many dicts (also as a decorator of a stage).

    Records hold no cycles, and the collector would otherwise rescan the growing lists again
    and again: with it paused, pull and agree of 300k annotations took a third less time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_records(
    path: str | os.PathLike,
    validator: Validator | None = None,
    *,
    check: Callable[[dict], list[tuple[str, str]]] | None = None,
    display_path: str | None = None,
    cap: int = MAX_ERRORS,
    fields: Iterable[str] | None = None,
) -> list[dict]:
    """Read a JSONL file, validating every record; raise one DataError listing all problems.

    Args:
        path: the JSONL file.
        validator: the compiled schema of the records (None: JSON syntax only).
        check: semantic checks of one schema-valid record, returning (field, message) pairs.
        display_path: how the file is named in messages (default: ``path`` as given).
        cap: stop collecting after this many problems.
        fields: keep only these keys of each (validated) record: a stage reading a few fields of
            millions of records holds those, not the whole records.

    Returns:
        The records in file order.
    """
    with paused_gc():
        return list(iter_records(path, validator, check=check, display_path=display_path, cap=cap, fields=fields))


def iter_records(
    path: str | os.PathLike,
    validator: Validator | None = None,
    *,
    check: Callable[[dict], list[tuple[str, str]]] | None = None,
    display_path: str | None = None,
    cap: int = MAX_ERRORS,
    fields: Iterable[str] | None = None,
) -> Iterator[dict]:
    """:func:`read_records` one record at a time: the valid records as they come, then the DataError.

    A reader that builds something small from millions of records holds none of them; it must not
    write anything before the iterator is exhausted, since a bad line is only reported at the end.
    """
    shown = display_path or str(path)
    collector = ProblemCollector(cap)
    is_valid = validator.is_valid if validator is not None else _is_object
    check = check or _no_problems
    wanted = None if fields is None else tuple(fields)
    with open(path, "rb") as fh:
        for line, raw in enumerate(fh, start=1):
            # The common case first and short: parse, check, keep. Everything else is the slow path.
            try:
                record = _loads(raw)
            except (_DecodeError, ValueError) as exc:
                if raw.strip():
                    collector.add([Problem(shown, line, "", f"invalid JSON: {exc}")])
                continue
            if is_valid(record) and isinstance(record, dict) and not (semantic := check(record)):
                yield record if wanted is None else {k: record[k] for k in wanted if k in record}
                continue
            if not isinstance(record, dict):
                collector.add([Problem(shown, line, "$", f"expected a JSON object, got {type(record).__name__}")])
            elif validator is not None and not validator.is_valid(record):
                collector.add(validator.problems(record, shown, line))
            else:
                collector.add(Problem(shown, line, field, message) for field, message in semantic)
            if collector.full:
                break
    collector.raise_if_any()
