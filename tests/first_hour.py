"""A new user's first hour on a project of their own, as steps a test walks through.

`dlp init` -> `dvc repro` (nothing yet) -> `dlp ingest` -> `dvc repro` -> one Label Studio
export from one annotator -> `dvc repro` -> a second annotator -> `dvc repro` -> `dlp gate`,
for each task type and each of three configs (the seed's, config.example.yaml, a minimal one).
The exports are the real Label Studio 1.23 exports of tests/assets, split by annotator.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ASSETS = Path(__file__).parent / "assets"
ROOT = Path(__file__).parents[1]
TASKS = {  # task type -> (reference export key, its classes, an export format that carries it)
    "image_classification": ("imgcls", ["cat", "dog", "bird", "other"], "coco"),
    "text_classification": ("textcls", ["positive", "negative", "neutral"], "csv"),
    "ner": ("ner", ["PER", "ORG", "LOC", "DATE"], "spacy"),
    "bbox": ("bbox", ["car", "person", "bicycle"], "coco"),
}
CONFIGS = ("seed", "example", "minimal")
ANNOTATORS = ("ann1@example.com", "ann2@example.com")
STEPS = ("init", "repro_empty", "ingest", "repro_items", "one_annotator", "two_annotators", "gate")


def config_text(config: str, task_type: str) -> str:
    """The config file a user would write: the named one, on this task type's classes (and a format for it)."""
    key, classes, export_format = TASKS[task_type]
    if config == "minimal":
        return yaml.safe_dump({"project": {"name": f"first-{key}", "task_type": task_type, "classes": classes}})
    source = ASSETS / "config/seed.config.yaml" if config == "seed" else ROOT / "config.example.yaml"
    data = yaml.safe_load(source.read_text("utf-8"))
    data["project"].update(task_type=task_type, classes=classes)
    data["export"]["format"] = export_format
    return yaml.safe_dump(data, sort_keys=False)


def run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def tool_env() -> dict:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def export_of(task_type: str, annotator: str) -> list[dict]:
    """The reference snapshot export with only ``annotator``'s annotations (tasks as a server exports them)."""
    key = TASKS[task_type][0]
    tasks = json.loads((ASSETS / "labelstudio" / f"{key}.snapshot.json").read_text("utf-8"))
    for task in tasks:
        task["annotations"] = [a for a in task["annotations"] if a["completed_by"]["email"] == annotator]
        task["data"].pop("item_id", None)  # as a user's own project: items are known by their image or text
    return tasks


def write_raw_data(task_type: str, where: Path) -> Path:
    """What the user ingests: the reference tasks' images, or their texts as a CSV."""
    key = TASKS[task_type][0]
    tasks = json.loads((ASSETS / "labelstudio" / f"{key}.snapshot.json").read_text("utf-8"))
    if "image" in tasks[0]["data"]:
        folder = where / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            name = task["data"]["image"].rsplit("/", 1)[-1]
            shutil.copy(ASSETS / "labelstudio/images" / name, folder / name)
        return folder
    path = where / "texts.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([task["data"]["text"]] for task in tasks)
    return path


class Walk:
    """One project walked through :data:`STEPS`; ``step(name)`` returns what the test asserts on."""

    def __init__(self, base: Path, task_type: str, config: str):
        self.task_type, self.config = task_type, config
        self.base = base / f"{task_type}-{config}"
        self.base.mkdir(parents=True)
        self.root = self.base / "mylabels"
        self.env = tool_env()
        self.done: dict[str, subprocess.CompletedProcess] = {}

    def step(self, name: str) -> subprocess.CompletedProcess:
        if name not in self.done:
            for earlier in STEPS[:STEPS.index(name)]:
                if earlier not in self.done:
                    self.step(earlier)
            self.done[name] = getattr(self, f"_{name}")()
        return self.done[name]

    def _init(self):
        config = self.base / "config.yaml"
        config.write_text(config_text(self.config, self.task_type), encoding="utf-8")
        return run([sys.executable, "-m", "data_labeling_pipeline", "init", "--config", str(config),
                    str(self.root)], self.base, self.env)

    def _repro(self):
        return run(["dvc", "repro"], self.root, self.env)

    _repro_empty = _repro_items = _repro

    def _ingest(self):
        source = write_raw_data(self.task_type, self.root)
        return run([sys.executable, "-m", "data_labeling_pipeline", "ingest", "-q", str(source)], self.root, self.env)

    def _annotator(self, annotator: str, name: str):
        inbox = self.root / "inbox"
        (inbox / name).write_text(json.dumps(export_of(self.task_type, annotator)), encoding="utf-8")
        return self._repro()

    def _one_annotator(self):
        return self._annotator(ANNOTATORS[0], "export-ann1.json")

    def _two_annotators(self):
        return self._annotator(ANNOTATORS[1], "export-ann2.json")

    def _gate(self):
        return run([sys.executable, "-m", "data_labeling_pipeline", "gate"], self.root, self.env)

    def status(self) -> subprocess.CompletedProcess:
        """`dvc status`: exit 0 when every stage and output is up to date."""
        return run(["dvc", "status", "-q"], self.root, self.env)

    def rerun(self) -> subprocess.CompletedProcess:
        """A second `dvc repro`, which should run no stage."""
        return run(["dvc", "repro"], self.root, self.env)
