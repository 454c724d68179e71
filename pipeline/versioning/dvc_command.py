"""How one DVC command runs: in this process (`dvc.cli.main`), with this interpreter first on PATH, so DVC's
output and progress reach the user unchanged and the stages run with the project's Python. What is run, and
when, is `pipeline.versioning.dvc_seam`'s to decide; the workspace journal uses this too, to put DVC's outputs
back after a stopped command."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hooks.dvc_remotes import workspace_remotes
from pipeline.errors import FULL_DISK, UserError, full_disk_in

if TYPE_CHECKING:
    from dvc.repo import Repo


def stage_environment() -> None:
    """Stages run `python -m ...` through the shell: make that the interpreter running this command, even when
    the project's virtual environment is not activated (an IDE, a GUI git client, a git hook)."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + path
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def dvc(*args: str) -> int:
    """Run one DVC command in this process; its exit status. A failure for lack of disk space is raised as the
    OSError it is, for the caller to say in one line with what to do: DVC's report of it ("ERROR: unexpected error
    - [Errno 28] No space left on device" and its footer asking to report a bug) is not printed."""
    from dvc.cli import main as dvc_main

    stage_environment()
    with full_disk_kept() as full_disk, remotes_of_the_workspace():
        status = dvc_main(list(args))
    if status != 0 and full_disk:
        raise OSError(full_disk[0], os.strerror(full_disk[0]))
    return status


@contextlib.contextmanager
def full_disk_kept() -> Iterator[list[int]]:
    """Within it, DVC's command line does not report a write stopped for lack of space: its error number is kept."""
    from dvc.cli import logger as command_line_logger

    kept: list[int] = []

    class KeepFullDisk(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            number = _full_disk_number(record)
            if number is not None:
                kept.append(number)
            return number is None

    keep = KeepFullDisk()
    command_line_logger.addFilter(keep)
    try:
        with console_filtered("error_write", lambda _objects: not kept):  # nor its footer asking for a report
            yield kept
    finally:
        command_line_logger.removeFilter(keep)


@contextlib.contextmanager
def console_filtered(method: str, passes: Callable[[tuple[object, ...]], bool]) -> Iterator[None]:
    """Within it, what DVC's console (`dvc.ui.ui`) writes through `method` (`write`, or `error_write` for stderr)
    is written only when `passes(objects)`; a filter an outer block set stays, under this one."""
    from dvc.ui import ui

    own, through = vars(ui).get(method), getattr(ui, method)

    def filtered(*objects: object, **style: object) -> None:
        if passes(objects):
            through(*objects, **style)

    setattr(ui, method, filtered)
    try:
        yield
    finally:
        if own is None:
            delattr(ui, method)  # the console's own method again
        else:
            setattr(ui, method, own)


def _full_disk_number(record: logging.LogRecord) -> int | None:
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, OSError) and error.errno in FULL_DISK:
        return error.errno
    return full_disk_in(f"{record.getMessage()} {error or ''}")


@contextlib.contextmanager
def remotes_of_the_workspace() -> Iterator[None]:
    """Within it, each DVC `Repo` made in this process without a config of its own (DVC's commands make theirs)
    uses the workspace's remote URLs at every revision (`hooks.dvc_remotes`): `dvc exp push` then sends an
    experiment's data where `dvc push` sends the workspace's."""
    from dvc.repo import Repo

    overrides = workspace_remotes()
    if not overrides:
        yield
        return
    make = Repo.__init__

    def with_workspace_remotes(self, *args, config=None, **kwargs) -> None:
        make(self, *args, config=overrides if config is None else config, **kwargs)

    Repo.__init__ = with_workspace_remotes
    try:
        yield
    finally:
        Repo.__init__ = make


