"""`dlp ingest`: raw data -> annotations/items.ingested.jsonl (and `dvc add` of the data).

Images: one item per image file, id = its POSIX path relative to the project,
size after EXIF orientation, sha256. Images outside the project are referenced, not
copied: give a URI prefix (`s3://bucket/prefix/`, `gs://...`, `memory://...`,
`file:///abs/dir/`; any fsspec protocol that can list) or a text file of URIs, one a line
(`https://` addresses, which cannot be listed, come this way). Each becomes one item whose
id and image are its URI, with the size read from the image's header (its first bytes;
nothing is downloaded whole). An unreachable URI fails the ingest, naming it and why, and
nothing is written. Texts (CSV with a `text` column, or JSONL with a `text` field): id
from an `item_id` column when present, else `t-` + the first 16 hex digits of the text's
sha256, so ids survive reordering. Re-ingesting is incremental and idempotent: same files,
same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, Problem, ProjectError
from ..imagestore import is_uri, shown
from ..media import IMAGE_SUFFIXES, image_size, sha256_file
from ..project import INGESTED, Project
from ..records import ProblemCollector, write_jsonl


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    duplicates: int = 0
    total: int = 0
    tracked: list[str] = field(default_factory=list)


# Header reads of remote images run in parallel: each is one small request, mostly waiting.
HEADER_THREADS = 16


def ingest(project: Project, source: str | Path, *, track: bool = True, progress=None) -> IngestReport:
    """Add the images of a folder, URI prefix or file of URIs, or the texts of a CSV/JSONL file, to the items.

    Example:
        ``ingest(project, "images/")``, ``ingest(project, "s3://bucket/photos/")`` or
        ``ingest(project, "urls.txt")`` for an image project; ``ingest(project, "texts.csv")``
        for a text one.
    """
    from ..labels import DATA_KIND

    kind = DATA_KIND[project.label_schema["task_type"]]
    if is_uri(str(source)):
        if kind != "image":
            raise ProjectError(f"{shown(str(source))}: this project labels texts; give a local .csv or .jsonl file "
                               "with a text column")
        return _tracked(project, _ingest_remote(project, str(source), None, progress), track)
    source = Path(source)
    if not source.is_absolute():
        source = Path.cwd() / source
    if not source.exists():
        raise ProjectError(f"{source} does not exist")
    if kind == "image" and source.is_file() and source.suffix.lower() not in IMAGE_SUFFIXES:
        return _tracked(project, _ingest_remote(project, None, source, progress), track)
    existing = {item["item_id"]: item for item in project.read_items(INGESTED, missing_ok=True)}
    report = IngestReport()
    if kind == "image":
        if not source.is_dir():
            raise ProjectError(f"{source} is not a folder of images; this project labels images: give a folder, "
                               "a URI prefix (s3://bucket/prefix/) or a text file of image URIs")
        fresh, prefix = _image_items(project, source, existing, report, progress), project.rel(source).rstrip("/") + "/"
        # Files that left the folder leave the project too.
        for item_id in [i for i in existing if i.startswith(prefix) and i not in fresh]:
            del existing[item_id]
            report.removed += 1
    else:
        if source.suffix.lower() not in (".csv", ".jsonl"):
            raise ProjectError(f"{source}: this project labels texts; give a .csv or .jsonl file with a text column")
        fresh = _text_items(project, source, report)
    _write(project, existing, fresh, report, str(source))
    if track:
        report.tracked = _track(project, source)
    return report


def _write(project: Project, existing: dict[str, dict], fresh: dict[str, dict], report: IngestReport,
           shown_source: str) -> None:
    """Merge ``fresh`` into ``existing``, count, validate all, and write the manifest (atomically)."""
    for item_id, item in fresh.items():
        old = existing.get(item_id)
        if old is None:
            report.added += 1
        elif old == item:
            report.unchanged += 1
        else:
            report.updated += 1
        existing[item_id] = item
    validator = project.validators["item"]
    collector = ProblemCollector()
    for item in existing.values():
        collector.add(validator.problems(item, shown_source, None))
    collector.raise_if_any()
    write_jsonl(project.path(INGESTED), existing.values())
    report.total = len(existing)


def _tracked(project: Project, report: IngestReport, track: bool) -> IngestReport:
    """`dvc add` the manifest of remote images (the images themselves are not the project's to track)."""
    if track:
        report.tracked = _track(project, None)
    return report


def _ingest_remote(project: Project, prefix: str | None, uri_file: Path | None, progress) -> IngestReport:
    """Items of the images under a URI prefix, or listed in a file of URIs: referenced, not copied."""
    from ..imagestore import list_images

    existing = {item["item_id"]: item for item in project.read_items(INGESTED, missing_ok=True)}
    report = IngestReport()
    if prefix is not None:
        uris = list_images(prefix, IMAGE_SUFFIXES)
        if not uris:
            raise ProjectError(f"no image files under {shown(prefix)} (looked for names ending in "
                               f"{', '.join(sorted(IMAGE_SUFFIXES))})")
        where = shown(prefix)
    else:
        uris = _read_uri_file(project, uri_file, report)
        where = project.rel(uri_file)
    fresh = _remote_items(uris, existing, progress)
    if prefix is not None:  # images that left the prefix leave the project too, as for a folder
        base = prefix.rstrip("/") + "/"
        for item_id in [i for i in existing if (i.startswith(base) or i == prefix) and i not in fresh]:
            del existing[item_id]
            report.removed += 1
    _write(project, existing, fresh, report, where)
    return report


def _read_uri_file(project: Project, path: Path, report: IngestReport) -> list[str]:
    """The URIs of a text file, one a line (blank lines and ``#`` comments skipped), first occurrence kept."""
    shown_path = project.rel(path)
    uris: list[str] = []
    seen: set[str] = set()
    collector = ProblemCollector()
    with open(path, encoding="utf-8-sig") as fh:
        for line, raw in enumerate(fh, start=1):
            uri = raw.strip()
            if not uri or uri.startswith("#"):
                continue
            if not is_uri(uri):
                collector.add([Problem(shown_path, line, "", f"expected an image URI (s3://, gs://, https://, "
                                                             f"file://, ...), got {shown(uri)!r}; images in the "
                                                             "project are ingested as a folder: dlp ingest <folder>")])
            elif uri in seen:
                report.duplicates += 1
            else:
                seen.add(uri)
                uris.append(uri)
    collector.raise_if_any()
    if not uris:
        raise ProjectError(f"{shown_path} lists no image URIs; give one URI a line (s3://bucket/a.jpg, "
                           "https://host/b.png)")
    return uris


def _remote_items(uris: list[str], existing: dict[str, dict], progress) -> dict[str, dict]:
    """One item per URI (id and image: the URI) with the size read from its header; all problems at once."""
    from ..imagestore import filesystem

    collector = ProblemCollector()
    for uri in {u.split("://", 1)[0].lower(): u for u in reversed(uris)}.values():
        try:  # a missing protocol library is one error, not one per image
            filesystem(uri)
        except DataError as exc:
            collector.add(exc.problems)
    collector.raise_if_any()
    items: dict[str, dict] = {}
    for uri, outcome in zip(uris, header_sizes(uris, progress), strict=True):
        if isinstance(outcome, DataError):
            collector.add(outcome.problems)
            continue
        old = existing.get(uri)
        items[uri] = {"item_id": uri, "data": {"image": uri, "width": outcome[0], "height": outcome[1]},
                      "meta": old.get("meta", {}) if old else {}}
    collector.raise_if_any()
    return items


class _Sized:
    """An iterator with a length, so a progress bar knows the total before the first item."""

    def __init__(self, iterator, length: int):
        self.iterator, self.length = iterator, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        return iter(self.iterator)


def header_sizes(uris: list[str], progress=None) -> list[tuple[int, int] | DataError]:
    """(width, height) of each URI from its header, or the DataError saying why not, in ``uris`` order."""
    from concurrent.futures import ThreadPoolExecutor

    from ..imagestore import image_size as remote_size

    def probe(uri: str):
        try:
            return remote_size(uri)
        except DataError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=min(HEADER_THREADS, max(1, len(uris)))) as pool:
        results = _Sized(pool.map(probe, uris), len(uris))
        return list(progress(results, "ingest") if progress else results)


