"""dvc-pre-push: push to the DVC remote the data referenced by the commits being pushed.

So that collaborators never get a commit whose data or model is missing from the remote. The commits are
the pushed tip and those among the new commits that change `dvc.lock` or a `.dvc` pointer.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence

from hooks import git

HOOK_ID = "dvc-pre-push"
ZERO = "0" * 40
# `dvc push` has no --rev option; its Python API does. It runs in a child process: the hook stays light.
PUSH_REVS = "import sys; from dvc.repo import Repo; Repo().push(revs=sys.argv[1:], workspace=False)"


def pushed_revisions(to_ref: str, remote: str) -> list[str]:
    """The tip plus the new commits (not yet on `remote`) that change what DVC tracks."""
    new = (
        git.git(
            "rev-list",
            to_ref,
            "--not",
            f"--remotes={remote}",
            "--",
            "dvc.lock",
            "*.dvc",
            ":(glob)**/dvc.lock",
            check=False,
        )
        .decode()
        .split()
    )
    return [to_ref, *[rev for rev in new if rev != to_ref]]


def push_command(revs: list[str]) -> list[str]:
    if importlib.util.find_spec("dvc"):
        return [sys.executable, "-c", PUSH_REVS, *revs]
    return ["dvc", "push"]  # a hook environment without DVC: the workspace's data, through the user's DVC


def main(argv: Sequence[str] | None = None) -> int:
    # pre-commit leaves PRE_COMMIT_TO_REF unset when the push holds the root commit (a first push): the local
    # branch being pushed is then the tip.
    to_ref = os.environ.get("PRE_COMMIT_TO_REF") or os.environ.get("PRE_COMMIT_LOCAL_BRANCH", "")
    remote = os.environ.get("PRE_COMMIT_REMOTE_NAME", "origin")
    if not os.path.isdir(".dvc") or not to_ref or to_ref == ZERO:  # nothing pushed, or a branch deleted
        return 0
    revs = pushed_revisions(to_ref, remote)
    if subprocess.run(push_command(revs)).returncode != 0:
        print(
            f"{HOOK_ID}: pushing the DVC data of {len(revs)} commit(s) failed (see above), so the git push "
            "stopped: collaborators would get commits whose data is missing. Fix: check the DVC remote "
            "(`dvc remote list`, credentials in .dvc/config.local), run `dvc push`, then push again.\n"
            f"To push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git push --no-verify)"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
