"""`mlops hooks install|uninstall|status`: this repository's git hooks (`.pre-commit-config.yaml`), through
pre-commit, for every git stage they use; plus `mlops hooks repro`, which the `dvc-lock-sync` hook runs."""

from __future__ import annotations

import sys

import typer

from pipeline.errors import UserError

hooks_app = typer.Typer(
    help="Git hooks: lint, block untracked data, dvc.lock in step with params, DVC sync.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `mlops` app."""
    app.add_typer(hooks_app, name="hooks")


@hooks_app.command()
def install() -> None:
    """Install the hooks for pre-commit, post-checkout, pre-push and merges, and the merge drivers for generated
    files and DVC pointers (idempotent; a hook you already had is kept as `<hook>.legacy` and still runs first)."""
    from pipeline.experiments import plots_page
    from pipeline.versioning import hook_setup

    installed = hook_setup.install()
    typer.echo(installed.pre_commit_output)
    typer.echo(f"Merge drivers registered in git config and {installed.attributes}.")
    plots_page.ensure_template()  # the offline page `dvc plots show` fills (see .dvc/config)
    record = installed.interpreter_record
    typer.echo(f"Hooks run with {sys.executable} (recorded in {record}), even without the venv activated.")


@hooks_app.command()
def uninstall() -> None:
    """Remove the hooks and merge drivers (a hook you had before `install` is put back)."""
    from pipeline.versioning import hook_setup
    from pipeline.versioning.merge_setup import ATTRIBUTES

    removed = hook_setup.uninstall()
    if removed.nothing:
        typer.echo("Nothing to remove: no hooks, merge drivers or interpreter record of `mlops hooks install` here.")
        return
    for line in removed.scripts:
        typer.echo(line)
    if removed.merge.drivers:
        typer.echo(f"Merge drivers removed from git config: {', '.join(removed.merge.drivers)}.")
    block = {
        "removed": f"Merge-driver block removed from {ATTRIBUTES}.",
        "deleted": f"{ATTRIBUTES} removed (it held only the merge-driver block).",
        "committed": f"{ATTRIBUTES} keeps its committed merge-driver block (git merges those files as text now).",
    }
    if removed.merge.attributes:
        typer.echo(block[removed.merge.attributes])
    if removed.interpreter_record:
        typer.echo(f"Interpreter record removed ({removed.interpreter_record}).")


@hooks_app.command()
def status() -> None:
    """Say which hooks are installed (or out of date: installed by an older version), with which interpreter, and
    which of your own hooks run beside them."""
    from pipeline.versioning import hook_setup

    found = hook_setup.status()
    for script in found.scripts:
        beside = f" (+ your own hook, run first: {script.legacy})" if script.legacy else ""
        typer.echo(f"  {script.hook_type:<21} {script.state}{beside}")
    for name, state in found.drivers.items():
        typer.echo(f"  {'merge driver':<21} {name} {state}")
    if found.interpreter_exists:
        typer.echo(f"  {'interpreter':<21} {found.interpreter}")
    else:
        typer.echo(f"  {'interpreter':<21} {'missing: ' + found.interpreter if found.interpreter else 'not recorded'}")
    if not found.complete:
        typer.echo("Run `mlops hooks install`.")
        raise typer.Exit(1)


@hooks_app.command(hidden=True)
def params() -> None:
    """What `dvc-lock-sync` runs on a staged params.yaml (its text on stdin): this project's schema checks it."""
    from pipeline.params import params_from_text

    params_from_text(sys.stdin.buffer.read(), "params.yaml")


@hooks_app.command(hidden=True)
def repro() -> None:
    """What `dvc-lock-sync repro` runs: `dvc repro` all or nothing, then the stages whose params changed only
    in type (DVC sees `1` and `1.0` as equal and would skip them), forced."""
    from pipeline.experiments.dvc_outcomes import contradicting_advice_dropped
    from pipeline.params import load_params
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    load_params()
    try:
        with contradicting_advice_dropped(staged_by_caller=True):  # the hook stages dvc.lock and the reports
            dvc_seam.repro_before_commit()
    except dvc_seam.DvcFailed as failure:
        raise UserError(
            "the pipeline failed; dvc.lock, models/ and reports/ are as they were before the run",
            hint="read the stage's message above, fix it, and commit again",
        ) from failure
