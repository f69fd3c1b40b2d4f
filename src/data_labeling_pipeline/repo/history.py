"""`dlp log ITEM`: the history of one item's labels across the commits of the project.

The commits are those of ``git log`` that touched dvc.lock, the DVC files of the
annotation outputs or corrections.jsonl; each commit's files are read through the DVC
API (cache or remote). A commit whose data cannot be read is reported as unavailable.
The workspace comes last when it differs from the last commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import DataError
from ..project import ANNOTATIONS, CONSENSUS, ITEMS, Project
from .labeldiff import payload
from .revisions import WORKSPACE, Revision, Unavailable, commits_touching

CORRECTIONS = "annotations/corrections.jsonl"
TRACKED = ["dvc.lock", f"{ANNOTATIONS}.dvc", f"{CONSENSUS}.dvc", CORRECTIONS]


@dataclass
class ItemState:
    annotations: dict[str, dict] = field(default_factory=dict)
    consensus: dict | None = None
    corrections: dict[str, dict] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.annotations or self.consensus or self.corrections)


def _matching(rev: Revision, path: str, item_id: str) -> list[dict]:
    """The records of ``item_id`` in a JSONL file: a byte search first, JSON only on hits."""
    from ..records import iter_jsonl

    needle = json.dumps(item_id, ensure_ascii=False).encode("utf-8")
    with rev.open(path) as fh:
        if fh is None:
            return []
        return [record for _, record in iter_jsonl(fh, f"{path}@{rev.name}", keep=lambda raw: needle in raw)
                if isinstance(record, dict) and record.get("item_id") == item_id]


def read_state(rev: Revision, item_id: str) -> ItemState:
    """What one revision says about one item (raises Unavailable when its data is not cached)."""
    consensus = _matching(rev, CONSENSUS, item_id)
    return ItemState(
        annotations={r.get("annotator", ""): payload(r) for r in _matching(rev, ANNOTATIONS, item_id)},
        consensus=payload(consensus[0]) if consensus else None,
        corrections={r.get("annotator", ""): r for r in _matching(rev, CORRECTIONS, item_id)},
    )


def state_changes(old: ItemState, new: ItemState) -> list[dict]:
    """The label events between two states of one item (pure), in a stable order.

    >>> state_changes(ItemState(), ItemState(consensus={"label": "cat"}))
    [{'kind': 'consensus', 'annotator': None, 'old': None, 'new': {'label': 'cat'}, 'note': None}]
    """
    events = []
    for annotator in sorted(old.corrections.keys() | new.corrections.keys()):
        a, b = old.corrections.get(annotator), new.corrections.get(annotator)
        if a != b:
            events.append({"kind": "correction", "annotator": annotator, "old": payload(a) if a else None,
                           "new": payload(b) if b else None, "note": (b or a or {}).get("note")})
    for annotator in sorted(old.annotations.keys() | new.annotations.keys()):
        a, b = old.annotations.get(annotator), new.annotations.get(annotator)
        if a != b:
            events.append({"kind": "annotation", "annotator": annotator, "old": a, "new": b, "note": None})
    if old.consensus != new.consensus:
        events.append({"kind": "consensus", "annotator": None, "old": old.consensus, "new": new.consensus,
                       "note": None})
    return events


def _known_item(project: Project, item_id: str) -> bool:
    return bool(_matching(Revision(project, None), ITEMS, item_id))


def item_history(project: Project, item_id: str) -> dict:
    """Every change of ``item_id``'s labels, oldest first, with commit, author and date."""
    commits = commits_touching(project.root, TRACKED)
    sides = [(c, Revision(project, c["commit"])) for c in commits]
    sides.append(({"commit": WORKSPACE, "author": None, "email": None, "date": None, "subject": "uncommitted changes"},
                  Revision(project, None)))
    previous, seen, events, unavailable = ItemState(), False, [], []
    for info, rev in sides:
        where = {"commit": info["commit"], "author": info["author"], "date": info["date"], "subject": info["subject"]}
        try:
            state = read_state(rev, item_id)
        except Unavailable as exc:
            unavailable.append({**where, "reason": str(exc)})
            events.append({**where, "kind": "unavailable", "annotator": None, "old": None, "new": None,
                           "note": str(exc)})
            continue
        seen = seen or not state.empty
        events += [{**where, **event} for event in state_changes(previous, state)]
        previous = state
    if not seen and not _known_item(project, item_id):
        raise DataError.single(ITEMS, None, "item_id", f"unknown item {item_id!r}: it has no items, annotations, "
                               "consensus or corrections at any revision (see annotations/items.jsonl for ids)")
    return {"item_id": item_id, "commits": len(commits), "events": events, "unavailable": len(unavailable)}


def _text(p: dict | None) -> str:
    if not p:
        return "-"
    if "label" in p:
        return str(p["label"])
    if "labels" in p:
        return "{" + ",".join(sorted(map(str, p["labels"]))) + "}"
    return "; ".join(f"{len(v)} {k}" for k, v in sorted(p.items()))


def format_history(history: dict, fmt: str = "table") -> str:
    """A plain-text table (default) or canonical JSON."""
    if fmt == "json":
        return json.dumps(history, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    header = ["commit", "date", "author", "kind", "annotator", "change", "note"]
    rows = [[e["commit"][:10], (e["date"] or "-")[:19], e["author"] or "-", e["kind"], e["annotator"] or "-",
             "-" if e["kind"] == "unavailable" else f"{_text(e['old'])} -> {_text(e['new'])}",
             (e["note"] or "-").replace("\n", " ")] for e in history["events"]]
    if not rows:
        return f"{history['item_id']}: no label changes in {history['commits']} commits\n"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(str(c).ljust(w) for c, w in zip(r[:-1], widths, strict=True)), str(r[-1])]).rstrip()
             for r in [header, *rows]]
    return f"history of {history['item_id']}\n" + "\n".join(lines) + "\n"


def run_log(item_id: str, *, fmt: str = "table", start=None) -> str:
    """`dlp log ITEM`: the formatted history of one item."""
    from .revisions import find_project

    if fmt not in ("table", "json"):
        raise ValueError(f"--format {fmt!r}: expected table or json")
    return format_history(item_history(find_project(start), item_id), fmt)
