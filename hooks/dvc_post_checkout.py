"""dvc-post-checkout: after a branch or tag switch, `dvc checkout` brings that commit's data and model.

Runs as git's post-checkout hook (through pre-commit, which passes the refs and checkout type in its
environment), and from the reference-transaction script `mlops hooks install` writes, after `git rebase --abort`
(which runs no post-checkout hook). A file checkout (`git checkout -- PATH`) or a switch that stays on the same
commit (`git switch -c new`) returns at once.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

from hooks.dvc_cache_config import cache_dir

HOOK_ID = "dvc-post-checkout"
# Set by a caller that checks out the data itself after its `git checkout` (`mlops checkout`): its own failure
# handling (stay where you were, `mlops data pull`) applies, where this hook's would fail the git checkout half-way.
CALLER_CHECKS_OUT_DATA = "MLOPS_CALLER_CHECKS_OUT_DATA"


def dvc_command() -> list[str]:
    """DVC from the interpreter running this hook when it has DVC (works without an activated venv)."""
    return [sys.executable, "-m", "dvc"] if importlib.util.find_spec("dvc") else ["dvc"]


# Where the hook's environment has no DVC (another repository's pre-commit environment) and the PATH has none
# either (a commit from an IDE or a GUI without the virtual environment).
NO_DVC = "no DVC to run: this hook's environment has none, and no `dvc` is on the PATH git runs hooks with"
INSTALL_DVC = (
    "give the hook DVC (`additional_dependencies: [dvc]` under its id in .pre-commit-config.yaml, then "
    "`pre-commit install --install-hooks`), or put `dvc` on that PATH"
)


def moved_to_another_commit(argv: Sequence[str]) -> bool:
    """Whether git checked out another commit: not for a file checkout (`git checkout -- FILE`) nor for a switch
    that stays on the same commit (`git switch -c new`), which change no `.dvc` pointer nor `dvc.lock`."""
    checkout_type = os.environ.get("PRE_COMMIT_CHECKOUT_TYPE") or (argv[2] if len(argv) > 2 else "1")
    before = os.environ.get("PRE_COMMIT_FROM_REF") or (argv[0] if argv else None)
    after = os.environ.get("PRE_COMMIT_TO_REF") or (argv[1] if len(argv) > 1 else None)
    return checkout_type == "1" and (before is None or before != after)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not moved_to_another_commit(argv) or not os.path.isdir(".dvc") or os.environ.get(CALLER_CHECKS_OUT_DATA):
        return 0
    # Captured, not --quiet (which silences DVC's errors too): shown only when the checkout fails.
    try:
        result = subprocess.run([*dvc_command(), "checkout"], capture_output=True, text=True)
    except FileNotFoundError:
        print(f"{HOOK_ID}: {NO_DVC}, so the data and model in the workspace may not match this commit.")
        print(f"Fix: {INSTALL_DVC}; then `dvc checkout`.")
        return 1
    if result.returncode != 0 and never_trained_here():
        return 0
    if result.returncode != 0:
        print(result.stderr.strip())
        print(f"{HOOK_ID}: `dvc checkout` failed: the data and model in the workspace may not match this commit.")
        print(f"Fix: {advice(result.stderr)}")
        return 1
    return 0


def never_trained_here() -> bool:
    """Whether the failed checkout failed only on outputs this commit never built (its `dvc.lock` records none of
    them: DVC has no md5 to check out, and has removed the other commit's). That is no failure: `mlops status`
    names them as never run, and `mlops repro` builds them. The rest is checked out again, alone, to tell it from a
    real failure."""
    from hooks import git
    from hooks.pipeline_state import cached_outputs, read_worktree, unrecorded_outputs

    if not unrecorded_outputs(read_worktree()):
        return False
    recorded = sorted(cached_outputs(read_worktree(), git.ls_files("*.dvc")))
    return (
        not recorded
        or subprocess.run([*dvc_command(), "checkout", "--", *recorded], capture_output=True).returncode == 0
    )


def advice(dvc_error: str) -> str:
    if "without confirmation" in dvc_error:  # DVC keeps files changed since it recorded them
        return (
            "the files above were changed and not recorded, so they were kept: record them (`mlops repro`, or "
            "`dvc commit`) or discard the changes (`dvc checkout --force`)"
        )
    main_checkout = linked_worktree_of()
    if main_checkout:  # a new worktree starts with an empty DVC cache of its own
        cache = shlex.quote(os.path.normpath(cache_dir(main_checkout)))  # where its config puts it
        return (
            f"this is a linked git worktree, whose DVC cache is its own and empty: share the main checkout's with "
            f"`dvc cache dir --local {cache}`, then `dvc checkout` (or `dvc pull` from the remote)"
        )
    from hooks.block_untracked_data import uses_mlops  # only on failure: a checkout that works imports nothing more

    if uses_mlops():  # the project's pull: every object checked against its md5 before it is checked out
        # a model or report the remote lacks too is the pipeline's output, which `mlops repro` makes again
        return (
            "`mlops data pull` (fetches what the cache lacks from the DVC remote, then checks it out); what the "
            "remote does not have either, `mlops repro` rebuilds"
        )
    return "`dvc pull` (fetches what the cache lacks from the DVC remote, then checks it out)"


def linked_worktree_of() -> str | None:
    """The main checkout's folder when this is a linked worktree (`git worktree add`), else None."""
    result = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir"], capture_output=True, text=True
    )
    folders = result.stdout.split("\n")[:2] if result.returncode == 0 else []
    if len(folders) < 2 or folders[0] == folders[1] or os.path.basename(folders[1]) != ".git":
        return None
    return os.path.dirname(folders[1])


if __name__ == "__main__":
    sys.exit(main())
