"""The metrics files of a project at each commit of its history, read through the DVC API.

Walks the first-parent history of HEAD (the rounds of the main line, not every commit of a
merged branch) that touched the metrics files, newest first, reading each commit's files
with :class:`.revisions.Revision` as `dlp diff` and `dlp log` do. Commits whose summary
equals the current one are skipped before counting, so the commit that records this very
state does not push an older commit out of the window.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProjectError
from ..project import Project
from .git import run
from .revisions import Revision

MAX_COMMITS = 20


@dataclass
class History:
    in_git: bool
    commits: list[tuple[dict, Any]] = field(default_factory=list)  # (info, summary), newest first
    unavailable: list[str] = field(default_factory=list)
    truncated: bool = False


def first_parent_commits(project: Project, paths: list[str]) -> list[dict]:
    """Commits of HEAD's first-parent history that changed any of ``paths``, newest first."""
    proc = run(["git", "log", "--first-parent", "--format=%H%x1f%s", "HEAD", "--", *paths], project.root,
               check=False)
    if proc.returncode != 0:  # no commit yet
        return []
    return [dict(zip(("commit", "subject"), line.split("\x1f", 1), strict=True))
            for line in proc.stdout.splitlines() if "\x1f" in line]


def in_git(project: Project) -> bool:
    return run(["git", "rev-parse", "--show-toplevel"], project.root, check=False).returncode == 0


def metric_history(project: Project, paths: tuple[str, ...], summarize: Callable[[Mapping], Any], current: Any, *,
                   max_commits: int = MAX_COMMITS) -> History:
    """``summarize({path: parsed JSON or None})`` at each commit, newest first, skipping those equal to ``current``.

    At most ``max_commits`` commits are read after the skipped ones. A commit whose files
    cannot be read (its DVC data not cached, invalid JSON) is named in ``unavailable``.
    """
    if not in_git(project):
        return History(in_git=False)
    history = History(in_git=True)
    skipping = True
    for info in first_parent_commits(project, list(paths)):
        if len(history.commits) >= max_commits:
            history.truncated = True
            break
        revision = Revision(project, info["commit"])
        try:
            files = {path: _parse(revision.read_text(path)) for path in paths}
        except (ProjectError, ValueError) as exc:
            history.unavailable.append(f"{info['commit'][:12]}: {exc}")
            continue
        summary = summarize(files)
        if skipping and summary == current:
            continue
        skipping = False
        history.commits.append((info, summary))
    return history


def _parse(text: str | None) -> dict | None:
    return None if text is None else json.loads(text)
