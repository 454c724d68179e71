"""A commit that deletes `dvc.lock` while `dvc.yaml` still has stages: dvc-lock-sync's rule, checked by staged-files.

pre-commit passes no deleted file to a hook, so dvc-lock-sync's file filter never wakes for a commit that only
deletes dvc.lock; staged-files runs on every commit (`always_run`), and this check costs it one `stat` unless
dvc.lock is gone from the work tree (which pre-commit leaves holding exactly what is staged).
Stdlib only: staged-files runs without site-packages.
"""

from __future__ import annotations

import os
import re

from hooks import git

HOOK_ID = "dvc-lock-sync"
LOCK, PIPELINE = "dvc.lock", "dvc.yaml"
STAGES = re.compile(rb"^stages\s*:", re.MULTILINE)


def deletes_lock() -> bool:
    """Whether the index drops the dvc.lock that HEAD has, while the staged dvc.yaml declares stages."""
    if os.path.lexists(LOCK):
        return False
    try:
        with open(PIPELINE, "rb") as handle:
            pipeline = handle.read(1 << 20)
    except OSError:  # no pipeline (or no longer one): nothing to lock
        return False
    return bool(STAGES.search(pipeline)) and git.blob_at("HEAD", LOCK) is not None and not git.index_entries([LOCK])


def report() -> None:
    print(
        f"{HOOK_ID}: this commit deletes {LOCK} while {PIPELINE} has stages: it would record no trained pipeline "
        f"(a clone could neither check out nor verify its data and model). Fix: `git restore --staged --worktree "
        f"{LOCK}` to keep it, or run `mlops repro` and `git add {LOCK}`."
    )
    print(f"To commit anyway on purpose: SKIP={HOOK_ID} git commit ...  (or git commit --no-verify)")
