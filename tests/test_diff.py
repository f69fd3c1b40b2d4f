"""`dlp diff`: the semantic diff of two revisions of a real git + dvc labeling repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app
from data_labeling_pipeline.config import dump_params, with_defaults
from data_labeling_pipeline.labels import new_label_schema
from data_labeling_pipeline.records import write_json, write_jsonl
from data_labeling_pipeline.repo.scaffold import labels_yaml

DVC_FILES = ["annotations/items.jsonl", "annotations/annotations.jsonl", "annotations/consensus.jsonl"]
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1",
       "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


def sh(root: Path, *args: str) -> str:
    return subprocess.run(args, cwd=root, env=ENV, capture_output=True, text=True, check=True).stdout.strip()


def new_repo(root: Path, classes=("cat", "dog", "bird", "car", "bus", "truck", "PER", "ORG")) -> Path:
    """git + dvc + params.yaml + schema/labels.yaml on branch main: a labeling project without stages."""
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.name", "Rita Reviewer")
    sh(root, "git", "config", "user.email", "rita@example.com")
    sh(root, sys.executable, "-m", "dvc", "init", "-q")
    params = with_defaults({"project": {"name": "diff-test", "task_type": "image_classification",
                                        "classes": list(classes)}})
    (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
    (root / "schema").mkdir()
    (root / "annotations").mkdir()
    return root


def commit_revision(root: Path, message: str, *, items, annotations, consensus, corrections=(), schema=None,
                    agreement=None, review=None, version: int = 1) -> str:
    """Write one revision's files, dvc add the record files, commit; return the commit id."""
    write_jsonl(root / "annotations/items.jsonl", [{"item_id": i, "data": {"image": f"{i}.png", "width": 200,
                                                                            "height": 200}} for i in items])
    write_jsonl(root / "annotations/annotations.jsonl",
                [{"item_id": i, "annotator": a, "schema_version": version, **p} for (i, a), p in annotations.items()])
    write_jsonl(root / "annotations/consensus.jsonl", [{"item_id": i, "status": "accepted", **p}
                                                       for i, p in consensus.items()])
    write_jsonl(root / "annotations/corrections.jsonl", list(corrections))
    schema = schema or new_label_schema("image_classification", ["cat", "dog", "bird"])
    (root / "schema/labels.yaml").write_text(labels_yaml(schema), encoding="utf-8")
    write_json(root / "metrics/agreement.json", agreement or {})
    write_json(root / "metrics/review.json", review or {})
    sh(root, sys.executable, "-m", "dvc", "add", "-q", *DVC_FILES)
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", message)
    return sh(root, "git", "rev-parse", "HEAD")


