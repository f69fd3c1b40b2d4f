"""The pull stage: annotations from Label Studio into annotations/annotations.jsonl.

A *source* yields Label Studio export documents: today the files in the inbox
(default JSON, snapshot and JSON_MIN exports); a live-server source plugs in
beside it with the same `documents()` method. Everything read is validated
before anything is written, so a bad line leaves the previous outputs as they were.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from ..errors import DataError, Problem, ProjectError
from ..project import ANNOTATIONS, INGESTED, ITEMS, PULLED_PREDICTIONS, Project
from ..records import ProblemCollector, paused_gc, write_json, write_jsonl

METRICS = "metrics/pull.json"
REPORT = "reports/pull.json"
LABEL_CONFIG = "schema/label_config.xml"
CONFIG_NAME = "label_config.xml"


class ExportSource(Protocol):
    def documents(self) -> Iterator[tuple[str, Any]]:
        """Yield (name shown in messages, parsed export JSON)."""


@dataclass
class InboxSource:
    """Label Studio export files (*.json) dropped into the inbox, read in name order."""

    project: Project
    inbox: str

    def files(self) -> list[Path]:
        folder = self.project.path(self.inbox)
        if not folder.is_dir():
            raise ProjectError(f"the inbox {self.inbox}/ is missing; create it and drop Label Studio exports there")
        return sorted(p for p in folder.rglob("*.json") if p.is_file())

    def documents(self) -> Iterator[tuple[str, Any]]:
        """One parsed export at a time, so memory holds one file's JSON, not the inbox's."""
        for path in self.files():
            shown = self.project.rel(path)
            yield shown, load_export(path.read_bytes(), shown)

    def users(self) -> dict[int, str]:
        """:func:`users_in` of the inbox, parsing only the files that can hold e-mails (snapshots)."""
        users: dict[int, str] = {}
        for path in self.files():
            raw = path.read_bytes()
            if b'"email"' in raw:
                users.update(users_in([load_export(raw, self.project.rel(path))]))
        return users


def load_export(raw: bytes, shown: str) -> Any:
    """The parsed JSON of one export file: orjson (~2.5x faster), else the stdlib's parser.

    The stdlib also reads what orjson refuses (NaN, integers beyond 64 bits) and names the
    line and column of a syntax error.
    """
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError.single(shown, None, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise DataError.single(shown, exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})") from None


@dataclass
class PullSummary:
    files: int = 0
    items: int = 0
    items_from_exports: int = 0
    annotations: int = 0
    annotators: int = 0
    counts: Counter = field(default_factory=Counter)

    def metrics(self) -> dict[str, int]:
        return {"files": self.files, "items": self.items, "items_from_exports": self.items_from_exports,
                "annotations": self.annotations, "annotators": self.annotators, **dict(sorted(self.counts.items()))}

    def describe(self) -> str:
        extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(self.counts.items()) if v)
        return (f"pulled {self.annotations} annotations by {self.annotators} annotators on {self.items} items "
                f"from {self.files} export files" + (f" ({extra})" if extra else ""))


@paused_gc()
def run_pull(project: Project, *, source: ExportSource | None = None, progress=None) -> PullSummary:
    """Read every export, validate, and write items.jsonl, annotations.jsonl and metrics/pull.json.

    With ``pull.on_invalid: fail`` (the default) any problem stops the stage and nothing
    is written. With ``skip``, bad regions and annotations are left out, counted in
    metrics/pull.json and listed in reports/pull.json; invalid JSON and bad items still fail.
    """
    from ..labels import class_names
    from ..labelstudio.binding import describe
    from ..labelstudio.exports import parse_export
    from ..migrations import historical_names, remap_records

    params, label_schema = project.params, project.label_schema
    source = source or default_source(project)
    if hasattr(source, "users"):  # the inbox: stream the files, one in memory at a time
        users, documents, files = source.users(), source.documents(), len(source.files())
    else:
        documents = list(source.documents())
        users, files = users_in(doc for _, doc in documents), len(documents)
    collector = ProblemCollector()
    skip = params["pull"]["on_invalid"] == "skip"
    skipped: list[Problem] = []
    summary = PullSummary(files=files)
    items = {item["item_id"]: item for item in project.read_items(INGESTED, missing_ok=True)}
    known = {item["data"].get("image", item["data"].get("text")): item_id for item_id, item in items.items()}
    # Sizes dlp ingest recorded (also of remote images, from their headers) serve boxes without original_width.
    sizes = {item_id: (item["data"]["width"], item["data"]["height"]) for item_id, item in items.items()
             if item["data"].get("width") and item["data"].get("height")}
    size_of_image = {items[item_id]["data"]["image"]: size for item_id, size in sizes.items()}
    annotations: list[dict] = []
    predictions: list[dict] = []
    # Exports made before a rename or merge carry old names: read them, then re-map (migrations).
    readable = class_names(label_schema) + historical_names(label_schema)
    configs = LabelConfigs(project, params["pull"]["inbox"], readable, label_schema["task_type"],
                           params["pull"]["control"])
    bindings: dict[str, dict] = {}
    served = getattr(source, "label_config", None)  # a server says which config each project has
    for shown, document in progress(documents, "pull", total=files) if progress else documents:
        if served is not None and served(shown):
            configs.given(shown, served(shown))
        def parse(image_sizes, document=document, shown=shown):
            return parse_export(document, task_type=label_schema["task_type"], classes=readable,
                                multi_label=label_schema.get("multi_label", False), source_file=shown,
                                schema_version=label_schema["schema_version"], users=users, known_items=known,
                                label_config=configs.for_export(shown), from_name=params["pull"].get("control"),
                                data_key=params["pull"].get("data_key"), image_sizes=image_sizes)

        parsed = parse(sizes)
        # Tasks with their own item_id miss the sizes ingest recorded under the image's id: match by image.
        by_image = {item["item_id"]: size_of_image[item["data"]["image"]] for item in parsed.items
                    if not item["data"].get("width") and item["data"].get("image") in size_of_image}
        if by_image and any(p.field.endswith(_NO_SIZE_FIELD) for p in parsed.problems):
            parsed = parse({**sizes, **by_image})
        if parsed.binding is not None:
            bindings[shown] = describe(parsed.binding)
        (skipped.extend if skip else collector.add)(one_size_problem(shown, parsed.problems, parsed.items))
        summary.counts.update({k: v for k, v in parsed.stats.items() if isinstance(v, int)})
        for item in parsed.items:
            if item["item_id"] not in items:
                items[item["item_id"]] = item
                summary.items_from_exports += 1
        annotations.extend(remap_records(label_schema, parsed.annotations))
        predictions.extend(remap_records(label_schema, parsed.predictions))
    collector.raise_if_any()
    summary.counts["images_without_size"] = _complete_image_sizes(project, items)
    if skip:  # an invalid annotation must not win over a valid one of the same annotator
        annotations = _without_invalid(project, annotations, skipped)
    kept, superseded = newest_per_annotator(annotations)
    summary.counts["superseded_across_files"] = superseded
    kept = _validate(project, items, kept, collector, skipped if skip else None)
    collector.raise_if_any()
    summary.counts["predictions_accepted"] = mark_accepted(kept, predictions)
    summary.counts["problems_skipped"] = len(skipped)
    summary.items, summary.annotations = len(items), len(kept)
    summary.annotators = len({a["annotator"] for a in kept})
    write_jsonl(project.path(ITEMS), items.values())
    pulled = _valid_predictions(project, newest_predictions(predictions), items, skipped if skip else None, collector)
    collector.raise_if_any()
    summary.counts["pulled_predictions"] = len(pulled)
    if hasattr(source, "commit"):
        source.commit()
    write_jsonl(project.path(ANNOTATIONS), kept)
    write_jsonl(project.path(PULLED_PREDICTIONS), pulled)
    write_json(project.path(METRICS), summary.metrics())
    write_json(project.path(REPORT), {"on_invalid": params["pull"]["on_invalid"], "bindings": bindings,
                                      "label_configs": configs.report(),
                                      "fetched": getattr(source, "fetched", {}),
                                      "problems_skipped": [str(p) for p in skipped]})
    return summary


def default_source(project: Project) -> ExportSource:
    """The inbox's export files, or the Label Studio server when ``pull.source: label_studio``."""
    params = project.params
    if params["pull"]["source"] == "label_studio":
        from ..labelstudio.server import connect
        from .pull_server import ServerSource

        return ServerSource(project, connect(params), incremental=params["pull"]["incremental"])
    return InboxSource(project, params["pull"]["inbox"])


