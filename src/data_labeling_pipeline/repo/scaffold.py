"""`dlp init`: a new labeling project as a git repository with DVC."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ProjectError
from ..records import atomic_write_text
from . import git

GITIGNORE = """\
__pycache__/
*.tmp
.dlp/
"""
DVCIGNORE = """\
# Files DVC should not hash inside tracked directories.
.DS_Store
*.tmp
"""
WORKFLOW = """\
# Written by `dlp init`: on every pull request, reproduce the pipeline, gate on agreement and
# report what changed against the base branch (job summary, and a PR comment when the token allows).
name: labels
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
  pull-requests: write
defaults:
  run:
    shell: bash
jobs:
  labels:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0  # the base branch's history, for the diffs below
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install the tool this project was made with (pinned in requirements.txt)
        run: pip install -r requirements.txt
      - name: Fetch the DVC-tracked data
        # With a remote, set its credentials as repository secrets (e.g. AWS_ACCESS_KEY_ID) in env: here.
        run: |
          if [ -n "$(dvc remote list)" ]; then
            dvc pull
          else
            echo "no DVC remote configured: skipping dvc pull (add one with: dvc remote add -d NAME URL)"
          fi
      - name: Reproduce the pipeline
        run: dvc repro
      - name: Quality gate
        # Exit 3 fails the job when agreement is below quality.agreement_threshold; the steps below still run.
        run: dlp gate
      - name: Label change limits
        # Exit 3 when more than 10% of the base's annotations were relabelled, or kappa fell by more than 0.02
        # (edit the limits to taste; `dlp diff --help` lists every name).
        if: ${{ !cancelled() }}
        run: |
          base="${GITHUB_BASE_REF:-main}"
          if git rev-parse -q --verify "origin/$base" >/dev/null; then base="origin/$base"; fi
          mkdir -p .dlp/ci
          dlp diff "$base" --format json --out .dlp/ci/diff.json --fail-if 'relabelled>0.10' --fail-if 'kappa_drop>0.02'
      - name: Summary
        if: ${{ !cancelled() }}
        run: |
          mkdir -p .dlp/ci
          base="${GITHUB_BASE_REF:-main}"
          if git rev-parse -q --verify "origin/$base" >/dev/null; then base="origin/$base"; fi
          {
            echo "## Quality gate"
            echo '```'
            dlp gate 2>&1 || true  # the same check again, for its text (it only reads metrics/)
            echo '```'
            echo "## Metrics against $base"
            dvc metrics diff "$base" --md || echo "dvc metrics diff failed"
            echo "## Label changes against $base"
            dlp diff "$base" --format md || echo "dlp diff failed"
          } > .dlp/ci/summary.md
          cat .dlp/ci/summary.md >> "$GITHUB_STEP_SUMMARY"
      - name: Comment on the pull request
        if: ${{ !cancelled() && github.event_name == 'pull_request' }}
        env:
          GH_TOKEN: ${{ github.token }}
          PR_NUMBER: ${{ github.event.pull_request.number }}
        run: |
          if [ -z "$GH_TOKEN" ] || [ -z "$PR_NUMBER" ]; then
            echo "no token or pull request: not commenting"
          else
            gh pr comment "$PR_NUMBER" --body-file .dlp/ci/summary.md \\
              || echo "could not comment (a fork's token is read-only); see the job summary"
          fi
