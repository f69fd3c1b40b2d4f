"""The QA & review dashboard (`dlp report`, the report stage): sections, determinism, history, the stage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.config import dump_params, with_defaults
from data_labeling_pipeline.labels import new_label_schema
from data_labeling_pipeline.project import Project
from data_labeling_pipeline.repo.scaffold import labels_yaml
from data_labeling_pipeline.report import charts, economy, gaps, sections
from data_labeling_pipeline.stages.agree import run_agree
from data_labeling_pipeline.stages.export import run_export
from data_labeling_pipeline.stages.pull import run_pull
from data_labeling_pipeline.stages.report import run_report

# The projects are built once, on one worker.
pytestmark = pytest.mark.xdist_group("dashboard")

LS = Path(__file__).parent / "assets" / "labelstudio"

def make_params(task_type: str, classes, **sections) -> dict:
    # Here, not from conftest: `conftest` would be tests/labelstudio/conftest.py when the whole suite runs.
    return with_defaults({"project": {"name": f"test-{task_type}", "task_type": task_type, "classes": list(classes)},
                          **sections})

PROJECTS = {
    "imgcls": ("image_classification", ["cat", "dog", "bird", "other"]),
    "textcls": ("text_classification", ["positive", "negative", "neutral"]),
    "ner": ("ner", ["PER", "ORG", "LOC", "DATE"]),
    "bbox": ("bbox", ["car", "person", "bicycle"]),
}
SECTIONS = ("headline", "annotators", "pairwise", "confusion", "gaps", "queues", "prelabels", "economy", "exports")
FIGURE = re.compile(r'data-key="([^"]+)" data-value="([^"]*)"')


def build_project(root: Path, key: str, *, annotators: set[str] | None = None, labelled: bool = True) -> Project:
    """A project from the reference Label Studio export of ``key``, through pull, agree and export (no git)."""
    task_type, classes = PROJECTS[key]
    (root / "schema").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "inbox").mkdir()
    (root / "params.yaml").write_text(dump_params(make_params(task_type, classes)), encoding="utf-8")
    (root / "schema/labels.yaml").write_text(labels_yaml(new_label_schema(task_type, classes)), encoding="utf-8")
    project = Project(root)
    if labelled:
        tasks = json.loads((LS / f"{key}.snapshot.json").read_text("utf-8"))
        if annotators is not None:
            for task in tasks:
                task["annotations"] = [a for a in task["annotations"] if a["completed_by"]["email"] in annotators]
        (root / "inbox/export.json").write_text(json.dumps(tasks), encoding="utf-8")
        if task_type in ("image_classification", "bbox"):
            shutil.copytree(LS / "images", root / "images")
    run_pull(project)
    run_agree(project)
    run_export(project)
    return project


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> (project, dashboard text): the four task types, an empty project and a one-annotator one."""
    base = tmp_path_factory.mktemp("dashboards")
    projects = {key: build_project(base / key, key) for key in PROJECTS}
    projects["empty"] = build_project(base / "empty", "imgcls", labelled=False)
    projects["one"] = build_project(base / "one", "textcls", annotators={"ann1@example.com"})
    out = {}
    for name, project in projects.items():
        run_report(project)
        out[name] = (project, project.path("reports/dashboard.html").read_text("utf-8"))
    return out


def section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}"[^>]*>(.*?)</section>', page, re.S)
    assert match, name
    return match.group(0)


def lookup(project: Project, key: str):
    path, _, dotted = key.partition(":")
    value = json.loads(project.path(path).read_text("utf-8"))
    for part in dotted.split("."):
        value = value[part]
    return value


@pytest.mark.parametrize("name", [*PROJECTS, "empty", "one"])
def test_dashboard_every_section_renders_and_says_why_when_empty(built, name):
    project, page = built[name]
    for key in SECTIONS:
        html = section(page, key)
        if 'data-empty="true"' in html:
            assert re.search(r'<p class="empty">[^<]{10,}</p>', html), (name, key)
    if name == "empty":
        assert all('data-empty="true"' in section(page, key) for key in SECTIONS)
        assert "no annotations yet" in section(page, "headline")
    if name == "one":
        assert "pairwise agreement needs two annotators; the project has 1" in section(page, "pairwise")
        assert 'data-empty="true"' not in section(page, "annotators")


@pytest.mark.parametrize("name", [*PROJECTS, "empty", "one"])
def test_dashboard_is_one_file_with_nothing_to_fetch(built, name):
    _, page = built[name]
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert not re.search(r'\b(?:src|href)="(?!data:|#)', page)  # only data URIs and in-page links
    assert "<script src" not in page and "<link rel=\"stylesheet\"" not in page and "@import" not in page
    assert not re.search(r"url\((?!data:|#)", page)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # several inline SVGs share one id space
    assert len(page.encode("utf-8")) < 2_000_000