CAR = {"id": "b1", "x": 10, "y": 10, "w": 20, "h": 20, "label": "car"}
BUS = {"x": 100, "y": 100, "w": 10, "h": 10, "label": "bus"}
CORRECTION = {"item_id": "i1", "annotator": "rita@example.com", "schema_version": 1, "label": "dog",
              "note": "clearly a dog: see the ears"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """main: revision A; branch feature: revision B (relabels, a moved box, a span relabel, a flip ...)."""
    root = new_repo(tmp_path_factory.mktemp("diff") / "proj")
    schema_a = new_label_schema("image_classification", ["cat", "dog", "bird"])
    a = commit_revision(
        root, "A", items=["i1", "i2", "i3", "i5"],
        annotations={("i1", "ann1"): {"label": "cat"}, ("i1", "ann2"): {"label": "cat"},
                     ("i2", "ann1"): {"boxes": [CAR, BUS]}, ("i3", "ann1"): {"spans": [{"start": 0, "end": 5, "label": "PER"}]},
                     ("i3", "ann2"): {"label": "dog"}},
        consensus={"i1": {"label": "cat"}, "i3": {"label": "dog"}},
        schema=schema_a, agreement={"fleiss_kappa": 0.8, "n_items": 4, "per_class": {"cat": 0.5}},
        review={"n_review": 2, "queue_share": 0.5})
    sh(root, "git", "checkout", "-q", "-b", "feature")
    schema_b = {**schema_a, "schema_version": 2,
                "history": [*schema_a["history"], {"version": 2, "change": "renamed", "from": "kitty", "to": "cat"}]}
    b = commit_revision(
        root, "B", items=["i1", "i2", "i3", "i4"],
        annotations={("i1", "ann1"): {"label": "dog"}, ("i1", "ann2"): {"label": "cat"},
                     ("i2", "ann1"): {"boxes": [{**CAR, "x": 13, "y": 6}, {**BUS, "x": 101, "label": "truck"}]},
                     ("i3", "ann1"): {"spans": [{"start": 0, "end": 5, "label": "ORG"}]},
                     ("i4", "ann3"): {"label": "bird"}},
        consensus={"i1": {"label": "dog"}, "i3": {"label": "dog"}, "i4": {"label": "bird"}},
        corrections=[CORRECTION], schema=schema_b,
        agreement={"fleiss_kappa": 0.75, "n_items": 4, "per_class": {"cat": 0.25}},
        review={"n_review": 3, "queue_share": 0.5})
    return {"root": root, "a": a, "b": b}


def invoke(root: Path, monkeypatch, *args: str):
    monkeypatch.chdir(root)
    return CliRunner().invoke(app, list(args))


def test_diff_json_is_exact_on_constructed_revisions(repo, monkeypatch):
    result = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rev_a"], report["rev_b"]) == (repo["a"], repo["b"])
    assert report["items"] == {"added": ["i4"], "removed": ["i5"], "changed": []}
    assert report["annotations"]["relabels"][0] == {"item_id": "i1", "annotator": "ann1",
                                                    "old": {"label": "cat"}, "new": {"label": "dog"}}
    assert [(r["item_id"], r["annotator"]) for r in report["annotations"]["relabels"]] == \
        [("i1", "ann1"), ("i2", "ann1"), ("i3", "ann1")]
    assert report["annotations"]["added"] == [{"item_id": "i4", "annotator": "ann3", "new": {"label": "bird"}}]
    assert report["annotations"]["removed"] == [{"item_id": "i3", "annotator": "ann2", "old": {"label": "dog"}}]
    assert report["regions"] == [
        {"item_id": "i2", "annotator": "ann1", "kind": "box", "change": ["moved"], "old": CAR,
         "new": {**CAR, "x": 13, "y": 6}, "delta": {"dx": 3, "dy": -4, "dw": 0, "dh": 0}},
        {"item_id": "i2", "annotator": "ann1", "kind": "box", "change": ["moved", "relabelled"], "old": BUS,
         "new": {**BUS, "x": 101, "label": "truck"}, "delta": {"dx": 1, "dy": 0, "dw": 0, "dh": 0}},
        {"item_id": "i3", "annotator": "ann1", "kind": "span", "change": ["relabelled"],
         "old": {"start": 0, "end": 5, "label": "PER"}, "new": {"start": 0, "end": 5, "label": "ORG"},
         "delta": {"dstart": 0, "dend": 0}},
    ]
    assert report["consensus_flips"] == [{"item_id": "i1", "old": {"label": "cat"}, "new": {"label": "dog"}}]
    assert report["transitions"] == [
        {"old": "cat", "new": "dog", "annotations": 1, "consensus": 1},
        {"old": "PER", "new": "ORG", "annotations": 1, "consensus": 0},
        {"old": "bus", "new": "truck", "annotations": 1, "consensus": 0},
    ]
    assert report["corrections"] == {"added": [{"item_id": "i1", "author": "rita@example.com",
                                                "reason": "clearly a dog: see the ears", "payload": {"label": "dog"}}],
                                     "removed": [], "changed": []}
    assert report["schema"]["version_a"] == 1 and report["schema"]["version_b"] == 2
    assert report["schema"]["migrations"] == [{"version": 2, "change": "renamed", "from": "kitty", "to": "cat"}]
    assert report["metrics"]["agreement"] == {
        "fleiss_kappa": {"a": 0.8, "b": 0.75, "delta": -0.05}, "n_items": {"a": 4, "b": 4, "delta": 0},
        "per_class.cat": {"a": 0.5, "b": 0.25, "delta": -0.25}}
    assert report["metrics"]["review"]["n_review"] == {"a": 2, "b": 3, "delta": 1}
    assert report["kappa"] == {"key": "fleiss_kappa", "a": 0.8, "b": 0.75, "delta": -0.05, "kappa_drop": 0.05}
    t = report["totals"]
    assert {k: t[k] for k in ("annotations_a", "annotations_b", "relabels", "relabelled", "new_annotations",
                              "removed_annotations", "added_items", "removed_items", "removed", "consensus_flips",
                              "region_changes", "regions_moved", "regions_relabelled", "corrections_added",
                              "migrations", "kappa_drop")} == {
        "annotations_a": 5, "annotations_b": 5, "relabels": 3, "relabelled": 0.6, "new_annotations": 1,
        "removed_annotations": 1, "added_items": 1, "removed_items": 1, "removed": 2, "consensus_flips": 1,
        "region_changes": 3, "regions_moved": 2, "regions_relabelled": 2, "corrections_added": 1,
        "migrations": 1, "kappa_drop": 0.05}
    again = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--format", "json")
    assert again.stdout == result.stdout  # deterministic


def test_diff_defaults_compare_the_merge_base_with_the_workspace(repo, monkeypatch):
    result = invoke(repo["root"], monkeypatch, "diff", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rev_a"], report["rev_b"]) == (repo["a"], "workspace")
    assert report["totals"]["relabels"] == 3 and report["totals"]["consensus_flips"] == 1


def test_diff_markdown_is_bounded_but_totals_are_exact(repo, monkeypatch):
    result = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--top", "1")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "| relabels | 3 |" in text and "| relabelled | 0.6 |" in text and "| kappa_drop | 0.05 |" in text
    relabels = text.split("### Relabels (3)")[1].split("###")[0]
    assert "| i1 | ann1 | cat | dog |" in relabels
    assert "i2" not in relabels and "... and 2 more" in relabels
    assert "dx=1" not in text  # only the first region row is shown
    assert "moved | car (10,10 20x20) | car (13,6 20x20) | dx=3 dy=-4 |" in text
    assert "| added | i1 | rita@example.com | dog | clearly a dog: see the ears |" in text


def test_diff_fail_if_trips_with_exit_3_and_passes_otherwise(repo, monkeypatch):
    tripped = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--fail-if", "relabelled>0.5",
                     "--fail-if", "kappa_drop>0.1", "--fail-if", "removed>0")
    assert tripped.exit_code == 3
    assert "### Relabels (3)" in tripped.stdout
    assert "relabelled>0.5 (got 0.6)" in tripped.stderr and "removed>0 (got 2)" in tripped.stderr
    assert "kappa_drop" not in tripped.stderr
    passed = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--fail-if", "relabelled>0.7",
                    "--fail-if", "kappa_drop>0.1", "--fail-if", "consensus_flips>10")
    assert passed.exit_code == 0, passed.output


