"""`mlops gate`: fail (exit 1) when the workspace's model is worse than a revision's by more than the tolerance,
both scored on the test loans neither trained on (or when too few such loans are left to tell); with
`--subset F`, compare the recorded metrics of a subset run of each at the same fraction and seed (run where
missing: both share the workspace's split). The decision is `pipeline.experiments.gate`'s."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.options import PRIMARY, AgainstOption, MetricName, SubsetOption, ToleranceOption, print_changes
from pipeline.experiments.gate import gate as decide
from pipeline.versioning.journal import stops_unwound


def register(app: typer.Typer) -> None:
    app.command()(gate)


def gate(
    against: AgainstOption = "HEAD",
    metric: Annotated[MetricName, typer.Option(help="The primary metric; its direction is known.")] = PRIMARY,
    tolerance: ToleranceOption = None,
    subset: SubsetOption = None,
) -> None:
    """Pass or fail the workspace's metrics against another revision's, printing the comparison."""
    with stops_unwound():  # SIGTERM or SIGHUP mid-way ends it with a word, as Ctrl-C does, not silently
        result = decide(against, metric.value, tolerance, subset, say=typer.echo)
    for note in result.notes:
        typer.echo(note)
    print_changes(result.changes, "Test metrics", result.reference_label, "workspace")
    typer.echo(result.sentence)
    if not result.passed:
        raise typer.Exit(1)
