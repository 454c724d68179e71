"""`mlops checkout`: bring back a version, code and data alike."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.versioning.journal import stops_unwound


def register(app: typer.Typer) -> None:
    app.command()(checkout)


def checkout(
    rev: Annotated[str, typer.Argument(help="A commit, tag or branch.")],
) -> None:
    """Bring back a version: git checkout REV, then its data and model from the DVC cache, byte-identical."""
    from pipeline.versioning.checkout import checkout as checkout_version

    with stops_unwound():  # SIGTERM or SIGHUP in its checks ends it with a word, as Ctrl-C does, not silently
        unrecorded = checkout_version(rev)
    if not unrecorded:
        typer.echo(f"At {rev}: code, params, data and model as they were committed.")
        return
    typer.echo(
        f"At {rev}: code, params and data as they were committed. It was never trained: its dvc.lock records no "
        f"{', '.join(unrecorded)}; `mlops repro` builds them."
    )
