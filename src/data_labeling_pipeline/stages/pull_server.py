"""Pull from a live Label Studio server (``pull.source: label_studio``): the server's ExportSource.

The tasks of each Label Studio project of the labeling project (the shared one, or one per
annotator and the review project) are kept in ``annotations/label_studio/`` (a DVC
``persist`` output) exactly as the server listed them, with annotators named by e-mail.
A pull fetches only the tasks updated since the newest one kept (``pull.incremental``),
replaces them, drops deleted tasks, and hands the whole store to the same reader as
export files: an incremental pull gives the records of a full pull. Nothing is written
until everything was fetched and read without error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import ConfigError, Problem
from ..project import Project
from ..records import atomic_write_text, write_json

STORE = "annotations/label_studio"
STATE = f"{STORE}/state.json"
# A task updated in the same instant as the newest one kept may not have been listed yet: re-fetch a margin.
OVERLAP = timedelta(seconds=2)


@dataclass(frozen=True)
class ServerProject:
    project_id: int
    role: str  # "labeling" or "review" (its annotations are reviewer decisions)
    annotator: str | None = None


def server_projects(params: dict) -> list[ServerProject]:
    """The Label Studio projects this labeling project reads, from params."""
    server = params["project"]["label_studio"]
    if server["routing"] == "shared":
        if server["project_id"] is None:
            raise ConfigError([Problem("params.yaml", None, "project.label_studio.project_id",
                                       "no Label Studio project yet: run `dlp push` (it creates one and records its "
                                       "id here) or set the id of an existing project")])
        found = [ServerProject(server["project_id"], "labeling")]
    else:
        found = [ServerProject(pid, "labeling", email) for email, pid in sorted(server["annotator_projects"].items())]
        if not found:
            raise ConfigError([Problem("params.yaml", None, "project.label_studio.annotator_projects",
                                       "routing: per_annotator has no annotator projects yet: run `dlp push`")])
    if server["review_project_id"] is not None:
        found.append(ServerProject(server["review_project_id"], "review"))
    return found


@dataclass
class ServerSource:
    """Label Studio projects on a server as export documents; :meth:`commit` saves the fetched state."""

    project: Project
    server: Any  # labelstudio.server.Server
    incremental: bool = True
    fetched: dict[str, dict] = field(default_factory=dict)
    _tasks: dict[int, list[dict]] = field(default_factory=dict)
    _configs: dict[str, str] = field(default_factory=dict)
    _state: dict = field(default_factory=dict)

    def documents(self) -> Iterator[tuple[str, Any]]:
        try:
            found = self._fetch()
        finally:
            self.server.close()
        yield from found

    def _fetch(self) -> list[tuple[str, Any]]:
        old_state = self._read_state()
        users = self.server.users()
        state: dict[str, Any] = {"url": self.server.settings.url, "projects": {}}
        documents = []
        for target in server_projects(self.project.params):
            info = self.server.project(target.project_id)
            old = old_state.get("projects", {}).get(str(target.project_id))
            tasks, how = self._sync(target.project_id, info, old if old_state.get("url") == state["url"] else None)
            tasks = [_named(task, users) for task in tasks]
            self._tasks[target.project_id] = tasks
            shown = f"{STORE}/project-{target.project_id}"
            self._configs[shown] = info["label_config"]
            state["projects"][str(target.project_id)] = {
                "role": target.role, "annotator": target.annotator, "tasks": len(tasks),
                "newest_update": max((t.get("updated_at") or "" for t in tasks), default="")}
            self.fetched[shown] = how
            document = tasks if target.role == "labeling" else [_as_reviewed(t) for t in tasks]
            documents.append((shown, document))
        self._state = state
        return documents

    def label_config(self, shown: str) -> str | None:
        """The label config the server holds for the project of this document."""
        return self._configs.get(shown)

    def commit(self) -> None:
        """Save the fetched tasks and the state (after the pull's outputs were validated)."""
        for project_id, tasks in self._tasks.items():
            atomic_write_text(self.project.path(f"{STORE}/project-{project_id}.jsonl"),
                              "".join(json.dumps(t, sort_keys=True, ensure_ascii=False) + "\n" for t in tasks))
        keep = {f"project-{pid}.jsonl" for pid in self._tasks} | {"state.json"}
        folder = self.project.path(STORE)
        for stale in folder.iterdir():
            if stale.name not in keep and stale.name.startswith("project-"):
                stale.unlink()
        write_json(self.project.path(STATE), self._state)

    # -- fetching ----------------------------------------------------------------------------

    def _sync(self, project_id: int, info: dict, old: dict | None) -> tuple[list[dict], dict]:
        stored = self._stored(project_id) if (self.incremental and old) else None
        if stored is None:  # a full pull: one snapshot export (2-3x faster than listing every page)
            tasks = self.server.snapshot_tasks(project_id)
            return sorted(tasks, key=lambda t: t["id"]), {"mode": "full", "tasks_fetched": len(tasks)}
        since = _minus(old["newest_update"], OVERLAP) if old.get("newest_update") else None
        changed = list(self.server.tasks(project_id, updated_after=since)) if since else \
            list(self.server.tasks(project_id))
        by_id = {t["id"]: t for t in stored}
        by_id.update({t["id"]: t for t in changed})
        how = {"mode": "incremental", "tasks_fetched": len(changed), "updated_after": since}
        if len(by_id) != info.get("task_number", len(by_id)):
            # Tasks were deleted (or missed): list the ids, drop the gone, fetch any not kept.
            present = {t["id"] for t in self.server.tasks(project_id, fields="task_only")}
            missing = present - set(by_id)
            by_id = {tid: task for tid, task in by_id.items() if tid in present}
            if missing:
                by_id.update({t["id"]: t for t in self.server.tasks(project_id) if t["id"] in missing})
            how["tasks_deleted"] = len(set(t["id"] for t in stored) - present)
        return [by_id[k] for k in sorted(by_id)], how

    def _stored(self, project_id: int) -> list[dict] | None:
        path = self.project.path(f"{STORE}/project-{project_id}.jsonl")
        if not path.is_file():
            return None
        return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]

    def _read_state(self) -> dict:
        path = self.project.path(STATE)
        try:
            return json.loads(path.read_text("utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}


_TASK_KEYS = ("id", "project", "data", "annotations", "predictions", "created_at", "updated_at", "meta")
_ANNOTATION_KEYS = ("id", "completed_by", "result", "was_cancelled", "ground_truth", "created_at", "updated_at",
                    "lead_time", "parent_prediction", "parent_annotation", "task", "project")
_PREDICTION_KEYS = ("id", "model_version", "score", "result", "created_at", "updated_at", "task", "project")


def _named(task: dict, users: dict[int, str]) -> dict:
    """A task as a snapshot export holds it: the fields we read, annotators as {id, email}."""
    out = {k: task[k] for k in _TASK_KEYS if k in task}
    annotations = []
    for annotation in task.get("annotations") or []:
        kept = {k: annotation[k] for k in _ANNOTATION_KEYS if k in annotation}
        who = kept.get("completed_by")
        uid = who.get("id") if isinstance(who, dict) else who
        if isinstance(uid, int):
            kept["completed_by"] = {"id": uid, "email": users[uid]} if uid in users else uid
        annotations.append(kept)
    out["annotations"] = sorted(annotations, key=lambda a: a.get("id") or 0)
    out["predictions"] = sorted(({k: p[k] for k in _PREDICTION_KEYS if k in p} for p in task.get("predictions") or []
                                 if isinstance(p, dict)), key=lambda p: p.get("id") or 0)
    return out


def _as_reviewed(task: dict) -> dict:
    """A task of the review project: its annotations are reviewer decisions (ground truth)."""
    return {**task, "annotations": [{**a, "ground_truth": True} for a in task.get("annotations") or []]}


def _minus(stamp: str, delta: timedelta) -> str:
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (when - delta).isoformat().replace("+00:00", "Z")
