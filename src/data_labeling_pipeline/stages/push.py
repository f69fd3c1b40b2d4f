"""`dlp push`: tasks and their pre-labels into Label Studio (a command, not a stage: it has side effects).

What is pushed: by default the items of ``queue/next.jsonl`` and the ``annotate`` items of
the review queue (``--items FILE`` or ``--all`` otherwise); ``review`` items go to the
review project, whose annotations pull reads as reviewer decisions. Each task's ``data``
carries our ``item_id`` and its pre-label rides along as a prediction, so pull matches
accepted pre-labels. Idempotent: items already in a Label Studio project are never
imported again, and a project this command creates has its id written to params.yaml
at once, so the next push and every pull find it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..errors import ConfigError, DataError, Problem
from ..project import ANNOTATIONS, INGESTED, ITEMS, PREDICTIONS, REVIEW, Project

QUEUE = "queue/next.jsonl"
LOCAL_FILES = "/data/local-files/?d="
CHUNK = 1000  # tasks per import request (Label Studio accepts up to 250k, but smaller requests retry cheaply)


@dataclass
class PushSummary:
    pushed: Counter = field(default_factory=Counter)  # Label Studio project title -> tasks imported
    already: Counter = field(default_factory=Counter)  # ... -> items that were there already
    created: list[str] = field(default_factory=list)
    duplicates_removed: int = 0
    configs_updated: list[str] = field(default_factory=list)  # server configs that no longer fit the schema

    def describe(self) -> str:
        if not self.pushed and not self.already:
            return "nothing to push (the queue is empty)"
        lines = [f"{title}: {self.pushed[title]} tasks imported, {self.already[title]} already there"
                 for title in sorted(set(self.pushed) | set(self.already))]
        if self.configs_updated:
            lines.append("label config replaced by schema/label_config.xml (it no longer fit the schema): "
                         + ", ".join(self.configs_updated))
        if self.created:
            lines.append("created in Label Studio (ids recorded in params.yaml): " + ", ".join(self.created))
        return "\n".join(lines)


def run_push(project: Project, *, items_file: str | Path | None = None, all_items: bool = False,
             item_ids: list[str] | None = None, predictions: list[dict] | None = None, server=None) -> PushSummary:
    """Push the chosen items (the queues by default; ``item_ids`` from Python) with their pre-labels.

    ``predictions`` replace those of ``annotations/predictions.jsonl`` (the active learner's own).
    """
    from ..labelstudio.server import connect

    params = project.params
    settings = params["project"]["label_studio"]
    if settings["routing"] == "per_annotator" and not settings["annotators"]:
        raise ConfigError([Problem("params.yaml", None, "project.label_studio.annotators",
                                   "routing: per_annotator needs the annotators' Label Studio e-mails here")])
    # items.jsonl is written by pull; items ingested since then are pushable too.
    items = {item["item_id"]: item for name in (INGESTED, ITEMS) for item in project.read_items(name, missing_ok=True)}
    if item_ids is not None:
        unknown = sorted(set(item_ids) - set(items))
        if unknown:
            raise DataError.single("<item_ids>", None, "item_id", f"not items of the project: {unknown[:5]}")
        to_label, one_more, to_review = set(item_ids), set(), set()
    else:
        to_label, one_more, to_review = _chosen(project, items, items_file, all_items)
    own = server is None
    server = server or connect(params)
    try:
        return _push_all(project, server, params, settings, items, to_label, one_more, to_review, predictions)
    finally:
        if own:
            server.close()


def _push_all(project: Project, server, params: dict, settings: dict, items: dict[str, dict], to_label: set,
              one_more: set, to_review: set, predictions: list[dict] | None = None) -> PushSummary:
    from ..labelstudio.routing import needed_labels, plan_per_annotator

    summary = PushSummary()
    writer = _Tasks(project, items, predictions)
    labelled_by: dict[str, set[str]] = {}
    for record in project.read_annotations() if project.path(ANNOTATIONS).exists() else ():
        labelled_by.setdefault(record["item_id"], set()).add(record["annotator"])
    min_annotators = params["quality"]["min_annotators_per_sample"]
    if settings["routing"] == "shared":
        pid = _ensure(project, server, summary, key="project_id", title=params["project"]["name"],
                      config=writer.config, maximum_annotations=min_annotators)
        _push(server, pid, params["project"]["name"], sorted(to_label | one_more), writer, summary)
    else:
        projects = {who: _ensure(project, server, summary, key=("annotator_projects", who),
                                 title=f"{params['project']['name']} / {who}", config=writer.config,
                                 maximum_annotations=1)
                    for who in settings["annotators"]}
        present = {who: server.item_ids(pid) for who, pid in projects.items()}
        waiting = {who: {i for i in present[who] if who not in labelled_by.get(i, set())} for who in projects}
        targets = needed_labels(sorted(to_label), labelled_by, min_annotators=min_annotators, one_more=one_more)
        plan = plan_per_annotator(targets, settings["annotators"], labelled_by, waiting)
        for who, pid in projects.items():
            summary.already[f"{params['project']['name']} / {who}"] += len(
                [i for i in targets if i in present[who]])
            _push(server, pid, f"{params['project']['name']} / {who}", plan[who], writer, summary,
                  present=present[who])
    if to_review:
        title = f"{params['project']['name']} / review"
        pid = _ensure(project, server, summary, key="review_project_id", title=title, config=writer.config,
                      maximum_annotations=1)
        _push(server, pid, title, sorted(to_review), writer, summary)
    return summary


def _chosen(project: Project, items: dict[str, dict], items_file, all_items: bool) -> tuple[set, set, set]:
    """(items to label, items needing one more annotator, items for a reviewer)."""
    if all_items:
        return set(items), set(), set()
    if items_file is not None:
        return _read_ids(Path(items_file), items), set(), set()
    queue = _read_ids(project.path(QUEUE), items, missing_ok=True)
    one_more, to_review = set(), set()
    from ..records import read_records

    review = project.path(REVIEW)
    for record in read_records(review, display_path=REVIEW) if review.exists() else ():
        (one_more if record.get("action") == "annotate" else to_review).add(record["item_id"])
    return queue, one_more - queue, to_review - queue - one_more


def _read_ids(path: Path, items: dict[str, dict], *, missing_ok: bool = False) -> set[str]:
    """Item ids from a JSONL file of records with ``item_id``, or a text file of one id per line."""
    shown = str(path)
    found: set[str] = set()
    problems = []
    if not path.is_file():
        if missing_ok:
            return found
        raise DataError.single(shown, None, "", "file not found")
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        item_id = line
        if line.startswith("{"):
            try:
                item_id = json.loads(line).get("item_id")
            except json.JSONDecodeError as exc:
                problems.append(Problem(shown, number, "", f"invalid JSON: {exc.msg}"))
                continue
        if item_id not in items:
            problems.append(Problem(shown, number, "item_id", f"{item_id!r} is not an item of the project"))
        else:
            found.add(item_id)
    if problems:
        raise DataError(problems)
    return found


class _Tasks:
    """Label Studio tasks of our items, shaped by the project's label config, with pre-labels."""

    def __init__(self, project: Project, items: dict[str, dict], predictions: list[dict] | None = None):
        from ..labels import class_names
        from ..labelstudio.config_reader import bind, check_against_schema, parse_label_config
        from ..labelstudio.label_config import label_config
        from ..migrations import active_names

        schema = project.label_schema
        self.project, self.items, self.task_type = project, items, schema["task_type"]
        self.classes, self.multi_label = class_names(schema), schema.get("multi_label", False)
        path = project.path("schema/label_config.xml")
        offered = active_names(schema)  # deprecated classes are not offered to annotators
        self.config = path.read_text("utf-8") if path.is_file() else \
            label_config(self.task_type, offered, multi_label=self.multi_label)
        parsed = parse_label_config(self.config, path="schema/label_config.xml")
        problems, _ = check_against_schema(parsed, self.task_type, offered,
                                           control=project.params["pull"]["control"])
        if problems:
            raise DataError(problems)
        self.binding = bind(parsed, self.task_type, control=project.params["pull"]["control"])
        self.predictions = {}
        if predictions is not None:
            self.predictions = {record["item_id"]: record for record in predictions}
        elif project.path(PREDICTIONS).exists():
            from ..records import read_records

            for record in read_records(project.path(PREDICTIONS), project.validators["prediction"],
                                       display_path=PREDICTIONS):
                self.predictions[record["item_id"]] = record
        settings = project.params["project"]["label_studio"]
        prefix = settings["image_url_prefix"]
        self.needs_local_files = self.task_type in ("image_classification", "bbox") and prefix is None
        self.image_url_prefix = prefix if prefix is not None else \
            local_files_prefix(project.root, settings["local_files_root"]) if self.needs_local_files else LOCAL_FILES

    def build(self, item_ids: list[str]) -> list[dict]:
        from ..labelstudio.tasks import to_label_studio_tasks

        tasks = to_label_studio_tasks(
            [self.items[i] for i in item_ids], (), [self.predictions[i] for i in item_ids if i in self.predictions],
            task_type=self.task_type, classes=self.classes, multi_label=self.multi_label,
            from_name=self.binding.from_name, to_name=self.binding.to_name, data_key=self.binding.data_key,
            image_url_prefix=self.image_url_prefix)
        for task in tasks:  # Label Studio gives the ids; predictions are linked by nesting
            del task["id"], task["annotations"]
            for prediction in task["predictions"]:
                prediction.pop("id", None), prediction.pop("task", None)
        return tasks


def local_files_prefix(root: Path, document_root: str | None, environ=os.environ) -> str:
    """What goes before an image's repository path so Label Studio's Local Files serve it.

    Local Files URLs are relative to the server's document root, not to the storage, so a
    repository below that root is addressed by its path from there.

        >>> local_files_prefix(Path("/data/projects/cats"), "/data")
        '/data/local-files/?d=projects/cats/'
        >>> local_files_prefix(Path("/srv/cats"), None, environ={})
        '/data/local-files/?d=srv/cats/'
    """
    shown = "project.label_studio.local_files_root"
    base = document_root or environ.get("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT") or os.sep
    try:
        inside = Path(root).resolve().relative_to(Path(base).resolve())
    except ValueError:
        raise ConfigError([Problem("params.yaml", None, shown,
                                   f"the repository {root} is not below the Label Studio document root {base}; "
                                   "start the server with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT above it, set "
                                   "this key to that root, or serve the images elsewhere (image_url_prefix)")]) \
            from None
    relative = inside.as_posix()
    return LOCAL_FILES + (quote(relative, safe="/") + "/" if relative != "." else "")


def _ensure(project: Project, server, summary: PushSummary, *, key, title: str, config: str,
            maximum_annotations: int) -> int:
    """The id of a Label Studio project: the one params name (updated to our config), or a new one."""
    settings = project.params["project"]["label_studio"]
    known = settings[key] if isinstance(key, str) else settings[key[0]].get(key[1])
    title = _title(title)
    if known is None:
        known = server.create_project(title, config, maximum_annotations=maximum_annotations)
        record_project_id(project, key, known)
        summary.created.append(f"{title} (id {known})")
    else:
        found = server.project(known)
        changes = {}
        if found.get("label_config") != config and not _fits_schema(project, found.get("label_config") or ""):
            changes["label_config"] = config  # a layout edited in the UI that still fits the schema is kept
            summary.configs_updated.append(title)
        if found.get("maximum_annotations") != maximum_annotations:
            changes["maximum_annotations"] = maximum_annotations
        if changes:
            server.update_project(known, **changes)
    return known


def _fits_schema(project: Project, config: str) -> bool:
    """Whether a label config (the server's copy) has exactly the schema's task type and classes, in order."""
    from ..errors import PipelineError
    from ..labelstudio.config_reader import check_against_schema, parse_label_config
    from ..migrations import active_names

    schema = project.label_schema
    try:
        parsed = parse_label_config(config, path="<the server's label config>")
    except PipelineError:
        return False
    problems, warnings = check_against_schema(parsed, schema["task_type"], active_names(schema),
                                              control=project.params["pull"]["control"])
    return not problems and not warnings  # a class the server lacks, or out of order, is replaced too


def _push(server, project_id: int, title: str, item_ids: list[str], writer: _Tasks, summary: PushSummary, *,
          present: dict[str, int] | None = None) -> None:
    present = server.item_ids(project_id) if present is None else present
    new = [i for i in item_ids if i not in present]
    summary.already[title] += len(item_ids) - len(new)
    if new and writer.needs_local_files:
        server.local_storage(project_id, str(writer.project.root))
    for start in range(0, len(new), CHUNK):
        server.import_tasks(project_id, writer.build(new[start:start + CHUNK]))
    summary.pushed[title] += len(new)
    if new:  # a retried import may have landed twice: keep the first task of each item
        summary.duplicates_removed += server.remove_duplicates(project_id)


def _title(title: str) -> str:
    # Label Studio titles are 3 to 50 characters.
    return (title.strip() or "labeling project").ljust(3)[:50]


def record_project_id(project: Project, key, value: int) -> None:
    """Write a Label Studio project id into params.yaml, keeping the file's comments and order."""
    from ..params_edit import edited_params
    from ..records import atomic_write_text

    path = project.path("params.yaml")
    keys = ("project", "label_studio", *((key,) if isinstance(key, str) else key))
    atomic_write_text(path, edited_params(path.read_text("utf-8"), keys, value))
    project.__dict__.pop("params", None)  # the cached params are stale now
