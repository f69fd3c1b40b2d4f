"""The semantic diff of two versions of a labeling project's records (pure: no files, no git).

Record files are sorted by key (``(item_id, annotator)`` for annotations, ``item_id`` for
items and consensus), so two versions are compared by a streaming merge join: memory holds
the current pair of records and the changes found, never a whole side. Unsorted input
raises :class:`NotSorted`; the caller then sorts and compares again.

>>> a = [(("i1", "ann"), {"label": "cat"})]
>>> b = [(("i1", "ann"), {"label": "dog"})]
>>> diff_annotations(a, b)["relabels"][0]["new"]
{'label': 'dog'}
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

PAYLOAD_KEYS = ("label", "labels", "spans", "boxes")
IOU_MATCH = 0.5
DECIMALS = 6
REGION_KIND = {"spans": "span", "boxes": "box"}


class NotSorted(ValueError):
    """A record stream is not sorted by its key (the merge join needs sorted input)."""


def payload(record: dict) -> dict:
    """The label part of an annotation or consensus record."""
    return {k: record[k] for k in PAYLOAD_KEYS if k in record}


def _checked(pairs: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    previous = None
    for key, record in pairs:
        if previous is not None and key <= previous:
            raise NotSorted(f"records are not sorted by key (or a key repeats): {key!r} after {previous!r}")
        previous = key
        yield key, record


def merge_join(a: Iterable[tuple[Any, Any]], b: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any, Any]]:
    """Pair two key-sorted streams of ``(key, value)``: yields ``(key, a_value or None, b_value or None)``.

    >>> list(merge_join([(1, "a"), (3, "c")], [(2, "b"), (3, "C")]))
    [(1, 'a', None), (2, None, 'b'), (3, 'c', 'C')]
    """
    end = object()
    ia, ib = _checked(a), _checked(b)
    ka, va = next(ia, (end, None))
    kb, vb = next(ib, (end, None))
    while ka is not end or kb is not end:
        if kb is end or (ka is not end and ka < kb):
            yield ka, va, None
            ka, va = next(ia, (end, None))
        elif ka is end or kb < ka:
            yield kb, None, vb
            kb, vb = next(ib, (end, None))
        else:
            yield ka, va, vb
            ka, va = next(ia, (end, None))
            kb, vb = next(ib, (end, None))


SAME = (None, None, None)  # what join_lines yields for a byte-identical record on both sides


class BadRecord(ValueError):
    """A line that is not a JSON object with string key fields: ``side`` ("a"/"b"), ``line`` (1-based)."""

    def __init__(self, side: str, line: int, message: str):
        super().__init__(message)
        self.side, self.line = side, line


def key_pattern(fields: tuple[str, ...]) -> tuple[re.Pattern, tuple[int, ...]]:
    """A regex that reads the key fields of a canonical JSON line (keys in sorted order), and
    the group numbers in ``fields`` order.

    In canonical JSON the first ``"item_id":"`` is the top-level key (a quote inside a string
    is escaped, and no nested object of a record has such a key); a line that does not match
    (other key order, escaped or missing values) is parsed instead.
    """
    order = sorted(fields)
    pattern = rb".*?".join(b'"' + re.escape(f.encode("utf-8")) + rb'":"([^"\\]*)"' for f in order)
    return re.compile(pattern), tuple(order.index(f) + 1 for f in fields)


def _keyed_lines(lines: Iterable[bytes], side: str, loads: Callable, fields: tuple[str, ...]):
    search, groups = key_pattern(fields)
    search = search.search
    single = len(fields) == 1
    previous = None
    for line, raw in enumerate(lines, start=1):
        match = search(raw)
        record = None
        if match is not None:
            key = (match.group(1),) if single else match.group(*groups)
        else:
            if not raw.strip():
                continue
            record = _parse(raw, side, line, loads, fields)
            key = tuple((record.get(f) or "").encode("utf-8") for f in fields)
        if previous is not None and key <= previous:
            raise NotSorted(f"records are not sorted by {', '.join(fields)} (or a key repeats) at line {line}")
        previous = key
        yield key, raw, record, line


def _parse(raw: bytes, side: str, line: int, loads: Callable, fields: tuple[str, ...]) -> dict:
    try:
        record = loads(raw)
    except ValueError as exc:
        raise BadRecord(side, line, f"invalid JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get(fields[0]), str):
        raise BadRecord(side, line, f"expected a JSON object with a string {fields[0]}")
    return record


def join_lines(a_lines: Iterable[bytes], b_lines: Iterable[bytes], *, loads: Callable,
               fields: tuple[str, ...], value: Callable[[dict], Any],
               value_b: Callable[[dict], Any] | None = None) -> Iterator[tuple]:
    """Merge-join two key-sorted streams of JSONL lines, parsing only the lines that differ.

    Yields :data:`SAME` for a line byte-identical on both sides (same key, same record),
    else ``(key, value(a_record) or None, value_b(b_record) or None)`` with ``key`` the tuple
    of ``fields`` (str); ``value_b`` defaults to ``value``. Raises NotSorted for unsorted
    input, BadRecord for a bad line.

    >>> a = [b'{"item_id":"i1","label":"cat"}', b'{"item_id":"i2","label":"dog"}']
    >>> b = [b'{"item_id":"i1","label":"cat"}', b'{"item_id":"i2","label":"cow"}']
    >>> import json
    >>> list(join_lines(a, b, loads=json.loads, fields=("item_id",), value=payload))
    [(None, None, None), (('i2',), {'label': 'dog'}, {'label': 'cow'})]
    """
    values = {"a": value, "b": value_b or value}

    def record(raw, rec, line, side, key):
        rec = rec if rec is not None else _parse(raw, side, line, loads, fields)
        if tuple((rec.get(f) or "").encode("utf-8") for f in fields) != key:
            raise NotSorted("a line's key needs a full parse")  # the caller falls back to parsed keys
        return values[side](rec)

    def decode(key):
        return tuple(k.decode("utf-8") for k in key)

    end = (None, None, None, None)
    ia, ib = _keyed_lines(a_lines, "a", loads, fields), _keyed_lines(b_lines, "b", loads, fields)
    ka, ra, pa, la = next(ia, end)
    kb, rb, pb, lb = next(ib, end)
    while ka is not None or kb is not None:
        if ka is not None and ka == kb:
            if ra == rb:
                yield SAME
            else:
                yield decode(ka), record(ra, pa, la, "a", ka), record(rb, pb, lb, "b", kb)
            ka, ra, pa, la = next(ia, end)
            kb, rb, pb, lb = next(ib, end)
        elif kb is None or (ka is not None and ka < kb):
            yield decode(ka), record(ra, pa, la, "a", ka), None
            ka, ra, pa, la = next(ia, end)
        else:
            yield decode(kb), None, record(rb, pb, lb, "b", kb)
            kb, rb, pb, lb = next(ib, end)


# --- regions: spans and boxes ---------------------------------------------------------------

def _iou(a: dict, b: dict) -> float:
    x1, y1 = max(a["x"], b["x"]), max(a["y"], b["y"])
    x2, y2 = min(a["x"] + a["w"], b["x"] + b["w"]), min(a["y"] + a["h"], b["y"] + b["h"])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return inter / union if union > 0 else 0.0


def _overlap(a: dict, b: dict) -> float:
    return float(max(0, min(a["end"], b["end"]) - max(a["start"], b["start"])))


def match_regions(old: list[dict], new: list[dict], *, kind: str) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Match regions by ``id`` first, then boxes by IoU >= 0.5 and spans by overlapping offsets.

    Returns the matched index pairs, the unmatched old and the unmatched new indices.
    Greedy by best score; ties go to the earlier regions, so the result is deterministic.
    """
    pairs: list[tuple[int, int]] = []
    new_by_id = {r["id"]: j for j, r in enumerate(new) if r.get("id") is not None}
    used_old, used_new = set(), set()
    for i, r in enumerate(old):
        j = new_by_id.get(r.get("id")) if r.get("id") is not None else None
        if j is not None and j not in used_new:
            pairs.append((i, j))
            used_old.add(i)
            used_new.add(j)
    score = _iou if kind == "boxes" else _overlap
    candidates = []
    for i, r in enumerate(old):
        if i in used_old:
            continue
        for j, s in enumerate(new):
            if j in used_new:
                continue
            value = score(r, s)
            if (value >= IOU_MATCH) if kind == "boxes" else (value > 0):
                candidates.append((-value, i, j))
    for _neg, i, j in sorted(candidates):
        if i not in used_old and j not in used_new:
            pairs.append((i, j))
            used_old.add(i)
            used_new.add(j)
    return (sorted(pairs), [i for i in range(len(old)) if i not in used_old],
            [j for j in range(len(new)) if j not in used_new])


