"""Pulling annotations from a real Label Studio 1.23.2 server: our pull stage against the SDK snapshot export.

A server is started with tests/lsserver.py (installed into .cache/ on first use) and, not
timed, gets 3 annotators and a text-classification project of n tasks x 3 annotations
(imported nested in the tasks, seeded labels with some disagreement). Then, each step in a
child process of its own so memory peaks do not mix:

- ours, full: ``run_pull`` of a fresh labeling project (``pull.source: label_studio``):
  one snapshot export of the project, then it writes annotations/annotations.jsonl and the
  task store annotations/label_studio/ (validated, normalised, atomically);
- ours, incremental: after one annotation of each of 100 tasks was changed, ``run_pull``
  again: it fetches only the tasks updated since the newest one kept (minus a 2 s safety
  margin), and its annotations.jsonl is compared with the bytes of a fresh full pull;
- the peer, the way users pull without our tool: a snapshot export through the SDK
  (``projects.exports.create`` with ``serialization_options``, poll ``exports.get`` until
  ``completed``, ``exports.download(export_type="JSON")``, ``json.loads``). It has no
  incremental mode: every pull is a full export, so it runs once.

Time is ``time.perf_counter`` around the pull only (not the interpreter start, nor the imports
of label-studio-sdk and of our modules, done first in both children);
peak memory is the child's peak RSS, ``VmHWM`` of /proc/self/status (it includes the
interpreter and the imported libraries: "base MB" is that figure just before the step
started). Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux a child inherits its parent's
high-water mark across fork + exec, so every child would report at least the parent's RSS
(which holds the setup's task listing).

The setup ends with one edit 3 s after the import: the incremental pull re-fetches the
tasks updated in the 2 s before the newest one it kept, and without that edit the newest
tasks would be the last import burst (the count it would have re-fetched is printed).

    python benchmarks/bench_labelstudio_pull.py [n_tasks]
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

CLASSES = ["pos", "neg", "neutral"]
LABEL_CONFIG = ('<View><Text name="text" value="$text"/><Choices name="label" toName="text" choice="single">'
                '<Choice value="pos"/><Choice value="neg"/><Choice value="neutral"/></Choices></View>')
CHUNK = 1000
N_CHANGED = 100
MARGIN_S = 2.0  # stages/pull_server.py OVERLAP
WORDS = ("good", "bad", "fine", "terrible", "great", "okay", "slow", "fast", "cheap", "broken", "lovely", "meh")
SNAPSHOT = {"annotations__completed_by": {"only_id": False}, "drafts": {"only_id": True},
            "predictions": {"only_id": False}}


# -- setup (not timed) -----------------------------------------------------------------------

def choices(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def make_tasks(n: int, user_ids: list[int], seed: int = 0) -> list[dict]:
    """n tasks, each with one annotation per user: 80% give the task's true class, the rest another one."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(CLASSES), n)
    tasks = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS, int(rng.integers(8, 25))))
        annotations = []
        for uid in user_ids:
            k = truth[i] if rng.random() < 0.8 else (truth[i] + int(rng.integers(1, len(CLASSES)))) % len(CLASSES)
            annotations.append({"result": choices(CLASSES[k]), "completed_by": uid})
        tasks.append({"data": {"text": f"review {i}: {text}", "item_id": f"t{i:06d}"}, "annotations": annotations})
    return tasks


def completed_by_honoured(client, user_ids: list[int]) -> bool:
    """Whether this server keeps ``completed_by`` of annotations imported nested in tasks (a probe project)."""
    probe = client.projects.create(title="bench pull probe", label_config=LABEL_CONFIG)
    try:
        client.projects.import_tasks(id=probe.id, request=make_tasks(1, user_ids, seed=99), return_task_ids=True)
        (task,) = list(client.tasks.list(project=probe.id, fields="all", page_size=10))
        return sorted(_who(a) for a in task.annotations) == sorted(user_ids)
    finally:
        client.projects.delete(id=probe.id)


def _who(annotation) -> int:
    who = annotation["completed_by"] if isinstance(annotation, dict) else annotation.completed_by
    return who["id"] if isinstance(who, dict) else who


def _aid(annotation) -> int:
    return annotation["id"] if isinstance(annotation, dict) else annotation.id


