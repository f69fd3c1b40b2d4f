"""`dlp ingest`: raw data -> annotations/items.ingested.jsonl (and `dvc add` of the data).

Images: one item per image file, id = its POSIX path relative to the project,
size after EXIF orientation, sha256. Texts (CSV with a `text` column, or
JSONL with a `text` field): id from an `item_id` column when present, else
`t-` + the first 16 hex digits of the text's sha256, so ids survive reordering.
Re-ingesting is incremental and idempotent: same files, same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, Problem, ProjectError
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


def ingest(project: Project, source: str | Path, *, track: bool = True, progress=None) -> IngestReport:
    """Add the images of a folder, or the texts of a CSV/JSONL file, to the project's items."""
    from ..labels import DATA_KIND

    source = Path(source)
    if not source.is_absolute():
        source = Path.cwd() / source
    if not source.exists():
        raise ProjectError(f"{source} does not exist")
    kind = DATA_KIND[project.label_schema["task_type"]]
    existing = {item["item_id"]: item for item in project.read_items(INGESTED, missing_ok=True)}
    report = IngestReport()
    if kind == "image":
        if not source.is_dir():
            raise ProjectError(f"{source} is not a folder of images; this project labels images")
        fresh, prefix = _image_items(project, source, existing, report, progress), project.rel(source).rstrip("/") + "/"
        # Files that left the folder leave the project too.
        for item_id in [i for i in existing if i.startswith(prefix) and i not in fresh]:
            del existing[item_id]
            report.removed += 1
    else:
        if source.suffix.lower() not in (".csv", ".jsonl"):
            raise ProjectError(f"{source}: this project labels texts; give a .csv or .jsonl file with a text column")
        fresh = _text_items(project, source, report)
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
        collector.add(validator.problems(item, str(source), None))
    collector.raise_if_any()
    write_jsonl(project.path(INGESTED), existing.values())
    report.total = len(existing)
    if track:
        report.tracked = _track(project, source)
    return report


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


def _track(project: Project, source: Path) -> list[str]:
    """`dvc add` what was ingested, when it lies inside the project and git does not track it."""
    from ..repo import git

    tracked = []
    targets = [INGESTED]
    try:
        rel = source.resolve().relative_to(project.root).as_posix()
    except ValueError:
        rel = None
    if rel and git.run(["git", "ls-files", "--error-unmatch", rel], project.root, check=False).returncode != 0:
        targets.insert(0, rel)
    for target in targets:
        git.dvc(["add", "-q", target], project.root)
        tracked.append(target)
    return tracked
