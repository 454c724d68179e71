"""What `dvc repro` did to each stage, read from DVC's own log records as it runs in this process.

DVC logs one of these per stage it visits (dvc/stage/run.py, dvc/stage/cache.py, dvc/stage/__init__.py of
DVC 3); a stage DVC never visits (nothing was stale, so DVC did not start) was skipped too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

RAN, RESTORED, SKIPPED = "ran", "restored from the run cache", "skipped (up to date)"
MESSAGES = {
    "Running stage '%s':": RAN,
    "Stage '%s' is cached - skipping run, checking out outputs": RESTORED,
    "Stage '%s' didn't change, skipping": SKIPPED,
    "'%s' didn't change, skipping": SKIPPED,
}


class _Outcomes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_stage: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        outcome = MESSAGES.get(record.msg) if isinstance(record.msg, str) else None
        if outcome and record.args:
            self.by_stage[str(record.args[0])] = outcome


@contextlib.contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Within it, the dict it yields fills with stage name -> RAN, RESTORED or SKIPPED."""
    handler = _Outcomes()
    dvc_logger = logging.getLogger("dvc")
    dvc_logger.addHandler(handler)
    try:
        yield handler.by_stage
    finally:
        dvc_logger.removeHandler(handler)
