"""`dlp schema ...`: migrate schema/labels.yaml (add, rename, merge, deprecate, split classes).

Each command computes the new schema with `migrations` (pure), then writes
schema/labels.yaml (its header comment kept) and the regenerated schema/label_config.xml,
each atomically, only after everything was computed and checked: on any error nothing is
written. Both files are dependencies of the pull stage, so `dvc repro` re-maps every record
through the migration chain and brings all outputs up to date. A split also lists the items
whose labels it made ambiguous in the git-tracked annotations/relabel.jsonl.

Also the read side the stages share: `read_current` reads annotation records labelled at any
older schema version and returns them re-mapped to the current one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import DataError, Problem
from ..project import ANNOTATIONS, CONSENSUS, LABELS, Project

LABEL_CONFIG = "schema/label_config.xml"
RELABEL = "annotations/relabel.jsonl"
PARAMS = "params.yaml"
CORRECTIONS = "annotations/corrections.jsonl"


@dataclass
class SchemaChange:
    entry: dict
    written: list[str]
    relabel: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def commit(self) -> str:
        from ..migrations import describe

        add = f"git add {RELABEL} && " if RELABEL in self.written else ""
        return f'{add}git commit -am "{describe(self.entry)}"'

    def describe(self) -> str:
        from ..migrations import describe

        lines = [f"{describe(self.entry)}: wrote {', '.join(self.written)}", *self.notes,
                 "run `dvc repro` to re-map the records and rebuild the outputs, then commit:", f"  {self.commit}"]
        return "\n".join(lines)


def header_comment(text: str) -> str:
    """The leading comment lines of a YAML file (kept when the file is rewritten)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def render_labels_yaml(header: str, schema: dict) -> str:
    import yaml

    return header + yaml.safe_dump(dict(schema), sort_keys=False, allow_unicode=True, width=100)


def render_label_config(schema: dict) -> str:
    """The Label Studio config: only classes new labels may use (deprecated ones are not offered)."""
    from ..labelstudio.label_config import label_config
    from ..migrations import active_names

    return label_config(schema["task_type"], active_names(schema), multi_label=bool(schema.get("multi_label")))


def migrate(project: Project, change: str, *args, **kwargs) -> SchemaChange:
    """Apply one migration (`migrations.<change>`) to the project's schema and write the files."""
    from .. import migrations
    from ..labels import check_label_schema
    from ..records import atomic_write_text, canonical_line

    text = project.path(LABELS).read_text("utf-8")
    schema = project.label_schema_unchecked()
    new = getattr(migrations, change)(schema, *args, **kwargs)
    check_label_schema(new, LABELS)
    outputs = {LABELS: render_labels_yaml(header_comment(text), new), LABEL_CONFIG: render_label_config(new)}
    params = project.path(PARAMS)
    if params.is_file():  # project.classes seeds `dlp init`; keep it the schema's, so params never contradict it
        from ..params_edit import edited_params

        outputs[PARAMS] = edited_params(params.read_text("utf-8"), ("project", "classes"),
                                        migrations.current_names(new))
    entry = new["history"][-1]
    result = SchemaChange(entry, [])
    if entry["change"] == "split":
        rows = relabel_rows(project, entry)
        outputs[RELABEL] = "".join(canonical_line(r) + "\n" for r in rows)
        result.relabel = sum(1 for r in rows if r.get("schema_version") == entry["version"])
        result.notes.append(f"{result.relabel} items carry {entry['from']!r} and are listed in {RELABEL} "
                            f"for relabelling as one of {entry['into']}")
    for relative, content in outputs.items():
        atomic_write_text(project.path(relative), content)
        result.written.append(relative)
    return result


def relabel_rows(project: Project, entry: dict) -> list[dict]:
    """annotations/relabel.jsonl after a split: earlier rows kept, one row per item carrying the split class."""
    from ..migrations import labels_in
    from ..records import read_records

    old = entry["from"]
    rows = {}
    path = project.path(RELABEL)
    if path.exists():
        rows = {r["item_id"]: r for r in read_records(path, display_path=RELABEL)}
    carrying: set[str] = set()
    for relative in (CONSENSUS, ANNOTATIONS, CORRECTIONS):
        source = project.path(relative)
        if source.exists():
            carrying |= {r["item_id"] for r in read_records(source, display_path=relative)
                         if isinstance(r, dict) and "item_id" in r and old in labels_in(r)}
    reason = f"split {old} -> {' + '.join(entry['into'])} (schema v{entry['version']}): relabel as one of them"
    for item_id in carrying:
        rows[item_id] = {"item_id": item_id, "reason": reason, "schema_version": entry["version"],
                         "classes": list(entry["into"]), "action": "annotate"}
    return [rows[k] for k in sorted(rows)]


def read_current(project: Project, relative: str, items: dict[str, dict] | None = None, *,
                 fields: Iterable[str] | None = None) -> list[dict]:
    """Annotation records of a file, validated, with labels of older schema versions re-mapped.

    Without any rename or merge in the history this is `Project.read_annotations`.
    Otherwise records are validated against the current and the historical class names,
    re-mapped through the chain, and must then name current classes. ``fields``: keep only
    these keys (``schema_version`` is kept too while re-mapping needs it).
    """
    from ..checks import annotation_checker
    from ..labels import record_schemas
    from ..migrations import current_names, historical_names, labels_in, readable_schema, remap_records
    from ..records import Validator, read_records

    schema = project.label_schema
    fields = None if fields is None else (*fields, "schema_version")
    if not historical_names(schema):
        return remap_records(schema, project.read_annotations(relative, items=items, fields=fields))
    validator = Validator(record_schemas(readable_schema(schema))["annotation"])
    records = remap_records(schema, read_records(project.path(relative), validator, check=annotation_checker(items),
                                                 display_path=relative, fields=fields))
    names = set(current_names(schema))
    problems = [Problem(relative, None, "$.label", f"{name!r} (item {r['item_id']!r}) does not map to a current "
                        f"class; expected one of {sorted(names)}")
                for r in records for name in labels_in(r) if name not in names][:50]
    if problems:
        raise DataError(problems)
    return records
