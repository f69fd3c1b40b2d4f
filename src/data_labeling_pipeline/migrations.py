"""Label schema migrations: add, rename, merge, deprecate and split classes; re-map old labels.

Pure: every function takes a label schema dict (and records) and returns new ones; nothing
here reads or writes files. Each migration bumps ``schema_version`` by one and appends a
machine-readable entry to ``history``, so the schema itself holds the chain that re-maps a
record labelled at any older version to the current one (history is never rewritten by hand):

- ``{version, change: add, class: NAME, id: N}``
- ``{version, change: rename, from: OLD, to: NEW, id: N}`` (the class keeps its id)
- ``{version, change: merge, from: [A, B], into: C, id: N, retired_ids: [...]}``
- ``{version, change: deprecate, class: NAME}`` (stays in ``classes`` with ``deprecated: true``)
- ``{version, change: split, from: A, into: [B, C], ids: {B: n, C: m}}`` (A is deprecated)

Ids are never reused: a new class takes the largest id ever used (current or retired) + 1.
A split is the one change whose old labels cannot be re-mapped (an old ``A`` may be ``B`` or
``C``): A stays as a deprecated class, so old labels remain valid, and its items are
relabelled by people.

>>> s = {"task_type": "ner", "schema_version": 1, "classes": [{"id": 1, "name": "PER"}],
...      "history": [{"version": 1, "change": "created", "classes": ["PER"]}]}
>>> s2 = rename_class(s, "PER", "PERSON")
>>> s2["schema_version"], s2["classes"], s2["history"][-1]["change"]
(2, [{'id': 1, 'name': 'PERSON'}], 'rename')
>>> remap_record(s2, {"item_id": "a", "schema_version": 1, "spans": [{"start": 0, "end": 2, "label": "PER"}]})
{'item_id': 'a', 'schema_version': 2, 'spans': [{'start': 0, 'end': 2, 'label': 'PERSON'}]}
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ConfigError, Problem

LABELS = "schema/labels.yaml"
# Changes whose old labels map one-to-one onto current ones; a split does not (it asks for relabelling).
CHANGES = ("created", "added", "add", "rename", "merge", "deprecate", "split")


def _refuse(message: str, field: str = "$.classes") -> ConfigError:
    return ConfigError([Problem(LABELS, None, field, message)])


def current_names(schema: dict) -> list[str]:
    """Every class name of the current version, deprecated ones included, in schema order."""
    return [c["name"] for c in schema["classes"]]


def active_names(schema: dict) -> list[str]:
    """Class names that new labels may use (not deprecated), in schema order."""
    return [c["name"] for c in schema["classes"] if not c.get("deprecated")]


def deprecated_names(schema: dict) -> list[str]:
    return [c["name"] for c in schema["classes"] if c.get("deprecated")]


def used_ids(schema: dict) -> set[int]:
    """Every id ever given: the current classes' and the retired ones recorded in history."""
    ids = {c["id"] for c in schema["classes"]}
    for entry in schema.get("history") or []:
        ids.update(entry.get("retired_ids") or [])
    return ids


def next_id(schema: dict) -> int:
    return max(used_ids(schema), default=0) + 1


def names_by_version(schema: dict) -> dict[int, set[str]]:
    """The class names of each version, replayed from the history (the current version from ``classes``)."""
    names: set[str] = set()
    out: dict[int, set[str]] = {}
    for entry in schema.get("history") or []:
        change = entry.get("change")
        if change in ("created", "added"):
            names |= set(entry.get("classes") or [])
        elif change == "add":
            names.add(entry["class"])
        elif change == "rename":
            names = (names - {entry["from"]}) | {entry["to"]}
        elif change == "merge":
            names = (names - set(entry["from"])) | {entry["into"]}
        elif change == "split":
            names |= set(entry["into"])
        out[entry["version"]] = set(names)
    out[schema["schema_version"]] = set(current_names(schema))
    return out


def historical_names(schema: dict) -> list[str]:
    """Names that old records may carry but the current schema no longer has, sorted."""
    now = set(current_names(schema))
    return sorted({n for names in names_by_version(schema).values() for n in names} - now)


def _chain(schema: dict, name: str, from_version: int) -> str:
    for entry in schema.get("history") or []:
        if entry["version"] <= from_version:
            continue
        if entry.get("change") == "rename" and name == entry["from"]:
            name = entry["to"]
        elif entry.get("change") == "merge" and name in entry["from"]:
            name = entry["into"]
    return name


def current_label(schema: dict, name: str, version: int | None = None) -> str:
    """The current name of a label given at ``version`` (default: the current version).

    A name the current schema lacks is read at the last version that had it, so records
    stamped with the wrong version (a Label Studio export pulled after a rename) still map.

    >>> s = merge_classes(new_schema(["cat", "dog"]), ["cat", "dog"], "pet")
    >>> current_label(s, "cat", 1), current_label(s, "pet")
    ('pet', 'pet')
    """
    now = schema["schema_version"]
    if version is not None and version < now:
        name = _chain(schema, name, version)
    if name in current_names(schema):
        return name
    seen = [v for v, names in names_by_version(schema).items() if name in names]
    return _chain(schema, name, max(seen)) if seen else name


