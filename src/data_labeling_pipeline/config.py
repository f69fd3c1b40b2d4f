"""params.yaml: loading, validation against its JSON Schema, normalisation and defaults.

Errors name the file, the line (found from the YAML node marks) and the key:
``params.yaml:7: $.quality.agreement_threshold: 'high' is not of type 'number'``.

A loaded params dict has one canonical form, whatever spelling the file used,
so the rest of the code reads one name per setting:

- ``export.formats`` is always a list (``export.format: coco`` becomes ``formats: [coco]``);
- ``quality.auto_flag_low_confidence`` is a number or None (``true``: the default, ``false``: off);
- legacy names (:data:`LEGACY_NAMES`) are renamed; `dlp validate` warns about them;
- paths (``export.output_dir``, ``active_learning.model_checkpoint``) are POSIX, without ``./``.
"""

from __future__ import annotations

import copy
import json
import posixpath
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError, Problem

PARAMS_FILE = "params.yaml"

# (section, legacy key) -> the canonical key. The legacy key stays in the schema (marked
# deprecated) so that old params files load; loading renames it.
LEGACY_NAMES = {("active_learning", "batch_size"): "query_batch_size"}


def params_schema() -> dict:
    text = resources.files("data_labeling_pipeline.schemas").joinpath("params.schema.json").read_text("utf-8")
    return json.loads(text)


def with_defaults(params: dict, schema: dict | None = None) -> dict:
    """A copy of ``params`` in canonical form with every missing key that has a default filled in.

    >>> with_defaults({"project": {"name": "x", "task_type": "ner", "classes": ["PER"]}})["export"]["train_val_split"]
    0.85
    """
    schema = schema or params_schema()
    params, _warnings, _written = _normalise(copy.deepcopy(params), schema, PARAMS_FILE, {})
    return _fill(params, schema)


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
    """Raise a ConfigError naming every invalid or unknown key; return canonical params with defaults."""
    return check_params(params, path, lines)[0]


def check_params(params: Any, path: str = PARAMS_FILE,
                 lines: dict[str, int] | None = None) -> tuple[dict, list[Problem]]:
    """Validate, normalise and fill in params; return them with the warnings (legacy names).

    Raises:
        ConfigError: every invalid or unknown key, and keys that contradict each other.

    Example:
        >>> params, warnings = check_params({"project": {"name": "x", "task_type": "ner", "classes": ["PER"]},
        ...                                  "active_learning": {"batch_size": 20}})
        >>> params["active_learning"]["query_batch_size"], str(warnings[0])
        (20, 'params.yaml: $.active_learning.batch_size: a legacy name; use query_batch_size')
    """
    import jsonschema

    lines = lines or {}
    schema = params_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
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
    params, warnings, written = _normalise(copy.deepcopy(params), schema, path, lines)
    params = _fill(params, schema)
    _check_across(params, path, lines, written)
    return params, warnings


