"""The `mlops` command: `main` answers the calls hooks and habits make most (`mlops status`, a no-op
`mlops repro`) from their command module alone, and builds the whole command tree (`pipeline.cli.commands`,
every group) only for the rest."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # Typer's own Click, not `click`

from pipeline.cli import repro
from pipeline.cli.streams import outputs_until_reader_leaves, reader_left
from pipeline.errors import STOPPED_SAID, UserError, report_user_error

# `mlops status` as hooks, editors and prompts call it, answered without Typer's parsing (which builds every
# command's parameters: a third of the command's time).
STATUS_ARGS = {("status",): False, ("status", "--json"): True}
REPRO_ARGS = ("repro",)  # likewise a no-op `mlops repro`, the one a hook or a habit runs most


def main(hand_over_stops: Callable[[], None] = lambda: None) -> None:
    """Run `mlops`. Output cut short by its reader (`| head`) loses no work: the command ends as it would have,
    then exits 141 (128 + SIGPIPE, as a tool killed by SIGPIPE) unless it failed on its own. `hand_over_stops`:
    called just before a command runs, to give it the stops `pipeline.__main__` ends at once until then."""
    outputs_until_reader_leaves()
    try:
        run(hand_over_stops)
    except SystemExit as end:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: the descriptor was closed (`mlops status >&-`)
                stream.flush()
        if reader_left() and end.code in (0, None):
            raise SystemExit(128 + signal.SIGPIPE) from None
        raise


def run(hand_over_stops: Callable[[], None]) -> None:
    """A usage mistake and a UserError both end as one `error:` line, a hint and exit status 2."""
    from pipeline.versioning.exp_queue import clear_killed_runs
    from pipeline.versioning.journal import changes_completed, recover, stop_signal

    as_json = STATUS_ARGS.get(tuple(sys.argv[1:]))
    try:
        # A command killed mid-way (SIGKILL, power cut) is undone before anything else runs; not from a git hook,
        # where pre-commit has set the killed command's files aside and would lay them back over what was undone.
        if os.environ.get("PRE_COMMIT") != "1":
            recover()
        clear_killed_runs()  # and an experiment run it left "Running" in `dvc exp show`
        if as_json is not None:
            repro.status(as_json=as_json)
            raise SystemExit(0)
        if tuple(sys.argv[1:]) == REPRO_ARGS and repro.repro_when_up_to_date():
            raise SystemExit(0)
        if sys.argv[1:2] == ["repro"] and any(arg.split("=")[0] == "--subset" for arg in sys.argv[2:]):
            hand_over_stops()  # before the fork: its stages handle stops as they do
            repro.start_subset_stages()  # their imports overlap building and parsing the command line
        from pipeline.cli.commands import mlops_command  # every command group: only when one is called

        command = mlops_command()
        hand_over_stops()
        status = command(prog_name="mlops", standalone_mode=False)
        signum = stop_signal()
        if signum is not None and changes_completed():  # the stop came once the command's changes were complete
            typer.echo(f"Stopped by {signal.Signals(signum).name} once its changes were made: they are kept.", err=True)
            status = 0
        elif signum is not None:  # Typer ends a stopped command with status 130 and no word: say what the stop left
            typer.echo(
                f"Stopped by {signal.Signals(signum).name}: {STOPPED_SAID}",
                err=True,
            )
            status = 128 + signum
    except NoArgsIsHelpError as shown:
        typer.echo(shown.ctx.get_help())
        status = 0
    except UsageError as mistake:
        from pipeline.cli.commands import command_path

        command = mistake.ctx.command_path if mistake.ctx else command_path(sys.argv[1:])
        report_user_error(UserError(mistake.format_message(), hint=f"`{command} -h` shows the usage"))
    except (typer.Abort, KeyboardInterrupt):  # Typer's word for Ctrl-C in a command; Python's before one starts
        signum = stop_signal()  # SIGTERM or SIGHUP unwound like Ctrl-C: end with that signal's status
        typer.echo(f"Stopped by {signal.Signals(signum).name}." if signum else "Aborted.", err=True)
        status = 128 + (signum or signal.SIGINT)
    except UserError as error:
        report_user_error(error)
    except Exception as error:
        from pipeline.versioning.pipeline_status import explained_failure

        explained = explained_failure(error)
        if explained is None:
            raise
        report_user_error(explained)
    raise SystemExit(status if isinstance(status, int) else 0)
