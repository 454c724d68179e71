"""What `dvc repro` did to each stage, read from DVC's own log records as it runs in this process; and DVC's
advice that contradicts the project's, dropped from what it prints.

DVC logs one of these per stage it visits (dvc/stage/run.py, dvc/stage/cache.py, dvc/stage/__init__.py of
DVC 3); a stage DVC never visits (nothing was stale, so DVC did not start) was skipped too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from pipeline.errors import UserError, full_disk, read_dvc_message
from pipeline.versioning.dvc_command import DvcFailed, console_filtered
from pipeline.versioning.journal import Stopped, stop_signal

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


# DVC's closing advice that contradicts the project's own: staging is the hooks' job (and `mlops exp promote`'s),
# data goes to the remote with `mlops data push`, experiments are applied with `mlops exp apply`.
CONTRADICTING_ADVICE = (
    "\nTo enable auto staging, run:",
    "Use `dvc push` to send your updates to remote storage.",
    "To apply the results of an experiment to your workspace run:",
)


# And, where the caller stages dvc.lock itself (the commit hooks' retrain), DVC's advice to stage it.
STAGING_ADVICE = ("\nTo track the changes with git, run:",)

# `dvc exp pull`'s report, which names what it pulled as a Python list in quotes; `mlops exp pull` says its own.
PULL_REPORT = ("Pulled experiment '", "No experiments to pull.")


class _DropAdvice(logging.Filter):
    def __init__(self, advice: tuple[str, ...]) -> None:
        super().__init__()
        self.advice = advice

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.advice))


@contextlib.contextmanager
def contradicting_advice_dropped(
    staged_by_caller: bool = False, said_by_caller: tuple[str, ...] = ()
) -> Iterator[None]:
    """Within it, DVC running in this process keeps its errors, warnings and progress but not the advice in
    CONTRADICTING_ADVICE (and STAGING_ADVICE when `staged_by_caller`, and the lines starting with
    `said_by_caller`, which the caller says in its own words): DVC logs some of it (`dvc.repo.scm_context`) and
    writes the rest to its console (`dvc.ui.ui.write`), so both are filtered."""
    from dvc.repo import scm_context

    advice = CONTRADICTING_ADVICE + (STAGING_ADVICE if staged_by_caller else ()) + said_by_caller

    def not_advice(objects: tuple[object, ...]) -> bool:
        return not any(isinstance(text, str) and text.startswith(advice) for text in objects)

    advice_filter = _DropAdvice(advice)
    scm_context.logger.addFilter(advice_filter)
    try:
        with console_filtered("write", not_advice):
            yield
    finally:
        scm_context.logger.removeFilter(advice_filter)


class _ErrorsOnceStopped(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR or stop_signal() is None


@contextlib.contextmanager
def stop_unsaid() -> Iterator[None]:
    """Within it, DVC's "interrupted by the user" (its command line's word for a stop it caught) is not printed,
    nor, once a stop has come, any error its command line reports and the footer asking to report it: what the
    stop cut short fails on its way out ("unexpected error - cannot close exported pointers exist"), an echo of the
    stop, not a bug. The caller says what the stop left and what to do."""
    from dvc.cli import logger as command_line_logger

    filters = (_DropAdvice(("interrupted by the user",)), _ErrorsOnceStopped())
    for stop_filter in filters:
        command_line_logger.addFilter(stop_filter)
    try:
        with console_filtered("error_write", lambda _objects: stop_signal() is None):
            yield
    finally:
        for stop_filter in filters:
            command_line_logger.removeFilter(stop_filter)


@contextlib.contextmanager
def experiment_failure_said(experiment: str) -> Iterator[None]:
    """DVC's failure of `experiment` (described: "experiment NAME") as one line; or, when a stop made DVC fail,
    the stop itself."""
    try:
        yield
    except DvcFailed as failure:
        if stop_signal() is not None:  # DVC caught the stop and failed: a stop, not a failure to fix
            raise Stopped(stop_signal()) from None
        raise UserError(
            f"{experiment} failed; the workspace is untouched", hint=read_dvc_message("fix that, then run it again")
        ) from failure
    except OSError as error:
        if (no_room := full_disk(error, "it")) is None:
            raise
        raise UserError(f"{experiment} failed: {no_room.message}; the workspace is untouched", no_room.hint) from None
