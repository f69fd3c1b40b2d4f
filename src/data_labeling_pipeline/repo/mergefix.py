"""`dlp merge-fix`: finish a `git merge` of two labeling branches by regenerating what is derived.

Two branches that each pulled new labels and ran `dvc repro` conflict in dvc.lock and in the
metrics, plots and reports: files that are never merged by hand because `dvc repro` rebuilds
them from the inputs, deterministically. Inputs do merge: a new export file in ``inbox/``
merges with DVC's merge driver (``inbox.dvc``), and ``annotations/corrections.jsonl`` line by
line. So merge-fix

1. refuses, listing them, when a conflicted path is an input that needs a human;
2. merges the inputs it can (a conflicted ``*.dvc`` of a directory with DVC's own merge
   driver, for clones where the driver is not configured; an append-only corrections file);
3. takes our side of every derived file, `dvc checkout`, `dvc repro`, `git add`;
4. checks the result: no conflict left, `dvc status` clean, a second `dvc repro` changes
   nothing, and with ``verify_clean`` the outputs equal `dvc repro -f` on a copy of the merged
   tree;
5. leaves the merge ready to commit, or commits it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ProjectError
from . import git
from .pipeline import HISTORY_OUTS

CORRECTIONS = "annotations/corrections.jsonl"
DERIVED_DIRS = ("metrics", "plots", "reports")


@dataclass(frozen=True)
class MergeFix:
    """What `dlp merge-fix` did."""

    regenerated: list[str]  # conflicted derived files, rebuilt by dvc repro
    merged_inputs: list[str]  # conflicted inputs merged here (DVC directories, append-only corrections)
    checks: list[str]
    committed: bool

    def describe(self) -> list[str]:
        lines = []
        if self.merged_inputs:
            lines.append(f"merged inputs: {', '.join(self.merged_inputs)}")
        lines.append(f"regenerated with dvc repro: {', '.join(self.regenerated) or 'nothing was conflicted'}")
        lines += [f"checked: {c}" for c in self.checks]
        lines.append("committed the merge" if self.committed else "the merge is ready: git commit")
        return lines


def pipeline_paths(dvc_yaml: dict) -> tuple[set[str], set[str]]:
    """(every path a stage writes, those of them kept in git: ``cache: false``) from a parsed dvc.yaml.

    >>> written, in_git = pipeline_paths({"stages": {"a": {"outs": ["x.jsonl", {"r.json": {"cache": False}}],
    ...                                                    "metrics": [{"m.json": {"cache": False}}]}}})
    >>> sorted(written), sorted(in_git)
    (['m.json', 'r.json', 'x.jsonl'], ['m.json', 'r.json'])
    """
    written, in_git = set(), set()
    for stage in (dvc_yaml.get("stages") or {}).values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key) or ():
                path, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
                path = str(PurePosixPath(path))
                written.add(path)
                if (options or {}).get("cache", True) is False:
                    in_git.add(path)
    return written, in_git


def is_derived(path: str, written: set[str]) -> bool:
    """Whether a project-relative path is rebuilt by `dvc repro` (an output, dvc.lock, metrics/plots/reports).

    >>> is_derived("plots/confusion/a.json", {"plots/confusion"}), is_derived("inbox.dvc", set())
    (True, False)
    """
    parts = PurePosixPath(path).parts
    if path == "dvc.lock" or (parts and parts[0] in DERIVED_DIRS):
        return True
    return any(path == out or path.startswith(out.rstrip("/") + "/") for out in written)


def append_only_union(base: list[str], ours: list[str], theirs: list[str]) -> list[str] | None:
    """Both sides' lines when each only added lines to ``base``; None when a side changed or removed one.

    >>> append_only_union(["a"], ["a", "b"], ["a", "c"])
    ['a', 'b', 'c']
    >>> append_only_union(["a"], ["b"], ["a", "c"]) is None
    True
    """
    if not (set(base) <= set(ours) and set(base) <= set(theirs)):
        return None
    seen = set(ours)
    return ours + [line for line in theirs if not (line in seen or seen.add(line))]


def merge_fix(root: str | Path, *, commit: bool = False, verify_clean: bool = False) -> MergeFix:
    """Resolve a conflicted `git merge` of labeling branches in the project at ``root``.

    Example:
        >>> merge_fix("mylabels", commit=True).committed  # doctest: +SKIP
        True
    """
    import yaml

    from ..project import Project

    project = Project.find(root)
    top = git.git_toplevel(project.root)
    if top is None:
        raise ProjectError(f"{project.root} is not inside a git repository; dlp merge-fix finishes a git merge")
    if git.run(["git", "rev-parse", "-q", "--verify", "MERGE_HEAD"], top, check=False).returncode != 0:
        raise ProjectError("no merge in progress; run git merge BRANCH first, then dlp merge-fix when it stops "
                           "on conflicts")
    prefix = project.root.relative_to(top).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    written, in_git = pipeline_paths(yaml.safe_load(project.path("dvc.yaml").read_text("utf-8")) or {})

    conflicted = _conflicted(top)
    derived, dvc_dirs, corrections, human = [], [], [], []
    for full in conflicted:
        rel = full[len(prefix):] if full.startswith(prefix) else None
        if rel is None:
            human.append(full)
        elif is_derived(rel, written):
            derived.append(rel)
        elif rel.endswith(".dvc"):
            dvc_dirs.append(rel)
        elif rel == CORRECTIONS:
            corrections.append(rel)
        else:
            human.append(full)
    if human:
        raise ProjectError(f"these conflicted files are inputs, not outputs of the pipeline, and need a human: "
                           f"{', '.join(human)}; resolve them (edit, then git add), then run dlp merge-fix again")

    # Inputs first, all computed before anything is written, so a refusal leaves the merge as it was.
    fetched = _fetch_inputs(project.root, top)
    resolved = {rel: _merge_dvc_file(project.root, top, prefix + rel) for rel in dvc_dirs}
    for rel in corrections:
        lines = append_only_union(*(_stage_lines(top, prefix + rel, n) for n in (1, 2, 3)))
        if lines is None:
            raise ProjectError(f"{rel}: both branches changed or removed existing corrections (not only added "
                               "lines); resolve it by hand (edit, then git add), then run dlp merge-fix again")
        resolved[rel] = "".join(line + "\n" for line in lines)
    from ..records import atomic_write_text

    for rel, text in resolved.items():
        atomic_write_text(project.path(rel), text)
        git.run(["git", "add", "--", rel], project.root)

    for rel in derived:
        if _has_stage(top, prefix + rel, 2):
            git.run(["git", "checkout", "--ours", "--", rel], project.root)
        else:  # deleted on our side: the pipeline writes it again if it still should exist
            git.run(["git", "rm", "-q", "--cached", "--", rel], project.root)
    env = _tool_env()
    git.dvc(["checkout", "-q"], project.root, env=env)
    git.dvc(["repro", "-q"], project.root, env=env)
    tracked = set(git.run(["git", "ls-files", "--", *sorted(in_git | {"dvc.lock"})], project.root).stdout.split())
    to_add = sorted(p for p in {"dvc.lock", *in_git, *derived} if project.path(p).exists() or p in tracked)
    git.run(["git", "add", "-A", "--", *to_add], project.root)

    checks = _verify(project.root, top, prefix, verify_clean=verify_clean)
    if fetched:
        checks.insert(0, "fetched both branches' inputs from the DVC remote")
    if commit:
        env_id = None if git.has_identity(top) else git.FALLBACK_IDENTITY
        git.run(["git", "commit", "-q", "--no-edit"], top, env=env_id)
    return MergeFix(regenerated=sorted(derived), merged_inputs=sorted(resolved), checks=checks, committed=commit)


def _fetch_inputs(root: Path, top: Path) -> bool:
    """With a DVC remote, fetch the inputs (`dvc add`-ed data) of the merged branch and of the merge base.

    On another machine the other branch's new files, and the directory listings DVC's merge
    driver compares, are only in the remote. Returns whether it fetched.
    """
    if not git.dvc(["remote", "list"], root).stdout.strip():
        return False
    from dvc.repo import Repo

    theirs = git.run(["git", "rev-parse", "MERGE_HEAD"], top).stdout.strip()
    base = git.run(["git", "merge-base", "HEAD", theirs], top, check=False).stdout.strip()
    targets = sorted(set(git.run(["git", "ls-files", "--", "*.dvc"], root).stdout.split()))
    if not targets:
        return False
    with Repo(str(root)) as repo:
        remotes = dict(repo.config["remote"])
        name = repo.config["core"].get("remote") or next(iter(remotes))
        # Each revision is read with its own .dvc/config, which may predate the remote: use today's.
        config = {"core": {"remote": name}, "remote": {name: dict(remotes[name])}}
        repo.fetch(targets=targets, revs=[r for r in (theirs, base) if r], workspace=False, config=config)
    return True


def _conflicted(top: Path) -> list[str]:
    out = git.run(["git", "ls-files", "-u", "-z", "--full-name"], top).stdout
    return sorted({entry.split("\t", 1)[1] for entry in out.split("\0") if "\t" in entry})


def _has_stage(top: Path, full: str, n: int) -> bool:
    return git.run(["git", "cat-file", "-e", f":{n}:{full}"], top, check=False).returncode == 0


def _stage_lines(top: Path, full: str, n: int) -> list[str]:
    if not _has_stage(top, full, n):
        return []
    return [line for line in git.run(["git", "show", f":{n}:{full}"], top).stdout.splitlines() if line.strip()]


def _merge_dvc_file(root: Path, top: Path, full: str) -> str:
    """The three versions of a conflicted .dvc file merged by DVC's merge driver (new files in a directory)."""
    target = top / full
    sides = {}
    try:
        for n, name in ((1, "ancestor"), (2, "our"), (3, "their")):
            handle, path = tempfile.mkstemp(prefix=".merge_file_dlp_", dir=target.parent)
            os.close(handle)
            sides[name] = Path(path)
            text = git.run(["git", "show", f":{n}:{full}"], top).stdout if _has_stage(top, full, n) else ""
            sides[name].write_text(text, encoding="utf-8")
        proc = git.dvc(["git-hook", "merge-driver", *(f"--{k}={v}" for k, v in sides.items())], root, check=False)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise ProjectError(f"{full}: DVC's merge driver could not merge the two versions "
                               f"({detail[-1] if detail else 'no detail'}); only new files in a tracked directory "
                               "merge: resolve it by hand, then run dlp merge-fix again")
        return sides["our"].read_text("utf-8")
    finally:
        for path in sides.values():
            path.unlink(missing_ok=True)


