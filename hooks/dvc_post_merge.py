"""dvc-post-merge: after a merge commit or a fast-forward (`git merge`, `git pull`) that moved `dvc.lock` or a
`.dvc` pointer, `dvc checkout` brings the data and model of the new HEAD, as dvc-post-checkout does for a switch.
A merge that touched neither (docs only) returns at once, without starting DVC."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hooks import dvc_post_checkout, git

HOOK_ID = "dvc-post-merge"
POINTERS = ("dvc.lock", ":(glob)**/*.dvc")


def moved_pointers() -> bool:
    if not git.ref_exists("ORIG_HEAD"):
        return True
    return bool(git.git("diff", "--name-only", "ORIG_HEAD", "HEAD", "--", *POINTERS).strip())


def main(argv: Sequence[str] | None = None) -> int:
    if not moved_pointers():
        return 0
    return dvc_post_checkout.main([])


if __name__ == "__main__":
    sys.exit(main())
