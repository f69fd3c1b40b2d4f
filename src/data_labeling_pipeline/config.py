"""params.yaml: loading, validation against its JSON Schema, and defaults.

Errors name the file, the line (found from the YAML node marks) and the key:
``params.yaml:7: $.quality.agreement_threshold: 'high' is not of type 'number'``.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError, Problem

PARAMS_FILE = "params.yaml"


def params_schema() -> dict:
    text = resources.files("data_labeling_pipeline.schemas").joinpath("params.schema.json").read_text("utf-8")
    return json.loads(text)


def with_defaults(params: dict, schema: dict | None = None) -> dict:
    """A copy of ``params`` with every missing key that has a default filled in.

    >>> with_defaults({"project": {"name": "x", "task_type": "ner", "classes": ["PER"]}})["export"]["train_val_split"]
    0.85
    """
    schema = schema or params_schema()
    return _fill(copy.deepcopy(params), schema)


def _fill(value: Any, schema: dict) -> Any:
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    for key, sub in schema["properties"].items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _fill(value[key], sub)
    return value


def validate_params(params: Any, path: str = PARAMS_FILE, lines: dict[str, int] | None = None) -> dict:
    """Raise a ConfigError naming every invalid or unknown key; return params with defaults."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(params_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = lines or {}
        problems = []
        for error in errors:
            field = error.json_path
            message = error.message
            if error.validator == "additionalProperties":
                allowed = sorted(error.schema.get("properties", {}))
                extra = sorted(set(error.instance) - set(allowed))
                for key in extra:
                    problems.append(Problem(path, lines.get(f"{field}.{key}"), f"{field}.{key}",
                                            f"unknown key; expected one of {allowed}"))
                continue
            problems.append(Problem(path, lines.get(field), field, message))
        problems.sort(key=lambda p: (p.line or 0, p.field))
        raise ConfigError(problems)
    params = with_defaults(params)
    _check_metric(params, path, lines or {})
    return params


# Which headline agreement figures each task type defines.
METRICS_BY_TASK = {
    "image_classification": ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement"),
    "text_classification": ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement"),
    "ner": ("span_f1_exact", "span_f1_overlap", "percent_agreement"),
    "bbox": ("box_f1_50", "box_f1_75", "box_mean_iou", "percent_agreement"),
}


def _check_metric(params: dict, path: str, lines: dict[str, int]) -> None:
    """Checks across keys: the agreement metric and export formats must fit the task type."""
    task, metric = params["project"]["task_type"], params["quality"]["agreement_metric"]
    problems = []
    allowed = METRICS_BY_TASK[task]
    if metric != "auto" and metric not in allowed:
        field = "$.quality.agreement_metric"
        problems.append(Problem(path, lines.get(field), field,
                                f"{metric!r} is not defined for {task}; use auto or one of {list(allowed)}"))
    from .formats.registry import SUPPORTED

    carriers = [name for name, tasks in SUPPORTED.items() if task in tasks]
    for i, name in enumerate(params["export"]["formats"]):
        if name not in carriers:
            field = f"$.export.formats[{i}]"
            problems.append(Problem(path, lines.get(field), field,
                                    f"{name} cannot carry {task} labels; use one of {carriers}"))
    if problems:
        raise ConfigError(problems)


def load_params(path: str | Path = PARAMS_FILE, *, display_path: str | None = None) -> dict:
    """Read and validate a params.yaml (or a config file of the same shape)."""
    import yaml

    shown = display_path or str(path)
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, "", "file not found")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigError([Problem(shown, line, "", f"invalid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if data is None:
        data = {}
    return validate_params(data, shown, _key_lines(node))


def _key_lines(node, path: str = "$") -> dict[str, int]:
    """Map JSON paths ($.a.b, $.a[0]) of a YAML document to 1-based line numbers."""
    import yaml

    lines: dict[str, int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}"
            lines[child] = key.start_mark.line + 1
            lines.update({k: v for k, v in _key_lines(value, child).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines.update(_key_lines(value, f"{path}[{i}]"))
    return lines


def dump_params(params: dict) -> str:
    """params as YAML text in a stable order (schema order, then the rest sorted)."""
    import yaml

    ordered = _ordered(params, params_schema())
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def _ordered(value: Any, schema: dict) -> Any:
    if not isinstance(value, dict):
        return value
    props = schema.get("properties", {})
    keys = [k for k in props if k in value] + sorted(k for k in value if k not in props)
    return {k: _ordered(value[k], props.get(k, {})) for k in keys}
