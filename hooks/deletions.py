"""Commits that delete a file DVC needs from the project, checked by staged-files.

pre-commit passes no deleted file to a hook, so no hook's file filter wakes for a commit that only deletes one;
staged-files runs on every commit (`always_run`), and each check here costs it one `stat` unless the file is gone
from the work tree (which pre-commit leaves holding exactly what is staged). Each deletion passes when what needed
the file goes with it, as DVC's own removals leave the project:
- `dvc.lock` (dvc-lock-sync's rule) while the staged `dvc.yaml` still declares stages;
- `.dvc/config` (the project's remote and settings, for every teammate) while other files of `.dvc/` stay:
  `dvc destroy`, or `git rm -r .dvc`, takes the whole folder.
Stdlib only: staged-files runs without site-packages.
"""

from __future__ import annotations

import os
import re

from hooks import git

LOCK_HOOK_ID = "dvc-lock-sync"
CONFIG_HOOK_ID = "no-secrets-in-dvc-config"  # staged-files' check of .dvc/config
LOCK, PIPELINE = "dvc.lock", "dvc.yaml"
DVC_DIR, CONFIG = ".dvc", ".dvc/config"
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


def deletes_config() -> bool:
    """Whether the index drops the .dvc/config that HEAD has, while it keeps other files of .dvc/."""
    if os.path.lexists(CONFIG) or not os.path.isdir(DVC_DIR):  # no .dvc/ here: nothing of it stays (no git process)
        return False
    kept = git.index_entries([DVC_DIR])
    return bool(kept) and CONFIG not in kept and git.blob_at("HEAD", CONFIG) is not None


def refusals(skipped: set[str]) -> list[str]:
    """The refusal of each deletion this commit makes whose hook id is not skipped, with its fix."""
    found = []
    if LOCK_HOOK_ID not in skipped and deletes_lock():
        found.append(
            f"{LOCK_HOOK_ID}: this commit deletes {LOCK} while {PIPELINE} has stages: it would record no trained "
            f"pipeline (a clone could neither check out nor verify its data and model). Fix: `git restore --staged "
            f"--worktree {LOCK}` to keep it, or run `mlops repro` and `git add {LOCK}`.\n{skip_hint(LOCK_HOOK_ID)}"
        )
    if CONFIG_HOOK_ID not in skipped and deletes_config():
        found.append(
            f"{CONFIG_HOOK_ID}: this commit deletes {CONFIG} while {DVC_DIR}/ stays: every clone would lose the "
            f"project's DVC remote and settings. Fix: `git restore --staged --worktree {CONFIG}` to keep it (change "
            f"a remote with `mlops remote set`, a setting of yours alone with `dvc config --local`); to stop using "
            f"DVC, `dvc destroy` removes the whole {DVC_DIR}/ folder.\n{skip_hint(CONFIG_HOOK_ID)}"
        )
    return found


def skip_hint(hook_id: str) -> str:
    return f"To commit anyway on purpose: SKIP={hook_id} git commit ...  (or git commit --no-verify)"
