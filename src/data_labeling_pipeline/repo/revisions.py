"""Read a labeling project's files as they were at a git revision, with no checkout.

Git-tracked files come from the commit's tree, DVC-tracked files from the DVC
cache (or the remote), both through ``dvc.api.DVCFileSystem``. ``rev=None`` is
the workspace: the files on disk.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ProjectError
from ..project import Project
from .git import run

WORKSPACE = "workspace"


class Unavailable(ProjectError):
    """A revision's DVC-tracked data is neither in the cache nor fetchable."""


def find_project(start: str | os.PathLike | None = None) -> Project:
    """The labeling project containing ``start``; a ProjectError outside one, or outside git."""
    project = Project.find(start)
    if run(["git", "rev-parse", "--show-toplevel"], project.root, check=False).returncode != 0:
        raise ProjectError(f"{project.root} is not inside a git repository; dlp diff and dlp log compare "
                           "git revisions (run git init and commit the project)")
    return project


def resolve(root: Path, rev: str) -> str:
    """The commit id of ``rev``; a ProjectError naming it when git does not know it."""
    proc = run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], root, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ProjectError(f"unknown revision {rev!r}: expected a branch, tag or commit of {root} "
                           "(see git log --oneline, git branch -a)")
    return proc.stdout.strip()


def default_branch(root: Path) -> str | None:
    """origin/HEAD when set, else main, else master (None when there is none)."""
    proc = run(["git", "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"], root, check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()
    for name in ("main", "master"):
        if run(["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"], root, check=False).returncode == 0:
            return name
    return None


def merge_base(root: Path) -> str:
    """The default REV_A of `dlp diff`: the merge base of HEAD with the default branch."""
    branch = default_branch(root)
    if branch is None:
        raise ProjectError(f"{root} has no main, master or origin/HEAD branch to compare with; "
                           "give the revisions: dlp diff REV_A [REV_B]")
    resolve(root, "HEAD")
    proc = run(["git", "merge-base", "HEAD", branch], root, check=False)
    if proc.returncode != 0:
        raise ProjectError(f"HEAD and {branch} have no common ancestor; give the revisions: dlp diff REV_A [REV_B]")
    return proc.stdout.strip()


@dataclass
class Revision:
    """One side of a comparison: a commit of the project, or the workspace (``rev=None``)."""

    project: Project
    rev: str | None = None
    _fs: object = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.rev[:12] if self.rev else WORKSPACE

    def _filesystem(self):
        """DVCFileSystem at the revision and the project's folder in it ('' at the git root).

        A project in a subfolder of a git repository (``dvc init --subdir``) is seen from
        the git root with ``subrepos=True``: rooted at the subfolder, DVC lists nothing at a rev.
        """
        if self._fs is None:
            from dvc.api import DVCFileSystem

            top = run(["git", "rev-parse", "--show-toplevel"], self.project.root, check=False).stdout.strip()
            prefix = self.project.root.resolve().relative_to(Path(top).resolve()).as_posix() if top else "."
            prefix = "" if prefix == "." else prefix + "/"
            try:
                fs = (DVCFileSystem(top, rev=self.rev, subrepos=True) if prefix
                      else DVCFileSystem(os.fspath(self.project.root), rev=self.rev))
            except Exception as exc:  # dvc raises its own exception types for a bad repo or revision
                raise ProjectError(f"cannot open revision {self.rev} of {self.project.root}: {exc}") from exc
            self._fs = (fs, prefix)
        return self._fs

    def exists(self, path: str) -> bool:
        """Whether the file exists at this revision (a DVC output declared but never produced does not)."""
        if self.rev is None:
            return self.project.path(path).is_file()
        fs, prefix = self._filesystem()
        if not fs.isfile(prefix + path):
            return False
        entry = (fs.info(prefix + path).get("dvc_info") or {}).get("entry")
        return entry is None or entry.hash_info is not None or entry.meta is not None

    @contextmanager
    def open(self, path: str) -> Iterator[io.BufferedIOBase | None]:
        """The file at this revision opened in binary mode, or None when it does not exist there."""
        if self.rev is None:
            target = self.project.path(path)
            if not target.is_file():
                yield None
                return
            with open(target, "rb") as fh:
                yield fh
            return
        fs, prefix = self._filesystem()
        if not self.exists(path):
            yield None
            return
        try:
            fh = fs.open(prefix + path, "rb")
        except Exception as exc:  # FileNotFoundError from the cache, or dvc's fetch errors
            raise Unavailable(f"{path} at {self.name}: its data is not in the DVC cache ({exc}); "
                              "run dvc fetch (or dvc pull) for that revision") from exc
        with fh:
            yield fh

    def read_text(self, path: str) -> str | None:
        with self.open(path) as fh:
            return None if fh is None else fh.read().decode("utf-8")


def commits_touching(root: Path, paths: list[str]) -> list[dict]:
    """Commits that changed any of ``paths`` (relative to ``root``), oldest first."""
    fmt = "%H%x1f%an%x1f%ae%x1f%aI%x1f%s"
    proc = run(["git", "log", "--reverse", f"--format={fmt}", "--", *paths], root, check=False)
    if proc.returncode != 0:
        return []
    out = []
    for line in proc.stdout.splitlines():
        sha, author, email, date, subject = line.split("\x1f", 4)
        out.append({"commit": sha, "author": author, "email": email, "date": date, "subject": subject})
    return out
