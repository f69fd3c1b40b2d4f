"""The pull stage: annotations from Label Studio into annotations/annotations.jsonl.

A *source* yields Label Studio export documents: today the files in the inbox
(default JSON, snapshot and JSON_MIN exports); a live-server source plugs in
beside it with the same `documents()` method. Everything read is validated
before anything is written, so a bad line leaves the previous outputs as they were.
"""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import DataError, Problem, ProjectError
from ..project import ANNOTATIONS, INGESTED, ITEMS, PULLED_PREDICTIONS, Project
from ..records import ProblemCollector, atomic_binary, paused_gc, record_key, write_json

if TYPE_CHECKING:
    from ..sorted_runs import SortedRuns

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
        """One parsed export at a time; a large one in parts of :data:`TASKS_PER_PART` tasks (:func:`export_parts`)."""
        for path in self.files():
            yield from self.read(path)

    def read(self, path: Path) -> Iterator[tuple[str, Any]]:
        shown = self.project.rel(path)
        if path.stat().st_size > STREAM_ABOVE_BYTES:
            yield from ((shown, part) for part in export_parts(path, shown))
        else:
            yield shown, load_export(path.read_bytes(), shown)

    def users(self) -> dict[int, str]:
        """:func:`users_in` of the inbox, parsing only the files that can hold e-mails (snapshots)."""
        users: dict[int, str] = {}
        for path in self.files():
            if _mentions(path, b'"email"'):
                shown = self.project.rel(path)
                users.update(users_in(export_parts(path, shown) if path.stat().st_size > STREAM_ABOVE_BYTES
                                      else [load_export(path.read_bytes(), shown)]))
        return users


# Exports above this size are read as a stream, in parts: memory holds a part, not the file.
STREAM_ABOVE_BYTES = 32 << 20
TASKS_PER_PART = 20_000


class ExportPart(list):
    """Tasks ``first`` .. ``first + len - 1`` of an export read in parts; ``first`` 0 is the first part."""

    first: int = 0


def export_parts(path: Path, shown: str, *, size: int | None = None) -> Iterator[ExportPart]:
    """The tasks of a large export, streamed (:func:`..jsonstream.iter_array`) in parts of ``size`` tasks.

    A file that is not a JSON list, or that the streaming parser refuses, is read whole by
    :func:`load_export` (which names the line and column of a syntax error).
    """
    from ..jsonstream import iter_array

    size = size or TASKS_PER_PART
    done = 0
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
        fh.seek(0)
        if not head.startswith(b"["):
            yield _part(load_export(path.read_bytes(), shown), 0)
            return
        part = _part([], 0)
        try:
            for task in iter_array(fh):
                # A part ends between tasks: JSON_MIN rows of one task (one per annotation) stay together.
                if len(part) >= size and _task_id(task) != _task_id(part[-1]):
                    yield part
                    done += len(part)
                    part = _part([], done)
                part.append(task)
        except ValueError:  # also UnicodeDecodeError
            tasks = load_export(path.read_bytes(), shown)  # raises with the line and column
            for first in range(done, len(tasks), size):
                yield _part(tasks[first:first + size], first)
            return
    if part or not done:
        yield part


def _task_id(task: Any) -> Any:
    return task.get("id", id(task)) if isinstance(task, dict) else id(task)


def _part(tasks: list, first: int) -> ExportPart | Any:
    if not isinstance(tasks, list):
        return tasks
    part = ExportPart(tasks)
    part.first = first
    return part


