"""Which control and data key of a Label Studio export hold the labels and the data.

A project's label config decides (:mod:`.config_reader`). Without a usable config
(none given, or one whose names the export does not use) the binding is inferred
from the export itself: the ``from_name`` of the results of the task type's result
type, and the data field that fits (an image path or URL for images; for text, the
string field the regions' offsets index into, else the one string field).
``pull.control`` and ``pull.data_key`` settle what stays ambiguous. Inference runs
over the whole file, so a task without annotations gets the key its neighbours use.

Pure: takes the parsed export; returns a :class:`Binding` and problems.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from data_labeling_pipeline.errors import DataError, Problem

from .config_reader import LabelConfig, bind
from .shapes import ACCEPTED_TYPES, MIN_META_KEYS

#: Task data keys that are ours, not the user's data (written by ``to_label_studio_tasks``).
OWN_KEYS = ("item_id", "width", "height")
_IMAGE = re.compile(r"(^[a-zA-Z][a-zA-Z0-9+.-]*://|^/data/|^data:image/|\.(png|jpe?g|gif|bmp|webp|tiff?|svg)(\?.*)?$)",
                    re.IGNORECASE)
_IMAGE_TASKS = ("image_classification", "bbox")


@dataclass(frozen=True)
class Binding:
    """Where one export keeps its labels and data.

    Attributes:
        from_names: the control tags whose results are read (None: every result of the task's type).
        from_name: the control carrying the labels (JSON_MIN's label column).
        data_key: the task data key of the image or text.
        origin: ``config``, ``inferred`` or ``params`` (what decided the data key).
        multi_label: the control allows several choices (None when no config says).
        classes: the classes the config offers (None without a config).
        note: why a given config was not used, when it was not.
    """

    from_names: frozenset[str] | None
    from_name: str | None
    data_key: str
    origin: str
    multi_label: bool | None = None
    classes: tuple[str, ...] | None = None
    note: str | None = None

    def meta_of(self, data: dict) -> dict:
        """The task data that is neither the labelled object nor ours: it goes to the item's meta."""
        return {k: v for k, v in data.items() if k != self.data_key and k not in OWN_KEYS}


def resolve_binding(
    tasks: list,
    *,
    shape: str,
    task_type: str,
    file: str,
    config: LabelConfig | None = None,
    control: str | None = None,
    data_key: str | None = None,
    classes: list[str] | None = None,
) -> tuple[Binding | None, list[Problem]]:
    """The binding of one export file, from ``config`` when it fits the export, else inferred.

    Args:
        tasks: the parsed export (a list of tasks, or JSON_MIN rows).
        shape: ``default``, ``snapshot`` or ``min`` (:func:`.shapes.detect_shape`).
        task_type: one of the four task types.
        file: the export's path, for messages.
        config: the project's label config, if any.
        control: ``pull.control``: the control tag to read.
        data_key: ``pull.data_key``: the task data key to read.
        classes: the schema's classes (tells JSON_MIN label columns from other string fields).

    Returns:
        The binding (None when it cannot be told) and the problems that say why.

    Example:
        >>> tasks = [{"id": 1, "data": {"review": "great", "source": "web"}, "annotations": [{"result": [
        ...     {"type": "choices", "from_name": "sentiment", "to_name": "review", "value": {"choices": ["pos"]}}]}]}]
        >>> binding, problems = resolve_binding(tasks, shape="default", task_type="text_classification", file="a.json")
        >>> binding.from_name, binding.data_key, binding.meta_of(tasks[0]["data"])
        ('sentiment', 'review', {'source': 'web'})
    """
    note = None
    if config is not None:
        try:
            bound = bind(config, task_type, control=control)
        except DataError as exc:
            bound, note = None, f"{config.path} not used: {exc}"
        if bound is not None:
            misfit = _misfit(tasks, shape, task_type, bound.from_name, data_key or bound.data_key)
            if misfit is None:
                origin = "params" if data_key else "config"
                return Binding(bound.from_names, bound.from_name, data_key or bound.data_key, origin,
                               bound.multi_label, bound.classes), []
            note = f"{config.path} not used: {misfit}"
    problems: list[Problem] = []
    from_name = control or _infer_control(tasks, shape, task_type, classes, file, problems)
    if problems:
        return None, problems
    key = data_key or _infer_data_key(tasks, shape, task_type, from_name, file, problems)
    if key is None:
        return None, problems
    from_names = frozenset({from_name}) if from_name else None
    if from_names and task_type == "bbox" and shape != "min" and not control:
        # Rectangle + Labels configs write two results per box under two control names.
        from_names = frozenset(name for name, _ in _results(tasks, shape, task_type))
    return Binding(from_names, from_name, key, "params" if data_key else "inferred", note=note), []


def looks_like_image(value: str) -> bool:
    """A Label Studio image reference: a URL, a ``/data/...`` path or a file name with an image extension."""
    return bool(_IMAGE.search(value))


def _misfit(tasks: list, shape: str, task_type: str, from_name: str, data_key: str | None) -> str | None:
    """Why a config's names do not describe this export (None when they do)."""
    if data_key is None:
        return "its object tag reads no task data key ($name)"
    used: set[str] = set()
    for name, _ in _results(tasks, shape, task_type):
        if name == from_name:  # one result of the control is enough; stop reading
            break
        used.add(name)
    else:
        if used:
            return f"the export's results come from {sorted(used)}, not from the config's control {from_name!r}"
    datas = list(_datas(tasks, shape, from_name))
    lacking = sum(1 for data in datas if data_key not in data)
    if datas and lacking:
        return f"{lacking} of {len(datas)} tasks have no data key {data_key!r}"
    return None


def _infer_control(tasks: list, shape: str, task_type: str, classes, file: str, problems: list) -> str | None:
    if shape == "min":
        return _min_label_column(tasks, task_type, classes, file, problems)
    used: dict[str, set[str]] = {}
    for name, rtype in _results(tasks, shape, task_type):
        used.setdefault(rtype, set()).add(name)
    # A box is a RectangleLabels result, or a Rectangle + Labels pair: each kind may have one control.
    for _, names in sorted(used.items()):
        if len(names) > 1:
            problems.append(Problem(file, None, "$", f"results of several controls carry {task_type} labels: "
                                    f"{sorted(names)}; set pull.control in params.yaml to the one to read "
                                    "(or put the project's label_config.xml beside the export)"))
            return None
    for rtype in ("rectanglelabels", "labels", "choices", "rectangle"):
        if rtype in used:
            return next(iter(used[rtype]))
    return None


def _min_label_column(rows: list, task_type: str, classes, file: str, problems: list) -> str | None:
    from .shapes import ReadContext, _min_label_key

    ctx = ReadContext(file=file, task_type=task_type, users={}, from_name=None, data_key="item_id",
                      classes=list(classes) if classes is not None else None, problems=[], stats={})
    key = _min_label_key(rows, ctx)
    for p in ctx.problems:
        problems.append(Problem(p.path, p.line, p.field, p.message.replace("pass from_name", "set pull.control")))
    return key


def _infer_data_key(tasks: list, shape: str, task_type: str, from_name: str | None, file: str,
                    problems: list) -> str | None:
    datas = list(_datas(tasks, shape, from_name))
    strings: dict[str, bool] = {}
    for data in datas:
        for key, value in data.items():
            if key not in OWN_KEYS:
                strings[key] = strings.get(key, True) and (value is None or isinstance(value, str))
    candidates = sorted(k for k, ok in strings.items() if ok and any(isinstance(d.get(k), str) for d in datas))
    images = [k for k in candidates if all(_IMAGE.search(d[k]) for d in datas if isinstance(d.get(k), str) and d[k])]
    if task_type in _IMAGE_TASKS:
        candidates, what = images, "an image path or URL"
    else:
        candidates, what = [k for k in candidates if k not in images], "the text"
        if task_type == "ner":
            evidence = _span_evidence(tasks, shape, from_name)
            best = max(evidence.values(), default=0)
            if best:
                candidates = [k for k in candidates if evidence.get(k) == best]
    if len(candidates) > 1:
        to_names = {to for _, to in _targets(tasks, shape, from_name)}
        preferred = [k for k in candidates if k in to_names]
        candidates = preferred if len(preferred) == 1 else candidates
    if len(candidates) == 1:
        return candidates[0]
    default = "image" if task_type in _IMAGE_TASKS else "text"
    if not datas or (not candidates and any(default in d for d in datas)):
        return default  # the per-task checks then name each bad value
    if candidates:
        message = (f"cannot tell which data field holds {what}: {candidates}; set pull.data_key in params.yaml "
                   "(or put the project's label_config.xml beside the export)")
    else:
        message = (f"no data field holds {what} (fields: {sorted(strings)}); set pull.data_key in params.yaml "
                   "or check that the export is of a " + task_type.replace("_", " ") + " project")
    problems.append(Problem(file, None, "$[*].data", message))
    return None


def _span_evidence(tasks: list, shape: str, from_name: str | None) -> Counter:
    """Per data key, how many NER regions quote exactly the text at their offsets."""
    from .regions import resolve_offsets

    found: Counter = Counter()
    for data, value in _regions_with_data(tasks, shape, from_name):
        start, end, quoted = value.get("start"), value.get("end"), value.get("text")
        if type(start) is not int or type(end) is not int or not isinstance(quoted, str):
            continue
        for key, text in data.items():
            if isinstance(text, str) and key not in OWN_KEYS and resolve_offsets(text, start, end, quoted):
                found[key] += 1
    return found


def _datas(tasks: list, shape: str, from_name: str | None) -> Iterator[dict]:
    for task in tasks:
        if not isinstance(task, dict):
            continue
        if shape == "min":
            yield {k: v for k, v in task.items() if k not in MIN_META_KEYS and k != from_name}
        elif isinstance(task.get("data"), dict):
            yield task["data"]


def _entries(task: dict) -> Iterator[dict]:
    for key in ("annotations", "predictions"):
        for entry in task.get(key) or () if isinstance(task.get(key), list) else ():
            if isinstance(entry, dict) and isinstance(entry.get("result"), list):
                yield entry
    for entry in task.get("annotations") or () if isinstance(task.get("annotations"), list) else ():
        embedded = entry.get("prediction") if isinstance(entry, dict) else None
        if isinstance(embedded, dict) and isinstance(embedded.get("result"), list):
            yield embedded


def _result_dicts(tasks: list, shape: str) -> Iterator[tuple[dict, dict]]:
    if shape == "min":
        return
    for task in tasks:
        if isinstance(task, dict):
            for entry in _entries(task):
                for result in entry["result"]:
                    if isinstance(result, dict):
                        yield task, result


def _results(tasks: list, shape: str, task_type: str) -> Iterator[tuple[str, str]]:
    accepted = ACCEPTED_TYPES[task_type]
    for _, result in _result_dicts(tasks, shape):
        name, rtype = result.get("from_name"), result.get("type")
        if rtype in accepted and isinstance(name, str):
            yield name, rtype


def _targets(tasks: list, shape: str, from_name: str | None) -> Iterator[tuple[str, str]]:
    for _, result in _result_dicts(tasks, shape):
        if from_name is None or result.get("from_name") == from_name:
            yield result.get("from_name"), result.get("to_name")


def _regions_with_data(tasks: list, shape: str, from_name: str | None) -> Iterator[tuple[dict, dict]]:
    if shape == "min":
        for row in tasks:
            if isinstance(row, dict) and isinstance(row.get(from_name), list):
                data = {k: v for k, v in row.items() if k not in MIN_META_KEYS and k != from_name}
                for value in row[from_name]:
                    if isinstance(value, dict):
                        yield data, value
        return
    for task, result in _result_dicts(tasks, shape):
        if (from_name is None or result.get("from_name") == from_name) and isinstance(result.get("value"), dict):
            if isinstance(task.get("data"), dict):
                yield task["data"], result["value"]


def describe(binding: Binding) -> dict[str, Any]:
    """The binding as report fields (strings only: for reports, not metrics)."""
    out = {"control": binding.from_name, "data_key": binding.data_key, "origin": binding.origin}
    if binding.note:
        out["note"] = binding.note
    return out