def mark_accepted(annotations: list[dict], predictions: list[dict]) -> int:
    """Set ``prediction_accepted`` on annotations made from a pre-label: whether they kept it unchanged.

    The pre-label is the prediction Label Studio names in ``parent_prediction`` (same project).
    Returns how many were accepted.
    """
    from ..models.prelabel import same_payload

    by_id = {((p.get("source") or {}).get("project"), (p.get("source") or {}).get("prediction")): p
             for p in predictions}
    accepted = 0
    for record in annotations:
        parent = record.get("parent_prediction")
        prediction = by_id.get(((record.get("source") or {}).get("project"), parent)) if parent is not None else None
        if prediction is not None:
            record["prediction_accepted"] = bool(same_payload(prediction, record))
            accepted += record["prediction_accepted"]
    return accepted


class LabelConfigs:
    """The label config of each export: the nearest inbox/**/label_config.xml above it, else the schema's.

    Exports of several Label Studio projects can share one inbox: each subfolder may hold
    its project's config beside its exports. A config offering classes the label schema
    lacks is an error (those labels could not be stored); other differences are reported.
    """

    def __init__(self, project: Project, inbox: str, classes: list[str], task_type: str, control: str | None = None):
        self.project, self.inbox, self.classes, self.task_type = project, inbox.strip("/"), classes, task_type
        self.control = control
        self.parsed: dict[str, object] = {}
        self.differences: dict[str, list[str]] = {}
        self._given: dict[str, str] = {}

    def given(self, shown: str, xml: str) -> None:
        """The config of one document, as its source holds it (a server's project), checked like files."""
        self.parsed.pop(shown, None)
        self._given[shown] = xml

    def for_export(self, shown: str):
        if shown in self._given:
            return self.load(shown)
        folder = PurePosixPath(shown).parent
        while True:
            candidate = (folder / CONFIG_NAME).as_posix()
            if self.project.path(candidate).is_file():
                return self.load(candidate)
            if folder.as_posix() in (self.inbox, ".", "") or not folder.as_posix().startswith(self.inbox):
                break
            folder = folder.parent
        return self.load(LABEL_CONFIG) if self.project.path(LABEL_CONFIG).is_file() else None

    def load(self, relative: str):
        from ..labelstudio.config_reader import check_against_schema, parse_label_config

        if relative not in self.parsed:
            text = self._given[relative] if relative in self._given else self.project.path(relative).read_text("utf-8")
            config = parse_label_config(text, path=relative)
            self.parsed[relative] = config
            problems, warnings = check_against_schema(config, self.task_type, self.classes, control=self.control)
            # A config without a fitting control is not used (the binding says why in the report);
            # any other problem (classes the schema lacks, text behind URLs) could not be read right.
            fatal = [p for p in problems if p.field not in ("", "pull.control")]
            if fatal:
                raise DataError(fatal)
            self.differences[relative] = [w.split(": ", 2)[2] for w in warnings]
        return self.parsed[relative]

    def report(self) -> dict[str, list[str]]:
        return dict(sorted(self.differences.items()))