@contextlib.contextmanager
def dvc_repo() -> Iterator[Repo]:
    """DVC's `Repo` of this project, in this process. DVC's own errors in the block (a dvc.yaml or dvc.lock it
    cannot read, a config or remote it refuses) end as one line in DVC's words, as its command line says them."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo() as repo:
            yield repo
    except DvcException as error:
        hint = config_fix(str(error)) or "fix what it names (`dvc status` shows DVC's detail)"
        raise UserError(f"DVC: {error}", hint=hint) from None
    except ImportError as error:  # a remote of a kind whose DVC plugin is not installed (azure://, gs://, ssh://)
        package = re.search(r"is supported, but requires '([^']+)'", str(error))
        if package is None:
            raise
        raise UserError(
            f"DVC: {error}",
            hint=f"install it (`python -m pip install {package[1]}`), or make the default remote a folder or an "
            "s3:// URL (`mlops remote set URL`)",
        ) from None


def cache_files_dir() -> Path:
    """Where DVC keeps file objects by md5 (`<cache>/files/md5`)."""
    with dvc_repo() as repo:
        return Path(repo.cache.local.path)


@contextlib.contextmanager
def dvc_said() -> Iterator[list[str]]:
    """Within it, DVC (run in this process) prints nothing: its information is dropped, as `--quiet` drops it, and
    its warnings and errors are kept in DVC's words, for the caller to say in one line (`--quiet` drops those too:
    a failed `dvc add --quiet` says nothing at all)."""
    from dvc.logger import ColorFormatter  # importing DVC sets up its loggers' handlers

    said: list[str] = []

    def keep_written(objects: tuple[object, ...]) -> bool:  # what DVC writes to stderr besides its log
        said.extend(text for text in (str(each).strip() for each in objects) if text)
        return False

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(self.format(record).removeprefix("ERROR: ").removeprefix("WARNING: "))

    keep = Keep(logging.WARNING)
    keep.setFormatter(ColorFormatter(log_colors=False))
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_objects", "dvc_data")]
    handlers = [logger.handlers for logger in loggers]
    for logger in loggers:
        logger.handlers = [keep]
    try:
        with console_filtered("error_write", keep_written):
            yield said
    finally:
        for logger, own in zip(loggers, handlers, strict=True):
            logger.handlers = own


def dvc_in_new_process(*args: str) -> int:
    """Run one DVC command in a new Python process; its exit status. For putting things back after a stop: the
    stopped process may hold a half-done import of DVC (a signal that landed in `import dvc` leaves `dvc.logger`
    loaded and `dvc` gone, and importing it again then fails) or DVC state changed half-way."""
    stage_environment()
    return subprocess.run([sys.executable, "-m", "dvc", *args], check=False).returncode


# DVC reads `.dvc/config.local` over `.dvc/config`: credentials set there for a remote that `.dvc/config` does not
# define (not committed yet, removed, or a revision from before it) leave a remote without its url.
REMOTE_WITHOUT_URL = re.compile(r"expected 'url' for dictionary value @ data\['remote'\]\['([^']+)'\]")


def config_fix(said: str) -> str | None:
    """The fix for a config DVC refuses, where it is a known one."""
    found = REMOTE_WITHOUT_URL.search(said)
    if found is None:
        return None
    name = found[1]
    return (
        f"`.dvc/config.local` sets options (credentials) of the DVC remote {name!r}, which `.dvc/config` here does "
        f"not define: define it there and commit it (`mlops remote set URL`, then `git commit .dvc/config`), or, "
        f"for a version from before that remote, drop them while you use it: `dvc remote remove --local {name}` "
        f"(set them again with `dvc remote modify --local {name} ...`)"
    )


def config_problem() -> str | None:
    """What DVC finds wrong with this workspace's config (`.dvc/config`, `.dvc/config.local` over it), if anything."""
    from dvc.config import Config, ConfigError

    try:
        Config.from_cwd()
    except ConfigError as error:
        return str(error)
    return None


class DvcFailed(Exception):
    """A DVC command failed; DVC has already printed why, or (run through its Python API) `said` says it."""

    def __init__(self, command: str, status: int, said: str = "") -> None:
        super().__init__(f"`dvc {command}` failed (exit {status})")
        self.status = status
        self.said = said


def checked(*args: str) -> None:
    status = dvc(*args)
    if status != 0:
        raise DvcFailed(" ".join(args), status)


def release_killed_holder(lock_dir: str | Path, pid: int) -> bool:
    """Drop from DVC's lock file in `lock_dir` (`.dvc/tmp/rwlock`, `.dvc/tmp/exps/rwlock`) what the process `pid`
    held, once it is gone (killed outright: nothing of it released them); whether there was any. DVC drops such an
    entry itself only when a later run wants the same path, with a warning that names a command the user did not
    run by that name ("Process 'mlops repro' ... had been killed. Auto removed it from the lock file."), and keeps
    the others for good. A process still alive keeps what it holds."""
    import psutil

    path = Path(lock_dir) / "rwlock"
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none, or torn (see `journal`): DVC says so itself
        return False
    if pid not in _holders(held) or psutil.pid_exists(pid):
        return False
    from dvc.config import Config
    from dvc.fs import localfs
    from dvc.rwlock import _edit_rwlock  # DVC's guard of that file, so a DVC command never sees it half-written

    hardlink = Config(dvc_dir=".dvc", validate=False)["core"].get("hardlink_lock", False)
    with _edit_rwlock(str(lock_dir), localfs, hardlink) as lock:
        for mode in ("read", "write"):
            for locked_path, infos in list(lock[mode].items()):
                kept = [info for info in _as_list(infos) if info["pid"] != pid]
                if not kept:
                    del lock[mode][locked_path]
                elif mode == "read":
                    lock[mode][locked_path] = kept
    return True


def _holders(held: object) -> set[int]:
    if not isinstance(held, dict):
        return set()
    return {
        info["pid"]
        for infos in [*(held.get("read") or {}).values(), *(held.get("write") or {}).values()]
        for info in _as_list(infos)
        if isinstance(info, dict) and isinstance(info.get("pid"), int)
    }


def _as_list(infos: object) -> list:
    return infos if isinstance(infos, list) else [infos]