def _image_items(project: Project, folder: Path, existing: dict, report: IngestReport, progress) -> dict[str, dict]:
    root = project.root
    try:
        folder.resolve().relative_to(root)
    except ValueError:
        raise ProjectError(f"{folder} is outside the project {root}; copy or move it into the project first") from None
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    items: dict[str, dict] = {}
    collector = ProblemCollector()
    for path in progress(files, "ingest") if progress else files:
        rel = path.resolve().relative_to(root).as_posix()
        digest = sha256_file(path)
        old = existing.get(rel)
        if old and old["data"].get("sha256") == digest:
            items[rel] = old  # same bytes: no need to open the image again
            continue
        try:
            width, height = image_size(path)
        except Exception as exc:  # Pillow raises many types for broken files
            collector.add([Problem(rel, None, "", f"cannot read image: {exc}")])
            continue
        items[rel] = {"item_id": rel, "data": {"image": rel, "width": width, "height": height, "sha256": digest},
                      "meta": old.get("meta", {}) if old else {}}
    collector.raise_if_any()
    return items


def _text_items(project: Project, path: Path, report: IngestReport) -> dict[str, dict]:
    shown = project.rel(path)
    rows = list(_read_csv(path, shown) if path.suffix.lower() == ".csv" else _read_jsonl(path, shown))
    items: dict[str, dict] = {}
    collector = ProblemCollector()
    for line, row in rows:
        text = row.pop("text", None)
        if not isinstance(text, str) or not text.strip():
            collector.add([Problem(shown, line, "text", f"expected a non-empty text, got {text!r}")])
            continue
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        item_id = row.pop("item_id", None) or f"t-{digest[:16]}"
        if not isinstance(item_id, str):
            item_id = str(item_id)
        if item_id in items:
            if items[item_id]["data"]["text"] != text:
                collector.add([Problem(shown, line, "item_id", f"{item_id!r} is used by two different texts")])
            report.duplicates += 1
            continue
        items[item_id] = {"item_id": item_id, "data": {"text": text, "sha256": digest},
                          "meta": {k: v for k, v in sorted(row.items()) if v not in (None, "")}}
    collector.raise_if_any()
    return items


def _read_csv(path: Path, shown: str):
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise DataError.single(shown, 1, "text", f"the header has no 'text' column (columns: {reader.fieldnames})")
        for row in reader:
            yield reader.line_num, dict(row)


def _read_jsonl(path: Path, shown: str):
    with open(path, encoding="utf-8") as fh:
        for line, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise DataError.single(shown, line, "", f"invalid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise DataError.single(shown, line, "$", f"expected an object with a text field, got {row!r}")
            yield line, row


def _track(project: Project, source: Path | None) -> list[str]:
    """`dvc add` what was ingested, when it lies inside the project and git does not track it.

    ``source`` None: remote images, only the manifest.
    """
    from ..repo import git

    tracked = []
    targets = [INGESTED]
    try:
        rel = source.resolve().relative_to(project.root).as_posix() if source is not None else None
    except ValueError:
        rel = None
    if rel and git.run(["git", "ls-files", "--error-unmatch", rel], project.root, check=False).returncode != 0:
        targets.insert(0, rel)
    git.dvc(["add", "-q", *targets], project.root)  # one dvc process for all targets
    tracked.extend(targets)
    return tracked