def _round(value: float) -> float | int:
    out = round(value, DECIMALS)
    return int(out) if float(out).is_integer() else out


def region_changes(old: list[dict], new: list[dict], *, kind: str) -> list[dict]:
    """What happened to each region: added, removed, or matched and relabelled/moved/resized.

    >>> region_changes([{"x": 0, "y": 0, "w": 10, "h": 10, "label": "car"}],
    ...                [{"x": 2, "y": 0, "w": 10, "h": 10, "label": "car"}], kind="boxes")[0]["delta"]
    {'dx': 2, 'dy': 0, 'dw': 0, 'dh': 0}
    """
    pairs, gone, came = match_regions(old, new, kind=kind)
    events: list[dict] = []
    for i, j in pairs:
        a, b = old[i], new[j]
        changes = []
        if a["label"] != b["label"]:
            changes.append("relabelled")
        if kind == "boxes":
            delta = {"dx": _round(b["x"] - a["x"]), "dy": _round(b["y"] - a["y"]),
                     "dw": _round(b["w"] - a["w"]), "dh": _round(b["h"] - a["h"])}
            if delta["dx"] or delta["dy"]:
                changes.append("moved")
            if delta["dw"] or delta["dh"]:
                changes.append("resized")
        else:
            delta = {"dstart": b["start"] - a["start"], "dend": b["end"] - a["end"]}
            if delta["dstart"] == delta["dend"] != 0:
                changes.append("moved")
            elif delta["dstart"] or delta["dend"]:
                changes.append("resized")
        if changes:
            events.append({"change": sorted(changes), "old": a, "new": b, "delta": delta})
    events += [{"change": ["removed"], "old": old[i], "new": None, "delta": None} for i in gone]
    events += [{"change": ["added"], "old": None, "new": new[j], "delta": None} for j in came]
    return events


