"""Concurrent `dvc exp run --temp` in one repository (a sweep's jobs), each running the experiment it queued."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


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
    put = TempDirQueue.put

    def put_and_remember(queue, *args, **kwargs):
        entry = put(queue, *args, **kwargs)
        queued.append(entry.stash_rev)
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
        executor = queue.init_executor(queue.repo.experiments, entry, TempDirExecutor, wdir=queue._standalone_tmp_dir)
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
