"""`mlops` (the console script) and `python -m pipeline`.

A stop (SIGTERM, SIGHUP, Ctrl-C) while the command imports its libraries and builds its command line, most of its
first 0.3 s, ends it at once as the default would (Ctrl-C: with a traceback of the import it cut), but with one line
and status 128 + n, as a stop of a started command ends. `pipeline.cli` hands the signals back just before a
command runs, which handles stops as it does. Only the command sets this: importing `pipeline.cli` (a test, a tool)
changes no handler."""

from __future__ import annotations

import contextlib
import os
import signal

from hooks.stop_signals import stops_to_take
from pipeline.errors import STOPPED_SAID


def main() -> None:
    stops = stops_to_take((signal.SIGTERM, signal.SIGHUP, signal.SIGINT))  # `nohup mlops ...`: a hangup stays ignored
    before = {signum: signal.signal(signum, _stopped_while_starting) for signum in stops}

    def hand_over_stops() -> None:
        """The stop signals as they were before `mlops` started (SIGTERM's and SIGHUP's default: the end; Ctrl-C's
        Python's KeyboardInterrupt), once."""
        while before:
            signum, handler = before.popitem()
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    from pipeline.cli import main as run_command  # the imports a stop may now interrupt

    run_command(hand_over_stops)


def _stopped_while_starting(signum: int, _frame: object) -> None:
    """Nothing of the command has run: end at once, with a word."""
    with contextlib.suppress(OSError):  # stderr closed (`2>&-`)
        os.write(2, f"Stopped by {signal.Signals(signum).name}: {STOPPED_SAID}\n".encode())
    os._exit(128 + signum)


if __name__ == "__main__":
    main()
