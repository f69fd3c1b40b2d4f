"""The one shape every format reads and writes: a `Dataset` of plain lists and dicts.

A `Dataset` is a NamedTuple of
- `items`: item records (`{"item_id", "data": {...}, "meta"?}`), sorted by item_id;
- `labels`: item_id -> consensus payload (`{"label"}`, `{"labels"}`, `{"spans"}` or `{"boxes"}`,
  the annotation payload shape; other keys are ignored). An item without an entry is
  unlabeled and is not exported; an empty `spans`/`boxes` list is an explicit negative;
- `label_schema`: the project's label schema (task type, classes in their stable order);
- `split`: item_id -> "train" | "val";
- `policies`: `crowd` ("keep" | "drop" | "difficult"), `empty_images` ("keep" | "drop"),
  `span_alignment` ("strict" | "contract" | "expand").

`make_dataset` checks all of it once and raises one `DataError` listing every problem, so the
writers can trust their input.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from ..errors import ConfigError, DataError, Problem
from ..labels import check_label_schema
from ..records import ProblemCollector
from ._report import LossReport

SPLITS = ("train", "val")
POLICY_CHOICES = {
    "crowd": ("keep", "drop", "difficult"),
    "empty_images": ("keep", "drop"),
    "span_alignment": ("strict", "contract", "expand"),
}
DEFAULT_POLICIES = {"crowd": "keep", "empty_images": "keep", "span_alignment": "strict"}
IMAGE_TASKS = ("image_classification", "bbox")
MAX_PROBLEMS = 50


class Dataset(NamedTuple):
    """A dataset as plain data; build it with `make_dataset`."""

    items: list[dict]
    labels: dict[str, dict]
    label_schema: dict
    split: dict[str, str]
    policies: dict[str, str]


class _Problems(ProblemCollector):
    """The package's problem collector, with a default file and one problem per call."""

    def __init__(self, path: str) -> None:
        super().__init__(MAX_PROBLEMS)
        self.path = path

    def add(self, field: str, message: str, *, line: int | None = None, path: str | None = None) -> None:
        super().add([Problem(path or self.path, line, field, message)])


def check_policies(policies: dict[str, str] | None) -> dict[str, str]:
    """Fill defaults into an export policy dict; raise a ConfigError on unknown keys or values.

    >>> check_policies({"crowd": "drop"})["empty_images"]
    'keep'
    """
    merged = dict(DEFAULT_POLICIES)
    bad = _Problems("params.yaml")
    for key, value in sorted((policies or {}).items()):
        if key not in POLICY_CHOICES:
            bad.add(f"$.export.policies.{key}", f"unknown policy; expected one of {sorted(POLICY_CHOICES)}")
        elif value not in POLICY_CHOICES[key]:
            bad.add(f"$.export.policies.{key}", f"{value!r} is not one of {list(POLICY_CHOICES[key])}")
        else:
            merged[key] = value
    bad.raise_if_any(ConfigError)
    return merged


def class_list(payload: dict) -> list[str]:
    """The class names of a classification payload (`label` or `labels`), in payload order.

    >>> class_list({"label": "cat"}), class_list({"labels": ["cat", "dog"]})
    (['cat'], ['cat', 'dog'])
    """
    if "labels" in payload:
        return list(payload["labels"])
    label = payload.get("label")
    return [] if label is None else [label]


def payload_key(label_schema: dict) -> str:
    """The payload key that carries the labels of this task type ("label" covers "labels" too)."""
    return {"bbox": "boxes", "ner": "spans"}.get(label_schema["task_type"], "label")


def make_dataset(
    items: list[dict],
    labels: dict[str, dict],
    label_schema: dict,
    *,
    split: dict[str, str] | None = None,
    policies: dict[str, str] | None = None,
) -> Dataset:
    """Check and assemble a `Dataset`; raise one `DataError` listing every problem.

    Args:
        items: item records.
        labels: item_id -> consensus payload.
        label_schema: the project's label schema.
        split: item_id -> "train" | "val"; None puts every item in "train".
        policies: export policies; missing keys take `DEFAULT_POLICIES`.

    Example:
        >>> schema = {"task_type": "text_classification", "schema_version": 1,
        ...           "multi_label": False, "classes": [{"id": 1, "name": "pos"}]}
        >>> ds = make_dataset([{"item_id": "a", "data": {"text": "hi"}}], {"a": {"label": "pos"}}, schema)
        >>> ds.split, ds.policies["crowd"]
        ({'a': 'train'}, 'keep')
    """
    return _assemble(items, labels, label_schema, split=split, policies=policies, check_payloads=True)


