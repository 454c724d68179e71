"""pushed-files: staged-files' data and secrets checks on every file the pushed commits add or change.

A commit made with `--no-verify` (or in a clone whose hooks were not installed yet) reached the remote unchecked.
The files of the commits no remote has (`hooks.git.pushed_files`) are read from git (one `git log`, one
`git cat-file --batch`), not from the work tree. `SKIP=block-untracked-data` or `no-secrets-in-dvc-config` skips
that check alone, as at commit time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hooks import block_untracked_data, git
from hooks import no_secrets_in_dvc_config as no_secrets
from hooks.arguments import shown
from hooks.staged_files import skipped_hooks

HOOK_ID = "pushed-files"
ZERO = "0" * 40


def check(files: dict[tuple[str, str], tuple[str, str]], skipped: set[str]) -> dict[str, list[str]]:
    """`path (commit)` -> what is wrong with it, each with the commit-time fix, for the files that must not reach
    the remote."""
    staged = git.file_blobs(files, no_secrets.SCAN_LIMIT)
    found: dict[str, list[str]] = {}

    def add(key: tuple[str, str], lines: list[str]) -> None:
        found.setdefault(f"{shown(key[0])} (commit {files[key][1][:12]})", []).extend(lines)

    if block_untracked_data.HOOK_ID not in skipped:
        args = block_untracked_data.parse_args([])
        outputs = block_untracked_data.load_declared_outputs()
        for key, blob in staged.items():
            reasons = block_untracked_data.blob_reasons(blob, args, outputs)
            if reasons:
                add(key, [*reasons, f"fix: {block_untracked_data.fix_for(blob.path, reasons)}"])
    if no_secrets.HOOK_ID not in skipped:
        for key, blob in staged.items():
            for line in [] if blob.is_symlink else no_secrets.problems_for(blob.path, blob.head):
                reason, _, fix = line.removeprefix(f"{shown(key[0])}: ").partition(". Fix: ")
                add(key, [reason, f"fix: {fix}"] if fix else [reason])
    return found


def report(found: dict[str, list[str]]) -> None:
    print(f"{HOOK_ID}: the pushed commits hold files that must not be in git; nothing was pushed:\n")
    for name, lines in found.items():
        print(f"  {name}")
        for line in lines:
            print(f"      {line}" if line.startswith("fix: ") else f"      - {line}")
    print(
        "\nEach must come out of the commit that added it, not only out of a later one (the history would still "
        "carry it to the remote): `git rebase -i COMMIT~`, mark that commit `edit`; at its stop, do the fix shown, "
        "`git commit --amend --no-edit` and `git rebase --continue`; then push again.\n"
        f"To push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git push --no-verify)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    to_ref = os.environ.get("PRE_COMMIT_TO_REF") or os.environ.get("PRE_COMMIT_LOCAL_BRANCH", "")
    if not to_ref or to_ref == ZERO:  # a branch deleted
        return 0
    try:
        found = check(git.pushed_files(to_ref), skipped_hooks())
    except block_untracked_data.PipelineUnreadable as error:
        print(f"{HOOK_ID}: {error}")
        return 1
    if found:
        report(found)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
