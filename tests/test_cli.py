from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

HEAVY = {"torch", "sklearn", "pandas", "datasets", "spacy", "label_studio_sdk", "dvc", "pycocotools", "scipy"}


def test_cli_help_imports_no_heavy_library():
    code = ("import sys; from data_labeling_pipeline.cli import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['--help']); "
            f"print(sorted(set({sorted(HEAVY)!r}) & {{m.split('.')[0] for m in sys.modules}}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_python_dash_m_runs_the_same_app():
    proc = subprocess.run([sys.executable, "-m", "data_labeling_pipeline", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "quickstart" in proc.stdout


def test_cli_seed_script_form_runs():
    core = Path(__file__).parents[1] / "src/data_labeling_pipeline/core.py"
    proc = subprocess.run([sys.executable, str(core), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "init" in proc.stdout


def test_cli_usage_error_exits_2():
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 2
    assert "--config" in result.output


def test_cli_data_error_exits_1_without_traceback(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("project:\n  name: x\n  task_type: images\n  classes: [a]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["init", "--config", str(config), str(tmp_path / "p")])
    assert result.exit_code == 1
    assert f"error: {config}:3: $.project.task_type: 'images' is not one of" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "p").exists()


def test_cli_outside_a_project_says_how_to_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["pull"])
    assert result.exit_code == 1
    assert "is not inside a labeling project" in result.output
    assert "dlp init --config" in result.output
