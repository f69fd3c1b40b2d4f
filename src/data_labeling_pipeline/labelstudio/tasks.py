"""Our records -> Label Studio tasks (the inverse of :func:`.exports.parse_export`).

The tasks have Label Studio's import/export JSON shape: ``data`` (with
``item_id``, and ``width`` / ``height`` of images), ``annotations``
(``completed_by``, ``result`` regions in percent with ``original_width`` /
``original_height``) and ``predictions`` (``model_version``, ``score``).
:func:`.exports.parse_export` reads them back into the same records.

Deterministic: tasks in item-id order with ids 1..n, annotations by annotator,
predictions by model version, region ids from a hash of (item, author, index).
Not representable in Label Studio and so not written: item ``sha256`` / ``meta``,
box ``iscrowd``, prediction ``probabilities``. A rotated box whose envelope fits no
rectangle at its angle is written as its (unrotated) envelope.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from data_labeling_pipeline.errors import DataError, Problem

from .common import (
    RESULT_TYPE,
    URL_SCHEME,
    check_task_type,
    class_names,
    data_key_for,
    is_classification,
    users_by_id,
)
from .geometry import pixels_to_percent, rectangle_from_envelope

_LS_USER = re.compile(r"^ls-user-(\d+)$")


def to_label_studio_tasks(
    items: Iterable[dict],
    annotations: Iterable[dict] = (),
    predictions: Iterable[dict] = (),
    *,
    task_type: str,
    classes: list | None,
    multi_label: bool = False,
    users: Mapping[Any, str] | None = None,
    from_name: str = "label",
    to_name: str | None = None,
    data_key: str | None = None,
    image_url_prefix: str = "/data/local-files/?d=",
    project: int | None = None,
) -> list[dict]:
    """Label Studio tasks holding items, annotations and predictions.

    Args:
        items: item records (images need ``width`` / ``height`` when they have boxes).
        annotations: annotation records of these items.
        predictions: prediction records of these items.
        task_type: ``image_classification``, ``text_classification``, ``ner`` or ``bbox``.
        classes: class names (or ``{"id", "name"}`` dicts); labels outside them are an error.
        multi_label: classification records hold ``labels`` (a list) instead of ``label``.
        users: Label Studio user id -> e-mail; an annotator found there is written as the
            user id, ``ls-user-<id>`` as ``<id>``, anyone else as ``{"email": annotator}``.
        from_name: name of the control tag (see :func:`.label_config.label_config`).
        to_name: name of the object tag (default ``image`` or ``text``).
        data_key: task data key (default ``image`` or ``text``).
        image_url_prefix: put before an image path (Local Files); URLs are kept as they are.
        project: project id written into tasks, annotations and predictions.

    Raises:
        DataError: a record names an unknown item or class, or an image with boxes has no size.

    Example:
        >>> tasks = to_label_studio_tasks(
        ...     [{"item_id": "t1", "data": {"text": "good"}}],
        ...     [{"item_id": "t1", "annotator": "ls-user-3", "schema_version": 1, "label": "pos"}],
        ...     task_type="text_classification", classes=["pos", "neg"])
        >>> tasks[0]["data"], tasks[0]["annotations"][0]["completed_by"]
        ({'text': 'good', 'item_id': 't1'}, 3)
        >>> tasks[0]["annotations"][0]["result"][0]["value"]
        {'choices': ['pos']}
    """
    check_task_type(task_type)
    names = class_names(classes)
    key = data_key or data_key_for(task_type)
    to_name = to_name or data_key_for(task_type)
    ids = {email: uid for uid, email in sorted(users_by_id(users).items())}
    problems: list[Problem] = []
    by_id: dict[str, dict] = {}
    for i, item in enumerate(items):
        item_id = item.get("item_id")
        if item_id in by_id:
            problems.append(Problem("<items>", None, f"$[{i}].item_id", f"duplicate item id {item_id!r}"))
        by_id[item_id] = item
    anns = _group(annotations, by_id, "<annotations>", problems, "annotator")
    preds = _group(predictions, by_id, "<predictions>", problems, "model_version")
    writer = _RegionWriter(task_type, names, from_name, to_name, problems, multi_label=multi_label)
    tasks = []
    ann_id = pred_id = 0
    for task_id, item_id in enumerate(sorted(by_id, key=str), start=1):
        item = by_id[item_id]
        data = item.get("data") or {}
        value = data.get(data_key_for(task_type))
        if data_key_for(task_type) == "image" and isinstance(value, str) and not URL_SCHEME.match(value):
            value = image_url_prefix + quote(value, safe="/") if image_url_prefix else value
        task: dict[str, Any] = {
            "id": task_id,
            "data": {key: value, "item_id": item_id},
            "annotations": [],
            "predictions": [],
        }
        if data_key_for(task_type) == "image" and data.get("width") and data.get("height"):
            # Only box results carry the image size; parse_export reads it back from here.
            task["data"]["width"], task["data"]["height"] = data["width"], data["height"]
        if project is not None:
            task["project"] = project
        for where, record in anns.get(item_id, []):
            ann_id += 1
            ann: dict[str, Any] = {
                "id": ann_id,
                "completed_by": _completed_by(record["annotator"], ids),
                "result": writer.result(
                    record, item, where, f"{item_id}\x1f{record['annotator']}", manual=True
                ),
                "was_cancelled": False,
                "ground_truth": record.get("ground_truth") is True,
            }
            for field in ("created_at", "updated_at", "lead_time", "parent_prediction"):
                if record.get(field) is not None:
                    ann[field] = record[field]
            ann["task"] = task_id
            if project is not None:
                ann["project"] = project
            task["annotations"].append(ann)
        for where, record in preds.get(item_id, []):
            pred_id += 1
            pred: dict[str, Any] = {
                "id": pred_id,
                "model_version": record["model_version"],
                "result": writer.result(
                    record, item, where, f"{item_id}\x1f{record['model_version']}", manual=False
                ),
            }
            if record.get("score") is not None:
                pred["score"] = record["score"]
            pred["task"] = task_id
            if project is not None:
                pred["project"] = project
            task["predictions"].append(pred)
        tasks.append(task)
    if problems:
        raise DataError(problems)
    return tasks


def _group(records: Iterable[dict], by_id: dict, path: str, problems: list[Problem], who: str) -> dict:
    grouped: dict[str, list[tuple[str, dict]]] = {}
    for i, record in enumerate(records):
        if record.get("item_id") not in by_id:
            problems.append(
                Problem(path, None, f"$[{i}].item_id", f"{record.get('item_id')!r} is not in the items")
            )
        elif not isinstance(record.get(who), str) or not record[who]:
            problems.append(
                Problem(path, None, f"$[{i}].{who}", f"expected a non-empty string, got {record.get(who)!r}")
            )
        else:
            grouped.setdefault(record["item_id"], []).append((f"$[{i}]", record))
    for entries in grouped.values():
        entries.sort(key=lambda e: (e[1][who], e[1].get("created_at") or "", e[0]))
    return grouped


def _completed_by(annotator: str, ids: dict[str, int]) -> int | dict:
    if annotator in ids:
        return ids[annotator]
    match = _LS_USER.match(annotator)
    if match:
        return int(match.group(1))
    return {"email": annotator}


def region_id(seed: str, index: int) -> str:
    """A 10-character region id derived from what the region belongs to (Label Studio uses 10 random ones).

    >>> region_id("item-1\\x1fann@example.com", 0) == region_id("item-1\\x1fann@example.com", 0)
    True
    """
    return hashlib.sha1(f"{seed}\x1f{index}".encode()).hexdigest()[:10]


class _RegionWriter:
    """Payload -> Label Studio ``result`` list, collecting problems instead of raising at once."""

    def __init__(
        self,
        task_type: str,
        names: list[str] | None,
        from_name: str,
        to_name: str,
        problems: list[Problem],
        *,
        multi_label: bool,
    ):
        self.task_type, self.names, self.problems = task_type, names, problems
        self.payload_key = "labels" if multi_label else "label"
        self.source = "<annotations>"
        self.base = {"type": RESULT_TYPE[task_type], "from_name": from_name, "to_name": to_name}

    def _bad(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, None, where, message))

    def _check(self, label: Any, where: str) -> None:
        if not isinstance(label, str) or (self.names is not None and label not in self.names):
            self._bad(where, f"class {label!r} is not one of {self.names}")

    def result(self, record: dict, item: dict, where: str, seed: str, *, manual: bool) -> list[dict]:
        extra = {"origin": "manual"} if manual else {}
        self.source = "<annotations>" if manual else "<predictions>"
        if is_classification(self.task_type):
            if self.payload_key not in record:
                self._bad(
                    f"{where}.{self.payload_key}",
                    "missing (single-label records hold label, multi-label labels)",
                )
                return []
            if self.payload_key == "label":
                labels = [record["label"]]
                self._check(record["label"], f"{where}.label")
            else:
                labels = record["labels"]
                for k, label in enumerate(labels):
                    self._check(label, f"{where}.labels[{k}]")
            if not labels:
                return []
            return [{"id": region_id(seed, 0), **self.base, "value": {"choices": list(labels)}, **extra}]
        if self.task_type == "ner":
            return [
                self._span(span, item, f"{where}.spans[{k}]", region_id(seed, k), extra)
                for k, span in enumerate(self._payload(record, "spans", where))
            ]
        return [
            self._box(box, item, f"{where}.boxes[{k}]", region_id(seed, k), extra)
            for k, box in enumerate(self._payload(record, "boxes", where))
        ]

    def _payload(self, record: dict, key: str, where: str) -> list:
        if not isinstance(record.get(key), list):
            self._bad(f"{where}.{key}", f"expected a list, got {record.get(key)!r}")
            return []
        return record[key]

    def _span(self, span: dict, item: dict, where: str, rid: str, extra: dict) -> dict:
        self._check(span.get("label"), f"{where}.label")
        text = (item.get("data") or {}).get("text")
        start, end = span["start"], span["end"]
        quoted = text[start:end] if isinstance(text, str) else span.get("text", "")
        value = {"start": start, "end": end, "text": quoted, "labels": [span.get("label")]}
        out = {"id": rid, **self.base, "value": value, **extra}
        if span.get("score") is not None:
            out["score"] = span["score"]
        return out

    def _box(self, box: dict, item: dict, where: str, rid: str, extra: dict) -> dict:
        self._check(box.get("label"), f"{where}.label")
        data = item.get("data") or {}
        width, height = data.get("width"), data.get("height")
        if not width or not height:
            self._bad(where, f"item {item.get('item_id')!r} has no width/height; boxes need them for percent")
            width = height = 100
        x, y, w, h, rotation = box["x"], box["y"], box["w"], box["h"], box.get("rotation") or 0
        if rotation:
            rect = rectangle_from_envelope(x, y, w, h, rotation)
            if rect is None:
                rotation = 0  # no rectangle at this angle has this envelope: keep the envelope
            else:
                x, y, w, h = rect
        value = {
            "x": pixels_to_percent(x, width),
            "y": pixels_to_percent(y, height),
            "width": pixels_to_percent(w, width),
            "height": pixels_to_percent(h, height),
            "rotation": rotation,
            "rectanglelabels": [box.get("label")],
        }
        out = {
            "id": rid,
            **self.base,
            "value": value,
            **extra,
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
        }
        if box.get("score") is not None:
            out["score"] = box["score"]
        return out
