"""`mlops predict`: score a file of loans with the workspace model or a revision's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.options import input_file, revision


def register(app: typer.Typer) -> None:
    app.command()(predict)


def predict(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="A CSV or parquet file of loans.", parser=input_file("INPUT"))
    ],
    out: Annotated[
        str, typer.Option(help="Where to write id, p_default, decision, model_md5 (CSV, or parquet by suffix).")
    ],
    rev: Annotated[
        str | None,
        typer.Option(
            "--rev",
            "--model",
            help="Score with the model of this git revision or registry reference (lending-risk@prod, "
            "lending-risk@v1.2.0), read through DVC without a checkout.",
            parser=revision("--rev", "lending-risk@prod"),
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            help="The input's id column, copied to the output under its name. Default: the first of data.drop's "
            "columns (the ids `mlops data add` dropped) or `id` that the input has and the model does not read; "
            "else rows are numbered."
        ),
    ] = None,
) -> None:
    """Score loans with the workspace model (or a revision's), checked against dvc.lock before use."""
    from pipeline.versioning.journal import stops_unwound

    # SIGTERM or SIGHUP stops it as Ctrl-C does from here on, not only once the output is open: importing the
    # model's libraries and reading it take seconds, where a stop ended the process with no word (status -15)
    with stops_unwound():
        from pipeline.serving.predict import predict as score_loans

        scored = score_loans(input_path, out, rev, id_column)
    if scored.id_column is None:
        passed_over = "".join(f"; {name} holds {kind} values, not ids" for name, kind in scored.not_ids.items())
        typer.echo(
            f"warning: {input_path} has no id column (looked for {', '.join(scored.looked_for)}{passed_over}): the "
            f"`id` column of {out} numbers its rows from 0. Name the input's id column with --id-column COL.",
            err=True,
        )
    typer.echo(f"Scored {scored.rows} loans with {scored.model} into {out}.")