def populate(client, n: int) -> tuple[int, list[int], str, float]:
    """Users, the project and its n x 3 annotations; returns (project id, user ids, import mode, seconds)."""
    users = [client.users.create(email=f"annotator{j}@example.com", username=f"annotator{j}") for j in range(3)]
    user_ids = [u.id for u in users]
    nested = completed_by_honoured(client, user_ids)
    pid = client.projects.create(title="bench pull", label_config=LABEL_CONFIG).id
    tasks = make_tasks(n, user_ids)
    start = time.perf_counter()
    for lo in range(0, n, CHUNK):
        chunk = tasks[lo:lo + CHUNK]
        request = chunk if nested else [{"data": t["data"]} for t in chunk]
        done = client.projects.import_tasks(id=pid, request=request, return_task_ids=True)
        if not nested:  # this server drops completed_by of nested annotations: one request per annotation
            for task_id, task in zip(done.task_ids, chunk, strict=True):
                for a in task["annotations"]:
                    client.annotations.create(id=task_id, result=a["result"], completed_by=a["completed_by"])
    seconds = time.perf_counter() - start
    info = client.projects.get(id=pid)
    if info.task_number != n or info.total_annotations_number != 3 * n:
        raise SystemExit(f"the server holds {info.task_number} tasks and {info.total_annotations_number} "
                         f"annotations, expected {n} and {3 * n}")
    return pid, user_ids, "nested in the task import" if nested else "annotations.create per annotation", seconds


def listing(client, pid: int) -> list:
    return list(client.tasks.list(project=pid, fields="all", page_size=CHUNK))


def in_margin(tasks: list) -> int:
    """How many tasks an incremental pull would re-fetch for the 2 s margin below the newest update."""
    stamps = [_stamp(t.updated_at) for t in tasks]
    newest = max(stamps)
    return sum(s > newest - timedelta(seconds=MARGIN_S) for s in stamps)


def _stamp(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def relabel(client, task, rng) -> None:
    """Give one annotation of the task another class."""
    annotation = task.annotations[int(rng.integers(0, len(task.annotations)))]
    result = annotation["result"] if isinstance(annotation, dict) else annotation.result
    old = result[0]["value"]["choices"][0]
    new = CLASSES[(CLASSES.index(old) + int(rng.integers(1, len(CLASSES)))) % len(CLASSES)]
    client.annotations.update(id=_aid(annotation), result=choices(new))


def labeling_project(folder: Path, url: str, pid: int) -> Path:
    import yaml

    from data_labeling_pipeline.repo.scaffold import init_project

    config = {"project": {"name": "bench pull", "task_type": "text_classification", "classes": CLASSES,
                          "label_studio": {"url": url, "project_id": pid}},
              "quality": {"min_annotators_per_sample": 2},
              "pull": {"source": "label_studio", "page_size": CHUNK},
              "prelabel": {"enabled": False}, "active_learning": {"enabled": False}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return init_project(path, folder / "project")


# -- measured steps (each in a child process) ------------------------------------------------

def step_ours(root: str) -> dict:
    from label_studio_sdk import LabelStudio  # noqa: F401  loaded before the clock, as in the export step

    import data_labeling_pipeline.labelstudio.config_reader  # noqa: F401  (run_pull imports these lazily)
    import data_labeling_pipeline.labelstudio.exports  # noqa: F401
    import data_labeling_pipeline.labelstudio.server  # noqa: F401
    import data_labeling_pipeline.models.prelabel  # noqa: F401
    import data_labeling_pipeline.stages.pull_server  # noqa: F401
    from data_labeling_pipeline.project import Project
    from data_labeling_pipeline.stages.pull import run_pull

    base = _maxrss_mb()
    start = time.perf_counter()
    summary = run_pull(Project(Path(root)))
    seconds = time.perf_counter() - start
    (fetched,) = json.loads((Path(root) / "reports/pull.json").read_text("utf-8"))["fetched"].values()
    return {"seconds": seconds, "peak_mb": _maxrss_mb(), "base_mb": base, "mode": fetched["mode"],
            "tasks": fetched["tasks_fetched"], "annotations": summary.annotations}


def step_export(url: str, pid: int) -> dict:
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=url, api_key=os.environ["LABEL_STUDIO_API_KEY"])
    base = _maxrss_mb()
    start = time.perf_counter()
    made = client.projects.exports.create(id=pid, title="bench pull snapshot", serialization_options=SNAPSHOT)
    while (status := client.projects.exports.get(pid, made.id).status) != "completed":
        if status == "failed":
            raise SystemExit(f"export {made.id} failed")
        time.sleep(0.05)
    tasks = json.loads(b"".join(client.projects.exports.download(pid, made.id, export_type="JSON")))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": _maxrss_mb(), "base_mb": base, "mode": "full", "tasks": len(tasks),
            "annotations": sum(len(t["annotations"]) for t in tasks)}


