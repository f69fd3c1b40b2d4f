from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

HEAVY = {"torch", "sklearn", "pandas", "datasets", "spacy", "label_studio_sdk", "dvc", "pycocotools", "scipy",
         "vl_convert", "PIL", "playwright"}


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
    assert "dlp init DIR --task-type" in result.output


def test_cli_init_from_options_writes_what_the_config_file_would(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("project:\n  name: mylabels\n  task_type: ner\n  classes: [PER, ORG, LOC]\n", encoding="utf-8")
    from_config = CliRunner().invoke(app, ["init", "--config", str(config), str(tmp_path / "a" / "mylabels")])
    from_options = CliRunner().invoke(app, ["init", str(tmp_path / "b" / "mylabels"), "--task-type", "ner",
                                            "--classes", "PER, ORG,LOC"])
    assert from_config.exit_code == 0 and from_options.exit_code == 0, from_options.output
    for name in ("params.yaml", "schema/labels.yaml", "dvc.yaml"):
        assert (tmp_path / "a/mylabels" / name).read_bytes() == (tmp_path / "b/mylabels" / name).read_bytes(), name


def test_cli_init_classes_file_and_multi_label(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("# departments\nfood\n\nclothing  # apparel\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["init", str(tmp_path / "p"), "--task-type", "text_classification",
                                      "--classes-file", str(classes), "--multi-label", "--name", "shop"])
    assert result.exit_code == 0, result.output
    project = yaml.safe_load((tmp_path / "p/params.yaml").read_text("utf-8"))["project"]
    assert (project["name"], project["classes"], project["multi_label"]) == ("shop", ["food", "clothing"], True)


@pytest.mark.parametrize("args,message", [
    (["--config", "c.yaml", "--classes", "a"], "give --config or the options, not both"),
    (["--task-type", "ner", "--classes", "a", "--classes-file", "c.txt"], "not both"),
    (["--task-type", "images", "--classes", "a"], "'images' is not one of"),
    (["--task-type", "ner"], "standard input is not a terminal"),
])
def test_cli_init_option_errors_are_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(app, ["init", str(tmp_path / "p"), *args])
    assert result.exit_code == 2
    assert message in " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert not (tmp_path / "p").exists()


def test_cli_init_asks_when_standard_input_is_a_terminal(tmp_path):
    import os
    import pty

    main, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "data_labeling_pipeline", "init", str(tmp_path / "p")],
                            stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    seen = b""

    def answer(prompt: bytes, reply: bytes) -> None:
        nonlocal seen
        while prompt not in seen:
            seen += os.read(main, 1024)
        os.write(main, reply)

    answer(b"Task type", b"boxes\n")
    answer(b"is not one of", b"bbox\n")
    answer(b"Classes", b"car, person\n")
    try:
        while True:
            seen += os.read(main, 1024)
    except OSError:  # the child closed the terminal
        pass
    assert proc.wait(timeout=60) == 0, seen.decode()
    project = yaml.safe_load((tmp_path / "p/params.yaml").read_text("utf-8"))["project"]
    assert (project["name"], project["task_type"], project["classes"]) == ("p", "bbox", ["car", "person"])