def users_in(documents) -> dict[int, str]:
    """Label Studio user id -> e-mail, learned from snapshot exports (full `completed_by` objects).

    A default export names annotators by id only; a snapshot of the same
    server in the inbox lets those ids become e-mails too.
    """
    users: dict[int, str] = {}
    for document in documents:
        for task in document if isinstance(document, list) else ():
            for annotation in task.get("annotations", ()) if isinstance(task, dict) else ():
                who = annotation.get("completed_by") if isinstance(annotation, dict) else None
                if isinstance(who, dict) and isinstance(who.get("id"), int) and who.get("email"):
                    users[who["id"]] = who["email"]
    return users


def newest_per_annotator(annotations: list[dict]) -> tuple[list[dict], int]:
    """Keep one annotation per (item, annotator): the newest (updated_at, created_at, annotation id).

    Returns the kept annotations and how many were superseded.
    """
    best: dict[tuple[str, str], dict] = {}
    for record in annotations:
        key = (record["item_id"], record["annotator"])
        if key not in best or _age(record) > _age(best[key]):
            best[key] = record
    return list(best.values()), len(annotations) - len(best)


def newest_predictions(predictions: list[dict]) -> list[dict]:
    """One prediction per (item, model version) across files: the one with the highest Label Studio id."""
    best: dict[tuple[str, str], dict] = {}
    for record in predictions:
        key = (record["item_id"], record["model_version"])
        rank = (record.get("source") or {}).get("prediction") or 0
        if key not in best or rank > ((best[key].get("source") or {}).get("prediction") or 0):
            best[key] = record
    return [best[k] for k in sorted(best)]


def _valid_predictions(project: Project, predictions: list[dict], items: dict[str, dict],
                       skipped: list[Problem] | None, collector: ProblemCollector) -> list[dict]:
    """Predictions the export carried, checked like annotations (a bad one is skipped or fails the pull)."""
    validator = project.validators["prediction"]
    valid = []
    for record in predictions:
        where = (record.get("source") or {}).get("file", PULLED_PREDICTIONS)
        found = validator.problems(record, where, None)
        if record["item_id"] not in items:
            found.append(Problem(where, None, "item_id", f"prediction of unknown item {record['item_id']!r}"))
        if _keep(found, collector, skipped):
            valid.append(record)
    return valid