def _normalise(params: dict, schema: dict, path: str,
               lines: dict[str, int]) -> tuple[dict, list[Problem], dict[str, str]]:
    """Rewrite schema-valid params into the canonical form, in place.

    Returns the params, a warning per legacy name, and ``canonical field -> field as
    written`` for the keys that were renamed (so later errors name what the user wrote).
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    written: dict[str, str] = {}

    def both(section: str, first: str, second: str, how: str) -> None:
        a, b = f"$.{section}.{first}", f"$.{section}.{second}"
        at = f" (line {lines[b]})" if b in lines else ""
        problems.append(Problem(path, lines.get(a), a,
                                f"given together with {b}{at}; expected one of them, got both; {how}"))

    for (section, legacy), canonical in LEGACY_NAMES.items():
        block = params.get(section)
        if not isinstance(block, dict) or legacy not in block:
            continue
        field = f"$.{section}.{legacy}"
        if canonical in block:
            both(section, legacy, canonical, f"remove {legacy} (a legacy name of {canonical})")
            continue
        warnings.append(Problem(path, lines.get(field), field, f"a legacy name; use {canonical}"))
        block[canonical] = block.pop(legacy)
        written[f"$.{section}.{canonical}"] = field

    export = params.get("export")
    if isinstance(export, dict) and "format" in export:
        if "formats" in export:
            both("export", "format", "formats",
                 f"keep format: {export['format']} for one format or formats: [...] for several")
        else:
            export["formats"] = [export.pop("format")]
            written["$.export.formats[0]"] = "$.export.format"

    quality = params.get("quality")
    if isinstance(quality, dict) and isinstance(quality.get("auto_flag_low_confidence"), bool):
        default = schema["properties"]["quality"]["properties"]["auto_flag_low_confidence"]["default"]
        quality["auto_flag_low_confidence"] = default if quality["auto_flag_low_confidence"] else None

    if isinstance(export, dict) and isinstance(export.get("output_dir"), str):
        field = "$.export.output_dir"
        inside = project_path(export["output_dir"])
        if inside is None:
            problems.append(Problem(path, lines.get(field), field,
                                    f"expected a folder inside the project (like labeled_data), "
                                    f"got {export['output_dir']!r}; use a relative path below the project root"))
        else:
            export["output_dir"] = inside
    active = params.get("active_learning")
    if isinstance(active, dict) and isinstance(active.get("model_checkpoint"), str):
        # It may not exist yet: the prelabel stage trains it (or loads it, with trust_checkpoint).
        active["model_checkpoint"] = posix_path(active["model_checkpoint"])
    if problems:
        raise ConfigError(problems)
    return params, warnings, written


def posix_path(value: str) -> str:
    """A path as params store it: POSIX separators, normalised, no leading ``./`` or trailing ``/``.

    >>> posix_path("./models//weak.pt"), posix_path("./labeled_data/"), posix_path("C:\\\\models\\\\w.pt")
    ('models/weak.pt', 'labeled_data', 'C:/models/w.pt')
    """
    return posixpath.normpath(value.replace("\\", "/"))


def project_path(value: str) -> str | None:
    """``value`` as a normalised path strictly inside the project root, or None when it is not.

    >>> project_path("./labeled_data/"), project_path("."), project_path("../out"), project_path("/tmp/out")
    ('labeled_data', None, None, None)
    """
    normal = posix_path(value)
    if normal == "." or normal.startswith(("/", "../")) or normal == ".." or ":" in normal.split("/")[0]:
        return None
    return normal


# Which headline agreement figures each task type defines.
METRICS_BY_TASK = {
    "image_classification": ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement"),
    "text_classification": ("cohens_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "percent_agreement"),
    "ner": ("span_f1_exact", "span_f1_overlap", "percent_agreement"),
    "bbox": ("box_f1_50", "box_f1_75", "box_mean_iou", "percent_agreement"),
}


def _check_across(params: dict, path: str, lines: dict[str, int], written: dict[str, str]) -> None:
    """Checks across keys: the agreement metric and export formats must fit the task type, and so on."""

    def problem(field: str, message: str) -> Problem:
        shown = written.get(field, field)
        return Problem(path, lines.get(shown), shown, message)

    task, quality = params["project"]["task_type"], params["quality"]
    metric = quality["agreement_metric"]
    problems = []
    allowed = METRICS_BY_TASK[task]
    if metric != "auto" and metric not in allowed:
        problems.append(problem("$.quality.agreement_metric",
                                f"{metric!r} is not defined for {task}; use auto or one of {list(allowed)}"))
    low, high = quality["min_annotators_per_sample"], quality["max_annotators_per_sample"]
    if high < low:
        problems.append(problem("$.quality.max_annotators_per_sample",
                                f"expected at least min_annotators_per_sample ({low}), got {high}; "
                                f"raise it or lower min_annotators_per_sample"))
    from .formats.registry import SUPPORTED

    carriers = [name for name, tasks in SUPPORTED.items() if task in tasks]
    for i, name in enumerate(params["export"]["formats"]):
        if name not in carriers:
            problems.append(problem(f"$.export.formats[{i}]",
                                    f"{name} cannot carry {task} labels; use one of {carriers}"))
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.field))
        raise ConfigError(problems)


def load_params(path: str | Path = PARAMS_FILE, *, display_path: str | None = None) -> dict:
    """Read and validate a params.yaml (or a config file of the same shape); return canonical params."""
    return read_params(path, display_path=display_path)[0]


def read_params(path: str | Path = PARAMS_FILE, *, display_path: str | None = None) -> tuple[dict, list[Problem]]:
    """Like :func:`load_params`, also returning the warnings (legacy names, with file and line)."""
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
    return check_params(data, shown, _key_lines(node))


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
