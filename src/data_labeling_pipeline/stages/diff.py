"""`dlp diff`: what changed in the labels between two revisions, for a PR comment or a CI gate.

Reads both sides through :mod:`..repo.revisions` (no checkout), streams the record files
into the pure comparisons of :mod:`..repo.labeldiff`, and formats the result as bounded
Markdown or complete JSON. ``--fail-if`` conditions turn it into a gate (exit 3).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, GateFailed, Problem
from ..project import ANNOTATIONS, CONSENSUS, ITEMS, LABELS
from ..records import atomic_write_text
from ..repo import labeldiff as ld
from ..repo.revisions import WORKSPACE, Revision, find_project, merge_base, resolve

CORRECTIONS = "annotations/corrections.jsonl"
AGREEMENT = "metrics/agreement.json"
REVIEW = "metrics/review.json"
KAPPA_KEYS = ("fleiss_kappa", "cohens_kappa")  # the headline kappa of agreement.json, first present

GATE_NAMES = {
    "relabelled": "fraction of the annotations of A whose payload changed",
    "relabels": "number of annotations relabelled",
    "new_annotations": "annotations in B only",
    "removed_annotations": "annotations in A only",
    "added_items": "items in B only",
    "removed_items": "items in A only",
    "removed": "removed items plus removed annotations",
    "consensus_flips": "items whose consensus label changed",
    "region_changes": "span/box changes (added, removed, relabelled, moved, resized)",
    "corrections_added": "corrections new in B",
    "corrections_removed": "corrections gone in B",
    "migrations": "label schema migrations new in B",
    "kappa_drop": "max(0, kappa_A - kappa_B) of the headline kappa",
}
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}
_CONDITION = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


class ConditionError(ValueError):
    """A --fail-if expression that does not parse (a usage error)."""


@dataclass(frozen=True)
class Condition:
    name: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"

    def holds(self, values: dict) -> bool:
        return OPERATORS[self.op](values[self.name], self.value)


def parse_conditions(expressions: list[str] | None) -> list[Condition]:
    """Parse ``NAME OP NUMBER`` expressions strictly, e.g. ``relabelled>0.05``.

    >>> parse_conditions(["kappa_drop>0.02"])
    [Condition(name='kappa_drop', op='>', value=0.02)]
    """
    out = []
    names = ", ".join(sorted(GATE_NAMES))
    for text in expressions or []:
        match = _CONDITION.match(text)
        if not match:
            raise ConditionError(f"--fail-if {text!r}: expected NAME OP NUMBER with OP one of "
                                 f"{' '.join(OPERATORS)}, e.g. relabelled>0.05; names: {names}")
        name, op, number = match.groups()
        if name not in GATE_NAMES:
            raise ConditionError(f"--fail-if {text!r}: unknown name {name!r}; valid names: {names}")
        out.append(Condition(name, op, float(number)))
    return out


# --- reading both sides -------------------------------------------------------------------------

def _loads():
    from ..records import _DecodeError, _loads

    return _loads, _DecodeError


def _records(fh, path: str) -> Iterator[tuple[int, dict]]:
    from ..records import iter_jsonl

    for line, record in iter_jsonl(fh, path):
        if not isinstance(record, dict) or not isinstance(record.get("item_id"), str):
            raise DataError.single(path, line, "$.item_id", "expected a record with a string item_id")
        yield line, record


def _annotation_pairs(fh, path, value):
    for _line, r in _records(fh, path):
        yield (r["item_id"], r.get("annotator") or ""), value(r)


def _consensus_pairs(fh, path, value):
    for _line, r in _records(fh, path):
        yield r["item_id"], value(r)


def _item_pairs(fh, path, value):
    for _line, r in _records(fh, path):
        yield r["item_id"], value(r)


def _item_data(record: dict) -> dict:
    return record.get("data") or {}


# path -> (key fields, value of a record, the core of the pure diff, the pair reader of the sorting fallback)
KINDS = {
    ITEMS: (("item_id",), _item_data, ld.item_changes, _item_pairs),
    ANNOTATIONS: (("item_id", "annotator"), ld.payload, ld.annotation_changes, _annotation_pairs),
    CONSENSUS: (("item_id",), ld.payload, ld.consensus_changes, _consensus_pairs),
}


def in_newer_names(schema_a: dict | None, schema_b: dict | None):
    """(rename of a side-A record, of a side-B record) into the newer schema's class names, or None.

    A rename or a merge is a schema migration, not a relabel: both sides are compared in the
    names of the newer label schema. A record without ``schema_version`` (consensus) is at its
    side's version.
    """
    from ..migrations import _has_migrations, _remapper

    schemas = [s for s in (schema_a, schema_b) if isinstance(s, dict) and "schema_version" in s]
    if not schemas:
        return None
    newer = max(schemas, key=lambda s: s["schema_version"])
    if not _has_migrations(newer):
        return None
    remap = _remapper(newer)

    def at(schema):
        version = (schema or newer).get("schema_version", newer["schema_version"])
        return lambda r: remap(r if "schema_version" in r else {**r, "schema_version": version})

    return at(schema_a), at(schema_b)


def _compare(a: Revision, b: Revision, path: str, renames=None) -> dict:
    """Merge-join both sides line by line (only differing lines are parsed); sort only unsorted input."""
    fields, value, changes, pairs = KINDS[path]
    value_a = value_b = value
    if renames is not None and path != ITEMS:
        value_a, value_b = (lambda r: value(renames[0](r))), (lambda r: value(renames[1](r)))
    loads, _error = _loads()
    try:
        with a.open(path) as fa, b.open(path) as fb:
            return changes(ld.join_lines(fa or (), fb or (), loads=loads, fields=fields, value=value_a,
                                         value_b=value_b))
    except ld.BadRecord as exc:
        shown = f"{path}@{(a if exc.side == 'a' else b).name}"
        raise DataError.single(shown, exc.line, f"$.{fields[0]}", str(exc)) from None
    except ld.NotSorted:
        pass
    with a.open(path) as fa, b.open(path) as fb:
        side_a = sorted(pairs(fa, f"{path}@{a.name}", value_a), key=lambda p: p[0]) if fa else []
        side_b = sorted(pairs(fb, f"{path}@{b.name}", value_b), key=lambda p: p[0]) if fb else []
    try:
        return changes(ld.merge_join(side_a, side_b))
    except ld.NotSorted as exc:  # a key repeats
        raise DataError([Problem(path, None, f"$.{fields[0]}", f"{exc}; each key must appear once")]) from None


def _json(rev: Revision, path: str):
    text = rev.read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError.single(f"{path}@{rev.name}", exc.lineno, "", f"invalid JSON: {exc.msg}") from None


def _yaml(rev: Revision, path: str):
    import yaml

    text = rev.read_text(path)
    if text is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError.single(f"{path}@{rev.name}", None, "", f"invalid YAML: {exc}") from None


def _jsonl_small(rev: Revision, path: str) -> list[dict]:
    with rev.open(path) as fh:
        return [r for _line, r in _records(fh, f"{path}@{rev.name}")] if fh else []


# --- the report -----------------------------------------------------------------------------------

def compute_diff(a: Revision, b: Revision) -> dict:
    """The complete diff report of two revisions as a JSON-ready dict."""
    schema_a, schema_b = _yaml(a, LABELS), _yaml(b, LABELS)
    renames = in_newer_names(schema_a, schema_b)
    items = _compare(a, b, ITEMS)
    annotations = _compare(a, b, ANNOTATIONS, renames)
    consensus = _compare(a, b, CONSENSUS, renames)
    corrections = ld.diff_corrections(_jsonl_small(a, CORRECTIONS), _jsonl_small(b, CORRECTIONS))
    schema = ld.diff_schema(schema_a, schema_b)
    agreement = ld.diff_metrics(_json(a, AGREEMENT), _json(b, AGREEMENT))
    review = ld.diff_metrics(_json(a, REVIEW), _json(b, REVIEW))

    kappa_key = next((k for k in KAPPA_KEYS if k in agreement), None)
    kappa = agreement.get(kappa_key, {}) if kappa_key else {}
    ka, kb = kappa.get("a"), kappa.get("b")
    kappa_drop = ld._round(max(0.0, ka - kb)) if ka is not None and kb is not None else 0
    t = annotations["totals"]
    n_a = t.get("annotations_a", 0)
    totals = {
        "annotations_a": n_a, "annotations_b": t.get("annotations_b", 0),
        "items_a": items["items_a"], "items_b": items["items_b"],
        "relabels": t.get("relabelled", 0),
        "relabelled": ld._round(t.get("relabelled", 0) / n_a) if n_a else 0,
        "new_annotations": t.get("added", 0), "removed_annotations": t.get("removed", 0),
        "added_items": len(items["added"]), "removed_items": len(items["removed"]),
        "changed_items": len(items["changed"]),
        "removed": len(items["removed"]) + t.get("removed", 0),
        "consensus_flips": len(consensus["flips"]),
        "region_changes": len(annotations["regions"]),
        **{f"regions_{k}": v for k, v in annotations["region_totals"].items()},
        "corrections_added": len(corrections["added"]), "corrections_removed": len(corrections["removed"]),
        "corrections_changed": len(corrections["changed"]),
        "migrations": len(schema["migrations"]), "kappa_drop": kappa_drop,
    }
    return {
        "rev_a": a.rev or WORKSPACE, "rev_b": b.rev or WORKSPACE,
        "totals": totals,
        "items": {k: items[k] for k in ("added", "removed", "changed")},
        "annotations": {"relabels": annotations["relabels"], "added": annotations["added"],
                        "removed": annotations["removed"]},
        "regions": annotations["regions"],
        "consensus_flips": consensus["flips"],
        "transitions": ld.transition_matrix(annotations["transitions"], consensus["transitions"]),
        "corrections": corrections,
        "schema": schema,
        "metrics": {"agreement": agreement, "review": review},
        "kappa": {"key": kappa_key, "a": ka, "b": kb, "delta": kappa.get("delta"), "kappa_drop": kappa_drop},
    }


@dataclass
class DiffResult:
    report: dict
    output: str
    failures: list[str] = field(default_factory=list)
    out: Path | None = None

    def raise_if_failed(self) -> None:
        """GateFailed (exit 3) listing the conditions that tripped."""
        if self.failures:
            raise GateFailed("\n".join(["dlp diff: failed conditions:", *(f"  - {f}" for f in self.failures)]))


def evaluate(conditions: list[Condition], totals: dict) -> list[str]:
    """The conditions that hold (i.e. trip the gate), each with the measured value."""
    return [f"{c} (got {totals[c.name]:g})" for c in conditions if c.holds(totals)]


def run_diff(rev_a: str | None = None, rev_b: str | None = None, *, fmt: str = "md", top: int = 20,
             fail_if: list[str] | None = None, out: Path | None = None, start: Path | None = None) -> DiffResult:
    """Compare REV_A (default: the merge base with the default branch) with REV_B (default: the workspace)."""
    if fmt not in ("md", "json"):
        raise ConditionError(f"--format {fmt!r}: expected md or json")
    conditions = parse_conditions(fail_if)
    project = find_project(start)
    a = Revision(project, resolve(project.root, rev_a) if rev_a else merge_base(project.root))
    b = Revision(project, resolve(project.root, rev_b) if rev_b else None)
    report = compute_diff(a, b)
    report["rev_a_name"], report["rev_b_name"] = rev_a or "merge-base", rev_b or "workspace"
    text = to_json(report) if fmt == "json" else to_markdown(report, top=top)
    if out is not None:
        atomic_write_text(out, text)
    return DiffResult(report, text, evaluate(conditions, report["totals"]), out)


# --- formatting -----------------------------------------------------------------------------------

def to_json(report: dict) -> str:
    """Complete and deterministic: sorted keys, records in key order."""
    return json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _payload_text(p: dict | None) -> str:
    if not p:
        return "-"
    if "label" in p:
        return str(p["label"])
    if "labels" in p:
        return "{" + ", ".join(sorted(map(str, p["labels"]))) + "}"
    for kind in ("spans", "boxes"):
        if kind in p:
            return f"{len(p[kind])} {kind}: " + ", ".join(sorted({str(r.get('label')) for r in p[kind]}))
    return json.dumps(p, sort_keys=True)


def _region_text(r: dict | None) -> str:
    if r is None:
        return "-"
    if "start" in r:
        return f"{r['label']} [{r['start']}:{r['end']}]"
    return f"{r['label']} ({r['x']:g},{r['y']:g} {r['w']:g}x{r['h']:g})"


def _section(lines: list[str], title: str, header: list[str], rows: list[list], top: int) -> None:
    lines += ["", f"### {title} ({len(rows)})"]
    if not rows:
        return
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows[:top]:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    if len(rows) > top:
        lines.append(f"\n... and {len(rows) - top} more")


def to_markdown(report: dict, *, top: int = 20) -> str:
    """A bounded summary for a PR comment: every total exact, at most ``top`` rows per section."""
    t = report["totals"]
    a, b = report["rev_a"], report["rev_b"]
    name_a, name_b = report.get("rev_a_name", a), report.get("rev_b_name", b)
    lines = [f"## Label diff: {name_a} ({a[:12]}) -> {name_b} ({b[:12]})", "",
             "| what | count |", "|---|---|"]
    shown = ["items_a", "items_b", "added_items", "removed_items", "changed_items", "annotations_a",
             "annotations_b", "relabels", "relabelled", "new_annotations", "removed_annotations",
             "region_changes", "consensus_flips", "corrections_added", "corrections_removed",
             "corrections_changed", "migrations", "kappa_drop"]
    lines += [f"| {k} | {t[k]:g} |" for k in shown]
    lines += [f"| {k} | {v} |" for k, v in t.items() if k.startswith("regions_")]
    items = report["items"]
    _section(lines, "Items added", ["item"], [[i] for i in items["added"]], top)
    _section(lines, "Items removed", ["item"], [[i] for i in items["removed"]], top)
    ann = report["annotations"]
    _section(lines, "Relabels", ["item", "annotator", "old", "new"],
             [[r["item_id"], r["annotator"], _payload_text(r["old"]), _payload_text(r["new"])]
              for r in ann["relabels"]], top)
    _section(lines, "New annotations", ["item", "annotator", "label"],
             [[r["item_id"], r["annotator"], _payload_text(r["new"])] for r in ann["added"]], top)
    _section(lines, "Removed annotations", ["item", "annotator", "label"],
             [[r["item_id"], r["annotator"], _payload_text(r["old"])] for r in ann["removed"]], top)
    _section(lines, "Span and box changes", ["item", "annotator", "change", "old", "new", "delta"],
             [[r["item_id"], r["annotator"], "+".join(r["change"]), _region_text(r["old"]), _region_text(r["new"]),
               " ".join(f"{k}={v:g}" for k, v in (r["delta"] or {}).items() if v) or "-"]
              for r in report["regions"]], top)
    _section(lines, "Consensus flips", ["item", "old", "new"],
             [[r["item_id"], _payload_text(r["old"]), _payload_text(r["new"])] for r in report["consensus_flips"]], top)
    _section(lines, "Class transitions", ["old", "new", "annotations", "consensus"],
             [[r["old"], r["new"], r["annotations"], r["consensus"]] for r in report["transitions"]], top)
    corr = report["corrections"]
    _section(lines, "Corrections", ["change", "item", "author", "label", "reason"],
             [[change, c["item_id"], c["author"], _payload_text(c["payload"]), c["reason"] or "-"]
              for change in ("added", "changed", "removed") for c in corr[change]], top)
    schema = report["schema"]
    migration_rows = [[m.get("version", "-"), m.get("change", "-"),
                       json.dumps({k: v for k, v in m.items() if k not in ("version", "change")}, sort_keys=True)]
                      for m in schema["migrations"]]
    lines += ["", f"### Label schema: version {schema['version_a']} -> {schema['version_b']}"]
    _section(lines, "Schema migrations", ["version", "change", "details"], migration_rows, top)
    for name, metrics in report["metrics"].items():
        rows = [[k, _num(v["a"]), _num(v["b"]), _num(v["delta"])] for k, v in metrics.items()
                if v["delta"] is None or v["delta"] != 0]
        rows.sort(key=lambda r: (r[0] not in (report["kappa"]["key"], "krippendorff_alpha"), r[0]))
        _section(lines, f"Metric changes: metrics/{name}.json", ["metric", "A", "B", "delta"], rows, top)
    return "\n".join(lines) + "\n"


def _num(value) -> str:
    return "-" if value is None else f"{value:g}"
