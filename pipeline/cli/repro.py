"""`mlops repro` and `mlops status`: run the pipeline (full, or a subset as a temporary experiment) and say
which stages are stale and why. The work is `pipeline.experiments.reproduce`'s."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from pipeline.cli.options import console, number, print_changes
from pipeline.experiments import reproduce, subset


def register(app: typer.Typer) -> None:
    app.command()(repro)
    app.command()(status)


def repro(
    subset: Annotated[
        float | None,
        typer.Option(
            help="Train on this fraction of the training split (0.0001 <= F < 1), as a temporary DVC "
            "experiment: the workspace, its dvc.lock and its model stay untouched.",
            parser=number("--subset", "0.1"),
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Re-run every stage, even those that are up to date; with --subset, run even when an experiment "
            "with the same params, code and data exists.",
        ),
    ] = False,
) -> None:
    """Reproduce the pipeline: only the stages whose params, code or data changed run."""
    show(reproduce.reproduce(subset, force), subset)


def start_subset_stages() -> None:
    """For `mlops repro --subset F`: start the subset stages' warm process before the command line is parsed."""
    subset.start_stages_early()


def repro_when_up_to_date() -> bool:
    """A no-op `mlops repro` answered without Typer's parsing or DVC (how hooks and habits call it most); False
    when a stage must run."""
    result = reproduce.nothing_to_run()
    if result is None:
        return False
    show(result, None)
    return True


def show(result: reproduce.Reproduced, subset: float | None) -> None:
    if result.note:
        typer.echo(result.note)
    if result.repeats:
        typer.echo(
            f"Skipped: experiment {result.experiment} already has these params, code and data "
            f"(data.sample_frac={subset!r}); compare with `mlops exp compare`."
        )
    elif result.experiment:
        typer.echo(f"Experiment {result.experiment} (data.sample_frac={subset!r}); compare with `mlops exp compare`.")
    out = console()
    for name, outcome in result.stages:
        out.print(f"  {name:<9} {outcome}")
    print_changes(result.changes, result.title)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the stages and reasons as JSON.")] = False,
) -> None:
    """Say which stages are stale and why (params, code, data), without running DVC."""
    pipeline = reproduce.status()
    if pipeline.hooks_notice:
        typer.echo(pipeline.hooks_notice, err=True)
    if as_json:
        typer.echo(json.dumps([asdict(stage) for stage in pipeline.stages], indent=2))
        return
    if pipeline.running:
        typer.echo(
            f"Another mlops command is running here ({pipeline.running}): what follows is its work in progress, "
            "which it completes or puts back."
        )
    if pipeline.lock_in_writing:
        typer.echo("It was writing dvc.lock as this read it: run `mlops status` again for its stages.")
        return
    if pipeline.kept_placeholders:
        typer.echo(
            f"A merge, rebase, cherry-pick or revert kept one side of {', '.join(pipeline.kept_placeholders)} "
            "(generated files are never merged as text): they are placeholders until reproduced. Run `dvc checkout "
            "--allow-missing && mlops repro`, then `git add dvc.lock reports` and commit (a merge in progress: plain "
            "`git commit` retrains and stages them)."
        )
    if pipeline.up_to_date:
        typer.echo("Pipeline is up to date: `mlops repro` would run nothing.")
        return
    for stage in pipeline.stages:
        if stage.stale:
            typer.echo(f"{stage.stage}: stale")
            for reason in stage.reasons:
                typer.echo(f"    {reason}")
        elif stage.reasons:
            typer.echo(f"{stage.stage}: {stage.reasons[0]}")
        else:
            typer.echo(f"{stage.stage}: up to date")
    if pipeline.missing_sources:
        typer.echo(
            f"Not in the workspace: {', '.join(pipeline.missing_sources)} (tracked by DVC). Run `mlops data pull`, "
            "then `mlops repro` if a stage is still stale."
        )
        return
    typer.echo("Run `mlops repro` to bring it up to date.")
