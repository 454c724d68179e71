"""dvc-post-rewrite: after `git rebase`, say when the new HEAD's `dvc.lock` is stale and the one command that
finishes the rebase; otherwise `dvc checkout` its data and model.

A rebase replays commits without the commit hooks: where two retrained commits met, the merge driver kept one
side of `dvc.lock` and the reports (`hooks.merge_driver`), so the rebased HEAD records params it was not trained
on. Retraining here would run unasked for as long as training takes; the message names the command instead.
`git commit --amend` (the other rewrite) already went through the commit hooks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hooks import dvc_post_checkout, git, merge_driver
from hooks.dvc_lock_sync import describe, stale_stages

HOOK_ID = "dvc-post-rewrite"
# --allow-missing: the kept side's outputs (a teammate's retrained model after `git pull --rebase`) may be on the
# DVC remote only; the retrain makes them again, where a plain `dvc checkout` would stop the command there.
FINISH = 'dvc checkout --allow-missing && mlops repro && git commit -m "Retrain after rebase" -- dvc.lock reports'
# `--autostash` (`git pull --rebase --autostash`, rebase.autoStash): git puts the user's changes back after this hook,
# so FINISH alone trained on them (their params) and its commit of the lock without them was refused.
FINISH_AROUND_AUTOSTASH = f"git stash && {FINISH} && git stash pop"


def autostash_pending() -> bool:
    """Whether the rebase set uncommitted changes aside, to put them back once this hook ends."""
    return any(os.path.exists(git.git_path(f"{state}/autostash")) for state in ("rebase-merge", "rebase-apply"))


def head_reader(path: str) -> bytes | None:
    return git.blob_at("HEAD", path)


def main(argv: Sequence[str] | None = None) -> int:
    command = os.environ.get("PRE_COMMIT_REWRITE_COMMAND") or (list(argv or sys.argv[1:]) or ["rebase"])[0]
    if command != "rebase":
        return 0
    stale, kept = stale_stages(head_reader), merge_driver.placeholders()
    if not stale and not kept:
        return dvc_post_checkout.main([])
    print(f"{HOOK_ID}: the rebased HEAD's dvc.lock and reports do not match its params, code or data.")
    if kept:
        print(f"  The merge driver kept one side of: {', '.join(kept)}.")
    if stale:
        print("  Stale stages:\n" + describe(stale))
    does, finish = finish_command()
    print(f"\nFinish the rebase with one command ({does}):\n    {finish}")
    return 1


def finish_command() -> tuple[str, str]:
    """What the command that finishes the rebase does, and the command."""
    if autostash_pending():
        return (
            "sets aside the changes the rebase puts back next, retrains, commits, puts them back",
            FINISH_AROUND_AUTOSTASH,
        )
    return "retrains, then commits dvc.lock and reports", FINISH


if __name__ == "__main__":
    sys.exit(main())
