"""The report stage: ``reports/dashboard.html``, the QA & review dashboard of the project.

Reads the metrics, plots and reports the other stages wrote, streams the consensus, the
review queue and the predictions for the few figures and examples they hold (annotations
only for spans and boxes, one item at a time), the metrics of earlier commits through the
DVC API, and writes one self-contained HTML file atomically. The page is a function of
those files: no timestamps, everything sorted, the charts rendered by vl-convert (same spec,
same SVG). The parts live in :mod:`data_labeling_pipeline.report`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, ProjectError
from ..project import REVIEW, Project
from ..records import atomic_write_text

OUT = "reports/dashboard.html"
CONFUSION_PLOTS = "plots/confusion"
JSON_FILES = ("metrics/agreement.json", "metrics/annotators.json", "metrics/review.json", "metrics/prelabel.json",
              "metrics/export.json", "metrics/select.json", "reports/agreement.json", "reports/prelabel.json")
MAX_CONFUSION = 12  # annotators drawn as confusion matrices (most labels first)
MAX_PAIRWISE = 40  # annotators in the pairwise heat map and table
MAX_SPARKLINES = 60
TOP_PAIRS = 5
EXAMPLES_PER_PAIR = 3


@dataclass
class ReportSummary:
    path: str
    size: int
    empty_sections: list[str]

    def describe(self) -> str:
        blank = f"; no data yet in: {', '.join(self.empty_sections)}" if self.empty_sections else ""
        return f"report: {self.path} ({self.size / 1024:.0f} KiB){blank}"


def run_report(project: Project, out: str | Path | None = None) -> ReportSummary:
    """Build the dashboard of ``project`` into ``out`` (default ``reports/dashboard.html``)."""
    from ..report import sections
    from ..report.html import render_page

    files = {name: read_json(project, name) for name in JSON_FILES}
    params = project.params
    task_type = params["project"]["task_type"]
    annotators = files["metrics/annotators.json"]
    page = {
        "headline": sections.headline(files["metrics/agreement.json"], files["reports/agreement.json"],
                                      files["metrics/review.json"], gate_verdict(project)),
        "annotators": sections.annotator_rows(annotators, files["reports/agreement.json"]),
        "pairwise": sections.pairwise(files["reports/agreement.json"], annotators, limit=MAX_PAIRWISE),
        "confusion": sections.confusion_section(confusion_counts(project, annotators or {}),
                                                _classes(project), task_type=task_type, limit=MAX_CONFUSION,
                                                n_annotators=len(annotators or {})),
        "gaps": guideline_gaps(project, annotators or {}),
        "queues": sections.queues(files["metrics/review.json"], queue_totals(project), files["metrics/select.json"]),
        "prelabels": sections.prelabels(files["metrics/prelabel.json"], files["reports/prelabel.json"],
                                        files["metrics/agreement.json"], enabled=params["prelabel"]["enabled"]),
        "economy": label_economy(project, files),
        "exports": sections.exports(files["metrics/export.json"]),
    }
    svg = render_charts(page)
    meta = {"project": params["project"]["name"], "task_type": task_type, "classes": _classes(project),
            "provenance": page["economy"]["provenance"]}
    html = render_page(meta, page, svg)
    target = Path(out) if out is not None else project.path(OUT)
    atomic_write_text(target, html)
    return ReportSummary(project.rel(target), len(html.encode("utf-8")),
                         [key for key, s in page.items() if s.get("empty")])


def render_charts(page: dict) -> dict:
    """SVG text of each chart the sections have data for (sparklines by annotator)."""
    from ..report import charts

    svg: dict = {"sparklines": {}}
    for i, row in enumerate(page["annotators"]["rows"][:MAX_SPARKLINES]):
        if len(row["windows"]) > 1:
            svg["sparklines"][row["annotator"]] = charts.to_svg(charts.sparkline(row["windows"]), prefix=f"spark{i}")
    if not page["pairwise"]["empty"]:
        p = page["pairwise"]
        svg["heatmap"] = charts.to_svg(charts.heatmap(p["pairs"], p["annotators"], p["metric"]), prefix="heatmap")
    if not page["confusion"]["empty"]:
        svg["confusion"] = charts.to_svg(charts.confusion_grid(page["confusion"]["matrices"],
                                                               page["confusion"]["classes"]), prefix="confusion")
    if page["queues"]["rows"]:
        svg["queues"] = charts.to_svg(charts.queue_bars(page["queues"]["rows"]), prefix="queues")
    if any(r.get("labels") for r in page["economy"]["rows"]):
        svg["economy"] = charts.to_svg(charts.economy(page["economy"]["rows"], page["economy"]["baseline"]),
                                       prefix="economy")
    return svg


def read_json(project: Project, relative: str) -> dict | None:
    """A JSON file of the project, or None when it does not exist (a stage that has not run, or is off)."""
    path = project.path(relative)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError.single(relative, exc.lineno, "", f"invalid JSON: {exc.msg}; run dvc repro to rewrite "
                                                         "it") from None


def stream(project: Project, relative: str) -> Iterator[dict]:
    """The records of a JSONL file one at a time (nothing when it does not exist)."""
    from ..records import iter_jsonl

    path = project.path(relative)
    if not path.is_file():
        return
    with open(path, "rb") as fh:
        for _, record in iter_jsonl(fh, relative):
            yield record


def records_of(project: Project, relative: str, item_ids: set[str]) -> dict[str, list[dict]]:
    """``item_id -> records`` of a few items: a byte search first, JSON only on the lines that match."""
    from ..records import iter_jsonl

    path = project.path(relative)
    out: dict[str, list[dict]] = {}
    if not item_ids or not path.is_file():
        return out
    keys = sorted(re.escape(json.dumps(i, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
                  for i in item_ids)
    pattern = re.compile(b'"item_id":(?:' + b"|".join(keys) + b")[,}]")
    with open(path, "rb") as fh:
        for _, record in iter_jsonl(fh, relative, keep=pattern.search):
            if record.get("item_id") in item_ids:
                out.setdefault(record["item_id"], []).append(record)
    return out


def gate_verdict(project: Project) -> dict:
    """What `dlp gate` says now: ``passed``, ``failed`` or ``unavailable``, with its reasons."""
    from .gate import evaluate_project_gate

    try:
        result = evaluate_project_gate(project)
    except ProjectError as exc:
        return {"status": "unavailable", "lines": [str(exc)]}
    checks = result.passed_checks if result.passed else result.failures
    return {"status": "passed" if result.passed else "failed",
            "lines": [*checks, *(f"warning: {w}" for w in result.warnings)]}


def _classes(project: Project) -> list[str]:
    from ..labels import class_names

    return list(class_names(project.label_schema))


def confusion_counts(project: Project, annotators: dict) -> dict[str, dict[tuple[str, str], int]]:
    """``annotator -> (consensus, label) -> labels`` from plots/confusion (one file at a time)."""
    from ..quality.agree import _file_name
    from ..records import _loads

    folder = project.path(CONFUSION_PLOTS)
    names = {_file_name(a): a for a in annotators}
    out: dict[str, dict[tuple[str, str], int]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        rows = _loads(path.read_bytes())
        if not rows:
            continue
        counts = out.setdefault(names.get(path.stem, path.stem), {})
        for row in rows:
            key = (str(row["consensus"]), str(row["label"]))
            counts[key] = counts.get(key, 0) + 1
    return out


def queue_totals(project: Project) -> dict[str, dict[str, dict]]:
    """``action -> reason -> {"n", "expected_wrong"}`` over annotations/review.jsonl (streamed)."""
    out: dict[str, dict[str, dict]] = {}
    for row in stream(project, REVIEW):
        error = row.get("expected_error")  # none for an item nobody annotated yet
        for reason in row.get("reasons") or ["none"]:
            cell = out.setdefault(row["action"], {}).setdefault(reason, {"n": 0, "expected_wrong": None})
            cell["n"] += 1
            if error is not None:
                cell["expected_wrong"] = (cell["expected_wrong"] or 0.0) + error
    for reasons in out.values():
        for cell in reasons.values():
            if cell["expected_wrong"] is not None:
                cell["expected_wrong"] = round(cell["expected_wrong"], 6)
    return out


def guideline_gaps(project: Project, annotators: dict) -> dict:
    from .report_gaps import guideline_gaps as build

    return build(project, annotators, top=TOP_PAIRS, per_pair=EXAMPLES_PER_PAIR)


def label_economy(project: Project, files: dict) -> dict:
    """The economy rows: earlier first-parent commits that changed the figures, then these files."""
    from ..repo.metric_history import metric_history
    from ..report import economy

    current = economy.point({name: files.get(name) for name in economy.FILES})
    history = metric_history(project, economy.FILES, economy.point, current)
    rows = economy.series(history.commits, current)
    if not history.in_git:
        provenance = "Not a git repository: the label economy shows these files only."
    elif len(rows) == 1:
        provenance = "Figures of these files; no earlier commit has other figures."
    else:
        provenance = (f"Figures of these files; the history runs through commit {rows[-2]['commit'][:12]} "
                      f"({len(rows) - 1} earlier states from the first-parent commits that changed metrics/"
                      + (f", the latest {len(history.commits)} read" if history.truncated else "") + ").")
    if history.unavailable:
        provenance += f" {len(history.unavailable)} commits could not be read (the first: {history.unavailable[0]})."
    section = {"title": "Label economy over time", "empty": None, "rows": rows, "provenance": provenance,
               "baseline": economy.baseline_rows(read_json(project, economy.BASELINE))}
    if not history.in_git:
        section["empty"] = "no history: the project is not in a git repository"
    elif not any(r.get("labels") for r in rows):
        section["empty"] = "no labels at any commit yet"
    elif len(rows) == 1:
        section["empty"] = "one state so far: the trend appears after the next labelling round is committed"
    return section


