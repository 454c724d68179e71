"""Commits that delete a file DVC needs from the project, checked by staged-files.

pre-commit passes no deleted file to a hook, so no hook's file filter wakes for a commit that only deletes one;
staged-files runs on every commit (`always_run`), and the checks here cost it one git process (`git diff-index`
of the three files against HEAD; none where neither dvc.yaml, dvc.lock nor .dvc/ exists). A file taken out of the
index but kept on disk (`git rm --cached`) is deleted for every clone all the same. Each deletion passes when what
needed the file goes with it, as DVC's own removals leave the project:
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


def staged_deletions() -> list[str]:
    """Which of dvc.lock, dvc.yaml and .dvc/config the index drops that HEAD has."""
    if not any(os.path.lexists(path) for path in (PIPELINE, LOCK, DVC_DIR)):  # no DVC here: no git process
        return []
    return git.staged_deletions([LOCK, PIPELINE, CONFIG])


def deletes_lock(deleted: list[str] | None = None) -> bool:
    """Whether the index drops the dvc.lock that HEAD has, while the staged dvc.yaml declares stages."""
    deleted = staged_deletions() if deleted is None else deleted
    if LOCK not in deleted or PIPELINE in deleted:
        return False
    try:  # the work tree holds what is staged (pre-commit sets the rest aside)
        with open(PIPELINE, "rb") as handle:
            pipeline = handle.read(1 << 20)
    except OSError:  # no pipeline (or no longer one): nothing to lock
        return False
    return bool(STAGES.search(pipeline))


def deletes_config(deleted: list[str] | None = None) -> bool:
    """Whether the index drops the .dvc/config that HEAD has, while it keeps other files of .dvc/."""
    deleted = staged_deletions() if deleted is None else deleted
    return CONFIG in deleted and bool(git.index_entries([DVC_DIR]))


def refusals(skipped: set[str]) -> list[str]:
    """The refusal of each deletion this commit makes whose hook id is not skipped, with its fix."""
    found = []
    checked = {LOCK_HOOK_ID, CONFIG_HOOK_ID} - skipped
    deleted = staged_deletions() if checked else []
    if LOCK_HOOK_ID in checked and deletes_lock(deleted):
        found.append(
            f"{LOCK_HOOK_ID}: this commit {deletion(LOCK)} while {PIPELINE} has stages: it would record no trained "
            f"pipeline (a clone could neither check out nor verify its data and model). Fix: "
            f"{keep_fix(LOCK, or_else=f'run `mlops repro` and `git add {LOCK}`')}.\n{skip_hint(LOCK_HOOK_ID)}"
        )
    if CONFIG_HOOK_ID in checked and deletes_config(deleted):
        found.append(
            f"{CONFIG_HOOK_ID}: this commit {deletion(CONFIG)} while {DVC_DIR}/ stays: every clone would lose the "
            f"project's DVC remote and settings. Fix: {keep_fix(CONFIG)}; change a remote with `mlops remote set`, "
            f"a setting of yours alone with `dvc config --local`; to stop using DVC, `dvc destroy` removes the whole "
            f"{DVC_DIR}/ folder.\n{skip_hint(CONFIG_HOOK_ID)}"
        )
    return found


def deletion(path: str) -> str:
    """What the commit does to `path`: delete it, or (`git rm --cached`) stop tracking the file left on disk."""
    if os.path.lexists(path):
        return f"takes {path} out of git (`git rm --cached`: the file stays on disk, but no clone gets it)"
    return f"deletes {path}"


def keep_fix(path: str, or_else: str = "") -> str:
    """How to keep `path`; for a deleted file, `or_else` names the other way back (a file on disk is that way)."""
    if os.path.lexists(path):
        return f"`git reset -q -- {path}` (HEAD's) or `git add {path}` (the file on disk) keeps it tracked"
    return f"`git restore --staged --worktree {path}` to keep it" + (f", or {or_else}" if or_else else "")


def skip_hint(hook_id: str) -> str:
    return f"To commit anyway on purpose: SKIP={hook_id} git commit ...  (or git commit --no-verify)"