def needs_remap(schema: dict) -> bool:
    """Whether records of some schema version may carry labels the current schema names otherwise."""
    return _has_migrations(schema) or bool(historical_names(schema))


def _has_migrations(schema: dict) -> bool:
    return any(e.get("change") in ("rename", "merge") for e in schema.get("history") or [])


def remap_record(schema: dict, record: dict) -> dict:
    """A record with its labels (label, labels, spans[].label, boxes[].label) in the current schema.

    A record already at the current version whose names are current comes back unchanged (equal).
    """
    if not _has_migrations(schema) and record.get("schema_version") == schema["schema_version"]:
        return record
    return _remapper(schema)(record)


def _remapper(schema: dict):
    """`remap_record` for one schema, with each (name, version) resolved once (100k records: 0.4-0.7 s)."""
    names = set(current_names(schema))
    now = schema["schema_version"]
    cache: dict[tuple, str] = {}

    def remap(record: dict) -> dict:
        version = record.get("schema_version")

        def fix(name):
            if name in names and version == now:
                return name
            key = (name, version)
            if key not in cache:
                cache[key] = current_label(schema, name, version)
            return cache[key]

        return _apply(record, fix, version, now)

    return remap


def _apply(record: dict, fix, version, now: int) -> dict:
    out = dict(record)
    if isinstance(out.get("label"), str):
        out["label"] = fix(out["label"])
    if isinstance(out.get("labels"), list):
        out["labels"] = list(dict.fromkeys(fix(n) if isinstance(n, str) else n for n in out["labels"]))
    for key in ("spans", "boxes"):
        if isinstance(out.get(key), list):
            out[key] = [{**r, "label": fix(r["label"])} if isinstance(r, dict) and isinstance(r.get("label"), str)
                        else r for r in out[key]]
    if isinstance(version, int) and version < now:
        out["schema_version"] = now
    return out


def remap_records(schema: dict, records: list[dict]) -> list[dict]:
    """`remap_record` of each record; the same list object when the schema has no re-mapping to do."""
    if not _has_migrations(schema) and all(r.get("schema_version") == schema["schema_version"] for r in records):
        return records
    remap = _remapper(schema)
    return [remap(r) for r in records]


def readable_schema(schema: dict) -> dict:
    """A copy whose classes also hold the historical names, to validate old records before re-mapping."""
    out = copy.deepcopy(schema)
    out["classes"] = [*out["classes"], *({"id": -1, "name": n} for n in historical_names(schema))]
    return out


def labels_in(record: dict) -> list[str]:
    """Every class name a record's payload uses."""
    found = [record["label"]] if isinstance(record.get("label"), str) else []
    found += [n for n in record.get("labels") or [] if isinstance(n, str)]
    for key in ("spans", "boxes"):
        found += [r["label"] for r in record.get(key) or [] if isinstance(r, dict) and "label" in r]
    return found


# --- the migrations -------------------------------------------------------------------------


def new_schema(names: list[str], task_type: str = "image_classification") -> dict:
    """A version-1 schema (for examples and tests)."""
    return {"task_type": task_type, "schema_version": 1, "multi_label": False,
            "classes": [{"id": i, "name": n} for i, n in enumerate(names, start=1)],
            "history": [{"version": 1, "change": "created", "classes": list(names)}]}


def _known(schema: dict, name: str, role: str = "class") -> dict:
    for c in schema["classes"]:
        if c["name"] == name:
            return c
    hint = f"; it was renamed or merged away (now {current_label(schema, name)!r})" if name in historical_names(
        schema) else ""
    raise _refuse(f"unknown {role} {name!r}{hint}; expected one of {current_names(schema)}")