def _mentions(path: Path, needle: bytes) -> bool:
    """Whether the file's bytes hold ``needle`` (searched in place, the file is not read into memory)."""
    import mmap

    if path.stat().st_size == 0:
        return False
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return mapped.find(needle) >= 0


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
def run_pull(project: Project, *, source: ExportSource | None = None, progress=None,
             spill_every: int | None = None) -> PullSummary:
    """Read every export, validate, and write items.jsonl, annotations.jsonl and metrics/pull.json.

    With ``pull.on_invalid: fail`` (the default) any problem stops the stage and nothing
    is written. With ``skip``, bad regions and annotations are left out, counted in
    metrics/pull.json and listed in reports/pull.json; invalid JSON and bad items still fail.

    Memory holds one export file and ``spill_every`` records (:mod:`..sorted_runs`): the parsed
    records wait in sorted runs on disk and are merged by item, so items, their annotations and
    predictions are checked and written together, one item at a time.
    """
    from ..sorted_runs import SPILL_EVERY

    params = project.params
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
    ingested = {item["item_id"]: item for item in project.read_items(INGESTED, missing_ok=True)}
    scratch_parent = project.path(ANNOTATIONS).parent
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=scratch_parent) as scratch:
        every = spill_every or SPILL_EVERY
        reader = ExportReader(project, users, *_ingested_lookups(ingested),
                              pulled_runs(Path(scratch), every, first_arrival=0, n_ingested=len(ingested)),
                              served=getattr(source, "label_config", None))  # a server says each project's config
        for item in ingested.values():  # first: an ingested item wins over the same item in an export
            reader.runs.items.add(item)
        del ingested
        paths = source.files() if hasattr(source, "users") else []
        if _in_parallel(paths):
            _read_in_processes(reader, paths, Path(scratch), every, progress=progress)
        else:
            for shown, document in progress(documents, "pull", total=files) if progress else documents:
                reader.read(shown, document)
                document = None  # noqa: F841 - free this export (part) before reading the next
        runs, bindings, configs = reader.runs, reader.bindings, reader.configs
        summary.counts.update(reader.counts)
        (skipped.extend if skip else collector.add)(reader.problems)
        collector.raise_if_any()
        with ExitStack() as outputs:
            out = {name: outputs.enter_context(atomic_binary(project.path(name)))
                   for name in (ITEMS, ANNOTATIONS, PULLED_PREDICTIONS)}
            joined = join_by_item(project, runs, out, skip=skip)
            if joined.fatal:
                raise DataError(joined.fatal, truncated=joined.truncated)
            if hasattr(source, "commit"):
                source.commit()
    skipped.extend(joined.skipped)
    summary.counts["images_without_size"] = joined.images_without_size
    summary.counts["superseded_across_files"] = joined.superseded
    summary.counts["predictions_accepted"] = joined.accepted
    summary.counts["problems_skipped"] = len(skipped)
    summary.counts["pulled_predictions"] = joined.predictions
    summary.items, summary.items_from_exports = joined.items, joined.items_from_exports
    summary.annotations, summary.annotators = joined.annotations, len(joined.annotators)
    write_json(project.path(METRICS), summary.metrics())
    write_json(project.path(REPORT), {"on_invalid": params["pull"]["on_invalid"], "bindings": bindings,
                                      "label_configs": configs.report(),
                                      "fetched": getattr(source, "fetched", {}),
                                      "problems_skipped": [str(p) for p in skipped]})
    return summary


def _ingested_lookups(ingested: dict[str, dict]) -> tuple[dict, dict, dict]:
    """What parsing needs of the ingested items: item id by image or text, and the recorded sizes.

    Sizes dlp ingest recorded (also of remote images, from their headers) serve boxes without
    ``original_width``: by item id, and by image for tasks that carry their own item id.
    """
    known = {item["data"].get("image", item["data"].get("text")): item_id for item_id, item in ingested.items()}
    sizes = {item_id: (item["data"]["width"], item["data"]["height"]) for item_id, item in ingested.items()
             if item["data"].get("width") and item["data"].get("height")}
    size_of_image = {ingested[item_id]["data"]["image"]: size for item_id, size in sizes.items()}
    return known, sizes, size_of_image