def _maxrss_mb() -> float:
    """This process's peak RSS in MB (VmHWM; see the module docstring for why not ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no procfs: KB on Linux, may include parent


def child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--step", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"step {args[0]} failed (exit {done.returncode}):\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the benchmark ---------------------------------------------------------------------------

def bench(n: int, folder: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import lsserver

    start = time.perf_counter()
    (folder / "files").mkdir()
    server = lsserver.start(folder / "files")
    try:
        print(f"Label Studio {lsserver.VERSION} at {server.url} (started in {time.perf_counter() - start:.0f} s)")
        client = server.client()
        pid, user_ids, how, import_s = populate(client, n)
        print(f"setup: {n:,} tasks x 3 annotations imported in {import_s:.1f} s ({how})")
        tasks = listing(client, pid)
        burst = in_margin(tasks)
        rng = np.random.default_rng(1)
        picked = rng.choice(len(tasks), N_CHANGED + 1, replace=False)
        time.sleep(MARGIN_S + 1)
        relabel(client, tasks[picked[0]], rng)  # the last setup edit: the newest task is alone in its margin
        print(f"setup: one edit {MARGIN_S + 1:.0f} s after the import (without it the 2 s margin would "
              f"re-fetch {burst:,} tasks of the last import burst)")
        os.environ["LABEL_STUDIO_API_KEY"] = server.token
        root = labeling_project(folder, server.url, pid)

        rows = {"ours: full pull": child("ours", str(root)),
                "peer: SDK snapshot export": child("export", server.url, str(pid))}
        time.sleep(MARGIN_S + 1)
        for i in picked[1:]:
            relabel(client, tasks[i], rng)
        rows["ours: incremental pull"] = child("ours", str(root))
        incremental = (root / "annotations/annotations.jsonl").read_bytes()
        shutil.rmtree(root / "annotations/label_studio")
        rows["ours: full pull after the changes"] = check = child("ours", str(root))
        equal = incremental == (root / "annotations/annotations.jsonl").read_bytes()
    finally:
        server.close()

    report(n, rows, equal)
    full, inc = rows["ours: full pull"], rows["ours: incremental pull"]
    problems = []
    if full["mode"] != "full" or full["tasks"] != n or full["annotations"] != 3 * n:
        problems.append(f"the full pull fetched {full['tasks']} tasks ({full['mode']}), {full['annotations']} records")
    if inc["mode"] != "incremental" or not N_CHANGED <= inc["tasks"] <= N_CHANGED + 5:
        problems.append(f"the incremental pull fetched {inc['tasks']} tasks ({inc['mode']}), expected about "
                        f"{N_CHANGED}")
    if check["mode"] != "full" or not equal:
        problems.append("the incremental pull's records differ from a full pull's")
    if rows["peer: SDK snapshot export"]["annotations"] != 3 * n:
        problems.append("the snapshot export does not hold every annotation")
    if problems:
        raise SystemExit("; ".join(problems))


def report(n: int, rows: dict[str, dict], equal: bool) -> None:
    print(f"\n{n:,} tasks x 3 annotations; peak = the child's peak RSS (VmHWM, incl. interpreter and imports)")
    print(f"{'method':36s} {'mode':>11s} {'tasks fetched':>13s} {'records':>8s} {'seconds':>8s} {'peak MB':>8s} "
          f"{'base MB':>8s}")
    for name, r in rows.items():
        print(f"{name:36s} {r['mode']:>11s} {r['tasks']:>13,d} {r['annotations']:>8,d} {r['seconds']:>8.2f} "
              f"{r['peak_mb']:>8.0f} {r['base_mb']:>8.0f}")
    full, inc = rows["ours: full pull"], rows["ours: incremental pull"]
    peer = rows["peer: SDK snapshot export"]
    print(f"incremental / full (ours): time {inc['seconds'] / full['seconds']:.3f}, "
          f"peak {inc['peak_mb'] / full['peak_mb']:.2f}")
    print(f"ours full / export: time {full['seconds'] / peer['seconds']:.2f}, "
          f"peak {full['peak_mb'] / peer['peak_mb']:.2f}; ours incremental / export (every export is full): "
          f"time {inc['seconds'] / peer['seconds']:.3f}, "
          f"peak {inc['peak_mb'] / peer['peak_mb']:.2f}")
    print(f"records equal to a full pull: {'yes' if equal else 'no'}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        kind, *args = sys.argv[2:]
        out = step_ours(*args) if kind == "ours" else step_export(args[0], int(args[1]))
        print(json.dumps(out))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")  # dvc, as a venv
    with tempfile.TemporaryDirectory(prefix="bench-ls-pull-") as tmp:
        bench(n, Path(tmp))


if __name__ == "__main__":
    main()
