"""`dlp correct ITEM`: append a reviewer's correction to annotations/corrections.jsonl.

A correction is an annotation record by the git user (``git config user.email``, else
``user.name``) with ``note`` = the reason and ``source.kind = "correction"``; the agree stage
lets it win over the consensus. Every check runs before anything is written: the item must
be in annotations/items.jsonl, classes must be current and not deprecated, boxes inside the
image, spans inside the text and not crossing each other. One reviewer keeps one correction
per item (the file allows one record per item and annotator): a new one replaces theirs.
The file is rewritten whole, sorted and canonical, through a temp file and a rename.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import DataError, Problem, ProjectError
from ..project import ANNOTATIONS, ITEMS, Project

CORRECTIONS = "annotations/corrections.jsonl"


@dataclass
class Correction:
    record: dict
    replaced: bool

    def describe(self) -> str:
        verb = "replaced the correction of" if self.replaced else "corrected"
        return (f"{verb} {self.record['item_id']} by {self.record['annotator']} -> {CORRECTIONS}\n"
                f"run `dvc repro` (agree applies it), then: git commit -am \"correct {self.record['item_id']}\"")


def git_user(root) -> str:
    """The git user of the repository: user.email, else user.name."""
    for key in ("user.email", "user.name"):
        try:
            out = subprocess.run(["git", "config", key], cwd=root, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise ProjectError("git is not installed; corrections are signed with the git user") from None
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    raise ProjectError("no git user: set one with: git config user.email you@example.com "
                       "(corrections are signed with it)")


def _flag_json(flag: str, text: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError.single(flag, None, "", f"invalid JSON: {exc.msg} (column {exc.colno}); expected a list "
                               "of objects, e.g. " + _EXAMPLE[flag]) from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise DataError.single(flag, None, "", f"expected a JSON list of objects, e.g. {_EXAMPLE[flag]}")
    return value


_EXAMPLE = {"--spans": '[{"start": 0, "end": 5, "label": "PER"}]',
            "--boxes": '[{"x": 10, "y": 20, "w": 30, "h": 40, "label": "car"}]'}


def build_payload(schema: dict, *, label: str | None, labels: list[str] | None, spans: str | None,
                  boxes: str | None) -> dict:
    """The payload the task type takes, from exactly one of the flags; classes checked."""
    from ..labels import PAYLOAD_KEY
    from ..migrations import active_names, current_label, deprecated_names

    key = PAYLOAD_KEY[schema["task_type"]]
    if key == "label" and schema.get("multi_label"):
        key = "labels"
    given = {k for k, v in (("label", label), ("labels", labels), ("spans", spans), ("boxes", boxes)) if v}
    if given != {key}:
        got = ", ".join(f"--{k}" for k in sorted(given)) or "none"
        raise DataError.single("dlp correct", None, "", f"a {schema['task_type']}"
                               f"{' multi-label' if key == 'labels' else ''} correction takes --{key}; got {got}")
    value = {"label": label, "labels": labels}.get(key)
    if key in ("spans", "boxes"):
        value = _flag_json(f"--{key}", spans if key == "spans" else boxes)
    names = [value] if key == "label" else list(value) if key == "labels" else [r.get("label") for r in value]
    problems = []
    for i, name in enumerate(names):
        field = f"$[{i}].label" if key in ("spans", "boxes") else ""
        if name in deprecated_names(schema):
            problems.append(Problem(f"--{key}", None, field, f"class {name!r} is deprecated; new labels must use "
                                    f"one of {active_names(schema)}"))
        elif name not in active_names(schema):
            now = current_label(schema, name) if isinstance(name, str) else name
            hint = f" (it is now {now!r})" if now != name and now in active_names(schema) else ""
            problems.append(Problem(f"--{key}", None, field, f"unknown class {name!r}{hint}; expected one of "
                                    f"{active_names(schema)}"))
    if key == "labels" and len(set(value)) != len(value):
        problems.append(Problem("--labels", None, "", f"duplicate classes in {value}"))
    if key == "spans":
        problems += crossing_spans(value)
    if problems:
        raise DataError(problems)
    return {key: value}


def crossing_spans(spans: list[dict]) -> list[Problem]:
    """Spans that overlap without one containing the other, or repeat the same range."""
    problems = []
    ranges = sorted((s.get("start"), s.get("end"), i) for i, s in enumerate(spans)
                    if isinstance(s.get("start"), int) and isinstance(s.get("end"), int))
    for k, (a0, a1, i) in enumerate(ranges):  # a correction holds a few spans: every pair is cheap
        for b0, b1, j in ranges[k + 1:]:
            if (a0, a1) == (b0, b1):
                problems.append(Problem("--spans", None, f"$[{j}]", f"repeats the range {a0}:{a1} of spans[{i}]"))
            elif b0 < a1 < b1:
                problems.append(Problem("--spans", None, f"$[{j}]", f"{b0}:{b1} crosses spans[{i}] {a0}:{a1}; "
                                        "spans may nest but not overlap partly"))
    return problems


def run_correct(project: Project, item_id: str, *, reason: str, label: str | None = None,
                labels: list[str] | None = None, spans: str | None = None, boxes: str | None = None,
                overrides: str | None = None, now: datetime | None = None) -> Correction:
    """Validate one correction and write it into annotations/corrections.jsonl (sorted, atomic)."""
    from ..checks import annotation_checker
    from ..records import read_records, write_jsonl

    if not reason or not reason.strip():
        raise DataError.single("--reason", None, "", "say why the label is corrected (it is kept as the note)")
    schema = project.label_schema
    payload = build_payload(schema, label=label, labels=labels, spans=spans, boxes=boxes)
    if not project.path(ITEMS).exists():
        raise ProjectError(f"{ITEMS} is missing; run dvc repro (pull) first")
    items = {item["item_id"]: item for item in project.read_items(ITEMS)}
    if item_id not in items:
        raise DataError.single("ITEM", None, "", f"{item_id!r} is not in {ITEMS}; expected an item id such as "
                               f"{sorted(items)[:3]}")
    source: dict = {"kind": "correction"}
    if overrides:
        source["overrides"] = _overridden(project, item_id, overrides, items)
    record = {"item_id": item_id, "annotator": git_user(project.root), "schema_version": schema["schema_version"],
              **payload, "created_at": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "note": reason.strip(), "source": source}
    validator = project.validators["annotation"]
    problems = validator.problems(record, "dlp correct", None) if not validator.is_valid(record) else []
    problems += [Problem("dlp correct", None, f, m) for f, m in annotation_checker(items)(record)]
    if problems:
        raise DataError(problems)
    # Other lines are kept byte for byte (re-mapping them is agree's job), so branches still merge line by line.
    existing = read_records(project.path(CORRECTIONS), display_path=CORRECTIONS) \
        if project.path(CORRECTIONS).exists() else []
    kept = [r for r in existing if (r["item_id"], r["annotator"]) != (item_id, record["annotator"])]
    write_jsonl(project.path(CORRECTIONS), [*kept, record])
    return Correction(record, replaced=len(kept) != len(existing))


def _overridden(project: Project, item_id: str, overrides: str, items: dict) -> dict:
    """The annotation a correction overrides, named by its annotator or its Label Studio annotation id."""
    from .schema import read_current

    found = [r for r in read_current(project, ANNOTATIONS, items) if r["item_id"] == item_id] \
        if project.path(ANNOTATIONS).exists() else []
    for r in found:
        ref = (r.get("source") or {}).get("annotation")
        if overrides in (r["annotator"], str(ref)):
            return {"annotator": r["annotator"], "annotation": ref}
    raise DataError.single("--overrides", None, "", f"no annotation of {item_id!r} by or with id {overrides!r}; "
                           f"its annotators are {sorted(r['annotator'] for r in found)}")
