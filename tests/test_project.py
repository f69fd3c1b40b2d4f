"""A labeling project end to end with real git and real dvc in a temp dir."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from data_labeling_pipeline.cli import app

ASSETS = Path(__file__).parent / "assets"

pytestmark = pytest.mark.slow


def run(args, cwd):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True).stdout


def write_config(tmp_path, task_type="bbox", classes=("car", "person", "bicycle")):
    config = tmp_path / "config.yaml"
    config.write_text(f"project:\n  name: t\n  task_type: {task_type}\n  classes: [{', '.join(classes)}]\n",
                      encoding="utf-8")
    return config


def test_project_init_then_dvc_repro_pulls_exports(tmp_path, tool_env, monkeypatch):
    root = tmp_path / "labels"
    result = CliRunner().invoke(app, ["init", "--config", str(write_config(tmp_path)), str(root)])
    assert result.exit_code == 0, result.output
    for name in ("params.yaml", "dvc.yaml", "schema/labels.yaml", "schema/annotation.schema.json",
                 "schema/label_config.xml", ".dvc/config", "inbox.dvc", "annotations/items.ingested.jsonl.dvc",
                 ".github/workflows/labels.yml"):
        assert (root / name).exists(), name
    assert "analytics = false" in (root / ".dvc/config").read_text()
    workflow = yaml.safe_load((root / ".github/workflows/labels.yml").read_text())
    steps = [step.get("run", "") for step in workflow["jobs"]["labels"]["steps"]]
    assert "dvc repro" in steps and "dlp gate" in steps
    assert run(["git", "status", "--porcelain"], root) == ""
    assert "dlp init: t (bbox, 3 classes)" in run(["git", "log", "--format=%s"], root)

    shutil.copy(ASSETS / "labelstudio/bbox.snapshot.json", root / "inbox/export-1.json")
    run(["dvc", "repro"], root)
    lines = (root / "annotations/annotations.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 19
    metrics = json.loads((root / "metrics/agreement.json").read_text())
    assert 0 < metrics["box_f1_50"] <= 1
    gate = subprocess.run(["dlp", "gate"], cwd=root, capture_output=True, text=True)
    assert gate.returncode == 0 and "box_f1_50" in gate.stdout
    (root / "params.yaml").write_text((root / "params.yaml").read_text().replace(
        "agreement_threshold: 0.6", "agreement_threshold: 0.99"))
    gate = subprocess.run(["dlp", "gate"], cwd=root, capture_output=True, text=True)
    assert gate.returncode == 3 and "box_f1_50" in gate.stderr
    run(["git", "checkout", "params.yaml"], root)
    lock = (root / "dvc.lock").read_text()
    run(["dvc", "repro"], root)
    assert (root / "dvc.lock").read_text() == lock  # nothing changed, nothing re-run
    assert "up to date" in run(["dvc", "status"], root)


def test_project_init_refuses_to_overwrite_without_force(tmp_path, tool_env):
    config = write_config(tmp_path)
    root = tmp_path / "labels"
    assert CliRunner().invoke(app, ["init", "--config", str(config), str(root)]).exit_code == 0
    again = CliRunner().invoke(app, ["init", "--config", str(config), str(root)])
    assert again.exit_code == 1
    assert "already holds a labeling project" in again.output and "--force" in again.output
    # --force with a new class keeps the old ids and appends.
    config2 = write_config(tmp_path, classes=("person", "truck"))
    assert CliRunner().invoke(app, ["init", "--force", "--config", str(config2), str(root)]).exit_code == 0
    labels = (root / "schema/labels.yaml").read_text()
    assert "id: 1\n  name: car" in labels and "id: 4\n  name: truck" in labels


def test_project_ingest_images_is_incremental_and_idempotent(tmp_path, tool_env, monkeypatch):
    root = tmp_path / "labels"
    CliRunner().invoke(app, ["init", "--config", str(write_config(tmp_path)), str(root)])
    images = root / "data/images"
    images.mkdir(parents=True)
    Image.new("RGB", (40, 20)).save(images / "wide.png")
    # An EXIF-rotated JPEG: stored 40x20, shown (and trained on) as 20x40.
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 20)).save(images / "turned é.jpg", exif=exif)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["ingest", "data/images"])
    assert result.exit_code == 0, result.output
    assert "items: 2 (2 added" in result.output
    manifest = root / "annotations/items.ingested.jsonl"
    items = {json.loads(line)["item_id"]: json.loads(line) for line in manifest.read_text("utf-8").splitlines()}
    assert items["data/images/turned é.jpg"]["data"]["width"] == 20
    assert items["data/images/turned é.jpg"]["data"]["height"] == 40
    assert items["data/images/wide.png"]["data"]["width"] == 40
    assert (root / "data/images.dvc").exists()
    before = manifest.read_bytes()
    again = CliRunner().invoke(app, ["ingest", "data/images"])
    assert "2 unchanged" in again.output
    assert manifest.read_bytes() == before
    Image.new("RGB", (8, 8)).save(images / "new.png")
    (images / "wide.png").unlink()
    third = CliRunner().invoke(app, ["ingest", "data/images"])
    assert "items: 2 (1 added, 0 updated, 1 unchanged, 1 removed" in third.output


def test_project_ingest_texts_from_csv(tmp_path, tool_env, monkeypatch):
    root = tmp_path / "labels"
    CliRunner().invoke(app, ["init", "--config", str(write_config(tmp_path, "ner", ("PER",))), str(root)])
    (root / "texts.csv").write_text('item_id,text,lang\nx1,"Ada, in Oslo",en\n,Bob =1+1,\n,Bob =1+1,\n',
                                    encoding="utf-8")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["ingest", "texts.csv", "--no-track"])
    assert result.exit_code == 0, result.output
    assert "items: 2 (2 added" in result.output and "1 duplicates skipped" in result.output
    lines = [json.loads(x) for x in (root / "annotations/items.ingested.jsonl").read_text("utf-8").splitlines()]
    by_id = {r["item_id"]: r for r in lines}
    assert by_id["x1"]["data"]["text"] == "Ada, in Oslo" and by_id["x1"]["meta"] == {"lang": "en"}
    other = next(r for r in lines if r["item_id"] != "x1")
    assert other["item_id"].startswith("t-") and len(other["item_id"]) == 18


def test_project_ingest_bad_csv_names_file_line_and_field(tmp_path, tool_env, monkeypatch):
    root = tmp_path / "labels"
    CliRunner().invoke(app, ["init", "--config", str(write_config(tmp_path, "ner", ("PER",))), str(root)])
    (root / "texts.csv").write_text("text\nfine\n\n   \n", encoding="utf-8")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["ingest", "texts.csv", "--no-track"])
    assert result.exit_code == 1
    assert "texts.csv:4: text: expected a non-empty text, got '   '" in result.output
    assert (root / "annotations/items.ingested.jsonl").read_text() == ""


def test_project_validate_lists_every_error(tmp_path, tool_env, monkeypatch):
    root = tmp_path / "labels"
    CliRunner().invoke(app, ["init", "--config", str(write_config(tmp_path)), str(root)])
    monkeypatch.chdir(root)
    assert CliRunner().invoke(app, ["validate"]).exit_code == 0
    bad = root / "annotations/extra.jsonl"
    bad.write_text('{"item_id":"a","annotator":"x","schema_version":1,"boxes":[{"x":0,"y":0,"w":1,"h":1,"label":"cow"}]}\n'
                   "nonsense\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "annotations/extra.jsonl", "params.yaml"])
    assert result.exit_code == 1
    assert "annotations/extra.jsonl:1: $.boxes[0].label: 'cow' is not one of ['car', 'person', 'bicycle']" in result.output
    assert "annotations/extra.jsonl:2: invalid JSON" in result.output


def test_project_init_accepts_the_seed_config_verbatim(tmp_path, tool_env, monkeypatch):
    from data_labeling_pipeline.config import dump_params, load_params

    seed = ASSETS / "config/seed.config.yaml"
    root = tmp_path / "products"
    result = CliRunner().invoke(app, ["init", "--config", str(seed), str(root)])
    assert result.exit_code == 0, result.output
    text = (root / "params.yaml").read_text("utf-8")
    written = yaml.safe_load(text)
    assert written["export"]["formats"] == ["coco"] and "format" not in written["export"]
    assert written["export"]["output_dir"] == "labeled_data"
    assert written["quality"]["auto_flag_low_confidence"] == 0.7
    assert written["active_learning"]["model_checkpoint"] == "models/weak_classifier.pt"
    assert not (root / "models").exists()  # the checkpoint need not exist yet
    params = load_params(root / "params.yaml")
    assert params == load_params(seed) and dump_params(params) == text
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["pull", "prelabel", "agree", "select", "export", "report"]
    assert stages["export"]["outs"] == ["labeled_data"]
    assert "models/weak_classifier.pt" not in stages["prelabel"]["deps"]  # not there yet: dvc would refuse it
    assert "labeled_data" in run(["dvc", "stage", "list"], root)  # dvc reads the dvc.yaml written
    assert run(["git", "status", "--porcelain"], root) == ""
    monkeypatch.chdir(root)
    check = CliRunner().invoke(app, ["validate"])
    assert check.exit_code == 0 and "warning" not in check.output, check.output


def test_project_validate_suggests_the_canonical_name_of_a_legacy_key(tmp_path, tool_env, monkeypatch):
    root = tmp_path / "labels"
    CliRunner().invoke(app, ["init", "--config", str(write_config(tmp_path)), str(root)])
    params = root / "params.yaml"
    text = params.read_text("utf-8")
    assert "  query_batch_size: 100\n" in text
    params.write_text(text.replace("  query_batch_size: 100\n", "  batch_size: 30\n"), encoding="utf-8")
    line = params.read_text("utf-8").splitlines().index("  batch_size: 30") + 1
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert f"warning: params.yaml:{line}: $.active_learning.batch_size: a legacy name; use query_batch_size" \
        in result.stderr
    assert result.stdout.startswith("ok: params.yaml")
    from data_labeling_pipeline.project import Project

    assert Project(root).params["active_learning"]["query_batch_size"] == 30