def _assemble(items, labels, label_schema, *, split, policies, check_payloads: bool) -> Dataset:
    """`make_dataset`; readers that checked every payload while building it skip that part
    (it is most of the time on a file of 200,000 boxes)."""
    check_label_schema(label_schema, "label_schema")
    pol = check_policies(policies)
    task = label_schema["task_type"]
    names = {c["name"] for c in label_schema["classes"]}
    bad = _Problems("items")
    by_id: dict[str, dict] = {}
    for i, item in enumerate(items):
        item_id = item.get("item_id") if isinstance(item, dict) else None
        if not isinstance(item_id, str) or not item_id:
            bad.add(f"$[{i}].item_id", f"expected a non-empty string, got {item_id!r}")
            continue
        if item_id in by_id:
            bad.add(f"$[{i}].item_id", f"{item_id!r} appears twice; item ids must be unique")
            continue
        by_id[item_id] = item
        _check_item_data(item, i, task, bad)
    split_of = {item_id: "train" for item_id in by_id} if split is None else dict(split)
    for item_id, payload in sorted(labels.items()):
        where = f"$[{item_id!r}]"
        item = by_id.get(item_id)
        if item is None:
            bad.add(where, "labels an item that is not in items", path="labels")
            continue
        if split_of.get(item_id) not in SPLITS:
            bad.add(where, f"split is {split_of.get(item_id)!r}; expected one of {list(SPLITS)}", path="split")
        if check_payloads:
            _check_payload(payload, item, where, label_schema, names, bad)
    bad.raise_if_any()
    ordered = [by_id[k] for k in sorted(by_id)]
    return Dataset(ordered, labels, label_schema, split_of, pol)


def row_checker(label_schema: dict) -> Callable[[dict, dict], list[Problem]]:
    """What `make_dataset` finds wrong with one labelled item and its payload (empty: nothing), for a
    reader that checks a dataset row by row instead of building it.

    >>> schema = {"task_type": "text_classification", "classes": [{"id": 1, "name": "pos"}]}
    >>> row_checker(schema)({"item_id": "a", "data": {"text": "hi"}}, {"label": "neg"})[0].message
    "'neg' is not a class of the label schema ['pos']"
    """
    task, names = label_schema["task_type"], {c["name"] for c in label_schema["classes"]}
    bad = _Problems("labels")  # one collector for every row: this runs once per item of a large export

    def check(item: dict, payload: dict) -> list[Problem]:
        bad.problems = []
        _check_item_data(item, 0, task, bad)
        _check_payload(payload, item, f"$[{item['item_id']!r}]", label_schema, names, bad)
        return bad.problems

    return check


def _check_item_data(item: dict, i: int, task: str, bad: _Problems) -> None:
    data = item.get("data")
    if not isinstance(data, dict):
        bad.add(f"$[{i}].data", "expected a mapping")
    elif task in IMAGE_TASKS:
        if not isinstance(data.get("image"), str) or not data.get("image"):
            bad.add(f"$[{i}].data.image", f"task type {task} needs an image path")
        # No size at all is allowed (a remote image pulled from an export without one): only the
        # formats that write or normalise by it ask for it (`_missing.require_sizes`).
        if "width" in data or "height" in data:
            for key in ("width", "height"):
                v = data.get(key)
                if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                    bad.add(f"$[{i}].data.{key}", f"expected an integer >= 1 (recorded at ingest), got {v!r}")
    elif not isinstance(data.get("text"), str):
        bad.add(f"$[{i}].data.text", f"task type {task} needs a text")


