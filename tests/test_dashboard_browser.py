"""The dashboard in a real headless browser: opened from file://, it makes no request and logs no error.

Debian's `chromium` (apt-get install -y chromium) driven by Playwright's Python package; no
`playwright install`. The screenshots go to tmp paths; the README's picture is the quickstart's dashboard, taken by
tests/test_quickstart.py (`DLP_DASHBOARD_SCREENSHOT=docs/dashboard.png`).
"""

from __future__ import annotations

import json

import pytest
from dashboard_browser import visit
from test_dashboard import build_project

from data_labeling_pipeline.stages.report import run_report

pytestmark = pytest.mark.xdist_group("dashboard")


def as_json(raw: str):
    return None if raw == "null" else json.loads(raw)


@pytest.mark.parametrize("key", ["imgcls", "ner", "empty"])
def test_dashboard_browser_shows_the_metrics_offline_without_errors(tmp_path, key):
    project = build_project(tmp_path / key, "imgcls" if key == "empty" else key, labelled=key != "empty")
    run_report(project)
    page = project.path("reports/dashboard.html")
    shot = tmp_path / "dashboard.png"
    seen = visit(page, screenshot=shot)

    assert seen.console == []  # no error, no warning, no CSP violation
    assert seen.requests == [page.resolve().as_uri()]  # the file itself, nothing else
    assert set(seen.sections) == {"headline", "annotators", "pairwise", "confusion", "gaps", "queues", "prelabels",
                                  "economy", "exports"}
    agreement = json.loads(project.path("metrics/agreement.json").read_text("utf-8"))
    for metric in ("n_items", "n_annotations", "n_annotators"):
        shown = seen.figures[f"metrics/agreement.json:{metric}"]
        assert as_json(shown["value"]) == agreement[metric] and shown["text"] == str(agreement[metric])
    for key_, shown in seen.figures.items():  # every figure on the page is the metric it names
        path, _, dotted = key_.partition(":")
        value = json.loads(project.path(path).read_text("utf-8"))
        for part in dotted.split("."):
            value = value[part]
        assert as_json(shown["value"]) == value, key_
        if isinstance(value, float):
            assert shown["text"] == f"{value:.3f}", key_
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if key == "empty":
        assert not any(seen.sections.values())
    else:
        assert seen.sections["headline"] and seen.sections["gaps"]
        annotators = json.loads(project.path("metrics/annotators.json").read_text("utf-8"))
        by_labels = sorted(annotators, key=lambda a: (annotators[a]["n_items"], a))
        first, ascending, descending = seen.sorted_labels
        assert first == sorted(annotators)
        assert [annotators[a]["n_items"] for a in ascending] == sorted(annotators[a]["n_items"] for a in by_labels)
        assert [annotators[a]["n_items"] for a in descending] == sorted((annotators[a]["n_items"] for a in by_labels),
                                                                        reverse=True)
