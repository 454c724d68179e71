"""The signals that stop a command (Ctrl-C, SIGTERM, SIGHUP), and which of them a process may take.

A stop signal ignored when the process started stays ignored, in it and in every process it starts (which inherit
an ignored signal, never a handler): SIGHUP under `nohup` (the command is meant to outlive its terminal), SIGINT in
a script's background job (`cmd &`: Ctrl-C is the foreground job's)."""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Where an mlops command keeps what it must put back should it be stopped (`pipeline.versioning.journal`), until it
# completes; one killed outright (SIGKILL, a power cut) leaves it for the next command to put back.
JOURNAL_DIR = ".dvc/tmp/mlops-journal"


def stops_to_take(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> list[signal.Signals]:
    """Those of `signals` not ignored here: the ones a handler may be set for."""
    return [signum for signum in signals if signal.getsignal(signum) is not signal.SIG_IGN]
