"""The `git commit` that concludes a merge git stopped (a conflict, `--no-commit`, a failed pre-merge-commit hook):
dvc-lock-sync's rule, set going by staged-files.

pre-commit then hands each hook only the files that differ from both parents, so dvc-lock-sync, filtered to the
pipeline's files, was skipped when the params came from one side and the code or data from the other: the merge
was recorded with a dvc.lock trained on neither. staged-files runs on every commit (`always_run`); while a merge is
being concluded, it has pre-commit run dvc-lock-sync on `dvc.lock` as the configuration says (its mode, `SKIP`).
Any other commit costs this one `stat` (of MERGE_MSG). Stdlib only: staged-files runs without site-packages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from hooks import git

HOOK_ID = "dvc-lock-sync"
LOCK = "dvc.lock"
CONFIG = ".pre-commit-config.yaml"
CONFIGURED = re.compile(rf"^\s*(?:-\s*)?id:\s*['\"]?{HOOK_ID}['\"]?\s*(?:#.*)?$", re.MULTILINE)
INSTALL_PYTHON = re.compile(r"^INSTALL_PYTHON=(.+)$", re.MULTILINE)


def concluding_a_merge(git_dir: str) -> bool:
    """Whether pre-commit runs in its merge mode (as its `is_in_merge_conflict`), with a pipeline lock to check and
    dvc-lock-sync among the repository's hooks (another repository may use staged-files alone)."""
    present = os.path.exists
    merging = present(os.path.join(git_dir, "MERGE_MSG")) and present(os.path.join(git_dir, "MERGE_HEAD"))
    return merging and os.path.isfile(LOCK) and lock_sync_configured()


def lock_sync_configured() -> bool:
    try:
        with open(CONFIG, encoding="utf-8", errors="replace") as handle:
            return bool(CONFIGURED.search(handle.read()))
    except OSError:
        return False


def pre_commit_command() -> list[str] | None:
    """pre-commit as git's pre-commit hook starts it (the interpreter `pre-commit install` wrote there), else the
    `pre-commit` on the PATH; None without either."""
    try:
        with open(git.git_path("hooks/pre-commit"), encoding="utf-8") as handle:
            found = INSTALL_PYTHON.search(handle.read())
    except OSError:
        found = None
    python = found.group(1).strip().strip("'\"") if found else ""
    if python and os.access(python, os.X_OK):
        return [python, "-m", "pre_commit"]
    command = shutil.which("pre-commit")
    return [command] if command else None


def run_lock_sync() -> int:
    """dvc-lock-sync on `dvc.lock`, through pre-commit: its exit status."""
    command = pre_commit_command()
    if command is None:
        print(f"{HOOK_ID}: a merge is being concluded, and no pre-commit was found to check its dvc.lock with")
        return 1
    ran = subprocess.run([*command, "run", HOOK_ID, "--hook-stage", "pre-commit", "--files", LOCK], check=False)
    return ran.returncode
