"""Read the three shapes of Label Studio JSON exports into one internal form.

- default JSON: tasks with ``annotations`` (``completed_by`` = user id), each with
  the task's newest ``prediction`` object; ``predictions`` = a list of ids.
- snapshot (``serialization_options``): the same tasks, but ``predictions`` are
  full objects and ``completed_by`` is ``{"id", "email", ...}``.
- JSON_MIN: one flat row per non-cancelled annotation: data fields, ``id`` (task),
  ``<from_name>`` (a choice string, ``{"choices": [...]}`` or a list of region
  dicts; absent for an empty result), ``annotator`` (user id), ``annotation_id``.

The internal form (:class:`RawTask`, :class:`RawEntry`, :class:`Region`) keeps the
JSON path of everything, so later problems point at the exact field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_labeling_pipeline.errors import Problem

from .common import is_int, is_number, problem

# Result types read per task type; Rectangle + Labels (two results sharing an id)
# is the other way Label Studio configs draw labelled boxes.
ACCEPTED_TYPES = {
    "image_classification": {"choices"},
    "text_classification": {"choices"},
    "ner": {"labels"},
    "bbox": {"rectanglelabels", "rectangle", "labels"},
}
MIN_META_KEYS = {
    "id",
    "annotator",
    "annotation_id",
    "created_at",
    "updated_at",
    "lead_time",
    "draft_created_at",
}
ENTRY_FIELDS = ("created_at", "updated_at", "lead_time", "ground_truth", "parent_prediction", "score")


@dataclass
class Region:
    """One result region: ``value`` lives at ``path``; ``result_path`` holds the result-level keys."""

    path: str
    result_path: str
    type: str
    value: dict
    region_id: Any = None
    original_width: Any = None
    original_height: Any = None
    image_rotation: Any = None
    score: Any = None


@dataclass
class RawEntry:
    """One annotation (``who`` = annotator) or prediction (``who`` = model version) as read."""

    path: str
    entry_id: int | None
    who: str | None
    regions: list[Region]
    fields: dict[str, Any]
    cancelled: bool = False


@dataclass
class RawTask:
    """One task with its annotations and predictions."""

    index: int
    path: str
    task_id: int | None
    project: int | None
    data: dict
    annotations: list[RawEntry] = field(default_factory=list)
    predictions: list[RawEntry] = field(default_factory=list)
    prediction_ids: list[int] = field(default_factory=list)


@dataclass
class ReadContext:
    """Options and accumulators shared while reading one file."""

    file: str
    task_type: str
    users: dict[int, str]
    from_name: str | None
    data_key: str
    classes: list[str] | None
    problems: list[Problem]
    stats: dict[str, int]
    known_items: dict[str, str] = field(default_factory=dict)
    from_names: frozenset[str] | None = None  # the control tags read (None: every tag of the type)
    first: int = 0  # the index of the first task in its file (an export read in parts), for $[i] paths

    def bad(self, field_path: str, message: str) -> None:
        self.problems.append(problem(self.file, field_path, message))


def detect_shape(tasks: list) -> str:
    """``"default"``, ``"snapshot"`` or ``"min"`` (JSON_MIN) for a parsed export list.

    >>> detect_shape([{"id": 1, "data": {"text": "hi"}, "annotations": [{"completed_by": 2}]}])
    'default'
    >>> detect_shape([{"id": 1, "text": "hi", "sentiment": "positive", "annotator": 2}])
    'min'
    """
    dicts = [t for t in tasks if isinstance(t, dict)]
    if dicts and not any(isinstance(t.get("data"), dict) or "annotations" in t for t in dicts):
        return "min"
    for task in dicts:
        if any(isinstance(p, dict) for p in _as_list(task.get("predictions"))):
            return "snapshot"
        if any(
            isinstance(a, dict) and isinstance(a.get("completed_by"), dict)
            for a in _as_list(task.get("annotations"))
        ):
            return "snapshot"
    return "default"


def read_full(tasks: list, ctx: ReadContext) -> list[RawTask]:
    """Read default-JSON or snapshot tasks."""
    out = []
    for i, task in enumerate(tasks, start=ctx.first):
        path = f"$[{i}]"
        if not isinstance(task, dict):
            ctx.bad(path, f"expected a task object, got {type(task).__name__}")
            continue
        data = task.get("data")
        if not isinstance(data, dict):
            ctx.bad(f"{path}.data", f"expected an object with the task data, got {_kind(data)}")
            continue
        raw = RawTask(i, path, _int_or_none(task.get("id")), _int_or_none(task.get("project")), data)
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            ctx.bad(f"{path}.annotations", f"expected a list, got {_kind(annotations)}")
            annotations = []
        for j, ann in enumerate(annotations):
            apath = f"{path}.annotations[{j}]"
            if not isinstance(ann, dict):
                ctx.bad(apath, f"expected an annotation object, got {_kind(ann)}")
                continue
            raw.project = raw.project if raw.project is not None else _int_or_none(ann.get("project"))
            entry = _full_entry(ann, apath, ctx, annotator=annotator_of(ann.get("completed_by"), ctx.users))
            if entry.who is None:
                ctx.bad(
                    f"{apath}.completed_by",
                    f"expected a user id or a user object with an e-mail, got {ann.get('completed_by')!r}",
                )
                continue
            entry.cancelled = ann.get("was_cancelled") is True
            raw.annotations.append(entry)
            embedded = ann.get("prediction")
            # Every annotation of a task embeds the same newest prediction: read it once.
            if isinstance(embedded, dict) and is_int(embedded.get("id")):
                if all(p.entry_id != embedded["id"] for p in raw.predictions):
                    raw.predictions.append(_prediction_entry(embedded, f"{apath}.prediction", ctx))
        predictions = task.get("predictions", [])
        if not isinstance(predictions, list):
            ctx.bad(f"{path}.predictions", f"expected a list, got {_kind(predictions)}")
            predictions = []
        for k, pred in enumerate(predictions):
            if is_int(pred):
                raw.prediction_ids.append(pred)
            elif isinstance(pred, dict):
                raw.predictions.append(_prediction_entry(pred, f"{path}.predictions[{k}]", ctx))
            else:
                ctx.bad(f"{path}.predictions[{k}]", f"expected a prediction object or id, got {_kind(pred)}")
        out.append(raw)
    return out


def annotator_of(completed_by: Any, users: dict[int, str]) -> str | None:
    """The annotator name: the e-mail when known, else ``ls-user-<id>``.

    >>> annotator_of({"id": 2, "email": "ann1@example.com"}, {})
    'ann1@example.com'
    >>> annotator_of(3, {}), annotator_of(3, {3: "b@x"})
    ('ls-user-3', 'b@x')
    """
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()
        completed_by = completed_by.get("id")
    if isinstance(completed_by, str) and completed_by.strip().isdigit():
        completed_by = int(completed_by.strip())
    if is_int(completed_by):
        return users.get(completed_by) or f"ls-user-{completed_by}"
    if isinstance(completed_by, str) and completed_by.strip():
        return completed_by.strip()
    return None


def _full_entry(obj: dict, path: str, ctx: ReadContext, *, annotator: str | None) -> RawEntry:
    fields = {key: obj[key] for key in ENTRY_FIELDS if key in obj}
    entry = RawEntry(path, _int_or_none(obj.get("id")), annotator, [], fields)
    result = obj.get("result", [])
    if not isinstance(result, list):
        ctx.bad(f"{path}.result", f"expected a list of regions, got {_kind(result)}")
        return entry
    accepted = ACCEPTED_TYPES[ctx.task_type]
    for k, res in enumerate(result):
        rpath = f"{path}.result[{k}]"
        if not isinstance(res, dict):
            ctx.bad(rpath, f"expected a result object, got {_kind(res)}")
            ctx.stats["regions_invalid"] += 1
            continue
        rtype = res.get("type")
        if rtype not in accepted or (ctx.from_names is not None and res.get("from_name") not in ctx.from_names):
            # Other control tags (a TextArea comment, a Rating) are not labels of this task.
            ctx.stats["results_ignored"] += 1
            continue
        value = res.get("value")
        if not isinstance(value, dict):
            ctx.bad(f"{rpath}.value", f"expected an object, got {_kind(value)}")
            ctx.stats["regions_invalid"] += 1
            continue
        entry.regions.append(
            Region(
                f"{rpath}.value",
                rpath,
                rtype,
                value,
                res.get("id"),
                res.get("original_width"),
                res.get("original_height"),
                res.get("image_rotation"),
                res.get("score"),
            )
        )
    return entry


def _prediction_entry(pred: dict, path: str, ctx: ReadContext) -> RawEntry:
    version = pred.get("model_version")
    who = version.strip() if isinstance(version, str) and version.strip() else "unknown"
    return _full_entry(pred, path, ctx, annotator=who)


def read_min(rows: list, ctx: ReadContext) -> list[RawTask]:
    """Read JSON_MIN rows (grouped back into tasks by task id)."""
    key = _min_label_key(rows, ctx)
    by_task: dict[Any, RawTask] = {}
    for i, row in enumerate(rows, start=ctx.first):
        path = f"$[{i}]"
        if not isinstance(row, dict):
            ctx.bad(path, f"expected a row object, got {_kind(row)}")
            continue
        task_id = _int_or_none(row.get("id"))
        if task_id is None:
            ctx.bad(f"{path}.id", f"expected the task id (an integer), got {row.get('id')!r}")
            continue
        raw = by_task.get(task_id)
        if raw is None:
            data = {k: v for k, v in row.items() if k not in MIN_META_KEYS and k != key}
            raw = by_task[task_id] = RawTask(i, path, task_id, None, data)
        if row.get("annotator") is None and row.get("annotation_id") is None:
            continue  # a task without annotations: no annotator (LS 1.23 writes nulls)
        who = annotator_of(row.get("annotator"), ctx.users)
        if who is None:
            ctx.bad(f"{path}.annotator", f"expected a user id or e-mail, got {row.get('annotator')!r}")
            continue
        fields = {k: row[k] for k in ("created_at", "updated_at", "lead_time") if k in row}
        entry = RawEntry(path, _int_or_none(row.get("annotation_id")), who, [], fields)
        if key is not None and key in row:
            entry.regions = _min_regions(row[key], f"{path}.{key}", ctx)
        raw.annotations.append(entry)
    return list(by_task.values())


def _min_regions(value: Any, path: str, ctx: ReadContext) -> list[Region]:
    if ctx.task_type.endswith("classification"):
        if isinstance(value, str):
            return [Region(path, path, "choices", {"choices": [value]})]
        if isinstance(value, list):
            return [Region(path, path, "choices", {"choices": value})]
        if isinstance(value, dict):
            return [Region(path, path, "choices", value)]
    elif isinstance(value, list):
        regions = []
        rtype = "labels" if ctx.task_type == "ner" else "rectanglelabels"
        for k, val in enumerate(value):
            vpath = f"{path}[{k}]"
            if not isinstance(val, dict):
                ctx.bad(vpath, f"expected a region object, got {_kind(val)}")
                ctx.stats["regions_invalid"] += 1
                continue
            regions.append(
                Region(
                    vpath,
                    vpath,
                    rtype,
                    val,
                    None,
                    val.get("original_width"),
                    val.get("original_height"),
                    None,
                    None,
                )
            )
        return regions
    ctx.bad(path, f"unexpected label value {_kind(value)} for a {ctx.task_type} task")
    ctx.stats["regions_invalid"] += 1
    return []


def _fits(value: Any, task_type: str) -> bool:
    if task_type.endswith("classification"):
        return (
            isinstance(value, str)
            or (isinstance(value, dict) and isinstance(value.get("choices"), list))
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        )
    marker = "start" if task_type == "ner" else "x"
    return isinstance(value, list) and all(isinstance(v, dict) and marker in v for v in value)


def _min_label_key(rows: list, ctx: ReadContext) -> str | None:
    """The row key that holds the labels (the control tag's ``from_name``)."""
    if ctx.from_name is not None:
        return ctx.from_name
    fits: dict[str, bool] = {}
    for row in rows:
        if not isinstance(row, dict) or row.get("annotator") is None:
            continue
        for key, value in row.items():
            if key in MIN_META_KEYS or key in (ctx.data_key, "item_id"):
                continue
            fits[key] = fits.get(key, True) and _fits(value, ctx.task_type)
    candidates = sorted(k for k, ok in fits.items() if ok)
    if len(candidates) > 1 and ctx.classes is not None:
        # Extra string data fields look like single choices; the label key holds class names.
        known = set(ctx.classes)
        candidates = [
            k
            for k in candidates
            if all(
                not isinstance(r, dict) or k not in r or not isinstance(r[k], str) or r[k] in known
                for r in rows
            )
        ]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        ctx.bad("$", f"cannot tell which key holds the labels: {candidates}; pass from_name")
    elif fits:
        ctx.bad("$", f"no key holds {ctx.task_type} labels (keys {sorted(fits)}); pass from_name")
    return None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _int_or_none(value: Any) -> int | None:
    return value if is_int(value) else None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if is_number(value) or isinstance(value, bool):
        return repr(value)
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)
