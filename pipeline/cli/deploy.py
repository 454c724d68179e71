"""`mlops deploy` (promote, rollback): which model `mlops serve` treats as champion. The work is
`pipeline.serving.deploy`; this module parses and prints."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.options import ToleranceOption
from pipeline.versioning.journal import stops_unwound

deploy_app = typer.Typer(
    help="Which model `mlops serve` treats as champion: GTO tags of the model artifact (`gto show`).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy")


@deploy_app.command()
def promote(
    rev: Annotated[
        str, typer.Argument(help="The revision (commit, branch, tag, registry reference) whose model becomes champion.")
    ],
    tolerance: ToleranceOption = None,
) -> None:
    """Make REV the champion (stage prod of the model artifact), if it passes the gate against the current
    champion on the test loans neither trained on: registers REV's model as a version and assigns it prod, as GTO
    git tags."""
    from pipeline.serving import deploy

    try:
        with stops_unwound():  # SIGTERM or SIGHUP in the gate ends it with a word, as Ctrl-C does, not silently
            promotion = deploy.promote(rev, tolerance)
    except deploy.AlreadyChampion as same:  # a deploy script run twice: done, not failed
        typer.echo(str(same))
        return
    if promotion.uncommitted:
        shown = ", ".join(promotion.uncommitted[:3]) + (", ..." if len(promotion.uncommitted) > 3 else "")
        typer.echo(f"Note: the workspace has uncommitted changes ({shown}): what is promoted is {rev} as committed.")
    if promotion.comparison:
        typer.echo(f"Both models scored {promotion.comparison.basis()}.")
    for line in promotion.table:
        typer.echo(line)
    typer.echo(promotion.verdict)
    if not promotion.passed:
        typer.echo(f"Not promoted: {rev} against {promotion.judged_against}: {promotion.why_not()}.")
        raise typer.Exit(1)
    if promotion.recorded_for_rollback:
        typer.echo(f"The model served before, {promotion.recorded_for_rollback}, is recorded for a rollback.")
    if promotion.same_model_as:
        typer.echo(
            f"{promotion.same_model_as} is the champion (stage prod): {rev}'s model is its model (md5 "
            f"{promotion.model_md5}), so no new version is registered."
        )
        return
    typer.echo(f"{promotion.described} is the champion (stage prod), model {promotion.model_md5}.")


@deploy_app.command()
def rollback() -> None:
    """Make the previous champion the champion again (unassigns prod from the current one, assigns it again to the
    previous one, as GTO git tags)."""
    from pipeline.serving import deploy

    with stops_unwound():
        done = deploy.rollback()
    typer.echo(f"{done.champion} is the champion again (was {done.was}).")