class ExportReader:
    """The per-export half of the pull: parse each document and add its records to sorted runs.

    Problems are kept in reading order (the caller fails or skips them); bindings, label config
    differences and counts are gathered for the report and the metrics. One reader may run in
    another process on one file (:func:`_read_in_processes`).
    """

    def __init__(self, project: Project, users: dict, known: dict, sizes: dict, size_of_image: dict,
                 runs: PulledRuns, *, served=None):
        from ..labels import class_names
        from ..migrations import historical_names

        params, schema = project.params, project.label_schema
        self.project, self.users, self.known, self.sizes, self.size_of_image = project, users, known, sizes, \
            size_of_image
        self.runs, self.served = runs, served
        # Exports made before a rename or merge carry old names: read them, then re-map (migrations).
        self.readable = class_names(schema) + historical_names(schema)
        self.configs = LabelConfigs(project, params["pull"]["inbox"], self.readable, schema["task_type"],
                                    params["pull"]["control"])
        self.bindings: dict[str, dict] = {}
        self.carried: dict[str, Any] = {}  # the binding of each export, for its later parts
        self.problems: list[Problem] = []
        self.counts: Counter = Counter()

    def read(self, shown: str, document: Any) -> None:
        from ..labelstudio.binding import describe
        from ..labelstudio.exports import parse_export
        from ..migrations import remap_records

        pull, schema = self.project.params["pull"], self.project.label_schema
        if self.served is not None and self.served(shown):
            self.configs.given(shown, self.served(shown))
        later_part = getattr(document, "first", 0) > 0  # of an export read in parts: bound as its first

        def parse(image_sizes):
            return parse_export(document, task_type=schema["task_type"], classes=self.readable,
                                multi_label=schema.get("multi_label", False), source_file=shown,
                                schema_version=schema["schema_version"], users=self.users, known_items=self.known,
                                label_config=self.configs.for_export(shown), from_name=pull.get("control"),
                                data_key=pull.get("data_key"), image_sizes=image_sizes,
                                binding=self.carried.get(shown) if later_part else None,
                                first_index=getattr(document, "first", 0))

        parsed = parse(self.sizes)
        # Tasks with their own item_id miss the sizes ingest recorded under the image's id: match by image.
        by_image = {item["item_id"]: self.size_of_image[item["data"]["image"]] for item in parsed.items
                    if not item["data"].get("width") and item["data"].get("image") in self.size_of_image}
        if by_image and any(p.field.endswith(_NO_SIZE_FIELD) for p in parsed.problems):
            parsed = parse({**self.sizes, **by_image})
        if parsed.binding is not None and not later_part:
            self.bindings[shown], self.carried[shown] = describe(parsed.binding), parsed.binding
        self.problems.extend(one_size_problem(shown, parsed.problems, parsed.items))
        self.counts.update({k: v for k, v in parsed.stats.items() if isinstance(v, int)})
        for item in parsed.items:
            self.runs.items.add(item)
        for record in remap_records(schema, parsed.annotations):
            self.runs.annotations.add(record)
        for record in remap_records(schema, parsed.predictions):
            self.runs.predictions.add(record)


# An inbox of at least two exports and this many bytes is parsed by two processes, a file each.
PARALLEL_ABOVE_BYTES = 64 << 20


def _in_parallel(paths: list[Path]) -> bool:
    return len(paths) >= 2 and (os.cpu_count() or 1) >= 2 and sum(p.stat().st_size for p in paths) >= \
        PARALLEL_ABOVE_BYTES


def _read_in_processes(reader: ExportReader, paths: list[Path], scratch: Path, spill_every: int,
                       progress=None) -> None:
    """Parse the exports in two processes, one file per task, into run files the reader's runs adopt.

    Each file's records are numbered from ``(index + 1) << 40``, so the merged runs hold them in
    the order a single process would have read them, and the outputs are the same bytes.
    """
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(reader.project.root, reader.users, reader.known, reader.sizes, reader.size_of_image, index, path,
             scratch / f"file-{index:06d}", spill_every) for index, path in enumerate(paths)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        parts = pool.map(_read_file, jobs)  # in file order
        for part in progress(parts, "pull", total=len(jobs)) if progress else parts:
            reader.bindings.update(part["bindings"])
            reader.problems.extend(part["problems"])
            reader.counts.update(part["counts"])
            reader.configs.differences.update(part["configs"])
            for name in ("items", "annotations", "predictions"):
                getattr(reader.runs, name).adopt(part[name])