# --- record files ----------------------------------------------------------------------------

def diff_annotations(a: Iterable[tuple[tuple, dict]], b: Iterable[tuple[tuple, dict]]) -> dict:
    """Relabels per (item, annotator), new and removed annotations, and span/box changes.

    ``a`` and ``b`` are key-sorted streams of ``((item_id, annotator), payload)``.
    """
    return annotation_changes(merge_join(a, b))


def annotation_changes(joined: Iterable[tuple]) -> dict:
    """:func:`diff_annotations` from joined ``(key, old, new)`` triples (:data:`SAME` for identical records)."""
    totals = Counter()
    relabels, added, removed, regions = [], [], [], []
    transitions: Counter = Counter()
    same = 0
    for key, old, new in joined:
        if key is None:
            same += 1
            continue
        item_id, annotator = key
        if old is not None:
            totals["annotations_a"] += 1
        if new is not None:
            totals["annotations_b"] += 1
        if old is None:
            added.append({"item_id": item_id, "annotator": annotator, "new": new})
            continue
        if new is None:
            removed.append({"item_id": item_id, "annotator": annotator, "old": old})
            continue
        if old == new:
            continue
        relabels.append({"item_id": item_id, "annotator": annotator, "old": old, "new": new})
        if "label" in old and "label" in new:
            transitions[(old["label"], new["label"])] += 1
        for kind in ("spans", "boxes"):
            if kind in old or kind in new:
                for event in region_changes(old.get(kind) or [], new.get(kind) or [], kind=kind):
                    regions.append({"item_id": item_id, "annotator": annotator, "kind": REGION_KIND[kind], **event})
                    if "relabelled" in event["change"]:
                        transitions[(event["old"]["label"], event["new"]["label"])] += 1
    totals["annotations_a"] += same
    totals["annotations_b"] += same
    totals["relabelled"] = len(relabels)
    totals["added"] = len(added)
    totals["removed"] = len(removed)
    region_counts = Counter(change for e in regions for change in e["change"])
    return {"totals": dict(totals), "relabels": relabels, "added": added, "removed": removed,
            "regions": regions, "region_totals": dict(sorted(region_counts.items())),
            "transitions": transitions}


def diff_consensus(a: Iterable[tuple[str, dict]], b: Iterable[tuple[str, dict]]) -> dict:
    """Consensus flips: items whose consensus payload changed (plus items gaining or losing one)."""
    return consensus_changes(merge_join(a, b))


