"""`dlp log ITEM`: one item's label history across commits of a real git + dvc repository."""

from __future__ import annotations

import json
import sys

import pytest
from test_diff import commit_revision, invoke, new_repo, sh

CORRECTION = {"item_id": "i1", "annotator": "rita@example.com", "schema_version": 1, "label": "cat",
              "note": "whiskers visible: a cat"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = new_repo(tmp_path_factory.mktemp("log") / "proj")
    shas = [
        commit_revision(root, "round 1", items=["i1", "i2"],
                        annotations={("i1", "ann1"): {"label": "cat"}, ("i2", "ann1"): {"label": "dog"}},
                        consensus={"i1": {"label": "cat"}, "i2": {"label": "dog"}}),
        commit_revision(root, "round 2", items=["i1", "i2"],
                        annotations={("i1", "ann1"): {"label": "dog"}, ("i1", "ann2"): {"label": "dog"},
                                     ("i2", "ann1"): {"label": "dog"}},
                        consensus={"i1": {"label": "dog"}, "i2": {"label": "dog"}}),
        commit_revision(root, "review", items=["i1", "i2"],
                        annotations={("i1", "ann1"): {"label": "dog"}, ("i1", "ann2"): {"label": "dog"},
                                     ("i2", "ann1"): {"label": "dog"}},
                        consensus={"i1": {"label": "cat"}, "i2": {"label": "dog"}}, corrections=[CORRECTION]),
    ]
    return {"root": root, "shas": shas}


def test_log_lists_the_item_changes_across_three_commits(repo, monkeypatch):
    result = invoke(repo["root"], monkeypatch, "log", "i1", "--format", "json")
    assert result.exit_code == 0, result.output
    history = json.loads(result.stdout)
    c1, c2, c3 = repo["shas"]
    got = [(e["commit"], e["subject"], e["author"], e["kind"], e["annotator"], e["old"], e["new"], e["note"])
           for e in history["events"]]
    assert got == [
        (c1, "round 1", "Rita Reviewer", "annotation", "ann1", None, {"label": "cat"}, None),
        (c1, "round 1", "Rita Reviewer", "consensus", None, None, {"label": "cat"}, None),
        (c2, "round 2", "Rita Reviewer", "annotation", "ann1", {"label": "cat"}, {"label": "dog"}, None),
        (c2, "round 2", "Rita Reviewer", "annotation", "ann2", None, {"label": "dog"}, None),
        (c2, "round 2", "Rita Reviewer", "consensus", None, {"label": "cat"}, {"label": "dog"}, None),
        (c3, "review", "Rita Reviewer", "correction", "rita@example.com", None, {"label": "cat"},
         "whiskers visible: a cat"),
        (c3, "review", "Rita Reviewer", "consensus", None, {"label": "dog"}, {"label": "cat"}, None),
    ]
    assert all(e["date"] for e in history["events"]) and history["commits"] == 3

    table = invoke(repo["root"], monkeypatch, "log", "i1")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0] == "history of i1" and lines[1].split() == ["commit", "date", "author", "kind", "annotator",
                                                                 "change", "note"]
    assert len(lines) == 2 + 7
    assert lines[-2].startswith(c3[:10]) and "cat -> -" not in lines[-2] and "whiskers visible: a cat" in lines[-2]


def test_log_unknown_item_is_a_clear_error(repo, monkeypatch):
    result = invoke(repo["root"], monkeypatch, "log", "no-such-item")
    assert result.exit_code == 1
    assert "unknown item 'no-such-item'" in result.stderr


def test_log_reports_a_revision_missing_from_the_cache_as_unavailable(repo, monkeypatch, tmp_path):
    clone = tmp_path / "clone"  # a clone without the DVC cache: only the workspace data is fetched
    sh(tmp_path, "git", "clone", "-q", str(repo["root"]), str(clone))
    sh(clone, sys.executable, "-m", "dvc", "cache", "dir", str(tmp_path / "empty-cache"))
    for name in ("items", "annotations", "consensus"):
        src = repo["root"] / f"annotations/{name}.jsonl"
        (clone / f"annotations/{name}.jsonl").write_bytes(src.read_bytes())
    result = invoke(clone, monkeypatch, "log", "i1", "--format", "json")
    assert result.exit_code == 0, result.output
    history = json.loads(result.stdout)
    assert history["unavailable"] == 3
    assert [e["kind"] for e in history["events"][:3]] == ["unavailable"] * 3
    assert "dvc fetch" in history["events"][0]["note"]
