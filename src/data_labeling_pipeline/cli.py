"""The `dlp` command line: one thin command per verb, each calling one library function.

Exit codes: 0 ok, 1 an error in the input or project (message, no traceback),
2 a usage error, 3 a failed quality gate.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from .errors import GateFailed, PipelineError


class _Commands(TyperGroup):
    """Turns our errors into a message on stderr and an exit code, for every command."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GateFailed as exc:
            typer.echo(str(exc), err=True)
            ctx.exit(3)
        except PipelineError as exc:
            typer.echo(f"error: {exc}", err=True)
            ctx.exit(1)


app = typer.Typer(
    cls=_Commands,
    name="dlp",
    help="A git-native dataset repository for data labeling, run by DVC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

QUIET = typer.Option(False, "--quiet", "-q", help="No progress bars or summaries, only errors.")


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        typer.echo(text)


@app.command()
def init(
    ctx: typer.Context,
    directory: Path = typer.Argument(Path("."), help="Where to create the project (created if missing)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="A config file like config.example.yaml."),
    task_type: str | None = typer.Option(None, "--task-type", help="Without --config: image_classification, "
                                         "text_classification, ner or bbox."),
    classes: str | None = typer.Option(None, "--classes", help="Without --config: the classes, comma-separated."),
    classes_file: Path | None = typer.Option(None, "--classes-file", help="Without --config: a file of classes, "
                                             "one per line."),
    multi_label: bool = typer.Option(False, "--multi-label", help="Without --config: an item may take several "
                                     "classes (classification only)."),
    name: str | None = typer.Option(None, "--name", help="Without --config: the project name (default: the "
                                    "directory's name)."),
    force: bool = typer.Option(False, "--force", help="Overwrite params, schema and dvc.yaml of an existing project."),
    tool_spec: str | None = typer.Option(None, "--tool-spec", help="What CI installs as this tool (requirements.txt): "
                                         "a pip requirement, git URL or path; default: this version."),
) -> None:
    """Create a labeling project: git + DVC, params.yaml, label schema, dvc.yaml.

    From a config file (--config), from options (--task-type and --classes or --classes-file), or,
    with neither and a terminal, by answering two questions.
    """
    from .repo.scaffold import create_project, init_project

    if config is not None:
        given = [flag for flag, value in (("--task-type", task_type), ("--classes", classes),
                                          ("--classes-file", classes_file), ("--name", name)) if value is not None]
        if given or multi_label:
            ctx.fail(f"{', '.join(given or ['--multi-label'])}: the config file says this; "
                     "give --config or the options, not both")
        root = init_project(config, directory, force=force, tool_spec=tool_spec)
    else:
        params = _params_from_options(ctx, directory, task_type, classes, classes_file, multi_label, name)
        root = create_project(params, directory, force=force, tool_spec=tool_spec)
    typer.echo(f"Created a labeling project in {root}")
    typer.echo("Next: dlp ingest <images folder or texts.csv>, drop Label Studio exports into inbox/, dvc repro")


def _params_from_options(ctx: typer.Context, directory: Path, task_type: str | None, classes: str | None,
                         classes_file: Path | None, multi_label: bool, name: str | None) -> dict:
    """Params from `dlp init`'s options, asking for what is missing when standard input is a terminal."""
    import sys

    from .labels import TASK_TYPES
    from .repo.scaffold import read_classes_file, starter_params

    if classes is not None and classes_file is not None:
        ctx.fail("give --classes or --classes-file, not both")
    class_list = read_classes_file(classes_file) if classes_file is not None else _split_classes(classes)
    if task_type is None or not class_list:
        if not sys.stdin.isatty():
            ctx.fail(
                "standard input is not a terminal, so nothing can be asked: give --config FILE, or "
                "--task-type TYPE and --classes A,B (or --classes-file FILE); e.g. "
                "dlp init mylabels --task-type ner --classes PER,ORG,LOC")
        while task_type not in TASK_TYPES:
            if task_type is not None:
                typer.echo(f"{task_type!r} is not one of {', '.join(TASK_TYPES)}")
            task_type = typer.prompt(f"Task type ({', '.join(TASK_TYPES)})").strip()
        while not class_list:
            class_list = _split_classes(typer.prompt("Classes, comma-separated (e.g. cat,dog)"))
    if task_type not in TASK_TYPES:
        raise typer.BadParameter(f"{task_type!r} is not one of {', '.join(TASK_TYPES)}", param_hint="--task-type")
    return starter_params(name or directory.resolve().name or "labels", task_type, class_list,
                          multi_label=multi_label)


def _split_classes(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


@app.command()
def ingest(
    path: str = typer.Argument(..., help="A folder of images, a URI prefix of images elsewhere (s3://bucket/prefix/, "
                               "gs://..., file:///abs/dir/), a text file of image URIs (one a line, e.g. https://), "
                               "or a CSV/JSONL file of texts."),
    no_track: bool = typer.Option(False, "--no-track", help="Do not `dvc add` the data."),
    quiet: bool = QUIET,
) -> None:
    """Add raw data to the project's items (incremental, idempotent); remote images are referenced, not copied."""
    from .progress import progress_bar
    from .project import Project
    from .stages.ingest import ingest as run_ingest

    report = run_ingest(Project.find(), path, track=not no_track, progress=progress_bar(not quiet))
    _say(quiet, f"items: {report.total} ({report.added} added, {report.updated} updated, "
                f"{report.unchanged} unchanged, {report.removed} removed, {report.duplicates} duplicates skipped)")
    if report.tracked:
        _say(quiet, f"tracked with dvc: {', '.join(report.tracked)}")


@app.command()
def pull(quiet: bool = QUIET) -> None:
    """Read Label Studio annotations (inbox exports or the server) into annotations.jsonl (the pull stage)."""
    from .progress import progress_bar
    from .project import Project
    from .stages.pull import run_pull

    summary = run_pull(Project.find(), progress=progress_bar(not quiet))
    _say(quiet, summary.describe())


@app.command()
def push(
    items: Path | None = typer.Option(None, "--items", help="Push these items (JSONL with item_id, or one id per "
                                                              "line) instead of the queues."),
    all_items: bool = typer.Option(False, "--all", help="Push every item of the project."),
    quiet: bool = QUIET,
) -> None:
    """Send tasks with their pre-labels to Label Studio: the select queue and the review queue by default."""
    from .project import Project
    from .stages.push import run_push

    if items is not None and all_items:
        raise typer.BadParameter("give --items or --all, not both")
    _say(quiet, run_push(Project.find(), items_file=items, all_items=all_items).describe())


@app.command()
def agree(quiet: bool = QUIET) -> None:
    """Agreement, consensus, annotator figures and review routing (the agree stage)."""
    from .project import Project
    from .stages.agree import run_agree

    _say(quiet, run_agree(Project.find()).describe())


@app.command()
def prelabel(
    shard: str = typer.Option(None, "--shard", help="Only featurize shard i of n (i/n), for batch systems."),
    merge: bool = typer.Option(False, "--merge", help="Finish from the shard files of --shard runs."),
    quiet: bool = QUIET,
) -> None:
    """Train or reuse the weak model and pre-label every item (the prelabel stage)."""
    from .progress import progress_bar
    from .project import Project
    from .stages.prelabel import parse_shard, run_prelabel

    summary = run_prelabel(Project.find(), shard=parse_shard(shard) if shard else None, merge=merge,
                           progress=progress_bar(not quiet))
    _say(quiet, summary.describe())


@app.command(name="select")
def select_batch(quiet: bool = QUIET) -> None:
    """Choose the next items to label by active learning, into queue/next.jsonl (the select stage)."""
    from .project import Project
    from .stages.select import run_select

    _say(quiet, run_select(Project.find()).describe())


@app.command()
def export(
    verify: bool = typer.Option(False, "--verify", help="Read every export back with its official loader."),
    quiet: bool = QUIET,
) -> None:
    """Write the consensus labels in the configured formats, split train/val (the export stage)."""
    from .project import Project
    from .stages.export import run_export

    _say(quiet, run_export(Project.find(), verify=verify).describe())


@app.command()
def report(
    out: Path | None = typer.Option(None, "--out", help="Write the page here instead of reports/dashboard.html."),
    quiet: bool = QUIET,
) -> None:
    """The QA & review dashboard: one self-contained HTML page, viewable offline (the report stage)."""
    from .project import Project
    from .stages.report import run_report

    _say(quiet, run_report(Project.find(), out=out).describe())


@app.command()
def convert(
    source: Path = typer.Argument(..., help="The file or folder to convert."),
    from_format: str = typer.Option(..., "--from", help="coco, voc, yolo or label_studio."),
    to_format: str = typer.Option(..., "--to", help="coco, voc, yolo, spacy, huggingface, csv or label_studio."),
    out: Path = typer.Option(..., "--out", help="The output folder."),
    image_dir: Path | None = typer.Option(None, "--image-dir", help="Where the images are."),
    rebase_paths: bool = typer.Option(False, "--rebase-paths",
                                      help="Make absolute image paths relative to --image-dir."),
    labels_only: bool = typer.Option(False, "--labels-only",
                                     help="Write labels without image links or copies (the images may live "
                                          "elsewhere); sizes come from the source annotations."),
    quiet: bool = QUIET,
) -> None:
    """Convert a labeled dataset between formats, reporting anything that could not be carried over."""
    from .formats import MissingImagesError, MissingSizesError
    from .utils import FormatConverter

    try:
        report = FormatConverter().convert(source, from_format, out, to_format, image_dir=image_dir,
                                           rebase_paths=rebase_paths, labels_only=labels_only)
    except MissingImagesError as exc:  # the same error, its fix in this command's flags
        raise exc.with_fix("pass --image-dir DIR where they live, or --labels-only to write labels "
                           "without images") from None
    except MissingSizesError as exc:
        raise exc.with_fix("pass --image-dir DIR where the images are, so their sizes are read from the "
                           "file headers (nothing is copied)") from None
    lost = ", ".join(f"{k} {v}" for k, v in report["events"].items()) or "nothing lost"
    _say(quiet, f"converted {from_format} -> {to_format} into {out} ({lost})")


@app.command()
def gate() -> None:
    """Exit 3 when agreement is below the thresholds in params.yaml (for CI); 0 when it passes."""
    from .project import Project
    from .stages.gate import run_gate

    for line in run_gate(Project.find()):
        typer.echo(line)


@app.command()
def validate(
    paths: list[Path] | None = typer.Argument(None, help="Files to check (default: the whole project)."),
) -> None:
    """Check records, params and the label schema; list every error."""
    from .stages.validate import validate_project

    checked = validate_project(paths or [])
    typer.echo(f"ok: {checked}")


@app.command()
def quickstart(
    directory: Path = typer.Argument(Path("dlp-demo"), help="Where to create the demo project."),
    force: bool = typer.Option(False, "--force", help="Replace the directory if it exists."),
    quiet: bool = QUIET,
) -> None:
    """The whole pipeline on a bundled demo (digits images, three simulated annotators), offline."""
    from .progress import progress_bar
    from .stages.quickstart import run_quickstart

    run_quickstart(directory, force=force, echo=(lambda _t: None) if quiet else typer.echo,
                   progress=progress_bar(not quiet))


# --- versioning: dlp diff, dlp log (helper A adds its commands below this line) ---


def _fail_if(values: list[str] | None) -> list[str] | None:
    from .stages.diff import ConditionError, parse_conditions

    try:
        parse_conditions(values)
    except ConditionError as exc:
        raise typer.BadParameter(str(exc)) from None
    return values


def _one_of(*choices: str):
    def check(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"{value!r}: expected one of {', '.join(choices)}")
        return value

    return check


@app.command()
def diff(
    rev_a: str | None = typer.Argument(None, help="The old side (default: the merge base of HEAD with main)."),
    rev_b: str | None = typer.Argument(None, help="The new side (default: the workspace)."),
    fmt: str = typer.Option("md", "--format", callback=_one_of("md", "json"),
                            help="md (a bounded PR comment) or json (complete)."),
    top: int = typer.Option(20, "--top", min=0, help="Rows per Markdown section."),
    fail_if: list[str] | None = typer.Option(None, "--fail-if", callback=_fail_if,
                                             help="Exit 3 when NAME OP NUMBER holds, e.g. relabelled>0.05, "
                                                  "kappa_drop>0.02, removed>0, consensus_flips>10 (repeatable)."),
    out: Path | None = typer.Option(None, "--out", help="Write the report to this file instead of stdout."),
) -> None:
    """What labels changed between two revisions: items, relabels by annotator, regions, consensus, metrics."""
    from .stages.diff import run_diff

    result = run_diff(rev_a, rev_b, fmt=fmt, top=top, fail_if=fail_if, out=out)
    typer.echo(f"wrote {out}" if out else result.output, nl=bool(out))
    result.raise_if_failed()


@app.command(name="log")
def log_item(
    item: str = typer.Argument(..., help="The item_id whose label history to show."),
    fmt: str = typer.Option("table", "--format", callback=_one_of("table", "json"), help="table or json."),
) -> None:
    """The history of one item's labels across commits: who, when, what, which correction."""
    from .repo.history import run_log

    typer.echo(run_log(item, fmt=fmt), nl=False)

# --- versioning: dlp schema ..., dlp correct (helper B adds its commands below this line) ---

schema_app = typer.Typer(help="Migrate schema/labels.yaml: add, rename, merge, deprecate or split classes.",
                         no_args_is_help=True)
app.add_typer(schema_app, name="schema")


def _migrate(change: str, *args, **kwargs) -> None:
    from .project import Project
    from .stages.schema import migrate

    typer.echo(migrate(Project.find(), change, *args, **kwargs).describe())


@schema_app.command("add-class")
def schema_add_class(name: str = typer.Argument(..., help="The new class (gets a never-used id).")) -> None:
    """Append a class."""
    _migrate("add_class", name)


@schema_app.command("rename-class")
def schema_rename_class(old: str = typer.Argument(...), new: str = typer.Argument(...)) -> None:
    """Rename a class; it keeps its id, old labels are re-mapped by pull and agree."""
    _migrate("rename_class", old, new)


@schema_app.command("merge-classes")
def schema_merge_classes(names: list[str] = typer.Argument(..., help="The classes to merge (two or more)."),
                         into: str = typer.Option(..., "--into", help="One of them, or a new class.")) -> None:
    """Merge classes into one; the merged-away ids are retired."""
    _migrate("merge_classes", names, into)


@schema_app.command("deprecate-class")
def schema_deprecate_class(name: str = typer.Argument(...)) -> None:
    """Refuse new labels of a class; old ones stay valid."""
    _migrate("deprecate_class", name)


@schema_app.command("split-class")
def schema_split_class(name: str = typer.Argument(...),
                       into: list[str] = typer.Option(..., "--into", help="The new classes (repeat the option, or "
                                                      "give them after one --into).")) -> None:
    """Add new classes, deprecate NAME and list its items in annotations/relabel.jsonl."""
    _migrate("split_class", name, into)


@app.command()
def correct(
    item: str = typer.Argument(..., help="The item id (as in annotations/items.jsonl)."),
    reason: str = typer.Option(..., "--reason", help="Why (kept as the note)."),
    label: str | None = typer.Option(None, "--label", help="The class (single-label classification)."),
    labels: list[str] | None = typer.Option(None, "--labels", help="A class of a multi-label item (repeat)."),
    spans: str | None = typer.Option(None, "--spans", help='JSON: [{"start": 0, "end": 5, "label": "PER"}]'),
    boxes: str | None = typer.Option(None, "--boxes", help='JSON: [{"x": 1, "y": 2, "w": 3, "h": 4, "label": "car"}]'),
    overrides: str | None = typer.Option(None, "--overrides", help="The annotator or annotation id it overrides."),
) -> None:
    """Record a reviewer's correction in annotations/corrections.jsonl (agree lets it win)."""
    from .project import Project
    from .stages.correct import run_correct

    typer.echo(run_correct(Project.find(), item, reason=reason, label=label, labels=labels or None, spans=spans,
                           boxes=boxes, overrides=overrides).describe())

# --- versioning: dlp snapshot, dlp merge-fix (helper C adds its commands below this line) ---


@app.command()
def snapshot(
    name: str = typer.Argument(..., help="The snapshot's name: the tag is labels/NAME."),
    message: str | None = typer.Option(None, "--message", "-m", help="A line for the tag's message."),
    no_push: bool = typer.Option(False, "--no-push", help="Do not dvc push, even with a remote configured."),
) -> None:
    """Tag the committed, reproduced labels as labels/NAME (with their headline metrics) and dvc push them."""
    from .repo.snapshot import snapshot as run_snapshot

    for line in run_snapshot(Path.cwd(), name, message=message, push=not no_push).describe():
        typer.echo(line)


@app.command(name="merge-fix")
def merge_fix(
    commit: bool = typer.Option(False, "--commit", help="Commit the merge once it is resolved."),
    verify_clean: bool = typer.Option(False, "--verify-clean", help="Also compare with dvc repro -f on a copy."),
) -> None:
    """Finish a conflicted git merge of labeling branches: regenerate derived files with dvc repro."""
    from .repo.mergefix import merge_fix as run_merge_fix

    for line in run_merge_fix(Path.cwd(), commit=commit, verify_clean=verify_clean).describe():
        typer.echo(line)


def main() -> None:
    """Entry point of `dlp` and `python -m data_labeling_pipeline`."""
    app(prog_name="dlp")
