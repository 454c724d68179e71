"""Concurrent `dvc exp run --temp` in one repository (a sweep's jobs), each running the experiment it queued, and
what a run killed outright (SIGKILL, an OOM kill) leaves of its experiment."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# DVC's state of temporary runs (`TempDirQueue`): per queued experiment, `run/<stash rev>/<rev>.run` holds the run's
# ExecutorInfo (name, temporary copy, status). DVC records no process for a temporary run, so it cannot tell one
# that was killed from one that runs, and `dvc exp show` lists a killed one as "Running" for good: RUNNERS holds
# `<stash rev>.json`, the pid of the process running it, from its queueing to its end. (Not beside DVC's info:
# `dvc exp show` fails on a run directory without one.)
TEMP_RUNS = Path(".dvc/tmp/exps/standalone")
RUN_INFO_DIRS = (TEMP_RUNS / "run", Path(".dvc/tmp/exps/run"))  # DVC writes the info to both as a run starts
RUNNERS = Path(".dvc/tmp/mlops-exp-runs")
TEMP_REFS = "refs/exps/temp/"


@contextlib.contextmanager
def queued_all_or_nothing(command: str, command_pid: int | None = None) -> Iterator[None]:
    """While inside, DVC's queueing of a temporary experiment runs under the journal, as part of `command` (the mlops
    command the user ran, and its process `command_pid` when that started this one: the next command's recovery names
    them). It sets the experiment's params in the workspace's params.yaml, stashes the workspace (index included) and
    detaches HEAD, then puts them back: killed part-way (SIGKILL), it left the experiment's params in the workspace,
    staged, and the next run trained on them. Only the queueing, seconds: the run itself, in its temporary copy,
    changes nothing here. Concurrent runs (a sweep's) queue one at a time, each holding DVC's repository lock, so each
    takes the journal in turn."""
    from dvc.repo.experiments.queue.tempdir import TempDirQueue

    from pipeline.params import PARAMS_FILE
    from pipeline.versioning.journal import all_or_nothing

    put = TempDirQueue.put

    def put_journaled(queue, *args, **kwargs):
        queued = {"outputs": False, "changes_index": True, "detaches_head": True, "leaves_changes": False}
        with all_or_nothing(command, (PARAMS_FILE,), command_pid=command_pid, **queued):
            return put(queue, *args, **kwargs)

    TempDirQueue.put = put_journaled
    try:
        yield
    finally:
        TempDirQueue.put = put


@contextlib.contextmanager
def only_its_own_experiment() -> Iterator[None]:
    """While inside, `dvc exp run --temp` runs the one experiment it queued. DVC queues a temporary experiment on
    a stash the whole repository shares, then runs whatever that stash holds: two runs started together (a sweep's
    jobs) could each take the other's, or both the same one, the slower then running the stash commit itself as a
    nameless experiment based on it. A queued entry that is not this run's stays for its own run."""
    from dvc.repo.experiments.exceptions import ExpQueueEmptyError
    from dvc.repo.experiments.executor.local import TempDirExecutor
    from dvc.repo.experiments.queue.base import QueueEntry, QueueGetResult
    from dvc.repo.experiments.queue.tempdir import TempDirQueue

    queued: list[str] = []
    owned: list[Path] = []  # the records of the runs this process queued
    put = TempDirQueue.put

    def put_and_remember(queue, *args, **kwargs):
        entry = put(queue, *args, **kwargs)
        queued.append(entry.stash_rev)
        owned.append(_record_runner(Path(queue.repo.tmp_dir) / RUNNERS.name, entry.stash_rev))
        return entry

    def get_own(queue):
        stashed = queue.stash.stash_revs
        mine = next((rev for rev in queued if rev in stashed), None)
        if mine is None:
            raise ExpQueueEmptyError("No stashed standalone experiments.")
        queued.remove(mine)
        stashed_entry = stashed[mine]
        entry = QueueEntry(
            queue.repo.root_dir,
            queue.scm.root_dir,
            queue.ref,
            mine,
            stashed_entry.baseline_rev,
            stashed_entry.branch,
            stashed_entry.name,
            stashed_entry.head_rev,
        )
        with copy_removed_if_stopped():
            executor = queue.init_executor(
                queue.repo.experiments, entry, TempDirExecutor, wdir=queue._standalone_tmp_dir
            )
        return QueueGetResult(entry, executor)

    own = {"put": put_and_remember, "get": get_own}
    dvcs = {name: TempDirQueue.__dict__.get(name) for name in own}  # None: inherited (put is WorkspaceQueue's)
    for name, method in own.items():
        setattr(TempDirQueue, name, method)
    try:
        yield
    finally:
        for name, method in dvcs.items():
            if method is None:
                delattr(TempDirQueue, name)
            else:
                setattr(TempDirQueue, name, method)
        for record in owned:  # ended, however; stopped before DVC's own cleanup could start (as it made its
            _clear_run(record.stem, os.getpid())  # temporary copy, or before it took the run off its queue): done here
            record.unlink(missing_ok=True)


@contextlib.contextmanager
def copy_removed_if_stopped() -> Iterator[None]:
    """While DVC makes a run's temporary copy of the workspace (before its run, whose cleanup removes it, begins):
    a stop, or any failure, removes the copy. DVC removes it only on an `Exception` raised before it is filled, and
    records where it is only once it is filled."""
    from dvc.repo.experiments.executor import local
    from dvc.utils.fs import remove

    made: list[str] = []
    mkdtemp = local.mkdtemp

    def mkdtemp_recorded(*args, **kwargs):
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    local.mkdtemp = mkdtemp_recorded
    try:
        yield
    except BaseException:
        for copy in made:
            remove(copy)
        raise
    finally:
        local.mkdtemp = mkdtemp


def _record_runner(runners: Path, stash_rev: str) -> Path:
    """Record this process as the one running `stash_rev` (in `runners`, the repository's RUNNERS); the record."""
    runners.mkdir(parents=True, exist_ok=True)
    record = runners / f"{stash_rev}.json"
    writing = runners / f"{stash_rev}.{os.getpid()}.new"
    writing.write_text(json.dumps({"pid": os.getpid()}), encoding="utf-8")
    os.replace(writing, record)  # whole or not at all: a reader never sees it half-written
    return record


def clear_killed_runs() -> list[str]:
    """Remove what temporary runs whose process is gone (killed outright: nothing of theirs cleaned up) left: the
    "Running" row in `dvc exp show`, the temporary copy of the workspace, an entry still queued, DVC's locks and
    temporary refs of theirs. A run whose process lives is never touched. Says what it removed in one line (as
    the workspace's recovery does, whatever the command); the names of the experiments removed."""
    records = list(RUNNERS.glob("*.json"))  # none (the usual case): nothing imported, nothing read
    if not records:
        return []
    import psutil

    killed = []
    for record in records:
        stash_rev = record.stem
        try:
            pid = json.loads(record.read_text(encoding="utf-8"))["pid"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(pid, int) and not psutil.pid_exists(pid):
            killed.append((stash_rev, pid))
    if not killed:
        return []
    names = [name for stash_rev, pid in killed if (name := _clear_run(stash_rev, pid))]
    if names:
        print(
            f"mlops: cleared experiment run(s) {', '.join(names)}, left unfinished by a command that was killed (the "
            f'"Running" row in `dvc exp show`, the temporary copy of the workspace under {TEMP_RUNS}).',
            file=sys.stderr,
        )
    return names


def _clear_run(stash_rev: str, pid: int) -> str | None:
    """Clear the run of `stash_rev` whose process `pid` is gone (or is this one, the run over), as DVC's own cleanup of
    a failed run leaves it (its info marked failed, its temporary copy removed); the experiment's name if something
    of it was left."""
    from dvc.repo.experiments.executor.base import BaseExecutor, ExecutorInfo, TaskStatus
    from dvc.utils.fs import remove

    from hooks import git
    from pipeline.versioning.dvc_command import release_killed_holder

    for held_ref in _written_by(pid):  # refs DVC pushes its copy from, removed as it ends
        if held_ref.startswith(TEMP_REFS):
            git.git("update-ref", "-d", held_ref, check=False)
    release_killed_holder(TEMP_RUNS.parent, pid)
    name = _drop_queued(stash_rev)
    left = name is not None
    for info_dir in RUN_INFO_DIRS:  # the temporary runs' own first; the other is written first, as a run starts
        info_file = info_dir / stash_rev / f"{stash_rev}{BaseExecutor.INFOFILE_EXT}"
        try:
            info = ExecutorInfo.load_json(str(info_file))
        except (OSError, ValueError, TypeError):
            continue
        name = name or info.name
        copy = Path(info.root_dir).resolve()
        if TEMP_RUNS.resolve() in copy.parents and copy.exists():
            remove(str(copy))
            left = True
        if info_dir == RUN_INFO_DIRS[0] and info.status < TaskStatus.FAILED:  # what `dvc exp show` reads
            recorded = info.result_ref and git.resolve_commit(info.result_ref)  # complete before the kill: kept
            left |= info.status <= TaskStatus.SUCCESS and not recorded
            info.status = TaskStatus.FINISHED if recorded else TaskStatus.FAILED
            info.dump_json(str(info_file))
    (RUNNERS / f"{stash_rev}.json").unlink(missing_ok=True)
    return (name or stash_rev[:7]) if left else None


def _written_by(pid: int) -> list[str]:
    """What the process `pid` held for writing in DVC's experiments lock file (refs, while it pushed them)."""
    try:
        held = json.loads((TEMP_RUNS.parent / "rwlock").read_text(encoding="utf-8"))
        return [path for path, info in (held.get("write") or {}).items() if info.get("pid") == pid]
    except (OSError, ValueError, AttributeError):
        return []


def _drop_queued(stash_rev: str) -> str | None:
    """Take `stash_rev` off the queue of DVC's workspace and temporary runs, if it is still there (the next `dvc exp
    run` would run it first); the experiment's name if it was."""
    from hooks import git

    queue_ref = "refs/exps/stash"  # DVC's WORKSPACE_STASH, which temporary runs share
    if stash_rev not in git.git("log", "-g", "--format=%H", queue_ref, check=False).decode().split():
        return None
    from dvc.repo import Repo
    from dvc.repo.experiments.stash import ExpStash
    from dvc.repo.experiments.utils import get_exp_rwlock

    with Repo() as repo, get_exp_rwlock(repo, writes=[queue_ref]):
        stash = ExpStash(repo.scm, queue_ref)
        entry = stash.stash_revs.get(stash_rev)
        if entry is None:
            return None
        stash.drop(entry.stash_index)
    return entry.name or stash_rev[:7]
