"""The label schema of a project: task type, classes with stable explicit ids, version.

`schema/labels.yaml` is the one place class ids come from: YOLO index (position),
COCO category id (`id`) and HF ClassLabel order all follow it. New classes are
appended; nothing is ever re-sorted.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any, TypedDict

from .errors import ConfigError, Problem

TASK_TYPES = ("image_classification", "text_classification", "ner", "bbox")

# The payload key each task type puts in annotation and prediction records.
PAYLOAD_KEY = {"image_classification": "label", "text_classification": "label", "ner": "spans", "bbox": "boxes"}
# The measurement scale of classification labels: nominal (default), or ordered classes in schema order
# (ordinal), or numeric class names (interval, ratio). Krippendorff's alpha and kappa weights follow it.
SCALES = ("nominal", "ordinal", "interval", "ratio")
DATA_KIND = {"image_classification": "image", "text_classification": "text", "ner": "text", "bbox": "image"}


class LabelClass(TypedDict):
    id: int
    name: str


class LabelSchema(TypedDict, total=False):
    task_type: str
    schema_version: int
    multi_label: bool
    scale: str
    classes: list[LabelClass]
    history: list[dict[str, Any]]


def new_label_schema(task_type: str, class_names: list[str], *, multi_label: bool = False) -> LabelSchema:
    """A first label schema: ids 1..n in the order given (COCO-style, 0 stays free).

    >>> new_label_schema("bbox", ["car", "person"])["classes"][1]
    {'id': 2, 'name': 'person'}
    """
    schema: LabelSchema = {
        "task_type": task_type,
        "schema_version": 1,
        "multi_label": multi_label,
        "classes": [{"id": i, "name": name} for i, name in enumerate(class_names, start=1)],
        "history": [{"version": 1, "change": "created", "classes": list(class_names)}],
    }
    check_label_schema(schema, "schema/labels.yaml")
    return schema


def check_label_schema(schema: Any, path: str) -> LabelSchema:
    """Raise a ConfigError listing every problem of a label schema; return it unchanged."""
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(path, None, field, message))

    if not isinstance(schema, dict):
        raise ConfigError([Problem(path, None, "$", f"expected a mapping, got {type(schema).__name__}")])
    known = {"task_type", "schema_version", "multi_label", "scale", "classes", "history"}
    for key in sorted(set(schema) - known):
        bad(f"$.{key}", f"unknown key; expected one of {sorted(known)}")
    if schema.get("task_type") not in TASK_TYPES:
        bad("$.task_type", f"{schema.get('task_type')!r} is not one of {list(TASK_TYPES)}")
    version = schema.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        bad("$.schema_version", f"expected an integer >= 1, got {version!r}")
    if schema.get("scale", "nominal") not in SCALES:
        bad("$.scale", f"{schema.get('scale')!r} is not one of {list(SCALES)}")
    elif schema.get("scale", "nominal") in ("interval", "ratio") and not _numeric_names(schema.get("classes")):
        bad("$.scale", f"{schema['scale']} scale needs numeric class names (the distance between classes)")
    if not isinstance(schema.get("multi_label", False), bool):
        bad("$.multi_label", f"expected true or false, got {schema.get('multi_label')!r}")
    classes = schema.get("classes")
    if not isinstance(classes, list) or not classes:
        bad("$.classes", "expected a non-empty list of {id, name}")
        classes = []
    seen_ids: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    for i, cls in enumerate(classes):
        where = f"$.classes[{i}]"
        if not isinstance(cls, dict) or not {"id", "name"} <= set(cls) <= {"id", "name", "deprecated"}:
            bad(where, f"expected a mapping with the keys id, name and optionally deprecated, got {cls!r}")
            continue
        if not isinstance(cls.get("deprecated", False), bool):
            bad(f"{where}.deprecated", f"expected true or false, got {cls['deprecated']!r}")
        cid, name = cls["id"], cls["name"]
        if not isinstance(cid, int) or isinstance(cid, bool) or cid < 0:
            bad(f"{where}.id", f"expected an integer >= 0, got {cid!r}")
        elif cid in seen_ids:
            bad(f"{where}.id", f"id {cid} is already used by classes[{seen_ids[cid]}]; ids must be unique")
        else:
            seen_ids[cid] = i
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            bad(f"{where}.name", f"expected a non-empty name without surrounding spaces, got {name!r}")
        elif name in seen_names:
            bad(f"{where}.name", f"{name!r} is already classes[{seen_names[name]}]; names must be unique")
        else:
            seen_names[name] = i
    from .migrations import check_history

    check_history(schema.get("history"), problems, path)
    if problems:
        raise ConfigError(problems)
    return schema


def _numeric_names(classes) -> bool:
    try:
        [float(c["name"]) for c in classes or []]
    except (TypeError, ValueError, KeyError):
        return False
    return True


def class_names(schema: LabelSchema) -> list[str]:
    """Class names in their stable schema order."""
    return [c["name"] for c in schema["classes"]]


def record_schemas(schema: LabelSchema) -> dict[str, dict]:
    """The JSON Schemas of item, annotation and prediction records for one project.

    Built from the packaged templates: class names become an ``enum`` (so a
    record naming an unknown class fails validation with the class list), and
    the task type's payload becomes required.
    """
    names = class_names(schema)
    payload = "labels" if schema.get("multi_label") and PAYLOAD_KEY[schema["task_type"]] == "label" else (
        PAYLOAD_KEY[schema["task_type"]]
    )
    item = _template("item")
    annotation = _template("annotation")
    prediction = _template("prediction")
    annotation["$defs"]["class_name"] = {"enum": names}
    annotation["required"] = [*annotation["required"], payload]
    annotation["x-task-type"] = schema["task_type"]
    # Predictions share the annotation's $defs so each file stands alone.
    prediction["$defs"] = copy.deepcopy(annotation["$defs"])
    prediction["required"] = [*prediction["required"], payload]
    item["x-task-type"] = schema["task_type"]
    item["properties"]["data"] = {"$ref": f"#/$defs/{DATA_KIND[schema['task_type']]}"}
    return {"item": item, "annotation": annotation, "prediction": prediction}


def _template(name: str) -> dict:
    text = resources.files("data_labeling_pipeline.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def extend_label_schema(schema: LabelSchema, class_names_: list[str]) -> LabelSchema:
    """Append classes that ``schema`` does not have yet, keeping every existing id.

    Ids never change and are never reused: a new class takes max(id) + 1, and
    the schema version goes up by one when anything was added.

    >>> s = new_label_schema("ner", ["PER", "ORG"])
    >>> [c["id"] for c in extend_label_schema(s, ["ORG", "LOC"])["classes"]]
    [1, 2, 3]
    """
    out: LabelSchema = copy.deepcopy(schema)
    known = set(class_names(out))
    added = [name for name in class_names_ if name not in known]
    if not added:
        return out
    from .migrations import historical_names
    from .migrations import next_id as first_free

    reused = [name for name in added if name in historical_names(out)]
    if reused:  # an old name now maps elsewhere (a rename or merge): a new class of it would be ambiguous
        raise ConfigError([Problem("schema/labels.yaml", None, "$.classes",
                                   f"{reused} were classes before and their old labels map to other classes now; "
                                   "list the current names in params.yaml project.classes "
                                   "(see the history in schema/labels.yaml)")])
    next_id = first_free(out)  # retired ids (merged-away classes) are never reused
    out["classes"] += [{"id": next_id + i, "name": name} for i, name in enumerate(added)]
    out["schema_version"] = out["schema_version"] + 1
    out.setdefault("history", []).append({"version": out["schema_version"], "change": "added", "classes": added})
    check_label_schema(out, "schema/labels.yaml")
    return out