@pytest.mark.parametrize("expr", ["bogus>1", "relabelled>>1", "relabelled", "kappa_drop>x"])
def test_diff_fail_if_rejects_bad_expressions_naming_the_valid_names(repo, monkeypatch, expr):
    result = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--fail-if", expr)
    assert result.exit_code == 2
    assert "kappa_drop" in result.output and "consensus_flips" in result.output


def test_diff_out_writes_the_report_file(repo, monkeypatch, tmp_path):
    out = tmp_path / "report.json"
    result = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.output
    printed = invoke(repo["root"], monkeypatch, "diff", "main", "feature", "--format", "json")
    assert out.read_text("utf-8") == printed.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def test_diff_unknown_revision_is_a_clear_error(repo, monkeypatch):
    result = invoke(repo["root"], monkeypatch, "diff", "no-such-branch", "feature")
    assert result.exit_code == 1
    assert "error: unknown revision 'no-such-branch'" in result.stderr
    assert "Traceback" not in result.output


def test_diff_outside_a_labeling_repo_is_a_clear_error(tmp_path, monkeypatch):
    result = invoke(tmp_path, monkeypatch, "diff")
    assert result.exit_code == 1
    assert "is not inside a labeling project" in result.stderr


def test_diff_of_unsorted_records_still_pairs_them():
    from data_labeling_pipeline.repo import labeldiff

    with pytest.raises(labeldiff.NotSorted):
        list(labeldiff.merge_join([(2, "b"), (1, "a")], []))
    events = labeldiff.region_changes([{"start": 3, "end": 8, "label": "PER"}],
                                      [{"start": 4, "end": 9, "label": "PER"}, {"start": 20, "end": 25, "label": "LOC"}],
                                      kind="spans")
    assert events == [{"change": ["moved"], "old": {"start": 3, "end": 8, "label": "PER"},
                       "new": {"start": 4, "end": 9, "label": "PER"}, "delta": {"dstart": 1, "dend": 1}},
                      {"change": ["added"], "old": None, "new": {"start": 20, "end": 25, "label": "LOC"}, "delta": None}]


