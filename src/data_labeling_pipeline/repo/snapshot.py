"""`dlp snapshot NAME`: tag a committed, reproduced state of the labels as ``labels/NAME``.

A snapshot is a git tag, so the exact dataset comes back with
``git checkout labels/NAME && dvc checkout`` (or ``dvc pull`` in a clone). It refuses
a state that a checkout could not reproduce: uncommitted or untracked files, or a
pipeline whose outputs do not match dvc.lock. The tag's message carries the headline
figures, so ``git tag -n20 'labels/*'`` compares snapshots without checking any out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProjectError
from . import git

TAG_PREFIX = "labels/"
AGREEMENT, REVIEW, EXPORT = "metrics/agreement.json", "metrics/review.json", "metrics/export.json"
MAX_LISTED = 10


@dataclass(frozen=True)
class Snapshot:
    """What `dlp snapshot` did."""

    tag: str
    commit: str
    message: str
    pushed_to: str | None  # the DVC remote pushed to, or None
    push_requested: bool = True

    def describe(self) -> list[str]:
        lines = [f"tagged {self.commit[:12]} as {self.tag}:", *(f"  {line}" for line in self.message.splitlines())]
        if self.pushed_to:
            lines.append(f"pushed the data to the DVC remote '{self.pushed_to}' (dvc push)")
        elif not self.push_requested:
            lines.append("did not push the data (--no-push): it is only in this machine's DVC cache until dvc push")
        else:
            lines.append("did not push the data: no DVC remote is configured "
                         "(add one with: dvc remote add -d NAME URL)")
        lines.append(f"restore it: git checkout {self.tag} && dvc checkout   (in a fresh clone: git checkout "
                     f"{self.tag} && dvc pull)")
        lines.append(f"share the tag: git push origin {self.tag}")
        return lines


def headline(agreement: dict, review: dict, export: dict, *, metric: str) -> list[str]:
    """The headline figures of a pipeline run, one per line, from its metrics files.

    >>> for line in headline({"krippendorff_alpha": 0.64, "fleiss_kappa": 0.65, "n_items": 3, "n_annotations": 9,
    ...                       "n_annotators": 3}, {}, {"items_exported": 3}, metric="krippendorff_alpha"):
    ...     print(line)
    agreement: krippendorff_alpha 0.640, fleiss_kappa 0.650
    items 3, annotations 9, annotators 3
    exported 3 items
    """
    lines = []
    shown = [metric, *(k for k in ("fleiss_kappa", "cohens_kappa") if k != metric)]
    figures = [f"{k} {agreement[k]:.3f}" for k in shown if isinstance(agreement.get(k), int | float)]
    if figures:
        lines.append("agreement: " + ", ".join(figures))
    counts = [f"{label} {agreement[k]}" for k, label in (("n_items", "items"), ("n_annotations", "annotations"),
                                                          ("n_annotators", "annotators")) if k in agreement]
    if counts:
        lines.append(", ".join(counts))
    accuracy = review.get("estimated_accuracy_exported")
    if isinstance(accuracy, int | float):
        se = review.get("estimated_accuracy_exported_se")
        lines.append(f"estimated accuracy of the exported labels {accuracy:.3f}"
                     + (f" +/- {se:.3f}" if isinstance(se, int | float) else ""))
    if "items_exported" in export:
        formats = sorted(k for k, v in export.items() if isinstance(v, dict) and "items" in v)
        lines.append(f"exported {export['items_exported']} items" + (f" ({', '.join(formats)})" if formats else ""))
    return lines


def snapshot(root: str | Path, name: str, *, message: str | None = None, push: bool = True) -> Snapshot:
    """Tag HEAD of the project at ``root`` as ``labels/NAME`` once it is committed and reproduced.

    Pushes the DVC-tracked data first (when a remote is configured and ``push``), so a
    tag never names data that only this machine has.

    Example:
        >>> snapshot("mylabels", "v1", message="first release").tag  # doctest: +SKIP
        'labels/v1'
    """
    from ..project import Project

    project = Project.find(root)
    top = git.git_toplevel(project.root)
    if top is None:
        raise ProjectError(f"{project.root} is not inside a git repository; a snapshot is a git tag "
                           "(create the project with: dlp init)")
    tag = TAG_PREFIX + name
    if git.run(["git", "check-ref-format", f"refs/tags/{tag}"], top, check=False).returncode != 0:
        raise ProjectError(f"'{name}' is not a valid tag name; use letters, digits, '.', '-' or '_' (e.g. v3)")
    head = git.run(["git", "rev-parse", "-q", "--verify", "HEAD^{commit}"], top, check=False).stdout.strip()
    if not head:
        raise ProjectError("the repository has no commit yet; commit the project first (git commit)")
    existing = git.run(["git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}"], top, check=False).stdout.strip()
    if existing:
        raise ProjectError(f"the tag {tag} already exists; choose another name (list them with: git tag -l "
                           f"'{TAG_PREFIX}*') or delete it first (git tag -d {tag})")
    _check_committed(project.root)
    _check_reproduced(project.root)

    body = headline(*(_read_metrics(project.root, p) for p in (AGREEMENT, REVIEW, EXPORT)),
                    metric=_agreement_metric(project))
    text = "\n".join([f"labels snapshot {name}", *([message] if message else []), "", *body]) + "\n"

    remote = _default_remote(project.root) if push else None
    if remote is not None:
        git.dvc(["push", "-q"], project.root)
    env = None if git.has_identity(top) else git.FALLBACK_IDENTITY
    git.run(["git", "tag", "-a", tag, "-m", text, head], top, env=env)
    return Snapshot(tag=tag, commit=head, message=text.rstrip("\n"), pushed_to=remote, push_requested=push)


def _check_committed(root: Path) -> None:
    status = git.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "."], root).stdout
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    if dirty:
        shown = ", ".join(dirty[:MAX_LISTED]) + (f" and {len(dirty) - MAX_LISTED} more" if len(dirty) > MAX_LISTED
                                                 else "")
        raise ProjectError(f"the working tree has uncommitted changes ({shown}); a snapshot must be reproducible "
                           "from a commit: commit them (git add -A && git commit) or discard them, then run "
                           "dlp snapshot again")


def _check_reproduced(root: Path) -> None:
    proc = git.dvc(["status", "--json"], root)
    try:
        status = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        raise ProjectError(f"could not read `dvc status --json`: {proc.stdout[:200]!r}") from None
    if status:
        stale = sorted(status)
        raise ProjectError(f"the pipeline is not up to date (dvc status: {', '.join(stale[:MAX_LISTED])}); run "
                           "dvc repro (or dvc pull, in a clone without the data), commit the result "
                           "(git add -A && git commit), then run dlp snapshot again")


def _default_remote(root: Path) -> str | None:
    """The remote `dvc push` uses: the default one, else the only one; None without remotes."""
    names = [line.split()[0] for line in git.dvc(["remote", "list"], root).stdout.splitlines() if line.strip()]
    if not names:
        return None
    default = git.dvc(["remote", "default"], root, check=False).stdout.strip()
    if default in names:
        return default
    if len(names) == 1:
        raise ProjectError(f"the DVC remote '{names[0]}' is not the default one, so dvc push would not use it; "
                           f"make it the default (dvc remote default {names[0]}) or pass --no-push")
    raise ProjectError(f"several DVC remotes ({', '.join(names)}) and none is the default; choose one with "
                       "dvc remote default NAME, or pass --no-push")


def _read_metrics(root: Path, relative: str) -> dict:
    path = root / relative
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{relative}:{exc.lineno}: invalid JSON: {exc.msg}") from None


def _agreement_metric(project) -> str:
    metric = project.params["quality"]["agreement_metric"]
    if metric == "auto":
        from ..quality.agree import DEFAULT_METRIC

        metric = DEFAULT_METRIC[project.params["project"]["task_type"]]
    return metric
