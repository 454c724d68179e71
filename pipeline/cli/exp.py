"""`mlops exp`: run one experiment or a sweep (temporary DVC experiments, duplicates skipped), compare them
with the workspace on one screen, share them, and apply or promote the chosen one. Each command calls one
function of `pipeline.experiments.runs` and prints what it returns."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated

import typer

from pipeline import metrics
from pipeline.cli.options import (
    PRIMARY,
    CsvFlag,
    MarkdownFlag,
    MetricName,
    SetOption,
    SubsetOption,
    console,
    one_format,
    print_changes,
    ranged_int,
)
from pipeline.errors import UserError
from pipeline.experiments import runs
from pipeline.experiments.settings import (
    MAX_GRID,
    SUBSET_KEY,
    ComparisonTable,
    as_csv,
    as_markdown,
    screen_legend,
    setting_text,
    table_cells,
)
from pipeline.versioning.journal import stop_said

exp_app = typer.Typer(help="Experiments: run, sweep, push, pull, compare, apply, promote.", no_args_is_help=True)

MOST_SHOWN = 1_000_000  # experiments --top may ask for: more than any table holds, so a typo is caught
DEFAULT_JOBS = 2  # measured on 2 cores: two concurrent temporary runs finish a sweep faster than one at a time
SCREEN_WIDTH = 100
FOLDED_WIDTH = 12  # the least a name or param column folds to: a sweep's run name (`C-0.02-5eb1`) on one line


def register(app: typer.Typer) -> None:
    """Add `mlops exp ...` to the `mlops` app."""
    app.add_typer(exp_app, name="exp")


@exp_app.command("run")
def run_one(
    set_: SetOption = None,
    subset: SubsetOption = None,
    name: Annotated[str | None, typer.Option(help="The experiment's name (default: from the settings).")] = None,
) -> None:
    """Run one experiment in a temporary copy of the workspace; skipped when an experiment with the same
    params, code and data exists."""
    outcome = runs.run_one(set_ or [], subset, name)
    if outcome.duplicate_of:
        typer.echo(f"Skipped: experiment {outcome.duplicate_of} already has these params, code and data.")
        return
    print_changes(outcome.changes, f"{outcome.name} (change vs the workspace)")


@exp_app.command()
def sweep(
    axes: Annotated[list[str], typer.Argument(help="key=v1,v2,... per param; every combination runs.")],
    subset: SubsetOption = None,
    jobs: Annotated[
        int, ranged_int("--jobs", 1, MAX_GRID, example="2", help="Runs at once (temporary experiments in parallel).")
    ] = DEFAULT_JOBS,
    matrix: Annotated[
        bool,
        typer.Option("--matrix", help="Run nothing: print the runs as a CI job matrix (JSON), one job per grid point."),
    ] = False,
) -> None:
    """Run a grid of experiments: duplicates of existing experiments are skipped, points that differ only in the
    params of a model they do not train run once, a failed run does not stop the others, Ctrl-C stops the runs and
    leaves no half-written experiment."""
    plan = runs.plan_sweep(axes, subset)
    for settings, why in plan.skipped:
        typer.echo(f"skip {settings}: {why}", err=matrix)  # the matrix alone on stdout, for CI to read
    if plan.collapsed:
        unused = "; ".join(f"{', '.join(keys)} under {model}" for model, keys in plan.unused_by_model().items())
        typer.echo(
            f"Collapsed {len(plan.collapsed)} of {plan.points} grid points: each trains the same model as an earlier "
            f"point, differing from it only in params its model does not read ({unused}).",
            err=matrix,
        )
    if matrix:
        typer.echo(json.dumps(plan.matrix()))
        return
    if not plan.todo:
        typer.echo("Nothing to run: every combination exists already (see `mlops exp compare`).")
        return
    try:
        result = runs.run_sweep(plan.todo, jobs, show_progress, plan.known)
    except runs.SweepInterrupted as stopped:
        _end_progress()
        stop_said()
        typer.echo(
            f"Stopped by {signal.Signals(stopped.signum).name}: stopped {stopped.stopped} run(s), which record no "
            "experiment; the finished ones are kept.",
            err=True,
        )
        raise typer.Exit(128 + stopped.signum) from None
    _end_progress()
    for name, why in result.left_to_others.items():
        typer.echo(f"skip {name}: {why}")
    typer.echo(f"Sweep: {len(result.statuses) - len(result.failed)} of {len(result.statuses)} run(s) succeeded.")
    for name, log in result.failed.items():
        typer.echo(f"  failed: {name} (log: {log})")
    typer.echo("Compare them with `mlops exp compare`.")
    if result.not_run:
        raise UserError(
            f"HEAD moved to {result.moved_to[:12]} while the sweep ran (a commit, checkout or promotion): "
            f"{len(result.not_run)} point(s) were not run ({', '.join(result.not_run)})",
            hint="run the same sweep again: it plans every point on the new commit",
        )
    if result.failed:
        raise typer.Exit(1)


def show_progress(progress: runs.SweepProgress) -> None:
    if progress.finished:
        name, status = progress.finished
        _end_progress()
        typer.echo(f"{'done  ' if status == 0 else 'FAILED'} {name}", err=True)
    elif sys.stderr.isatty():
        sys.stderr.write(
            f"\r[{progress.elapsed:4.0f}s] done {progress.done}, failed {progress.failed}, "
            f"running {progress.running}, waiting {progress.waiting} "
        )
        sys.stderr.flush()


def _end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


GitRemote = Annotated[str, typer.Option("--remote", help="The git remote (its name or URL).")]
Names = Annotated[list[str] | None, typer.Argument(help="Experiment names (default: those of the current HEAD).")]
AllCommits = Annotated[bool, typer.Option("--all", help="The experiments of every commit.")]


@exp_app.command()
def push(names: Names = None, remote: GitRemote = "origin", all_commits: AllCommits = False) -> None:
    """Share experiments: their git refs to a git remote (`dvc exp push`), their data and models to the DVC
    remote, so a teammate's `mlops exp pull` sees and can apply them."""
    if not share("push", names or [], remote, all_commits):
        others = "" if all_commits else " started from HEAD (`mlops exp push --all` pushes every commit's)"
        typer.echo(f"No experiments to push: there are none here{others}.")