def _verify(root: Path, top: Path, prefix: str, *, verify_clean: bool) -> list[str]:
    left = _conflicted(top)
    if left:
        raise ProjectError(f"conflicts are left after dvc repro: {', '.join(left)}")
    env = _tool_env()
    status = json.loads(git.dvc(["status", "--json"], root, env=env).stdout or "{}")
    if status:
        raise ProjectError(f"dvc status is not clean after dvc repro: {', '.join(sorted(status))}")
    checks = ["no conflicts left", "dvc status clean"]
    lock = (root / "dvc.lock").read_bytes()
    git.dvc(["repro", "-q"], root, env=env)
    if (root / "dvc.lock").read_bytes() != lock:
        raise ProjectError("a second dvc repro changed dvc.lock: a stage is not deterministic")
    checks.append("a second dvc repro changes nothing")
    if verify_clean:
        differs = _differs_from_clean_run(root, top, prefix)
        if differs:
            raise ProjectError(f"outputs differ from dvc repro -f on the merged inputs: {', '.join(differs)}")
        checks.append("outputs equal dvc repro -f on a copy of the merged tree (the dashboard aside: it reads "
                      "git history)")
    return checks


def _differs_from_clean_run(root: Path, top: Path, prefix: str) -> list[str]:
    """Output paths whose hash after `dvc repro -f` on a copy of the merged (staged) tree differs from ours."""
    import io
    import tarfile

    tree = git.run(["git", "write-tree"], top).stdout.strip()  # writes objects only: no ref or index change
    archive = _archive(top, f"{tree}:{prefix.rstrip('/')}" if prefix else tree)
    cache = git.dvc(["cache", "dir"], root).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="dlp-merge-check-") as tmp:
        copy = Path(tmp) / "project"
        copy.mkdir()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(copy, filter="data")
        git.run(["git", "init", "-q"], copy)
        git.dvc(["config", "--local", "cache.dir", cache], copy)
        env = _tool_env()
        git.dvc(["checkout", "-q"], copy, env=env)
        git.dvc(["repro", "-f", "-q"], copy, env=env)
        # The dashboard also shows the metrics of earlier commits, which the copy (no history) has not.
        return sorted(p for p, h in _out_hashes(root).items()
                      if _out_hashes(copy).get(p) != h and p not in HISTORY_OUTS)


def _archive(top: Path, treeish: str) -> bytes:
    import subprocess

    proc = subprocess.run(["git", "archive", "--format=tar", treeish], cwd=top, capture_output=True)
    if proc.returncode != 0:
        raise ProjectError(f"`git archive {treeish}` failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _out_hashes(root: Path) -> dict[str, str]:
    import yaml

    lock = yaml.safe_load((root / "dvc.lock").read_text("utf-8")) or {}
    return {out["path"]: out.get("md5") or out.get("hash", "") for stage in (lock.get("stages") or {}).values()
            for out in stage.get("outs") or ()}


def _tool_env() -> dict:
    """PATH with this environment's `dlp` and `dvc` first: stages and DVC's merge driver call them."""
    return {"PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
