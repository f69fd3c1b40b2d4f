"""Every versioning command outside a labeling project: a clear error, exit 1, nothing written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

COMMANDS = [["diff"], ["diff", "main", "HEAD", "--format", "json"], ["log", "i1"], ["schema", "add-class", "x"],
            ["schema", "rename-class", "a", "b"], ["schema", "merge-classes", "a", "b", "--into", "c"],
            ["schema", "deprecate-class", "a"], ["schema", "split-class", "a", "--into", "b", "--into", "c"],
            ["correct", "i1", "--label", "a", "--reason", "r"], ["snapshot", "v1"], ["merge-fix"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_versioning_commands_outside_a_project_fail_clearly_and_write_nothing(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    assert "not inside a labeling project" in result.output and "dlp init" in result.output
    assert list(tmp_path.iterdir()) == []