def consensus_changes(joined: Iterable[tuple]) -> dict:
    """:func:`diff_consensus` from joined ``(item_id, old, new)`` triples."""
    flips, transitions = [], Counter()
    for item_id, old, new in joined:
        if old is None or new is None or old == new:
            continue
        flips.append({"item_id": item_id[0] if isinstance(item_id, tuple) else item_id, "old": old, "new": new})
        if "label" in old and "label" in new:
            transitions[(old["label"], new["label"])] += 1
    return {"flips": flips, "transitions": transitions}


def diff_items(a: Iterable[tuple[str, Any]], b: Iterable[tuple[str, Any]]) -> dict:
    """Items added, removed and changed (``a``/``b``: sorted ``(item_id, data)`` pairs)."""
    return item_changes(merge_join(a, b))


def item_changes(joined: Iterable[tuple]) -> dict:
    """:func:`diff_items` from joined ``(item_id, old, new)`` triples (:data:`SAME` for identical items)."""
    added, removed, changed = [], [], []
    n_a = n_b = 0
    for item_id, old, new in joined:
        if item_id is None:
            n_a += 1
            n_b += 1
            continue
        if isinstance(item_id, tuple):
            item_id = item_id[0]
        n_a += old is not None
        n_b += new is not None
        if old is None:
            added.append(item_id)
        elif new is None:
            removed.append(item_id)
        elif old != new:
            changed.append(item_id)
    return {"items_a": n_a, "items_b": n_b, "added": added, "removed": removed, "changed": changed}


def diff_corrections(a: list[dict], b: list[dict]) -> dict:
    """Corrections added, removed and edited, keyed by (item_id, annotator), with author and reason."""
    def keyed(records):
        return {(r["item_id"], r.get("annotator", "")): r for r in records}

    ka, kb = keyed(a), keyed(b)

    def entry(key, rec, old=None):
        out = {"item_id": key[0], "author": key[1], "reason": rec.get("note") or rec.get("reason"),
               "payload": payload(rec)}
        if old is not None:
            out["old_payload"] = payload(old)
        return out

    return {"added": [entry(k, kb[k]) for k in sorted(kb.keys() - ka.keys())],
            "removed": [entry(k, ka[k]) for k in sorted(ka.keys() - kb.keys())],
            "changed": [entry(k, kb[k], ka[k]) for k in sorted(ka.keys() & kb.keys()) if ka[k] != kb[k]]}


def diff_schema(a: dict | None, b: dict | None) -> dict:
    """The label schema's version change, the migration entries new in B and classes added/removed."""
    import json

    a, b = a or {}, b or {}
    seen = {json.dumps(h, sort_keys=True) for h in a.get("history") or []}
    migrations = [h for h in b.get("history") or [] if json.dumps(h, sort_keys=True) not in seen]
    names_a = [c["name"] for c in a.get("classes") or []]
    names_b = [c["name"] for c in b.get("classes") or []]
    return {"version_a": a.get("schema_version"), "version_b": b.get("schema_version"),
            "migrations": migrations,
            "classes_added": [n for n in names_b if n not in names_a],
            "classes_removed": [n for n in names_a if n not in names_b]}


def flatten_numbers(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of a JSON object, keyed by its dotted path (booleans excluded).

    >>> flatten_numbers({"a": 1, "b": {"c": 0.5, "d": "x"}})
    {'a': 1, 'b.c': 0.5}
    """
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for key in sorted(obj):
            out.update(flatten_numbers(obj[key], f"{prefix}{key}."))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = obj
    return out


def diff_metrics(a: dict | None, b: dict | None) -> dict[str, dict]:
    """``{key: {"a", "b", "delta"}}`` for every numeric key on either side (missing side: None)."""
    fa, fb = flatten_numbers(a or {}), flatten_numbers(b or {})
    out = {}
    for key in sorted(fa.keys() | fb.keys()):
        va, vb = fa.get(key), fb.get(key)
        out[key] = {"a": va, "b": vb, "delta": None if va is None or vb is None else _round(vb - va)}
    return out


def transition_matrix(annotations: Counter, consensus: Counter) -> list[dict]:
    """Rows ``{old, new, annotations, consensus}`` sorted by total count, then by class names."""
    keys = set(annotations) | set(consensus)
    rows = [{"old": o, "new": n, "annotations": annotations.get((o, n), 0), "consensus": consensus.get((o, n), 0)}
            for o, n in keys]
    return sorted(rows, key=lambda r: (-(r["annotations"] + r["consensus"]), r["old"], r["new"]))