def _check_payload(payload: Any, item: dict, where: str, schema: dict, names: set, bad: _Problems) -> None:
    task = schema["task_type"]
    key = payload_key(schema)
    if not isinstance(payload, dict):
        bad.add(where, "expected a payload mapping", path="labels")
        return
    if key == "label":
        if "label" not in payload and "labels" not in payload:
            bad.add(where, f"task type {task} needs 'label' or 'labels'", path="labels")
            return
        got = class_list(payload)
        if not schema.get("multi_label") and len(got) != 1:
            bad.add(where, f"a single-label schema needs exactly one class, got {got!r}", path="labels")
        for name in got:
            if name not in names:
                bad.add(where, f"{name!r} is not a class of the label schema {sorted(names)}", path="labels")
        return
    objs = payload.get(key)
    if not isinstance(objs, list):
        bad.add(f"{where}.{key}", f"task type {task} needs a list (an empty list is a negative)", path="labels")
        return
    text_len = len(item["data"].get("text") or "")
    for j, obj in enumerate(objs):
        if type(obj) is not dict or obj.get("label") not in names:
            label = obj.get("label") if isinstance(obj, dict) else obj
            bad.add(f"{where}.{key}[{j}]", f"{label!r} is not a class of the label schema {sorted(names)}",
                    path="labels")
        elif key == "boxes":
            x, y, w, h = obj.get("x"), obj.get("y"), obj.get("w"), obj.get("h")
            # The common case in one expression (this runs for every box of a large export);
            # anything else takes the careful path below.
            if not (type(x) in _NUMS and type(y) in _NUMS and type(w) in _NUMS and type(h) in _NUMS
                    and -_INF < x < _INF and -_INF < y < _INF and 0 < w < _INF and 0 < h < _INF):
                _check_box([x, y, w, h], f"{where}.{key}[{j}]", bad)
        else:
            s, e = obj.get("start"), obj.get("end")
            if not (isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= text_len):
                bad.add(f"{where}.{key}[{j}]", f"expected 0 <= start < end <= {text_len} (code points), "
                        f"got {s!r}:{e!r}", path="labels")


_NUMS = frozenset({int, float})
_INF = math.inf


def _check_box(vals: list, at: str, bad: _Problems) -> None:
    if not all(_is_number(v) for v in vals):
        bad.add(at, f"x, y, w, h must be finite numbers, got {vals!r}", path="labels")
    elif vals[2] <= 0 or vals[3] <= 0:
        bad.add(at, f"w and h must be > 0, got w={vals[2]!r}, h={vals[3]!r}", path="labels")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class StreamedDataset(NamedTuple):
    """A dataset too large to hold, read again from disk on each pass by the formats that stream (CSV,
    HuggingFace): ``rows()`` yields (item, payload, split) of every labelled item in item_id order,
    checked as `make_dataset` checks them."""

    rows: Callable[[], Iterable[tuple[dict, dict, str]]]
    label_schema: dict
    policies: dict[str, str]


def labeled(dataset: Dataset | StreamedDataset, report: LossReport) -> Iterable[tuple[dict, dict, str]]:
    """(item, payload, split) of every labeled item in item_id order; counts the unlabeled ones."""
    if isinstance(dataset, StreamedDataset):
        return dataset.rows()
    out = []
    for item in dataset.items:
        payload = dataset.labels.get(item["item_id"])
        if payload is None:
            report.count("unlabeled_skipped")
            continue
        out.append((item, payload, dataset.split[item["item_id"]]))
    return out


def image_names(dataset: Dataset, *, image_root: str | None = None) -> dict[str, str]:
    """item_id -> image path relative to `image_root` (default: the deepest common folder).

    The names are what formats write (COCO `file_name`, YOLO `images/{split}/<name>`, VOC
    `<filename>`); computing them over the whole dataset keeps them the same in every split.

    >>> ds = Dataset([{"item_id": "a", "data": {"image": "images/cats/a.png"}},
    ...               {"item_id": "b", "data": {"image": "images/b.png"}}], {}, {}, {}, {})
    >>> image_names(ds)
    {'a': 'cats/a.png', 'b': 'b.png'}
    """
    paths = {it["item_id"]: posixpath.normpath(it["data"]["image"].replace("\\", "/")) for it in dataset.items}
    root = resolve_image_root(dataset, image_root)
    names: dict[str, str] = {}
    bad = _Problems("items")
    seen: dict[str, str] = {}
    prefix = root.rstrip("/") + "/" if root else ""
    for item_id, path in paths.items():
        # A string prefix, not posixpath.relpath: relpath asks the OS for the working folder
        # on every call, which is most of the time on a large dataset.
        name = path[len(prefix):] if path.startswith(prefix) else "../" + path
        if name.startswith("../") or name == "..":
            bad.add(f"$[{item_id!r}].data.image", f"{path!r} is not inside the image root {image_root!r}")
        elif name in seen:
            bad.add(f"$[{item_id!r}].data.image", f"{path!r} is also the image of item {seen[name]!r}")
        seen[name] = item_id
        names[item_id] = name
    bad.raise_if_any()
    return names