@pytest.mark.parametrize("name", [*PROJECTS, "one"])
def test_dashboard_headline_figures_are_the_metrics(built, name):
    project, page = built[name]
    figures = dict(FIGURE.findall(section(page, "headline")))
    for key in ("metrics/agreement.json:n_items", "metrics/agreement.json:n_annotations",
                "metrics/agreement.json:n_annotators"):
        assert int(figures[key]) == lookup(project, key)
    checked = 0
    for key, raw in FIGURE.findall(page):
        expected = lookup(project, key)
        assert (None if raw == "null" else json.loads(raw)) == expected, key
        checked += 1
    assert checked >= 8


def test_dashboard_headline_shows_the_interval_the_accuracy_and_the_gate(built):
    project, page = built["textcls"]
    head = section(page, "headline")
    agreement = lookup(project, "metrics/agreement.json:bootstrap_ci95")
    assert f'data-value="{agreement["metric_low"]!r}"' in head and "95% bootstrap interval" in head
    se = lookup(project, "metrics/review.json:estimated_accuracy_exported_se")
    assert f'data-key="metrics/review.json:estimated_accuracy_exported_se" data-value="{se!r}"' in head
    assert re.search(r'class="verdict (passed|failed)"', head) and "threshold" in head or ">=" in head


@pytest.mark.parametrize("name", PROJECTS)
def test_dashboard_guideline_gaps_show_examples_by_task_type(built, name):
    project, page = built[name]
    gaps_html = section(page, "gaps")
    assert 'data-empty="true"' not in gaps_html, gaps_html[:500]
    assert '<div class="example">' in gaps_html
    if name == "imgcls":
        assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{40,}"', gaps_html)
    if name == "textcls":
        assert "<q>" in gaps_html
    if name == "ner":
        assert "<mark>" in gaps_html and "consensus:" in gaps_html
    if name == "bbox":
        assert " at x " in gaps_html and "data:image/png;base64," in gaps_html


def test_dashboard_annotators_table_is_sortable_with_windowed_kappa(built):
    project, page = built["imgcls"]
    html = section(page, "annotators")
    annotators = json.loads(project.path("metrics/annotators.json").read_text("utf-8"))
    assert '<table class="sortable">' in html and "addEventListener('click'" in page
    for who, figures in annotators.items():
        assert who in html
        assert f'data-sort="{figures["n_items"]}"' in html


def test_dashboard_queues_sum_the_review_queue_by_reason(built):
    project, page = built["imgcls"]
    rows = [json.loads(x) for x in project.path("annotations/review.jsonl").read_text("utf-8").splitlines()]
    html = section(page, "queues")
    for action in ("annotate", "review"):
        for reason in {r for row in rows if row["action"] == action for r in row["reasons"]}:
            n = sum(reason in row["reasons"] for row in rows if row["action"] == action)
            errors = [row["expected_error"] for row in rows if row["action"] == action and reason in row["reasons"]
                      and "expected_error" in row]
            wrong = repr(round(sum(errors), 6)) if errors else ""
            assert re.search(rf"<td>{action}</td><td>{reason}</td><td class=\"n\" data-sort=\"{n}\">[^<]*</td>"
                             rf"<td class=\"n\" data-sort=\"{re.escape(wrong)}\">", html), (action, reason)


def test_dashboard_exports_name_formats_splits_and_losses(built):
    project, page = built["ner"]
    metrics = json.loads(project.path("metrics/export.json").read_text("utf-8"))
    html = section(page, "exports")
    for name in (k for k, v in metrics.items() if isinstance(v, dict) and "items" in v):
        assert f"<td>{name}</td><td>train</td>" in html
    assert "What was lost or changed" in html


def test_dashboard_same_inputs_same_bytes(built, tmp_path):
    project, page = built["imgcls"]
    again = tmp_path / "again.html"
    run_report(project, out=again)
    assert again.read_text("utf-8") == page


def test_dashboard_stage_never_reads_annotations_for_classification(built, tmp_path):
    project, page = built["textcls"]
    copy = tmp_path / "copy"
    shutil.copytree(project.root, copy)
    (copy / "annotations/annotations.jsonl").write_text("not json\n", encoding="utf-8")
    run_report(Project(copy))
    assert (copy / "reports/dashboard.html").read_text("utf-8") == page