def _keep(found: list[Problem], collector: ProblemCollector, skipped: list[Problem] | None) -> bool:
    """With ``skipped`` (on_invalid: skip) a record with problems is left out and they are listed; else collected."""
    if found and skipped is not None:
        skipped.extend(found)
        return False
    collector.add(found)
    return True


def _age(record: dict) -> tuple:
    source = record.get("source") or {}
    return (record.get("updated_at") or "", record.get("created_at") or "", source.get("annotation") or 0)


def _complete_image_sizes(project: Project, items: dict[str, dict]) -> int:
    """Items first seen in an export may lack an image size: read it from the file when it is local.

    An image elsewhere (``s3://``, ``https://``, or a path not in the project) keeps no size, so
    projects whose images live in cloud storage can start: only what needs a size asks for it
    (COCO, VOC and YOLO export; boxes in percent without ``original_width``), and
    ``dlp ingest <uri-prefix>`` records sizes from the image headers (an item of the same image
    shares them, whatever its id). Returns how many have none.
    """
    from ..imagestore import locate
    from ..media import image_size

    recorded = {item["data"]["image"]: (item["data"]["width"], item["data"]["height"]) for item in items.values()
                if "image" in item["data"] and item["data"].get("width") and item["data"].get("height")}
    without = 0
    for item in items.values():
        data = item["data"]
        if "image" not in data or (data.get("width") and data.get("height")):
            continue
        path = locate(data["image"], project.root)
        if data["image"] in recorded:  # dlp ingest read it (a remote image's header), under another item id
            data["width"], data["height"] = recorded[data["image"]]
        elif path is not None and path.is_file():
            data["width"], data["height"] = image_size(path)
        else:
            data.pop("width", None), data.pop("height", None)
            without += 1
    return without


# The field of the problem regions.py reports for a box in percent of an unknown image size.
_NO_SIZE_FIELD = ".original_width"
SHOWN_NAMES = 3


def one_size_problem(shown: str, problems: list[Problem], items: list[dict]) -> list[Problem]:
    """The problems of one export, with every box lacking an image size folded into one problem.

    Boxes are stored in pixels, so a box in percent needs its image's size: from the result's
    ``original_width``/``original_height`` (Label Studio writes them) or from the size ``dlp ingest``
    recorded. Without either, one line says how many, names a few images and gives the fix, instead
    of one line per box.
    """
    sizeless = [p for p in problems if p.field.endswith(_NO_SIZE_FIELD) and p.message.startswith("no image size")]
    if not sizeless:
        return problems
    from ..imagestore import shown as shown_ref

    images = sorted(shown_ref(item["data"]["image"]) for item in items
                    if "image" in item["data"] and not item["data"].get("width"))
    more = len(images) - SHOWN_NAMES
    named = ", ".join(images[:SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")
    boxes = f"{len(sizeless)} box is" if len(sizeless) == 1 else f"{len(sizeless)} boxes are"
    have = f"{len(images)} image has" if len(images) == 1 else f"{len(images)} images have"
    message = (f"{boxes} in percent of an image whose size is unknown: the results have no "
               f"original_width/original_height and {have} no recorded size ({named}); "
               "record the sizes with dlp ingest <folder, uri-prefix or file of URIs> (it reads only the image "
               "headers) and pull again, or export from Label Studio with original_width/original_height")
    folded = {id(p) for p in sizeless}
    return [Problem(shown, None, "", message), *(p for p in problems if id(p) not in folded)]


def _without_invalid(project: Project, annotations: list[dict], skipped: list[Problem]) -> list[dict]:
    """The annotations that match the schema; the problems of the others go to ``skipped``."""
    validator = project.validators["annotation"]
    valid = []
    for record in annotations:
        found = validator.problems(record, (record.get("source") or {}).get("file", ANNOTATIONS), None)
        skipped.extend(found)
        if not found:
            valid.append(record)
    return valid


def _validate(project: Project, items: dict[str, dict], annotations: list[dict], collector: ProblemCollector,
              skipped: list[Problem] | None = None) -> list[dict]:
    """Schema and semantic checks of what is about to be written, named by where it came from.

    Returns the annotations to write: all of them, or (when ``skipped`` collects the
    problems) those without a problem.
    """
    from ..checks import annotation_checker

    item_validator, annotation_validator = project.validators["item"], project.validators["annotation"]
    for item in items.values():
        collector.add(item_validator.problems(item, ITEMS, None))
    check = annotation_checker(items)
    valid: list[dict] = []
    for record in annotations:
        where = (record.get("source") or {}).get("file", ANNOTATIONS)
        found = annotation_validator.problems(record, where, None)
        if not found:
            found = [Problem(where, None, f"{field} (item {record['item_id']!r}, {record['annotator']})", message)
                     for field, message in check(record)]
        if _keep(found, collector, skipped):
            valid.append(record)
    return valid