def _fresh(schema: dict, name: str) -> None:
    """Refuse a name for a new class: empty, current, or used before (old labels of it would be ambiguous)."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise _refuse(f"expected a non-empty class name without surrounding spaces, got {name!r}")
    if name in current_names(schema):
        raise _refuse(f"class {name!r} already exists (id {_known(schema, name)['id']}); pick another name")
    if name in historical_names(schema):
        raise _refuse(f"{name!r} was a class before and its old labels now map to "
                      f"{current_label(schema, name)!r}; a new class of that name would make them ambiguous; "
                      "pick another name")


def _bump(schema: dict, entry: dict) -> dict:
    out = copy.deepcopy(schema)
    out["schema_version"] = schema["schema_version"] + 1
    out.setdefault("history", []).append({"version": out["schema_version"], **entry})
    return out


def add_class(schema: dict, name: str) -> dict:
    """Append a class with a never-used id."""
    _fresh(schema, name)
    cid = next_id(schema)
    out = _bump(schema, {"change": "add", "class": name, "id": cid})
    out["classes"].append({"id": cid, "name": name})
    return out


def rename_class(schema: dict, old: str, new: str) -> dict:
    """Rename a class; it keeps its id and position. Renaming back to an old name of it is allowed."""
    cls = _known(schema, old)
    if old == new:
        raise _refuse(f"renaming {old!r} to itself changes nothing")
    if not isinstance(new, str) or not new.strip() or new != new.strip():
        raise _refuse(f"expected a non-empty class name without surrounding spaces, got {new!r}")
    if new in current_names(schema):
        raise _refuse(f"class {new!r} already exists; to join the two classes use: dlp schema merge-classes "
                      f"{old} {new} --into {new}")
    if new in historical_names(schema) and current_label(schema, new) != old:
        raise _refuse(f"{new!r} was a class before and its old labels now map to {current_label(schema, new)!r}, "
                      f"not {old!r}; renaming {old!r} to it would make them ambiguous; pick another name")
    out = _bump(schema, {"change": "rename", "from": old, "to": new, "id": cls["id"]})
    for c in out["classes"]:
        if c["name"] == old:
            c["name"] = new
    return out


def merge_classes(schema: dict, sources: list[str], into: str) -> dict:
    """Merge classes into one: ``into`` may be one of them (it keeps its id) or a new name (a new id).

    The merged-away classes leave ``classes``; their ids are recorded as retired and never reused.
    """
    if len(sources) < 2 or len(set(sources)) != len(sources):
        raise _refuse(f"merging needs at least two different classes, got {list(sources)}")
    for name in sources:
        _known(schema, name)
    if into not in sources:
        _fresh(schema, into)
    keep = next((c for c in schema["classes"] if c["name"] == into), None)
    cid = keep["id"] if keep else next_id(schema)
    retired = sorted(c["id"] for c in schema["classes"] if c["name"] in sources and c["name"] != into)
    out = _bump(schema, {"change": "merge", "from": list(sources), "into": into, "id": cid, "retired_ids": retired})
    out["classes"] = [c for c in out["classes"] if c["name"] not in sources or c["name"] == into]
    if keep is None:
        out["classes"].append({"id": cid, "name": into})
    if not active_names(out):
        raise _refuse("the merge would leave no class that new labels may use")
    return out


def deprecate_class(schema: dict, name: str) -> dict:
    """Mark a class deprecated: new labels of it are refused, old ones stay valid and keep their id."""
    cls = _known(schema, name)
    if cls.get("deprecated"):
        raise _refuse(f"class {name!r} is already deprecated")
    if active_names(schema) == [name]:
        raise _refuse(f"{name!r} is the last class new labels may use; add another class first")
    out = _bump(schema, {"change": "deprecate", "class": name})
    for c in out["classes"]:
        if c["name"] == name:
            c["deprecated"] = True
    return out


def split_class(schema: dict, name: str, into: list[str]) -> dict:
    """Add the classes ``into`` and deprecate ``name``: its old labels cannot be re-mapped by rule.

    ``name`` is deprecated rather than retired so its old labels stay valid (and exportable)
    until people relabel its items.
    """
    cls = _known(schema, name)
    if cls.get("deprecated"):
        raise _refuse(f"class {name!r} is deprecated; split a class in use")
    if len(into) < 2 or len(set(into)) != len(into):
        raise _refuse(f"splitting needs at least two different new classes, got {list(into)}")
    for new in into:
        _fresh(schema, new)
    first = next_id(schema)
    ids = {new: first + k for k, new in enumerate(into)}
    out = _bump(schema, {"change": "split", "from": name, "into": list(into), "ids": ids})
    for c in out["classes"]:
        if c["name"] == name:
            c["deprecated"] = True
    out["classes"] += [{"id": ids[new], "name": new} for new in into]
    return out


def describe(entry: dict) -> str:
    """A one-line summary of a history entry, for the suggested commit message."""
    change = entry["change"]
    if change == "add":
        text = f"add class {entry['class']}"
    elif change == "rename":
        text = f"rename {entry['from']} -> {entry['to']}"
    elif change == "merge":
        text = f"merge {' + '.join(entry['from'])} -> {entry['into']}"
    elif change == "deprecate":
        text = f"deprecate {entry['class']}"
    elif change == "split":
        text = f"split {entry['from']} -> {' + '.join(entry['into'])}"
    else:
        text = change
    return f"schema v{entry['version']}: {text}"


def check_history(history: Any, problems: list[Problem], path: str) -> None:
    """Problems of a ``history`` list (used by labels.check_label_schema)."""
    if history is None:
        return
    if not isinstance(history, list):
        problems.append(Problem(path, None, "$.history", f"expected a list of entries, got {history!r}"))
        return
    for i, entry in enumerate(history):
        where = f"$.history[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(path, None, where, f"expected a mapping, got {entry!r}"))
            continue
        if entry.get("change") not in CHANGES:
            problems.append(Problem(path, None, f"{where}.change", f"{entry.get('change')!r} is not one of "
                                    f"{list(CHANGES)}"))
        version = entry.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            problems.append(Problem(path, None, f"{where}.version", f"expected an integer >= 1, got {version!r}"))
