"""pushed-lock: the pushed tip's dvc.lock records the params its stages read in its params.yaml.

A params change committed without its retrain (`git commit --no-verify`, `SKIP=dvc-lock-sync`) reached the remote
with a stale dvc.lock: every clone's `mlops status` asked for a retrain, and the model the lock names was not trained
on the params beside it. This compares params only, strictly by type as dvc-lock-sync does, at the pushed tip, read
from git (one `git cat-file --batch` for params.yaml, dvc.yaml and dvc.lock): no DVC, no data or code hashed, no
training. A push that brings no commit changing one of those files costs one `git rev-list` and imports no YAML reader.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hooks import git
from hooks.arguments import shell_word

HOOK_ID = "pushed-lock"
ZERO = "0" * 40
PARAMS_FILE, DVC_YAML, LOCK_FILE = "params.yaml", "dvc.yaml", "dvc.lock"
FILES = (PARAMS_FILE, DVC_YAML, LOCK_FILE)
SKIP_HINT = f"To push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git push --no-verify)"


def brings_pipeline_change(tip: str) -> bool:
    """Whether a commit of `tip` that no remote-tracking ref holds changes params.yaml, dvc.yaml or dvc.lock (with no
    remote-tracking ref at all, any commit of `tip` does)."""
    return bool(git.git("rev-list", "-1", tip, "--not", "--remotes", "--", *FILES, check=False).strip())


def stale_at(files: dict[str, bytes]) -> list:
    """The stages whose params in `files` (a commit's params.yaml, dvc.yaml and dvc.lock) differ from those its
    dvc.lock records (`pipeline_state.StageState`s)."""
    from hooks.pipeline_state import params_not_as_locked  # PyYAML: only for a push that changes the pipeline

    return params_not_as_locked(files.get) if DVC_YAML in files else []


def retrain_fix(files: dict[str, bytes]) -> str:
    """The retrain and the `git add` after it: `mlops repro` in this project for a user who has the CLI, else DVC's
    own command and the outputs that commit's dvc.yaml keeps in git."""
    from hooks.block_untracked_data import uses_mlops
    from hooks.pipeline_state import git_kept_outputs

    if uses_mlops():
        return "`mlops repro`, then `git add dvc.lock reports && git commit`"
    staged = " ".join(shell_word(path) for path in [LOCK_FILE, *git_kept_outputs(files.get)])
    return f"`dvc repro`, then `git add {staged} && git commit`"


def report(tip: str, stale: list, files: dict[str, bytes]) -> None:
    changes = "\n".join(f"  {state.name}: {'; '.join(state.reasons)}" for state in stale)
    print(
        f"{HOOK_ID}: the pushed commit {tip[:12]} records params its dvc.lock was not trained on (committed without "
        f"the retrain: --no-verify or SKIP), so the push stopped:\n{changes}\n"
        f"Fix: with that commit checked out, {retrain_fix(files)}; then push again.\n{SKIP_HINT}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    # pre-commit leaves PRE_COMMIT_TO_REF unset when the push holds the root commit: the local branch is the tip.
    tip = os.environ.get("PRE_COMMIT_TO_REF") or os.environ.get("PRE_COMMIT_LOCAL_BRANCH", "")
    if not tip or tip == ZERO or not brings_pipeline_change(tip):  # a branch deleted, or nothing of the pipeline
        return 0
    import yaml

    tip = git.resolve_commit(tip) or tip  # a push to an empty remote names its local ref (`HEAD`), not a commit
    files = git.blobs_at(tip, FILES)
    try:
        stale = stale_at(files)
    except (yaml.YAMLError, ValueError) as error:  # committed with --no-verify too: dvc-lock-sync names it
        print(f"{HOOK_ID}: the pushed commit {tip[:12]}: {error}\nFix it, commit, then push again.\n{SKIP_HINT}")
        return 1
    if stale:
        report(tip, stale, files)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
