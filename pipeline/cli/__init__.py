"""The `mlops` command: one Typer app per command group, composed here.

Command modules import pandas, scikit-learn, skops and DVC inside the commands that need them, so that
`mlops --help` and `mlops status` answer at once.
"""

from __future__ import annotations

import typer

from pipeline.cli import data, exp, hooks, monitor, run, serve
from pipeline.errors import UserError, report

app = typer.Typer(
    help="Lending-risk MLOps: reproducible training with DVC, experiments, data versions and git hooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for group in (run, data, exp, hooks, serve, monitor):
    group.register(app)


def main() -> None:
    from pipeline.journal import recover

    try:
        recover()  # a command killed mid-way (SIGKILL, power cut) is undone before anything else runs
        app()
    except UserError as error:
        report(error)