def _read_file(job: tuple) -> dict:
    """One export file read in a worker process (see :func:`_read_in_processes`)."""
    root, users, known, sizes, size_of_image, index, path, scratch, spill_every = job
    project = Project(root)
    reader = ExportReader(project, users, known, sizes, size_of_image,
                          pulled_runs(scratch, spill_every, first_arrival=(index + 1) << 40))
    with paused_gc():
        for shown, document in InboxSource(project, project.params["pull"]["inbox"]).read(path):
            reader.read(shown, document)
            document = None  # noqa: F841 - free this part before reading the next
    return {"bindings": reader.bindings, "problems": reader.problems, "counts": reader.counts,
            "configs": reader.configs.differences,
            **{name: getattr(reader.runs, name).flush() for name in ("items", "annotations", "predictions")}}


def pulled_runs(scratch: Path, spill_every: int, *, first_arrival: int, n_ingested: int = 0) -> PulledRuns:
    from ..sorted_runs import SortedRuns

    return PulledRuns(*(SortedRuns(scratch / name, key=key, spill_every=spill_every, first_arrival=first_arrival)
                        for name, key in (("items", _item_key), ("annotations", record_key),
                                          ("predictions", record_key))), n_ingested=n_ingested)


@dataclass
class PulledRuns:
    """What the exports held, in sorted runs: items (ingested ones first), annotations, predictions."""

    items: SortedRuns
    annotations: SortedRuns
    predictions: SortedRuns
    n_ingested: int = 0


@dataclass
class Joined:
    """The outcome of :func:`join_by_item`: counts, and the problems in the order a user reads them."""

    items: int = 0
    items_from_exports: int = 0
    annotations: int = 0
    annotators: set = field(default_factory=set)
    predictions: int = 0
    accepted: int = 0
    superseded: int = 0
    images_without_size: int = 0
    fatal: list[Problem] = field(default_factory=list)
    truncated: bool = False
    skipped: list[Problem] = field(default_factory=list)


