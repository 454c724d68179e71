"""dvc-post-merge: after a merge commit or a fast-forward (`git merge`, `git pull`) that moved `dvc.lock` or a
`.dvc` pointer, `dvc checkout` brings the data and model of the new HEAD, as dvc-post-checkout does for a switch.
A merge that touched neither (docs only) returns at once, without starting DVC.

`dvc-post-merge BEFORE AFTER` compares those two commits instead of ORIG_HEAD and HEAD: the reference-transaction
script `mlops hooks install` writes runs it so for a cherry-pick or revert, which run no post-merge hook and leave
ORIG_HEAD where it was."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hooks import dvc_post_checkout, git

HOOK_ID = "dvc-post-merge"
POINTERS = ("dvc.lock", ":(glob)**/*.dvc")


def moved_pointers(before: str = "ORIG_HEAD", after: str = "HEAD") -> bool:
    if not git.ref_exists(before):
        return True
    return bool(git.git("diff", "--name-only", before, after, "--", *POINTERS).strip())


def main(argv: Sequence[str] | None = None) -> int:
    commits = list(sys.argv[1:] if argv is None else argv)
    if not moved_pointers(*commits[:2]):
        return 0
    return dvc_post_checkout.main([])


if __name__ == "__main__":
    sys.exit(main())
