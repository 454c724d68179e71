"""`mlops report`: one self-contained HTML page comparing the workspace with a revision."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.options import AgainstOption
from pipeline.experiments.report import write_report
from pipeline.versioning.journal import stops_unwound


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    out: Annotated[str, typer.Option(help="Where to write the HTML page.")] = "report.html",
    against: AgainstOption = "HEAD",
) -> None:
    """Write one HTML page (no request leaves the machine): the metric diff table, both revisions' ROC,
    precision-recall, calibration, confusion matrix and importance overlaid, and the model card."""
    with stops_unwound():  # SIGTERM or SIGHUP mid-way ends it with a word, as Ctrl-C does; the page is written whole
        written = write_report(out, against)
    typer.echo(f"Wrote {written.path} ({written.size // 1024} KB): open it in a browser.")
    if written.stale:
        typer.echo(
            f"The workspace changed since its last run ({', '.join(written.stale)} stale): the page shows that run's "
            "metrics, curves and model beside today's params. Run `mlops repro` first to report on today's.",
            err=True,
        )
