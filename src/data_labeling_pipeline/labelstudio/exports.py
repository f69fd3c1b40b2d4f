"""Label Studio JSON exports -> item, annotation and prediction records (the core of ``pull``).

Pure: takes the parsed JSON of one export file (a list) and plain options,
returns records, counts and problems. The stage reads and writes the files.

Rules beyond the payload rules of :mod:`.regions`:

- shape: default JSON, snapshot (full ``completed_by`` and predictions) or
  JSON_MIN, detected per file (:func:`.shapes.detect_shape`).
- item id: ``data.item_id`` when present, else ``ls-<project>-<task>`` (``ls-<task>``
  when the export names no project and none is passed: JSON_MIN has none).
- image path: ``/data/local-files/?d=<path>`` -> ``<path>`` (the Local Files root is
  the repository root); ``/data/upload/<project>/<8 hex>-<name>`` -> ``<name>`` (an
  upload has no repository path: match it by name); URLs (``s3://``, ``https://``)
  are kept as they are; other paths are normalised to POSIX and must be relative.
- image size: ``original_width`` / ``original_height`` of the task's results, else
  ``data.width`` / ``data.height`` (written by :func:`to_label_studio_tasks`), else
  ``image_sizes[item_id]``; otherwise ``width`` / ``height`` are left out and the
  caller fills them from ``items.jsonl`` (classification results carry no size).
- annotator: the e-mail when the export has it (snapshot), else ``users[id]``,
  else ``ls-user-<id>``.
- cancelled annotations are skipped (``cancelled_skipped``); of two annotations by
  one annotator of one item the newest (``updated_at``, else ``created_at``, then
  the annotation id) wins (``superseded``).
- kept: ``ground_truth`` (only when true), ``created_at``, ``updated_at``,
  ``lead_time``, ``parent_prediction`` (when set) and ``source``.
- predictions: full objects (snapshot ``predictions``, default-export
  ``annotations[].prediction``), deduplicated by id; per item and model version
  the newest is kept. Prediction ids without an object are counted
  (``predictions_unresolved``); JSON_MIN has no predictions.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from data_labeling_pipeline.errors import Problem

from .binding import Binding, resolve_binding
from .common import URL_SCHEME, check_task_type, class_names, data_key_for, is_int, is_number, users_by_id
from .regions import build_payload
from .shapes import RawEntry, RawTask, ReadContext, detect_shape, read_full, read_min
from .tasks import to_label_studio_tasks

if TYPE_CHECKING:
    from .config_reader import LabelConfig

__all__ = ["ParsedExport", "parse_export", "image_path_from_url", "to_label_studio_tasks"]

STAT_KEYS = (
    "tasks",
    "items",
    "annotations_read",
    "annotations",
    "cancelled_skipped",
    "superseded",
    "empty_kept",
    "empty_skipped",
    "annotations_invalid",
    "spans_repaired_utf16",
    "spans_unrepairable",
    "boxes_rotated_enveloped",
    "regions_invalid",
    "results_ignored",
    "unknown_class_labels",
    "predictions_read",
    "predictions",
    "predictions_superseded",
    "predictions_unresolved",
)
_UPLOAD = re.compile(r"/data/upload/(?:\d+/)?(?:[0-9a-f]{8}-)?(?P<name>[^/]+)$")


@dataclass
class ParsedExport:
    """What one export file holds: records sorted by (item_id, annotator / model_version)."""

    shape: str
    items: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    binding: Binding | None = None


def parse_export(
    tasks: Any,
    *,
    task_type: str,
    classes: list | None,
    source_file: str,
    schema_version: int = 1,
    multi_label: bool = False,
    users: Mapping[Any, str] | None = None,
    project: int | None = None,
    from_name: str | None = None,
    data_key: str | None = None,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    known_items: Mapping[str, str] | None = None,
    label_config: LabelConfig | None = None,
    binding: Binding | None = None,
    first_index: int = 0,
) -> ParsedExport:
    """Read one Label Studio JSON export (default, snapshot or JSON_MIN) into records.

    Never raises on bad data: every problem is returned with its file and JSON path.

    Args:
        tasks: the parsed JSON of the export file (a list).
        task_type: ``image_classification``, ``text_classification``, ``ner`` or ``bbox``.
        classes: class names (or ``{"id", "name"}`` dicts) of the label schema; None skips the check.
        source_file: the file's path as it should appear in ``source`` and in problems.
        schema_version: written into every annotation.
        multi_label: classification payload ``labels`` instead of ``label``.
        users: Label Studio user id -> e-mail, to name annotators of exports that hold ids only.
        project: project id when the export does not carry it (JSON_MIN).
        from_name: read the results of this control tag (``pull.control``); default: the label
            config's control of the task type, else the one control the export's results use.
        data_key: the task data key of the image or text (``pull.data_key``); default: the label
            config's, else inferred from the export (:mod:`.binding`).
        image_sizes: item_id -> (width, height), for results without ``original_width``.
        known_items: the project's items by their data (image path, or text) -> item_id; a task
            without ``data.item_id`` whose image or text is one of them takes that item's id,
            so exports of tasks imported by hand land on the ingested items.
        label_config: the project's Label Studio config (:func:`.config_reader.parse_label_config`);
            used when its names fit the export. Data fields other than the labelled one go to
            the item's ``meta``.
        binding: read with this binding instead of resolving one (the later parts of an export
            read in parts take the first part's, :class:`.binding.Binding`).
        first_index: the index of ``tasks[0]`` in its file (a later part), so problems name ``$[i]`` of the file.

    Example:
        >>> tasks = [{"id": 7, "project": 2, "data": {"text": "good", "item_id": "t1"},
        ...           "annotations": [{"id": 1, "completed_by": 3,
        ...                            "result": [{"type": "choices", "value": {"choices": ["pos"]}}]}]}]
        >>> out = parse_export(tasks, task_type="text_classification", classes=["pos", "neg"],
        ...                    source_file="inbox/a.json", users={3: "ann@example.com"})
        >>> out.annotations[0]["annotator"], out.annotations[0]["label"], out.items[0]["data"]
        ('ann@example.com', 'pos', {'text': 'good'})
    """
    check_task_type(task_type)
    ctx = ReadContext(
        file=source_file,
        task_type=task_type,
        users=users_by_id(users),
        from_name=from_name,
        data_key=data_key or data_key_for(task_type),
        classes=class_names(classes),
        problems=[],
        stats={key: 0 for key in STAT_KEYS},
        known_items=dict(known_items or {}),
        first=first_index,
    )
    if not isinstance(tasks, list):
        ctx.bad("$", f"expected a list of tasks (a Label Studio JSON export), got {type(tasks).__name__}")
        return ParsedExport("unknown", stats=ctx.stats, problems=ctx.problems)
    shape = detect_shape(tasks)
    if binding is None:
        binding, unbound = resolve_binding(tasks, shape=shape, task_type=task_type, file=source_file,
                                           config=label_config, control=from_name, data_key=data_key,
                                           classes=ctx.classes)
        if binding is None:
            return ParsedExport(shape, stats=ctx.stats, problems=unbound)
    ctx.from_name, ctx.from_names, ctx.data_key = binding.from_name, binding.from_names, binding.data_key
    raw_tasks = read_min(tasks, ctx) if shape == "min" else read_full(tasks, ctx)
    sizes = dict(image_sizes or {})
    items: dict[str, dict] = {}
    annotations: dict[tuple[str, str], tuple[tuple, dict]] = {}
    predictions: dict[int | tuple, tuple[str, RawTask, RawEntry, tuple | None]] = {}
    for raw in raw_tasks:
        ctx.stats["tasks"] += 1
        task_project = raw.project if raw.project is not None else project
        item_id = _item_id(raw, task_project, ctx)
        if item_id is None:
            continue
        found = _result_sizes(raw)
        size = next(iter(found), None) or _data_size(raw) or sizes.get(item_id)
        item = _item(raw, item_id, found, size, ctx)
        meta = binding.meta_of(raw.data)
        if item is not None and meta:
            item["meta"] = meta
        if item is not None:
            _merge_item(items, item, raw, ctx)
        text = raw.data.get(ctx.data_key) if task_type == "ner" else None
        for entry in raw.annotations:
            ctx.stats["annotations_read"] += 1
            if entry.cancelled:
                ctx.stats["cancelled_skipped"] += 1
                continue
            payload = build_payload(
                entry.regions,
                ctx,
                multi_label=multi_label,
                text=text if isinstance(text, str) else None,
                size=size,
                keep_score=False,
            )
            if payload is None:
                continue
            record = _annotation(entry, raw, item_id, task_project, payload, schema_version, source_file)
            key = (item_id, record["annotator"])
            rank = (_timestamp(entry), entry.entry_id if entry.entry_id is not None else -1)
            if key in annotations:
                ctx.stats["superseded"] += 1
                if annotations[key][0] >= rank:
                    continue
            annotations[key] = (rank, record)
        resolved = set()
        for entry in raw.predictions:
            pkey = entry.entry_id if entry.entry_id is not None else (raw.index, entry.path)
            resolved.add(entry.entry_id)
            if pkey not in predictions:
                predictions[pkey] = (item_id, raw, entry, size)
        ctx.stats["predictions_unresolved"] += len(set(raw.prediction_ids) - resolved)
    records = _predictions(
        predictions.values(),
        ctx,
        multi_label=multi_label,
        project=project,
        source_file=source_file,
    )
    ctx.stats["items"] = len(items)
    ctx.stats["annotations"] = len(annotations)
    return ParsedExport(
        shape,
        items=[items[k] for k in sorted(items)],
        annotations=[annotations[k][1] for k in sorted(annotations)],
        predictions=records,
        stats=ctx.stats,
        problems=ctx.problems,
        binding=binding,
    )


def image_path_from_url(url: str) -> str:
    """The repository path of an image as a Label Studio task references it.

    >>> image_path_from_url("/data/local-files/?d=images/a%20b.png")
    'images/a b.png'
    >>> image_path_from_url("/data/upload/3/1a2b3c4d-cat.png"), image_path_from_url("s3://bucket/x.png")
    ('cat.png', 's3://bucket/x.png')
    """
    parts = urlsplit(url)
    if parts.path.rstrip("/").endswith("/data/local-files"):
        found = parse_qs(parts.query, keep_blank_values=True).get("d")
        if found and found[0]:
            return _posix(found[0])
    upload = _UPLOAD.search(parts.path)
    if upload:
        return unquote(upload.group("name"))
    if URL_SCHEME.match(url):
        return url
    return _posix(url)


def _posix(path: str) -> str:
    path = path.replace("\\", "/")
    normal = posixpath.normpath(path)
    return normal[2:] if normal.startswith("./") else normal


def _item_id(raw: RawTask, project: int | None, ctx: ReadContext) -> str | None:
    given = raw.data.get("item_id")
    if isinstance(given, str) and given.strip() and not any(c in given for c in "\n\r\t"):
        return given
    if is_int(given):
        return str(given)
    if given is not None:
        ctx.bad(f"{raw.path}.data.item_id", f"expected a non-empty one-line string, got {given!r}")
        return None
    if ctx.known_items:
        value = raw.data.get(ctx.data_key)
        if isinstance(value, str):
            key = image_path_from_url(value) if ctx.task_type in ("image_classification", "bbox") else value
            if key in ctx.known_items:
                return ctx.known_items[key]
    if raw.task_id is None:
        ctx.bad(f"{raw.path}.id", "a task without data.item_id needs its task id to name the item")
        return None
    return f"ls-{project}-{raw.task_id}" if project is not None else f"ls-{raw.task_id}"


def _item(raw: RawTask, item_id: str, found: dict, size: tuple | None, ctx: ReadContext) -> dict | None:
    value = raw.data.get(ctx.data_key)
    if data_key_for(ctx.task_type) == "text":
        if not isinstance(value, str):
            ctx.bad(f"{raw.path}.data.{ctx.data_key}", f"expected the text (a string), got {value!r}")
            return None
        return {"item_id": item_id, "data": {"text": value}}
    if not isinstance(value, str) or not value:
        ctx.bad(f"{raw.path}.data.{ctx.data_key}", f"expected an image path or URL, got {value!r}")
        return None
    path = image_path_from_url(value)
    if path.startswith("/") or path == ".." or path.startswith("../"):
        ctx.bad(
            f"{raw.path}.data.{ctx.data_key}",
            f"{path!r} is not a path inside the repository; "
            "serve images from the repository root (Local Files) or use data.item_id",
        )
    data: dict[str, Any] = {"image": path}
    if len(found) > 1:
        ctx.bad(f"{raw.path}", f"results give different image sizes {sorted(found)}; using the first")
    if size is not None:
        data["width"], data["height"] = int(size[0]), int(size[1])
    return {"item_id": item_id, "data": data}


def _merge_item(items: dict[str, dict], item: dict, raw: RawTask, ctx: ReadContext) -> None:
    # One item in two tasks (imported twice): the same data, and a size if either task knows it.
    known = items.setdefault(item["item_id"], item)
    if known is item:
        return
    old, new = known["data"], item["data"]
    if old.get("image") != new.get("image") or old.get("text") != new.get("text"):
        ctx.bad(f"{raw.path}.data", f"item {item['item_id']!r} appears in two tasks with different data")
    elif "width" not in old and "width" in new:
        old["width"], old["height"] = new["width"], new["height"]


def _result_sizes(raw: RawTask) -> dict[tuple[int, int], None]:
    found: dict[tuple[int, int], None] = {}
    for entry in [*raw.annotations, *raw.predictions]:
        for region in entry.regions:
            ow, oh = region.original_width, region.original_height
            if is_number(ow) and is_number(oh) and ow > 0 and oh > 0:
                found[(ow, oh)] = None
    return found


def _data_size(raw: RawTask) -> tuple[int, int] | None:
    # to_label_studio_tasks writes the item's size into the task data.
    width, height = raw.data.get("width"), raw.data.get("height")
    if is_int(width) and is_int(height) and width > 0 and height > 0:
        return width, height
    return None


def _timestamp(entry: RawEntry) -> float:
    for key in ("updated_at", "created_at"):
        value = entry.fields.get(key)
        if isinstance(value, str):
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    return float("-inf")


def _annotation(
    entry: RawEntry,
    raw: RawTask,
    item_id: str,
    project: int | None,
    payload: dict,
    schema_version: int,
    source_file: str,
) -> dict:
    record: dict[str, Any] = {
        "item_id": item_id,
        "annotator": entry.who,
        "schema_version": schema_version,
        **payload,
    }
    fields = entry.fields
    if fields.get("ground_truth") is True:
        record["ground_truth"] = True
    for key in ("created_at", "updated_at"):
        if isinstance(fields.get(key), str):
            record[key] = fields[key]
    if is_number(fields.get("lead_time")) and fields["lead_time"] >= 0:
        record["lead_time"] = fields["lead_time"]
    if is_int(fields.get("parent_prediction")):
        record["parent_prediction"] = fields["parent_prediction"]
    record["source"] = {
        "kind": "label_studio",
        "file": source_file,
        "project": project,
        "task": raw.task_id,
        "annotation": entry.entry_id,
    }
    return record


def _predictions(
    found, ctx: ReadContext, *, multi_label: bool, project: int | None, source_file: str
) -> list[dict]:
    newest: dict[tuple[str, str], tuple[tuple, dict]] = {}
    for item_id, raw, entry, size in found:
        ctx.stats["predictions_read"] += 1
        text = raw.data.get(ctx.data_key) if ctx.task_type == "ner" else None
        payload = build_payload(
            entry.regions,
            ctx,
            multi_label=multi_label,
            text=text if isinstance(text, str) else None,
            size=size,
            keep_score=True,
            count=False,
        )
        if payload is None:
            continue
        record: dict[str, Any] = {"item_id": item_id, "model_version": entry.who, **payload}
        score = entry.fields.get("score")
        if not is_number(score) and "label" in payload:
            score = next((r.score for r in entry.regions if is_number(r.score)), None)
        if is_number(score):
            record["score"] = score
        record["source"] = {
            "kind": "label_studio",
            "file": source_file,
            "project": raw.project if raw.project is not None else project,
            "task": raw.task_id,
            "prediction": entry.entry_id,
        }
        key = (item_id, entry.who)
        rank = (_timestamp(entry), entry.entry_id if entry.entry_id is not None else -1)
        if key in newest:
            ctx.stats["predictions_superseded"] += 1
            if newest[key][0] >= rank:
                continue
        newest[key] = (rank, record)
    ctx.stats["predictions"] = len(newest)
    return [newest[k][1] for k in sorted(newest)]


_RESULT_TASK = {"rectanglelabels": "bbox", "rectangle": "bbox", "labels": "ner"}


def guess_task_type(tasks: Any, *, label_config: LabelConfig | None = None) -> str:
    """The task type of a Label Studio export (for files read without a project).

    From the label config's controls when given, else from the first result: its type, and
    for choices whether the labelled data is an image (a path or URL) or a text.

    >>> guess_task_type([{"data": {"review": "hi"}, "annotations": [{"result": [{"type": "choices"}]}]}])
    'text_classification'
    """
    if label_config is not None:
        from .config_reader import fitting_controls

        for task_type in ("bbox", "ner", "image_classification", "text_classification"):
            if fitting_controls(label_config, task_type):
                return task_type
    from .binding import OWN_KEYS, looks_like_image

    for task in tasks if isinstance(tasks, list) else []:
        for annotation in task.get("annotations") or [] if isinstance(task, dict) else []:
            for result in annotation.get("result") or [] if isinstance(annotation, dict) else []:
                kind = result.get("type") if isinstance(result, dict) else None
                if kind == "labels" and _labels_an_image(task, result):
                    return "bbox"
                if kind in _RESULT_TASK:
                    return _RESULT_TASK[kind]
                if kind == "choices":
                    data = {k: v for k, v in (task.get("data") or {}).items()
                            if k not in OWN_KEYS and isinstance(v, str)}
                    target = data.get(result.get("to_name"))
                    images = [looks_like_image(target)] if target is not None else map(looks_like_image, data.values())
                    return "image_classification" if any(images) else "text_classification"
    return "image_classification"


def _labels_an_image(task: dict, result: dict) -> bool:
    value = result.get("value")
    return isinstance(value, dict) and "x" in value and "start" not in value
