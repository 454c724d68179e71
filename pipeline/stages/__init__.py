"""One module per DVC stage: a pure function that does the work, and a thin `main` that reads params and paths."""

import signal
import sys


def _stopped(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)  # unwinds like Ctrl-C, but without a traceback: `mlops repro` says what was kept


# Installed before a stage imports its libraries (DVC starts `python -m pipeline.stages.<name>`), so that Ctrl-C
# during those imports is as quiet as at any other moment.
signal.signal(signal.SIGINT, _stopped)