def join_by_item(project: Project, runs: PulledRuns, out: dict[str, Any], *, skip: bool) -> Joined:
    """Merge the runs by item id and write each item, its annotations and predictions to ``out``.

    Per item: the first record of its id wins (ingested, then export order); its size is
    completed (:func:`_complete_image_size`); of one annotator's annotations the newest valid
    one is kept; predictions are the newest per model version. Problems keep the order of the
    in-memory pull: items first, then annotations in the order they were read, then predictions
    (those only when nothing else failed); at most :data:`MAX_ERRORS` are kept.
    """
    from ..checks import annotation_checker
    from ..records import MAX_ERRORS, canonical_bytes

    validators = project.validators
    joined = Joined()
    item_problems, annotation_problems, prediction_problems = (_FirstProblems(MAX_ERRORS) for _ in range(3))
    invalid_skipped, annotation_skipped, prediction_skipped = [], [], []
    recorded = _recorded_sizes(runs.items) if _has_images(project) else {}
    write_item, write_annotation, write_prediction = (out[name].write for name in
                                                      (ITEMS, ANNOTATIONS, PULLED_PREDICTIONS))
    for item_id, item, arrival, labelled, predictions in _by_item(runs):
        items = {}
        if item is not None:
            joined.items += 1
            joined.items_from_exports += arrival >= runs.n_ingested
            joined.images_without_size += _complete_image_size(project, item, recorded)
            item_problems.add(arrival, validators["item"].problems(item, ITEMS, None))
            write_item(canonical_bytes(item))
            items = {item_id: item}
        check = annotation_checker(items)
        kept = []
        for group in _annotator_groups(labelled):
            if skip:  # an invalid annotation must not win over a valid one of the same annotator
                group = [(a, r) for a, r in group if not _skipped_invalid(validators, r, a, invalid_skipped)]
                if not group:
                    continue
            first, best = group[0]
            for _, record in group[1:]:
                if _age(record) > _age(best):
                    best = record
            joined.superseded += len(group) - 1
            where = (best.get("source") or {}).get("file", ANNOTATIONS)
            found = validators["annotation"].problems(best, where, None)
            if not found:
                found = [Problem(where, None, f"{name} (item {best['item_id']!r}, {best['annotator']})", message)
                         for name, message in check(best)]
            if found and skip:
                annotation_skipped.append((first, found))
                continue
            annotation_problems.add(first, found)
            kept.append(best)
        if predictions:
            joined.accepted += mark_accepted(kept, [r for _, r in predictions])
        for record in kept:  # in annotator order, as the groups
            joined.annotations += 1
            joined.annotators.add(record["annotator"])
            write_annotation(canonical_bytes(record))
        for record in newest_predictions([r for _, r in predictions]):
            where = (record.get("source") or {}).get("file", PULLED_PREDICTIONS)
            found = validators["prediction"].problems(record, where, None)
            if item is None:
                found.append(Problem(where, None, "item_id", f"prediction of unknown item {record['item_id']!r}"))
            if found and skip:
                prediction_skipped.extend(found)
                continue
            prediction_problems.add(joined.predictions, found)  # written in order: the count is the arrival
            joined.predictions += 1
            write_prediction(canonical_bytes(record))
    joined.fatal, joined.truncated = _in_order(item_problems, annotation_problems, cap=MAX_ERRORS)
    if not joined.fatal:  # as before streaming: predictions are checked once items and annotations passed
        joined.fatal, joined.truncated = _in_order(prediction_problems, cap=MAX_ERRORS)
    joined.skipped = [p for _, found in sorted(invalid_skipped, key=_first) for p in found]
    joined.skipped += [p for _, found in sorted(annotation_skipped, key=_first) for p in found]
    joined.skipped += prediction_skipped
    return joined


def _item_key(record: dict) -> str:
    return record["item_id"]


def _first(entry: tuple) -> Any:
    return entry[0]


def _by_item(runs: PulledRuns):
    """``(item_id, first item record or None, its arrival, annotations, predictions)`` per item id, in order.

    Annotations and predictions come as ``(arrival, record)`` lists in (annotator / model version,
    arrival) order.
    """
    from itertools import groupby

    def grouped(merged):
        for item_id, rows in groupby(merged, key=lambda row: row[0][0]):
            yield item_id, [(arrival, record) for _, arrival, record in rows]

    streams = [((key, 0, arrival, record) for key, arrival, record in _first_of_each(runs.items)),
               ((key, 1, rows) for key, rows in grouped(runs.annotations.merged())),
               ((key, 2, rows) for key, rows in grouped(runs.predictions.merged()))]
    for item_id, parts in groupby(heapq.merge(*streams, key=lambda row: (row[0], row[1])), key=_first):
        item, arrival, annotations, predictions = None, 0, [], []
        for part in parts:
            if part[1] == 0:
                item, arrival = part[3], part[2]
            elif part[1] == 1:
                annotations = part[2]
            else:
                predictions = part[2]
        yield item_id, item, arrival, annotations, predictions


def _first_of_each(item_runs: SortedRuns) -> Iterator[tuple[str, int, dict]]:
    """``(item_id, arrival, record)`` of the first record of each item id: ingested, then export order."""
    from itertools import groupby

    for key, rows in groupby(item_runs.merged(), key=_first):
        _, arrival, record = next(rows)
        yield key, arrival, record


