"""All or nothing for every command that changes the workspace, whatever stops it.

Before a command changes anything it writes a journal (`.dvc/tmp/mlops-journal/`): copies of the files it may
change, which of them did not exist, git's index, and where HEAD was. Then:

- it completes: the journal is deleted;
- it fails, or Ctrl-C, SIGTERM (`timeout`, CI cancellation, `docker stop`) or SIGHUP (a closed terminal) stop it:
  the same unwinding puts everything back from the journal, then deletes it;
- SIGKILL or a power cut stop it: the journal stays, and the next `mlops` command (which finds it while no other
  command holds the run lock) puts everything back first. Git's index is put back only by a command that changes
  it itself (checkout, promote) or while it holds what it held at the start: a change of the user's since then
  (`git reset --hard` after the stop) is kept, and the recovery says so.

DVC's outputs (models/, data files) are restored by `dvc checkout` against the restored `dvc.lock` and `.dvc`
files, after the journal's hard links to them as they were are put back: DVC deletes an output before its stage
writes a new one, and its cache may lack the old one (a cleared cache, `dvc gc`) or hold it corrupted, where a
restore from the cache alone lost the model or put bad bytes in its place. Objects a stopped run added to the cache
are harmless and kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hooks import git
from hooks.stop_signals import JOURNAL_DIR, STOP_SIGNALS, stops_to_take
from pipeline.errors import FULL_DISK, UserError, errno_in
from pipeline.versioning.dvc_command import cache_files_dir, dvc_in_new_process, release_killed_holder

JOURNAL = Path(JOURNAL_DIR)
RUN_LOCK = Path(".dvc/tmp/mlops-repro.lock")
DVC_RWLOCK = Path(".dvc/tmp/rwlock")
_WRITING = JOURNAL.with_name(JOURNAL.name + ".new")
_DONE = JOURNAL.with_name(JOURNAL.name + ".done")
OUTPUTS = "outputs"  # the journal's hard links to DVC's outputs as they were
_active = False  # a journalled command calling another (exp promote -> apply): the outer journal covers both
# The stop signals the block received, Ctrl-C included, even one whose exception a library caught or Python dropped.
_stopped_by: list[int] = []
_completed: list[str] = []  # the last journalled block that changed the workspace completed (its command)
_unwinding = False  # inside `stop_signals_unwind`, where `_stopped_by` is this block's


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, unwound like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Entry:
    command: str
    pid: int  # the process that runs the block (and holds DVC's locks)
    command_pid: int | None = None  # the mlops command the user ran, when the block runs in a process it started
    paths: dict[str, str] = field(default_factory=dict)  # path -> "file" | "dir" | "absent"
    head: str | None = None  # the branch (or commit) HEAD was on, when the command moves HEAD
    head_commit: str | None = None
    ends_with_commit: bool = False  # its last step is a git commit: HEAD moved means it completed
    branch: str | None = None  # a branch the command creates (deleted when it is undone)
    outputs: bool = True  # run `dvc checkout` after restoring
    checkout: list[str] = field(default_factory=list)  # what that `dvc checkout` checks out (none named: everything)
    index_digest: str | None = None  # what git's index held when the command started (its entries, not their stat)
    changes_index: bool = False  # the block stages files itself (DVC's queueing of an experiment): put back whole
    branch_head: str | None = None  # the branch HEAD was on, when the block may detach HEAD at its commit
    started: float = 0.0  # when the command started (seconds since the epoch)
    linked: dict[str, list[int]] = field(default_factory=dict)  # output -> [size, mtime_ns] of its link under OUTPUTS


@contextlib.contextmanager
def all_or_nothing(
    command: str,
    paths: tuple[str, ...] = (),
    *,
    move_head: bool = False,
    ends_with_commit: bool = False,
    branch: str | None = None,
    outputs: bool = True,
    checkout: tuple[str, ...] = (),
    changes_index: bool = False,
    detaches_head: bool = False,
    leaves_changes: bool = True,
    command_pid: int | None = None,
) -> Iterator[None]:
    """Run the block holding the run lock, with a journal of `paths` (files or folders), git's index and HEAD:
    on any exception or stop signal everything is put back as it was, then the exception propagates. DVC's
    outputs are put back by `dvc checkout` of `checkout` (none named: all of them) when `outputs`. A block that
    stages files itself (`changes_index`) gets the index put back whatever it holds; one that may detach HEAD at its
    commit (`detaches_head`) gets HEAD back on its branch, the work tree untouched. Once the journal is deleted the
    block's changes are complete (`changes_completed`), unless the block puts back its own (`leaves_changes`).
    `command_pid`: the process of the mlops `command`, when it started this one to run the block (a sweep's run)."""
    global _active
    if _active:
        yield
        return
    with one_run_at_a_time(command):
        _recover_locked()
        entry = Entry(command, os.getpid(), command_pid, branch=branch, ends_with_commit=ends_with_commit)
        entry.outputs = outputs
        entry.checkout = list(checkout)
        entry.changes_index = changes_index
        if detaches_head:
            entry.branch_head = _git("symbolic-ref", "-q", "HEAD") or None
        entry.started = time.time()
        entry.head_commit = git.resolve_commit("HEAD")
        entry.index_digest = _index_digest()
        if move_head:
            entry.head = _git("symbolic-ref", "-q", "--short", "HEAD") or entry.head_commit
        _active = True
        try:
            with stop_signals_unwind():
                _write_or_refuse(entry, paths)
                try:
                    yield
                    raise_if_stopped()  # raised inside a finalizer ("Exception ignored in ..."): stop all the same
                except BaseException as error:
                    _completed.clear()
                    with _stop_signals_ignored():
                        _restore(JOURNAL)
                        _discard(JOURNAL)
                    if _stopped_by and not isinstance(error, Stopped):
                        # A library caught the stop (DVC's main turns Ctrl-C and SIGTERM into "interrupted", exit
                        # 252) and the block failed on that: the user stopped the command, nothing failed.
                        raise Stopped(_stopped_by[0]) from error
                    raise
                with stops_held():  # deleting the journal completes the block: a stop comes after it
                    _discard(JOURNAL)
                    if leaves_changes:
                        _completed[:] = [command]
        finally:
            _active = False


def changes_completed() -> bool:
    """Whether this process's last journalled block completed its changes: a stop after it put nothing back."""
    return bool(_completed)


def recover() -> str | None:
    """Undo a command that was killed before it could finish (its journal is here and no command holds the run
    lock); what was undone, in words, or None."""
    if not (JOURNAL.is_dir() or _WRITING.exists() or _DONE.exists()):
        return None
    try:
        with one_run_at_a_time("mlops (recovery)"):
            return _recover_locked()
    except UserError:  # the journal's command is still running
        return None


def _recover_locked() -> str | None:
    for leftover in (_WRITING, _DONE):  # killed while writing (nothing changed yet) or deleting (completed)
        shutil.rmtree(leftover, ignore_errors=True)
    if not JOURNAL.is_dir():
        return None
    entry = Entry(**json.loads((JOURNAL / "journal.json").read_text()))
    with _stop_signals_ignored():
        index_kept = _restore(JOURNAL)
        release_killed_holder(DVC_RWLOCK.parent, entry.pid)  # else DVC's next run warns of it, naming the command
        _discard(JOURNAL)
    message = (
        f"`{entry.command}` (pid {entry.command_pid or entry.pid}) was stopped before it finished: put back "
        f"{', '.join(sorted(entry.paths)) or 'the workspace'} as they were before it"
    )
    print(f"mlops: {message}.", file=sys.stderr)
    if index_kept:
        print("mlops: git's index changed since that command started (yours): left as it is.", file=sys.stderr)
    _name_index_lock_left(entry)
    return message


def _name_index_lock_left(entry: Entry) -> None:
    """Git's `index.lock` made since the killed command started: its git commit was killed with it, and every git
    command (and DVC's) fails on it until it goes. Not removed here: a git command of the user's may hold it."""
    lock = Path(_git("rev-parse", "--git-path", "index.lock") or ".git/index.lock")
    with contextlib.suppress(OSError):
        if lock.stat().st_mtime >= entry.started - CLOCK_SLACK:
            print(
                f"mlops: git's {lock} is left from that command (git was killed with it). Unless a git command "
                f"is running here, remove it: rm {lock}",
                file=sys.stderr,
            )


def _write_or_refuse(entry: Entry, paths: tuple[str, ...]) -> None:
    """Write the journal, or refuse the command (nothing has changed yet) when the copy cannot be made: a full
    disk, most often."""
    try:
        _write(entry, paths)
    except OSError as error:
        shutil.rmtree(_WRITING, ignore_errors=True)
        number = error.errno or next((errno_in(why) for _, _, why in _copy_failures(error)), None)
        saved = ", ".join(paths) or "git's index"
        full = number in FULL_DISK
        raise UserError(
            f"could not keep a copy of {saved} in {JOURNAL.parent} to put back should `{entry.command}` fail "
            f"({os.strerror(number) if number else error}); nothing was changed",
            hint="free some disk space, then run it again" if full else f"make {JOURNAL.parent} writable, then retry",
        ) from None


def _copy_failures(error: OSError) -> list[tuple[str, str, str]]:
    """shutil.copytree's failures, (source, destination, why) each, from the error it raises after trying them all."""
    failures = error.args[0] if isinstance(error, shutil.Error) and error.args else []
    return failures if isinstance(failures, list) else []


def _write(entry: Entry, paths: tuple[str, ...]) -> None:
    shutil.rmtree(_WRITING, ignore_errors=True)
    saved = _WRITING / "files"
    saved.mkdir(parents=True)
    for name in dict.fromkeys(paths):
        source = Path(name)
        if source.is_dir():
            shutil.copytree(source, saved / name, symlinks=True)
            entry.paths[name] = "dir"
        elif source.exists():
            (saved / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, saved / name)
            entry.paths[name] = "file"
        else:
            entry.paths[name] = "absent"
    if entry.outputs:
        entry.linked = _link_outputs(_WRITING / OUTPUTS)
    index = _index_path()
    if index and index.exists():
        shutil.copy2(index, _WRITING / "index")
    (_WRITING / "journal.json").write_text(json.dumps(asdict(entry)))
    _fsync_dir(_WRITING)
    os.replace(_WRITING, JOURNAL)  # the journal exists whole, or not at all


def _link_outputs(into: Path) -> dict[str, list[int]]:
    """Hard links under `into` to the files DVC tracks in the workspace (no copy: DVC deletes an output before its
    stage writes another, so the link keeps the old bytes); each one's size and time, by which the restore knows
    that nothing rewrote it in place since. Where a link cannot be made (another file system), the cache serves."""
    linked = {}
    for name in sorted(_tracked()):
        source = Path(name)
        if not source.is_file() or source.is_symlink():
            continue
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.link(source, target)
            stat = target.stat()
            linked[name] = [stat.st_size, stat.st_mtime_ns]
    return linked


def _put_back_outputs(journal: Path, linked: dict[str, list[int]]) -> None:
    """The outputs as they were, from the journal's links to them, each one that nothing rewrote in place."""
    for name, (size, mtime_ns) in linked.items():
        link = journal / OUTPUTS / name
        with contextlib.suppress(OSError):
            stat = link.stat()
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
                continue
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            placed = Path(name).with_name(f".{Path(name).name}.mlops-restore")
            placed.unlink(missing_ok=True)
            os.link(link, placed)  # the journal keeps its link: a restore cut short by SIGKILL runs again
            os.replace(placed, name)
            placed.unlink(missing_ok=True)  # (a rename onto another link of the same file leaves both)


def _restore(journal: Path) -> bool:
    """Put back what `journal` saved; whether git's index was left as it is (changed by someone else since)."""
    entry = Entry(**json.loads((journal / "journal.json").read_text()))
    head_moved = (git.resolve_commit("HEAD") or "") != (entry.head_commit or "")
    if entry.ends_with_commit and entry.head_commit and head_moved:
        return False  # its final commit was made: the command completed
    index_kept = not _index_is_the_commands(entry)
    tracked_before = _tracked()
    if entry.head:  # without the user's checkout hooks: DVC's outputs are checked out below
        _git("-c", "core.hooksPath=/dev/null", "checkout", "-q", "--force", entry.head)
    elif entry.branch_head and not head_moved and not _git("symbolic-ref", "-q", "HEAD"):
        _git("symbolic-ref", "HEAD", entry.branch_head)  # detached at the same commit: back on the branch
    for name, kind in entry.paths.items():
        _remove(Path(name))
        if kind == "dir":
            shutil.copytree(journal / "files" / name, name, symlinks=True)
        elif kind == "file":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(journal / "files" / name, name)
    index = _index_path()
    if index and (journal / "index").exists() and not index_kept:
        shutil.copy2(journal / "index", index)
    for name in sorted(tracked_before - _tracked()):  # outputs only the stopped command had started tracking
        Path(name).unlink(missing_ok=True)
    for partial in Path(".").glob("models/*.partial"):  # a stage killed mid-write (see model_io)
        partial.unlink()
    _drop_torn_dvc_lock_file()
    if entry.outputs:
        _put_back_outputs(journal, entry.linked)
        dvc_in_new_process("checkout", "--force", "--quiet", *entry.checkout)
    _drop_dvc_temporaries(entry, tracked_before | _tracked() | set(entry.linked))
    if entry.branch:
        _remove_branch(entry.branch)
    return index_kept


def _index_is_the_commands(entry: Entry) -> bool:
    """Whether git's index may be put back: the command itself changes it (moves HEAD, commits), or it holds what
    it held when the command started. Otherwise someone changed it since (a `git reset --hard` after the stop,
    a `git add` in another terminal), and putting the old copy back would undo their change."""
    if entry.head or entry.ends_with_commit or entry.changes_index or entry.index_digest is None:
        return True
    return _index_digest() == entry.index_digest


def _index_digest() -> str:
    """A digest of git's index entries (mode, object, stage, path): not of its file, which `git status` rewrites."""
    return hashlib.sha256(_git("ls-files", "--stage", "-z").encode("utf-8", "surrogateescape")).hexdigest()


def _drop_torn_dvc_lock_file() -> None:
    """A stop signal can land while DVC rewrites its own lock file (`.dvc/tmp/rwlock`), leaving it empty or cut
    short: every later DVC command would refuse to read it. Only DVC commands of the stopped run wrote it (we
    hold the run lock), so a file that is not JSON any more is theirs and is removed; a whole one is left."""
    try:
        json.loads(DVC_RWLOCK.read_text())
    except FileNotFoundError:
        pass
    except ValueError:
        DVC_RWLOCK.unlink(missing_ok=True)


# dvc_objects' `tmp_fname`: DVC writes each copy (into its cache, back into the workspace) to such a file beside its
# destination, then renames it into place.
DVC_TEMPORARY = re.compile(r"\.[A-Za-z0-9_-]{22}\.tmp\Z")
CLOCK_SLACK = 2.0  # seconds: a file's times come from the kernel's coarse clock, which may lag time.time()


def _drop_dvc_temporaries(entry: Entry, outputs: set[str]) -> None:
    """Remove the temporaries DVC left since the command started: beside the files the journal restores, beside and
    inside DVC's outputs (a stop as DVC copies a model back from its cache leaves one in models/) and in DVC's
    cache. DVC leaves one when a stop or a full disk cuts the copy before its rename: in the workspace it makes a
    folder DVC tracks (data/external) look changed, in the cache it holds the very space the user has to free."""
    folders = {Path(name).parent for name in (*entry.paths, *outputs)}
    for output in outputs:
        folders.update(Path(folder) for folder, _, _ in os.walk(output))  # a folder output's own files
    with contextlib.suppress(Exception):  # no readable DVC config: the workspace's folders only
        cache = cache_files_dir()
        folders.update([cache, *(path for path in cache.glob("??") if path.is_dir())])
    for folder in folders:
        with contextlib.suppress(OSError), os.scandir(folder) as children:
            for child in children:
                if not DVC_TEMPORARY.search(child.name) or not child.is_file(follow_symlinks=False):
                    continue
                if child.stat(follow_symlinks=False).st_mtime >= entry.started - CLOCK_SLACK:
                    Path(child.path).unlink(missing_ok=True)


def _remove_branch(branch: str) -> None:
    """Delete `branch`, and first any worktree of it a killed command left behind."""
    worktree = None
    for line in _git("worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            worktree = line.removeprefix("worktree ")
        elif line == f"branch refs/heads/{branch}" and worktree:
            _git("worktree", "remove", "--force", "--", worktree)
    _git("worktree", "prune")
    _git("branch", "-q", "-D", "--", branch)


def _discard(journal: Path) -> None:
    os.replace(journal, _DONE)
    shutil.rmtree(_DONE, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _tracked() -> set[str]:
    """The workspace paths DVC tracks with its cache: `dvc.lock`'s outputs and the `.dvc` pointers' files."""
    # PyYAML, imported only when a restore needs it: every `mlops` command imports this module (`recover`).
    from hooks.pipeline_state import cached_outputs, read_worktree

    try:
        return set(cached_outputs(read_worktree(), git.ls_files("*.dvc", untracked=True)))
    except Exception:  # a half-written dvc.lock: nothing to compare against
        return set()


@contextlib.contextmanager
def one_run_at_a_time(command: str = "mlops repro") -> Iterator[None]:
    """Hold this repo's run lock: a second `mlops repro` (or any command that changes the workspace) refuses
    before it snapshots or restores anything (its restore would otherwise put back files under the first run's
    feet)."""
    import fcntl

    RUN_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(RUN_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "pid unknown"
            raise UserError(
                f"another mlops command is running in this repository ({holder}); nothing was changed",
                hint=f"wait for it to finish, then run `{command}` again",
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}: {command}\n")
        handle.flush()
        yield


def running_command() -> str | None:
    """`pid N: COMMAND` of the mlops command that holds this repository's run lock, while it holds it (Linux's
    /proc/locks names the lock's holders; elsewhere None). Not by taking the lock: a lock taken here, however
    briefly, could refuse a command starting then."""
    try:
        lock = RUN_LOCK.stat()
        held = f"{os.major(lock.st_dev):02x}:{os.minor(lock.st_dev):02x}:{lock.st_ino}"
        holders = [line.split() for line in Path("/proc/locks").read_text().splitlines() if " FLOCK " in line]
        if not any(held in fields for fields in holders):
            return None
        return RUN_LOCK.read_text().strip() or "pid unknown"
    except OSError:
        return None


def _git(*args: str) -> str:
    """git's output, or "" when it fails: putting things back goes on whatever one step says."""
    try:
        return git.git(*args).decode("utf-8", "surrogateescape").strip()
    except git.GitFailed:
        return ""


def _index_path() -> Path | None:
    path = _git("rev-parse", "--git-path", "index")
    return Path(path) if path else None


def _fsync_dir(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())


def stop_signal() -> int | None:
    """The stop signal (Ctrl-C, SIGTERM, SIGHUP) that ended this process's journalled block (all put back)."""
    return _stopped_by[0] if _stopped_by else None


def stop_said() -> None:
    """The command has said in its own words what its stop left: `mlops` adds no line of its own (the command ends
    with 128 + the signal's number itself)."""
    _stopped_by.clear()


def _raise_stopped(signum: int, _frame: object) -> None:
    _stopped_by.append(signum)
    raise Stopped(signum)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    _stopped_by.append(signum)
    signal.default_int_handler(signum, frame)


@contextlib.contextmanager
def stop_signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C (the default would end the process with nothing put back): the
    journal's block, or a command that writes no workspace file (a subset run, in a scratch directory). Each stop,
    Ctrl-C included, is also kept in `_stopped_by`: one that lands in a finalizer, where Python prints and drops
    any exception, or whose exception a library catches, still stops the block (at its end, at the latest).

    Once a stop signal has landed, what a finalizer raises is its echo, not news: an object whose construction
    the signal cut short fails as it is collected (DVC's progress callbacks print an AttributeError's
    traceback), so it is dropped rather than printed over the message that says what was put back. Inside an
    enclosing such block (DVC's queueing of an experiment, journalled within a run that unwinds stops), a stop it
    has kept stays kept: it stops this block too."""
    global _unwinding
    if not _unwinding:
        _stopped_by.clear()
    # One ignored from the start stays ignored (`nohup mlops ...`), here and in DVC and the stages this starts
    handlers = {signum: _raise_stopped for signum in stops_to_take((signal.SIGTERM, signal.SIGHUP))}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # Ctrl-C stays a KeyboardInterrupt
        handlers[signal.SIGINT] = _raise_keyboard_interrupt
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None if _stopped_by else previous_hook(unraisable)
    unwinding_before, _unwinding = _unwinding, True
    try:
        yield
        raise_if_stopped()
    except Exception as error:
        if _stopped_by:  # what the stop cut short failed on its way out: a stop, not a failure to report
            # (CPython itself turns a stop raised while it builds an ImportError into "TypeError: expected a
            # message argument": seen as SIGHUP landed while `mlops gate` imported numpy)
            raise Stopped(_stopped_by[0]) from error
        raise
    finally:
        _unwinding = unwinding_before
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def raise_if_stopped() -> None:
    """Inside a block that unwinds stops, raise the stop a finalizer dropped or a library caught (the block went on
    as if none had come): before the block's result is kept, and at its end."""
    if _stopped_by and _unwinding:
        raise Stopped(_stopped_by[0])


def stops_unwound() -> contextlib.AbstractContextManager[None]:
    """`stop_signals_unwind` for a block that must clean up after itself when stopped (a half-written output), unless
    an enclosing block already unwinds stops (its record of them is kept) or this is not the main thread (where
    Python lets no handler be set)."""
    if _unwinding or threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    return stop_signals_unwind()


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Stop signals held back (not lost) until the block ends, then delivered: a step that must not be cut between
    two of its lines (a file made and its name kept, for the clean-up). Python runs its handlers in the main thread
    whichever thread the system hands a signal to (a library's worker), so there the handlers are what is held: each
    stop that comes is kept, then raised again after the block. Off the main thread, the signals are blocked."""
    if threading.current_thread() is not threading.main_thread():
        held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return
    came: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: came.append(signum)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in came:
            signal.raise_signal(signum)


@contextlib.contextmanager
def final_step(what: str) -> Iterator[None]:
    """A command's last step, after which it is complete (its git commit), run to its end whatever stop comes: a
    git killed half-way leaves `.git/index.lock`, which stops every later git command. A stop that came meanwhile
    stops the command if the step failed (a Ctrl-C reaches git too), and everything is put back; if the step
    completed, so did the command, which says so and ends as a complete run does. `what`: the step, as done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: came.append(signum)) for signum in stops_to_take()}
    try:
        yield
    except BaseException:
        if came:
            _stopped_by.append(came[0])
            raise Stopped(came[0]) from None
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if came:
        print(f"mlops: {signal.Signals(came[0]).name} came as {what}; that completed the command.", file=sys.stderr)


def uninterruptible() -> contextlib.AbstractContextManager[None]:
    """A short change that must not stop half-way (the registry's tags of one promotion or rollback, the renames
    of outputs that land together): stop signals are ignored until it is done, so it ends as after a complete run.
    Off the main thread, where Python lets no handler be set, it is the main thread's to ignore them."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    return _stop_signals_ignored()


@contextlib.contextmanager
def _stop_signals_ignored() -> Iterator[None]:
    """While putting things back, a second Ctrl-C or SIGTERM must not stop half-way (SIGKILL can: the journal
    stays, and the next command finishes the job)."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