@exp_app.command()
def pull(names: Names = None, remote: GitRemote = "origin", all_commits: AllCommits = False) -> None:
    """Fetch teammates' experiments: their git refs from a git remote (`dvc exp pull`), their data and models
    from the DVC remote; then `mlops exp compare` lists them."""
    pulled = share("pull", names or [], remote, all_commits)
    if pulled:
        typer.echo(
            f"Pulled {len(pulled)} experiment{'s' if len(pulled) > 1 else ''} from {remote!r}: {', '.join(pulled)}"
        )
    else:
        typer.echo(f"No new experiments from {remote!r}: it has none that are not already here.")


def share(direction: str, names: list[str], remote: str, all_commits: bool) -> list[str]:
    try:
        return runs.share(direction, names, remote, all_commits)
    except runs.ShareStopped as stopped:
        stop_said()
        typer.echo(
            f"Stopped by {stopped}: the {direction} may be part done (what was sent stays); run the same "
            f"`mlops exp {direction}` again to finish it.",
            err=True,
        )
        raise typer.Exit(128 + stopped.signum) from None


@exp_app.command()
def compare(
    sort_by: Annotated[MetricName, typer.Option(help="Order experiments best first by this metric.")] = PRIMARY,
    top: Annotated[
        int | None, ranged_int("--top", 1, MOST_SHOWN, example="5", help="Show only the best N experiments.")
    ] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Include experiments of every commit, not only those started from the current HEAD."
        ),
    ] = False,
    md: MarkdownFlag = False,
    as_csv_: CsvFlag = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every key metric and its change).")] = False,
) -> None:
    """The workspace and its experiments on one screen: only the params that differ, the key metrics with their
    change against the workspace, the best per metric, and whether an ROC AUC change is more than noise."""
    one_format(md, as_csv_, as_json)
    table = runs.compare(all_, sort_by.value, top)
    if as_json:
        typer.echo(json.dumps(table.as_json(), indent=2))
    elif as_csv_:
        typer.echo(as_csv(table), nl=False)
    elif md:
        typer.echo(as_markdown(table), nl=False)
    else:
        print_screen(table)
    if table.stale_workspace:
        typer.echo(
            f"The workspace changed since its last run ({', '.join(table.stale_workspace)} stale): its row holds "
            "that run's metrics beside today's params. Run `mlops repro` first to compare with today's.",
            err=True,
        )
    for failed in table.failed:
        settings = " ".join(f"{key}={setting_text(value)}" for key, value in failed.params.items())
        typer.echo(
            f"Failed: {failed.name} ({settings or 'the workspace params'}) has no metrics; see why with "
            f"`{failed.logs}` (`{failed.drop}` drops it).",
            err=True,
        )
    for broken in table.broken_metrics.values():
        typer.echo(f"Left out {broken}.", err=True)
    if table.unreadable:
        typer.echo(
            f"Left out {len(table.unreadable)} experiment(s) whose params.yaml this schema refuses: "
            + ", ".join(table.unreadable),
            err=True,
        )


