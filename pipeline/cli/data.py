"""`mlops data` (add, status, push, pull): bring your own data, add batches, see and move data versions. The work
is `pipeline.versioning.data_add` and `pipeline.versioning.remotes`; this module parses and prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.options import given, input_file, revision
from pipeline.errors import UserError, option
from pipeline.versioning.journal import stops_unwound

data_app = typer.Typer(help="Bring your own data, add batches, see and move data versions.", no_args_is_help=True)


# What a retrain on new data changes besides the staged `.dvc` file: committed together, or the reports in git
# would not be the committed model's.
COMMIT_TRAINED = "git add params.yaml dvc.lock reports && git commit"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `mlops` app."""
    app.add_typer(data_app, name="data")


@data_app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A CSV or parquet file of loans.", parser=input_file("PATH"))],
    target: Annotated[
        str | None,
        typer.Option(
            help="The outcome column (default: data.target).", parser=given("--target", "the outcome column", "Class")
        ),
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option(
            help="The label meaning the loan went bad (default: data.positive_label).",
            parser=given("--positive", "the label of a loan that went bad", "bad"),
        ),
    ] = None,
    negative: Annotated[
        str | None,
        typer.Option(
            help="The other label; when given, the target must hold exactly these two.",
            parser=given("--negative", "the label of a repaid loan", "good"),
        ),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option(
            help="A column that is not a feature (an id); repeatable. Default: the current data.drop columns "
            "that the file has and --keep-column does not name."
        ),
    ] = None,
    keep_column: Annotated[
        list[str] | None,
        typer.Option(
            help="Keep this column as a feature though it looks like an id (named like one, or unique per row); "
            "repeatable. Id-like columns are dropped by default."
        ),
    ] = None,
    append: Annotated[
        bool,
        typer.Option(
            help="Add these rows to the current dataset as a new version (validated against reports/schema.json)."
        ),
    ] = False,
) -> None:
    """Make a file the pipeline's source (tracked by DVC, schema inferred), or append a batch to it."""
    from pipeline.versioning.data_add import add_source, append_batch

    if not append:
        with stops_unwound():  # SIGTERM or SIGHUP as it reads the file ends it with a word, as Ctrl-C does
            added = add_source(path, target, positive, negative, drop, keep_column or [])
        for column in added.dropped_ids:
            keep = (
                f"To train on it, add {option('--keep-column', column.name)}."
                if column.keepable
                else "It names the loan in `mlops serve` requests and the prediction log; to train on it, rename it."
            )
            typer.echo(f"Dropping column {column.name!r}: it looks like an id ({column.reason}), not a feature. {keep}")
        for name in added.dropped_copies:
            typer.echo(
                f"Dropping column {name!r}: it holds the target {added.target!r} row for row, so a model trained on "
                "it would read the outcome it is to predict."
            )
        typer.echo(
            f"Added {added.destination} ({added.rows} rows, {added.features} features, target "
            f"{added.target!r}, bad = {added.positive!r}); schema in {added.schema_path}."
        )
        if added.moved_from:
            typer.echo(
                f"Moved {added.moved_from} to {added.destination}: DVC tracks it there and git ignores it "
                "(data stays out of git)."
                + (f" Git tracked {added.moved_from}: its removal is staged." if added.removed_from_git else "")
            )
        removal = f" and the removal of {added.moved_from} are" if added.removed_from_git else " is"
        typer.echo(
            f'Next: `mlops repro` to train on it, then `{COMMIT_TRAINED} -m "Train on new data"` '
            f"({added.destination}.dvc{removal} staged already)."
        )
        return
    if target or positive or negative or drop or keep_column:
        raise UserError(
            "--append keeps the current target, labels and dropped columns",
            hint="run without --target/--positive/--negative/--drop/--keep-column",
        )
    with stops_unwound():
        appended = append_batch(path)
    typer.echo(
        f"Appended {appended.rows} rows from {appended.batch} to {appended.source} (now {appended.total} rows): "
        "a new DVC version."
    )
    if appended.left_in_project:  # `git add -A` would take it (and the hook refuse it): its rows are kept already
        typer.echo(
            f"{appended.batch} is left as it was, inside the project: its rows are in {appended.source} now, "
            "so delete it (git would take it for data to commit)."
        )
    typer.echo(
        f'Next: `mlops repro`, then `{COMMIT_TRAINED} -m "Append a data batch"` ({appended.source}.dvc is staged '
        "already)."
    )


@data_app.command()
def status(
    verify: Annotated[
        bool,
        typer.Option(
            help="Re-hash the cached objects in use and name any corrupted; with --remote (the default) also "
            "the remote's copies (reads them all)."
        ),
    ] = False,
    remote: Annotated[bool, typer.Option(help="Ask the default remote what it lacks (contacts it).")] = True,
) -> None:
    """Say in words what is new, modified, untracked or not yet pushed."""
    from rich.console import Console
    from rich.table import Table

    from pipeline.versioning import remotes
    from pipeline.versioning.data_status import all_clear

    state = remotes.status(verify, remote)
    if state.remote_unreachable:
        typer.echo(f"(could not ask the remote: {state.remote_unreachable}; showing local state only)")
    if state.rows:
        table = Table("file", "state")
        for path, words in state.rows:
            table.add_row(path, words)
        Console(highlight=False).print(table)
    else:
        typer.echo(all_clear(state.remote_asked))
    for problem in state.cache_problems or []:
        typer.echo(problem.line)
    if state.cache_problems == []:
        typer.echo("Cache verified: every object in use matches its md5.")
    for problem in state.remote_problems or []:
        typer.echo(problem.line())
    if state.remote_problems == []:
        typer.echo("Remote verified: every copy it holds of the objects in use matches its md5.")
    if state.failure:
        raise state.failure


@data_app.command()
def push(
    heal: Annotated[
        bool, typer.Option(help="Also replace the remote's corrupted copies with the good local ones (reads them).")
    ] = False,
) -> None:
    """Send the data and models this version uses to the default remote (progress shown), each object checked
    against its md5 first: a corrupted one is refused by name and nothing is pushed."""
    from pipeline.versioning import remotes

    healed = remotes.push(heal)
    for problem in healed or []:
        typer.echo(f"{problem.path}: replaced the remote's corrupted copy with the good local one")
    if healed == []:
        typer.echo("The remote holds no corrupted copy of the objects in use.")
    typer.echo("Pushed.")


@data_app.command()
def pull(
    rev: Annotated[
        str | None,
        typer.Option(
            help="Only fetch this revision's data and models into the cache (the workspace stays as it is), "
            "e.g. before `mlops checkout REV`.",
            parser=revision("--rev", "v1"),
        ),
    ] = None,
) -> None:
    """Fetch the data and models this version uses from the default remote, check each against its md5, then
    check them out (a corrupted one is refused by name and never reaches the workspace)."""
    from pipeline.versioning import remotes

    for problem in remotes.pull(rev):
        typer.echo(f"{problem.path}: the cache's copy ({problem.md5}) was corrupted; replaced with the remote's")
    if rev is None:
        typer.echo("Pulled.")
    else:
        typer.echo(f"Fetched {rev}'s data and models into the cache; `mlops checkout {rev}` brings them.")
