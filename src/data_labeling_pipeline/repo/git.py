"""Thin wrappers over the git and dvc command lines (the tools users run themselves)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..errors import ProjectError

# Used only when the user has no git identity configured, so `dlp init` can still commit.
FALLBACK_IDENTITY = {"GIT_AUTHOR_NAME": "data-labeling-pipeline", "GIT_AUTHOR_EMAIL": "dlp@localhost",
                     "GIT_COMMITTER_NAME": "data-labeling-pipeline", "GIT_COMMITTER_EMAIL": "dlp@localhost"}


def run(args: list[str], cwd: Path, *, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing output; a failure raises a ProjectError with its stderr."""
    full_env = {**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})}
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=full_env)
    if check and proc.returncode != 0:
        shown = " ".join(a if a != sys.executable else "python" for a in args)
        detail = (proc.stderr or proc.stdout).strip()
        raise ProjectError(f"`{shown}` failed in {cwd} (exit {proc.returncode}): {detail}")
    return proc


def dvc(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run dvc from the same environment as this package."""
    return run([sys.executable, "-m", "dvc", *args], cwd, **kwargs)


def git_toplevel(path: Path) -> Path | None:
    proc = run(["git", "rev-parse", "--show-toplevel"], path, check=False)
    return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None


def has_identity(cwd: Path) -> bool:
    return all(run(["git", "config", key], cwd, check=False).stdout.strip() for key in ("user.name", "user.email"))


def commit(cwd: Path, message: str, paths: list[str] | None = None, *, date: str | None = None) -> None:
    """Stage ``paths`` (default: everything) and commit, if anything changed.

    ``date`` (ISO 8601) sets the author and committer dates, so a scripted history has the same
    commit ids on every run.
    """
    run(["git", "add", "-A", *(["--", *paths] if paths else [])], cwd)
    if run(["git", "diff", "--cached", "--quiet"], cwd, check=False).returncode == 0:
        return
    env = {} if has_identity(cwd) else dict(FALLBACK_IDENTITY)
    if date is not None:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    run(["git", "commit", "-q", "-m", message], cwd, env=env)