def test_dashboard_cli_writes_out_and_describes(built, tmp_path, monkeypatch):
    project, page = built["bbox"]
    monkeypatch.chdir(project.root)
    out = tmp_path / "d.html"
    result = CliRunner().invoke(app, ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"report: {out} (") and out.read_text("utf-8") == page
    quiet = CliRunner().invoke(app, ["report", "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == ""


def test_dashboard_history_of_commits_is_stable_across_the_commit_of_its_own_state(tmp_path, tool_env):
    """Built before a commit and rebuilt from that commit: the same bytes (what dvc repro on a clone checks)."""
    root = tmp_path / "p"
    project = build_project(root, "textcls", annotators={"ann1@example.com", "ann2@example.com"})

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@x", *args], cwd=root, check=True,
                       capture_output=True)

    git("init", "-q")
    subprocess.run(["dvc", "init", "-q"], cwd=root, check=True, capture_output=True)
    git("add", "-A")
    git("commit", "-q", "-m", "round 1")
    first = run_report(project)
    assert "economy" in first.empty_sections  # one state so far
    # Round 2: the third annotator's labels arrive.
    tasks = json.loads((LS / "textcls.snapshot.json").read_text("utf-8"))
    (root / "inbox/export.json").write_text(json.dumps(tasks), encoding="utf-8")
    for stage in (run_pull, run_agree, run_export, run_report):
        stage(Project(root))
    before = (root / "reports/dashboard.html").read_bytes()
    html = section(before.decode("utf-8"), "economy")
    round1 = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    assert f"<code>{round1[:12]}</code></td><td>round 1</td>" in html
    assert "<code>current</code>" in html and 'data-empty="true"' not in html
    git("add", "-A")
    git("commit", "-q", "-m", "round 2")
    run_report(Project(root))
    assert (root / "reports/dashboard.html").read_bytes() == before


def test_dashboard_stage_is_in_every_pipeline_with_the_right_deps():
    from data_labeling_pipeline.repo.pipeline import pipeline_stages

    for task_type, classes in PROJECTS.values():
        stage = pipeline_stages(make_params(task_type, classes))["report"]
        assert stage["cmd"] == "dlp report --quiet"
        assert stage["outs"] == [{"reports/dashboard.html": {"cache": False}}]
        assert ("annotations/annotations.jsonl" in stage["deps"]) == (task_type in ("ner", "bbox"))
        assert ("plots/confusion" in stage["deps"]) == task_type.endswith("classification")
    off = make_params("ner", ["PER"], prelabel={"enabled": False})
    assert not {"annotations/predictions.jsonl", "metrics/prelabel.json"} & set(pipeline_stages(off)["report"]["deps"])


def test_dashboard_a_simulation_baseline_is_a_dep_once_the_file_is_there(tmp_path):
    from data_labeling_pipeline.repo.pipeline import pipeline_stages
    from data_labeling_pipeline.report.html import economy_html

    params = make_params("image_classification", ["a", "b"])
    assert "metrics/baseline.json" not in pipeline_stages(params, tmp_path)["report"]["deps"]
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/baseline.json").write_text('{"rounds": []}', "utf-8")
    assert "metrics/baseline.json" in pipeline_stages(params, tmp_path)["report"]["deps"]
    rows = economy.baseline_rows({"rounds": [{"round": 2, "labels": 20, "labelled_items": 8,
                                              "model_accuracy_vs_truth": 0.9, "random_batch_accuracy_vs_truth": 0.8},
                                             {"round": 1, "labels": 10, "model_accuracy_vs_truth": 0.7}]})
    assert [r["round"] for r in rows] == [1, 2] and rows[0]["random_batch_accuracy_vs_truth"] is None
    html = economy_html({"provenance": "p", "empty": None, "rows": [], "baseline": rows}, {})
    assert "metrics/baseline.json" in html and ">0.800<" in html and ">0.700<" in html
    spec = charts.economy([{"commit": "current", "labels": 20, "cv_accuracy": 0.85}], rows)
    figures = {(v["figure"], v["labels"]): v["value"] for v in spec["data"]["values"]}
    assert figures == {("weak model cv_accuracy", 20): 0.85, ("weak model vs truth (simulation)", 10): 0.7,
                       ("weak model vs truth (simulation)", 20): 0.9, ("random batch instead (simulation)", 20): 0.8}


def test_dashboard_root_example_project_declares_the_report_stage():
    from data_labeling_pipeline.config import load_params
    from data_labeling_pipeline.repo.pipeline import dvc_yaml

    root = Path(__file__).parents[1]
    assert (root / "dvc.yaml").read_text("utf-8") == dvc_yaml(load_params(root / "params.yaml"), root)


# --- the pure parts ---


def test_dashboard_ds_pairs_rank_by_weighted_confusion():
    conf_a = {"x": {"x": 0.9, "y": 0.1, "z": 0.0}, "y": {"x": 0.3, "y": 0.7, "z": 0.0}, "z": {"x": 0, "y": 0, "z": 1}}
    conf_b = {"x": {"x": 1.0, "y": 0.0, "z": 0.0}, "y": {"x": 0.0, "y": 0.8, "z": 0.2}, "z": {"x": 0, "y": 0, "z": 1}}
    pairs = gaps.ds_pairs({"a": {"n_items": 30, "ds_confusion": conf_a}, "b": {"n_items": 10, "ds_confusion": conf_b}})
    assert [(p["a"], p["b"]) for p in pairs[:2]] == [("x", "y"), ("y", "z")]
    assert pairs[0]["score"] == pytest.approx((30 * 0.4) / 40)
    assert gaps.ds_pairs({"a": {"n_items": 5}}) == []


def test_dashboard_pair_examples_keep_the_most_even_splits_by_item_id():
    picker = gaps.PairExamples(per_pair=2)
    for item, votes in (("d", {"x": 1, "y": 3}), ("c", {"x": 2, "y": 2}), ("b", {"x": 2, "y": 2}),
                        ("a", {"x": 3, "y": 1})):
        picker.add(item, votes)
    assert [x["item_id"] for x in picker.examples("y", "x")] == ["b", "c"]
    picker.n_items = 8
    assert picker.ranked(top=1)[0] | {"examples": None} == {"a": "x", "b": "y", "score": 0.5, "n_items": 4,
                                                           "examples": None}


def test_dashboard_region_disagreements_match_boxes_by_iou():
    a = {"boxes": [{"x": 0, "y": 0, "w": 10, "h": 10, "label": "car"}]}
    b = {"boxes": [{"x": 1, "y": 1, "w": 10, "h": 10, "label": "truck"}, {"x": 50, "y": 50, "w": 5, "h": 5,
                                                                           "label": "car"}]}
    counts, pairs = gaps.region_disagreements([a, b], "boxes")
    assert pairs == {("car", "truck")} and counts == {"car": 2, "truck": 1}
    same = {"boxes": [{"x": 1, "y": 1, "w": 10, "h": 10, "label": "car"}]}
    assert gaps.region_disagreements([a, same], "boxes")[1] == set()


def test_dashboard_economy_series_drops_commits_equal_to_the_current_state():
    p1, p2, p3 = ({"labels": n} for n in (1, 2, 3))
    commits = [({"commit": "c5"}, p3), ({"commit": "c4"}, p2), ({"commit": "c3"}, p2), ({"commit": "c2"}, p1),
               ({"commit": "c1"}, p1)]
    rows = economy.series(commits, p3)
    assert [(r["commit"], r["labels"]) for r in rows] == [("c1", 1), ("c3", 2), ("current", 3)]
    assert economy.series(commits[1:], p3) == rows  # before c5 was committed: the same rows


def test_dashboard_sections_accept_missing_files():
    assert sections.headline(None, None, None, {"status": "unavailable", "lines": []})["empty"]
    assert sections.annotator_rows(None)["empty"] and sections.pairwise(None)["empty"]
    assert sections.queues(None, None)["empty"] and sections.exports(None)["empty"]
    assert sections.prelabels(None, None, None)["empty"].startswith("metrics/prelabel.json does not exist")
    assert "prelabel.enabled: false" in sections.prelabels(None, None, None, enabled=False)["empty"]


def test_dashboard_charts_render_the_same_svg_twice():
    spec = charts.heatmap([{"a": "p", "b": "q", "value": 0.5, "n_items": 3, "reason": None}], ["p", "q"], "kappa")
    first, second = charts.to_svg(spec), charts.to_svg(spec)
    assert first == second and first.startswith("<svg") and "<script" not in first
    assert not re.search(r'(?:href|src)="(?!#)', first)


def test_dashboard_page_escapes_names_and_texts():
    from data_labeling_pipeline.report.html import render_page

    evil = '<img src=x onerror="alert(1)">'
    rows = sections.annotator_rows({evil: {"n_items": 2, "kappa_vs_consensus": 0.5}})
    page = {"headline": sections.headline(None, None, None, {"status": "unavailable", "lines": [evil]}),
            "annotators": rows, "pairwise": sections.pairwise(None),
            "confusion": sections.confusion_section({}, [], task_type="ner", limit=3, n_annotators=1),
            "queues": sections.queues(None, None), "prelabels": sections.prelabels(None, None, None),
            "economy": {"title": "economy", "empty": None, "provenance": evil, "rows": [
                {"commit": "current", "subject": evil, "labels": 1}]},
            "exports": sections.exports(None)}
    page["gaps"] = {"title": "gaps", "empty": None, "method": evil, "source": "votes", "pairs": [
        {"a": evil, "b": "b", "score": 0.5, "n_items": 1, "examples": [
            {"item_id": evil, "text": evil, "segments": {evil: [[evil, evil]]}, "votes": {evil: 1}}]}]}
    html = render_page({"project": evil, "task_type": "ner", "classes": [evil], "provenance": evil}, page, {})
    assert "<img src=x" not in html and "onerror=\"alert" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