"""
GITATTRIBUTES = """\
# Written by `dlp init`. A directory tracked by `dvc add` (inbox/) merges with DVC's merge driver
# (configured by `dlp init` in .git/config; `dlp merge-fix` runs it too); corrections merge line by line.
*.dvc merge=dvc
annotations/corrections.jsonl merge=union
"""
MERGE_DRIVER = "dvc git-hook merge-driver --ancestor %O --our %A --their %B"
INBOX_README = (
    "Drop Label Studio JSON exports here (Project > Export > JSON, or the snapshot export).\n"
    "Add new exports as new files; `dvc repro` pulls them into annotations/annotations.jsonl.\n"
)


def init_project(config_path: str | Path, target: str | Path = ".", *, force: bool = False,
                 tool_spec: str | None = None) -> Path:
    """Create a labeling project in ``target`` from a config file; return its root."""
    from ..config import load_params

    return create_project(load_params(config_path), target, force=force, tool_spec=tool_spec)


def starter_params(name: str, task_type: str, classes: list[str], *, multi_label: bool = False) -> dict:
    """Validated params for a project given on the command line (what a config file with only
    ``project`` would give).

    >>> starter_params("p", "ner", ["PER", "ORG"])["project"]["classes"]
    ['PER', 'ORG']
    """
    from ..config import validate_params

    project = {"name": name, "task_type": task_type, "classes": list(classes)}
    if multi_label:
        project["multi_label"] = True
    return validate_params({"project": project}, "<dlp init options>")


def read_classes_file(path: str | Path) -> list[str]:
    """The classes of a ``--classes-file``: one per line; blank lines and ``#`` comments skipped."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read the classes file ({exc.strerror or exc})") from None
    classes = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    classes = [c for c in classes if c]
    if not classes:
        raise ProjectError(f"{path}: no classes (give one class per line)")
    return classes


def requirements_txt(tool_spec: str | None = None) -> str:
    """requirements.txt of a project: the tool it was made with, and DVC of the same major.minor.

    ``tool_spec`` is any pip requirement (a version pin, a git URL, a path); by default the
    installed version of this package.

    >>> "data-labeling-pipeline @ git+https://x/y@v1" in requirements_txt("data-labeling-pipeline @ git+https://x/y@v1")
    True
    """
    from importlib.metadata import PackageNotFoundError, version

    if tool_spec is not None and (not tool_spec.strip() or "\n" in tool_spec):
        raise ProjectError(f"--tool-spec {tool_spec!r} is not one pip requirement; give e.g. "
                           "'data-labeling-pipeline==0.1.0', a git URL (git+https://...) or a path")
    if tool_spec is None:
        try:
            tool_spec = f"data-labeling-pipeline=={version('data-labeling-pipeline')}"
        except PackageNotFoundError:
            raise ProjectError("data-labeling-pipeline is not installed as a package, so its version is unknown; "
                               "pass --tool-spec (a version pin, a git URL or a path)") from None
    major, minor = version("dvc").split(".")[:2]
    return ("# Written by `dlp init`: what CI installs (pip install -r requirements.txt).\n"
            "# For a cloud DVC remote add its extra, e.g. dvc[s3] or dvc[gs].\n"
            f"{tool_spec.strip()}\ndvc>={major}.{minor},<{int(major) + 1}\n")


