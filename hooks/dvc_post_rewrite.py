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
    print(f"\nFinish the rebase with one command (retrains, then commits dvc.lock and reports):\n    {FINISH}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
