"""One module per DVC stage: a pure function that does the work, and a thin `main` that reads params and paths."""

import signal
import sys

from hooks.stop_signals import stops_to_take


def _stopped(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)  # unwinds like Ctrl-C, but without a traceback: `mlops repro` says what was kept


# Installed before a stage imports its libraries (DVC starts `python -m pipeline.stages.<name>`), so that Ctrl-C
# during those imports is as quiet as at any other moment; never over an ignored SIGINT (a script's background job).
for _signum in stops_to_take((signal.SIGINT,)):
    signal.signal(_signum, _stopped)