def print_screen(table: ComparisonTable) -> None:
    """The table on one 100-column screen (for names as sweeps give them): the on-screen metrics by their short
    names, the changes of the primary metric and the sort metric in columns of their own."""
    from rich import box
    from rich.table import Table

    shown = [metric for metric in metrics.key_metrics() if metric.on_screen]
    deltas = tuple(dict.fromkeys((metrics.PRIMARY.name, table.sort_by)))
    from rich.console import Console

    header, *rows = table_cells(table, [metric.name for metric in shown], deltas)
    first_metric = 1 + len(table.changed_params)
    screen = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    least: list[int] = []  # each column's least width
    for i, title in enumerate(header):
        if i >= first_metric:
            name = title.removeprefix("Δ")
            title = title.replace(name, metrics.get(name).short)
        # A long name or value (a data.source path) folds onto more lines, whole, rather than widen the table past
        # the screen or be cut: the numbers keep their width, and the folded cells still tell the runs apart.
        wide_text = i < first_metric
        longest = max(len(cell) for cell in [title, *(row[i] for row in rows)])
        least.append(min(longest, FOLDED_WIDTH) if wide_text else longest)
        screen.add_column(
            title,
            justify="left" if i == 0 else "right",
            no_wrap=not wide_text,
            overflow="fold" if wide_text else None,
            min_width=least[-1],
        )
    for row in rows:
        screen.add_row(*row)
    out = console()
    needed = sum(least) + 2 * (len(least) - 1)  # a column's padding and the rule's gap between two columns
    if out.width < needed:  # narrower than the numbers and the folded names: lines wrap, nothing is cut or dropped
        out = Console(highlight=False, width=needed)
    out.print(screen)
    if not table.rows[1:] and not table.failed:
        out.print("No experiments yet: run `mlops exp run -S key=value` or `mlops exp sweep key=v1,v2`.")
    if table.hidden:
        out.print(f"({table.hidden} more experiment(s) not shown: drop --top)")
    names = ", ".join(f"{metric.short}: {metric.label}" for metric in shown if metric.short != metric.name)
    out.print(f"{screen_legend()} {names}.", width=min(out.width, SCREEN_WIDTH))


NameArgument = Annotated[str, typer.Argument(help="The experiment's name, as `mlops exp compare` shows it.")]


@exp_app.command()
def apply(name: NameArgument) -> None:
    """Bring an experiment's params, dvc.lock, reports and model into the workspace (nothing is committed)."""
    applied = runs.apply(name)
    if applied.subset:  # promote refuses it; a commit of its params retrains on all the data
        typer.echo(
            f"Applied {name}, a subset run ({SUBSET_KEY} = {applied.subset!r}): review with `git diff`; to keep "
            f"its params, set {SUBSET_KEY}: 1.0 in params.yaml and `git commit -a` (the hook retrains on all the "
            "data; the same `git commit -a` again records it)."
        )
        return
    typer.echo(f"Applied {name}: review with `git diff`, commit with `mlops exp promote {name}` or git.")


@exp_app.command()
def promote(name: NameArgument) -> None:
    """Apply a full-data experiment and commit it (params, dvc.lock, reports) with its metric change."""
    message = runs.promote(name)
    typer.echo(f"Committed: {message.splitlines()[0]}")