def _annotator_groups(annotations: list[tuple[int, dict]]) -> list[list[tuple[int, dict]]]:
    """The ``(arrival, record)`` rows of each annotator, annotators in name order, rows in arrival order."""
    groups: dict[str, list] = {}
    for row in annotations:  # merged order: (annotator, arrival)
        groups.setdefault(row[1]["annotator"], []).append(row)
    return list(groups.values())


def _skipped_invalid(validators, record: dict, arrival: int, skipped: list) -> bool:
    found = validators["annotation"].problems(record, (record.get("source") or {}).get("file", ANNOTATIONS), None)
    if found:
        skipped.append((arrival, found))
    return bool(found)


class _FirstProblems:
    """The problems of the ``cap`` earliest records (by arrival), whatever order they come in."""

    def __init__(self, cap: int):
        self.cap, self.seen, self._heap = cap, 0, []

    def add(self, arrival: int, problems: list[Problem]) -> None:
        for i, problem in enumerate(problems):
            self.seen += 1
            entry = (-arrival, -i, problem)  # a max-heap on (arrival, i): the latest goes first
            if len(self._heap) < self.cap:
                heapq.heappush(self._heap, entry)
            elif entry[:2] > self._heap[0][:2]:
                heapq.heapreplace(self._heap, entry)

    @property
    def problems(self) -> list[Problem]:
        return [problem for _, _, problem in sorted(self._heap, key=lambda e: (-e[0], -e[1]))]


def _in_order(*collections: _FirstProblems, cap: int) -> tuple[list[Problem], bool]:
    """The problems of each collection in turn, capped: what one collector filled in that order holds."""
    found = [problem for collection in collections for problem in collection.problems]
    return found[:cap], sum(c.seen for c in collections) > cap


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


def newest_predictions(predictions: list[dict]) -> list[dict]:
    """One prediction per (item, model version) across files: the one with the highest Label Studio id."""
    best: dict[tuple[str, str], dict] = {}
    for record in predictions:
        key = (record["item_id"], record["model_version"])
        rank = (record.get("source") or {}).get("prediction") or 0
        if key not in best or rank > ((best[key].get("source") or {}).get("prediction") or 0):
            best[key] = record
    return [best[k] for k in sorted(best)]


def _age(record: dict) -> tuple:
    source = record.get("source") or {}
    return (record.get("updated_at") or "", record.get("created_at") or "", source.get("annotation") or 0)


def _has_images(project: Project) -> bool:
    return project.label_schema["task_type"] in ("image_classification", "bbox")


def _recorded_sizes(item_runs) -> dict[str, tuple[int, int]]:
    """Image -> (width, height) of the items that carry a size (first record of each item id)."""
    recorded = {}
    for _, _, item in _first_of_each(item_runs):
        data = item["data"]
        if "image" in data and data.get("width") and data.get("height"):
            recorded[data["image"]] = (data["width"], data["height"])
    return recorded


def _complete_image_size(project: Project, item: dict, recorded: dict[str, tuple[int, int]]) -> int:
    """An item first seen in an export may lack an image size: read it from the file when it is local.

    An image elsewhere (``s3://``, ``https://``, or a path not in the project) keeps no size, so
    projects whose images live in cloud storage can start: only what needs a size asks for it
    (COCO, VOC and YOLO export; boxes in percent without ``original_width``), and
    ``dlp ingest <uri-prefix>`` records sizes from the image headers (an item of the same image
    shares them, whatever its id: ``recorded``). Returns 1 when the item has an image and no size.
    """
    data = item["data"]
    if "image" not in data or (data.get("width") and data.get("height")):
        return 0
    from ..imagestore import locate
    from ..media import image_size

    path = locate(data["image"], project.root)
    if data["image"] in recorded:  # dlp ingest read it (a remote image's header), under another item id
        data["width"], data["height"] = recorded[data["image"]]
    elif path is not None and path.is_file():
        data["width"], data["height"] = image_size(path)
    else:
        data.pop("width", None), data.pop("height", None)
        return 1
    return 0


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