def resolve_image_root(dataset: Dataset, image_root: str | None = None) -> str:
    """`image_root` normalised, or by default the deepest folder holding every image ("" for none).

    >>> resolve_image_root(Dataset([{"item_id": "a", "data": {"image": "images/x/a.png"}}], {}, {}, {}, {}))
    'images/x'
    """
    if image_root is not None:
        root = posixpath.normpath(image_root.replace("\\", "/")) if image_root else ""
        return "" if root == "." else root
    dirs = sorted({posixpath.dirname(posixpath.normpath(it["data"]["image"].replace("\\", "/")))
                   for it in dataset.items})
    if not dirs or len({d.startswith("/") for d in dirs}) != 1:
        return ""
    return posixpath.commonpath(dirs)


def stems(names: dict[str, str]) -> dict[str, str]:
    """item_id -> image name without its extension; raise if two images share one (x.png, x.jpg)."""
    out: dict[str, str] = {}
    owner: dict[str, str] = {}
    bad = _Problems("items")
    for item_id, name in names.items():
        stem = posixpath.splitext(name)[0]
        if stem in owner:
            bad.add(f"$[{item_id!r}].data.image", f"{name!r} and the image of {owner[stem]!r} share the "
                    f"file stem {stem!r}, so their label files would collide; rename one")
        owner[stem] = item_id
        out[item_id] = stem
    bad.raise_if_any()
    return out


def merge_datasets(datasets: list[Dataset], paths: list[str]) -> Dataset:
    """One Dataset from several with the same label schema (e.g. a train and a val file).

    Raises:
        DataError: when an item id appears in two of them.
    """
    if len(datasets) == 1:
        return datasets[0]
    items, labels, split = [], {}, {}
    for ds, p in zip(datasets, paths, strict=True):
        for item in ds.items:
            if item["item_id"] in split:
                raise DataError.single(p, None, "$", f"item id {item['item_id']!r} (image "
                                       f"{item['data'].get('image')!r}) is also in another file")
            items.append(item)
            split[item["item_id"]] = ds.split[item["item_id"]]
        labels.update(ds.labels)
    return _assemble(items, labels, datasets[0].label_schema, split=split, policies=datasets[0].policies,
                     check_payloads=False)


def labels_from_consensus(consensus: list[dict], *, drop_rotated: bool = False) -> tuple[dict[str, dict], dict]:
    """item_id -> payload of every consensus record that may be exported, and what was left out.

    Held items (flagged with the review gate on) are skipped; region scores are dropped
    (formats carry the label, not the vote); with ``drop_rotated`` rotated boxes are left out.

    >>> labels_from_consensus([{"item_id": "a", "label": "cat", "confidence": 0.9},
    ...                        {"item_id": "b", "label": "dog", "status": "held"}])
    ({'a': {'label': 'cat'}}, {'held': 1, 'rotated_dropped': 0})
    """
    labels: dict[str, dict] = {}
    left_out = {"held": 0, "rotated_dropped": 0}
    for record in consensus:
        payload = export_payload(record, left_out, drop_rotated=drop_rotated)
        if payload:
            labels[record["item_id"]] = payload
    return labels, left_out


def export_payload(record: dict, left_out: dict[str, int], *, drop_rotated: bool = False) -> dict | None:
    """The payload a consensus record exports (None when held, ``{}`` without a label); counts into
    ``left_out`` (``held``, ``rotated_dropped``) what it leaves out. See `labels_from_consensus`."""
    if record.get("status") == "held":
        left_out["held"] += 1
        return None
    payload = {k: record[k] for k in ("label", "labels") if record.get(k) is not None}
    for key in ("spans", "boxes"):
        if key in record:
            regions = [{k: v for k, v in r.items() if k != "score"} for r in record[key]]
            if key == "boxes" and drop_rotated:
                kept = [b for b in regions if not b.get("rotation")]
                left_out["rotated_dropped"] += len(regions) - len(kept)
                regions = kept
            payload[key] = regions
    return payload