def test_diff_reads_a_project_in_a_subfolder_of_a_git_repository(tmp_path, monkeypatch):
    top = tmp_path / "mono"
    top.mkdir()
    sh(top, "git", "init", "-q", "-b", "main")
    sh(top, "git", "config", "user.name", "Rita Reviewer")
    sh(top, "git", "config", "user.email", "rita@example.com")
    root = top / "labels"
    root.mkdir()
    sh(root, sys.executable, "-m", "dvc", "init", "-q", "--subdir")
    params = with_defaults({"project": {"name": "sub", "task_type": "image_classification", "classes": ["cat", "dog"]}})
    (root / "params.yaml").write_text(dump_params(params), encoding="utf-8")
    (root / "schema").mkdir()
    (root / "annotations").mkdir()
    a = commit_revision(root, "A", items=["i1"], annotations={("i1", "ann1"): {"label": "cat"}},
                        consensus={"i1": {"label": "cat"}})
    b = commit_revision(root, "B", items=["i1"], annotations={("i1", "ann1"): {"label": "dog"}},
                        consensus={"i1": {"label": "dog"}})
    result = invoke(root, monkeypatch, "diff", a, b, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["annotations"]["relabels"] == [{"item_id": "i1", "annotator": "ann1", "old": {"label": "cat"},
                                                  "new": {"label": "dog"}}]
    assert report["consensus_flips"][0]["new"] == {"label": "dog"}


def test_diff_of_an_unsorted_workspace_file_matches_and_a_bad_line_names_file_and_line(tmp_path, monkeypatch):
    root = new_repo(tmp_path / "proj")
    commit_revision(root, "A", items=["i1", "i2"],
                    annotations={("i1", "ann1"): {"label": "cat"}, ("i2", "ann1"): {"label": "cat"}},
                    consensus={"i1": {"label": "cat"}})
    path = root / "annotations/annotations.jsonl"
    rows = ['{"annotator":"ann1","item_id":"i2","label":"dog","schema_version":1}',
            '{"annotator":"ann1","item_id":"i1","label":"cat","schema_version":1}']
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")  # unsorted: read sorted, same diff
    result = invoke(root, monkeypatch, "diff", "HEAD", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["annotations"]["relabels"] == [{"item_id": "i2", "annotator": "ann1", "old": {"label": "cat"},
                                                  "new": {"label": "dog"}}]
    assert report["totals"]["new_annotations"] == 0 and report["totals"]["removed_annotations"] == 0
    path.write_text(rows[1] + "\n" + '{"annotator":"ann1","item_id":"i2",\n', encoding="utf-8")
    bad = invoke(root, monkeypatch, "diff", "HEAD")
    assert bad.exit_code == 1
    assert "error: annotations/annotations.jsonl@workspace:2:" in bad.stderr and "invalid JSON" in bad.stderr


def test_a_class_rename_is_a_migration_not_a_relabel(tmp_path, monkeypatch):
    from data_labeling_pipeline.migrations import rename_class

    root = new_repo(tmp_path / "rename")
    schema = new_label_schema("image_classification", ["cat", "dog", "bird"])
    a = commit_revision(root, "A", items=["i1", "i2"], schema=schema,
                        annotations={("i1", "ann1"): {"label": "cat"}, ("i1", "ann2"): {"label": "cat"},
                                     ("i2", "ann1"): {"label": "dog"}},
                        consensus={"i1": {"label": "cat"}, "i2": {"label": "dog"}})
    b = commit_revision(root, "B: cat -> feline, one real relabel", items=["i1", "i2"], version=2,
                        schema=rename_class(schema, "cat", "feline"),
                        annotations={("i1", "ann1"): {"label": "feline"}, ("i1", "ann2"): {"label": "feline"},
                                     ("i2", "ann1"): {"label": "bird"}},
                        consensus={"i1": {"label": "feline"}, "i2": {"label": "bird"}})
    for old, new in ((a, b), (b, a)):  # either direction: compared in the newer schema's names
        result = invoke(root, monkeypatch, "diff", old, new, "--format", "json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        totals = report["totals"]
        assert (totals["relabels"], totals["consensus_flips"], totals["migrations"]) == (1, 1, 1 if old == a else 0)
        [relabel] = report["annotations"]["relabels"]
        assert relabel["item_id"] == "i2"
        assert [(t["old"], t["new"]) for t in report["transitions"]] == ([("dog", "bird")] if old == a else
                                                                          [("bird", "dog")])