def create_project(params: dict, target: str | Path = ".", *, force: bool = False, own_repo: bool = False,
                   tool_spec: str | None = None, commit_date: str | None = None) -> Path:
    """Create a labeling project in ``target`` from validated params; return its root.

    Inside an existing git repository the project becomes a DVC subdir project of
    it, unless ``own_repo`` asks for a repository of its own (the demo does, so
    running it inside a checkout never commits to that checkout).

    Writes params.yaml (the config with every default filled in), schema/
    (labels.yaml and the JSON Schemas of records), the Label Studio label
    config, dvc.yaml, annotations/ and inbox/, the CI workflow with the
    requirements.txt it installs (``tool_spec``, default: this version), and
    .gitattributes with DVC's merge driver in the git config; runs `git init`
    (unless already inside a repository) and `dvc init`, and commits.
    """
    from ..config import dump_params, validate_params
    from ..labels import extend_label_schema, new_label_schema, record_schemas
    from ..labelstudio.label_config import label_config
    from .pipeline import dvc_yaml

    params = validate_params(params)
    requirements = requirements_txt(tool_spec)
    root = Path(target).resolve()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{target} exists and is not a directory")
    existing = [name for name in ("params.yaml", "dvc.yaml", "schema/labels.yaml") if (root / name).exists()]
    if existing and not force:
        raise ProjectError(
            f"{root} already holds a labeling project ({', '.join(existing)}); "
            "use --force to overwrite its params, schema and dvc.yaml"
        )
    root.mkdir(parents=True, exist_ok=True)

    toplevel = git.git_toplevel(root)
    if toplevel is None or (own_repo and toplevel != root):
        git.run(["git", "init", "-q", "-b", "main"], root)
        toplevel = root
    if not (root / ".dvc").is_dir():
        git.dvc(["init", "-q", *([] if toplevel == root else ["--subdir"])], root)
    _set_dvc_core(root / ".dvc" / "config", {"analytics": "false", "autostage": "true"})
    # What `dvc install` configures, without its hooks: new files in inbox/ merge on both branches.
    git.run(["git", "config", "merge.dvc.name", "DVC merge driver"], root)
    git.run(["git", "config", "merge.dvc.driver", MERGE_DRIVER], root)

    project = params["project"]
    label_schema = new_label_schema(project["task_type"], project["classes"], multi_label=project["multi_label"])
    if (root / "schema/labels.yaml").exists():
        # Re-init keeps every class id that exists (records and exports rely on them).
        from ..project import Project

        label_schema = extend_label_schema(Project(root).label_schema_unchecked(), project["classes"])
    write = _writer(root)
    write("params.yaml", dump_params(params))
    write("schema/labels.yaml", labels_yaml(label_schema))
    for name, schema in record_schemas(label_schema).items():
        write(f"schema/{name}.schema.json", json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    write("schema/label_config.xml", label_config(project["task_type"], project["classes"]))
    write("dvc.yaml", dvc_yaml(params, root))
    write(".gitignore", GITIGNORE, keep=True)
    write(".github/workflows/labels.yml", WORKFLOW, keep=True)
    write("requirements.txt", requirements, keep=tool_spec is None)
    write(".gitattributes", GITATTRIBUTES, keep=True)
    write(".dvcignore", DVCIGNORE, keep=True)
    inbox = root / params["pull"]["inbox"]
    inbox.mkdir(parents=True, exist_ok=True)
    write(f"{params['pull']['inbox']}/README.txt", INBOX_README, keep=True)
    write("annotations/items.ingested.jsonl", "", keep=True)
    write("annotations/corrections.jsonl", "", keep=True)
    untracked = [t for t in (params["pull"]["inbox"], "annotations/items.ingested.jsonl")
                 if not (root / f"{t}.dvc").exists()]
    if untracked:
        git.dvc(["add", "-q", *untracked], root)
    git.commit(root, f"dlp init: {project['name']} ({project['task_type']}, {len(project['classes'])} classes)", ["."],
               date=commit_date)
    return root


def _set_dvc_core(path: Path, values: dict[str, str]) -> None:
    """What `dvc config core.<key> <value>` writes, for each key, without a dvc process per key.

    .dvc/config is an INI file (configobj); keys of other sections and other core keys are kept.
    """
    import configparser

    config = configparser.ConfigParser(interpolation=None)
    config.optionxform = str  # keys as written
    config.read(path, encoding="utf-8")
    if not config.has_section("core"):
        config.add_section("core")
    for key, value in values.items():
        config.set("core", key, value)
    lines = []
    for section in config.sections():
        lines.append(f"[{section}]")
        lines.extend(f"    {key} = {value}" for key, value in config.items(section))
    atomic_write_text(path, "\n".join(lines) + "\n")


def labels_yaml(label_schema: dict) -> str:
    import yaml

    header = (
        "# The label schema: class ids are explicit and stable (YOLO index = position, COCO id = id).\n"
        "# Append new classes at the end and bump schema_version; never re-sort or reuse an id.\n"
    )
    return header + yaml.safe_dump(dict(label_schema), sort_keys=False, allow_unicode=True, width=100)


def _writer(root: Path):
    def write(relative: str, text: str, *, keep: bool = False) -> None:
        path = root / relative
        if keep and path.exists():
            return
        atomic_write_text(path, text)

    return write
