"""staged-files: block-untracked-data, no-secrets-in-dvc-config and hygiene in one process and one pass.

An ordinary commit pays pre-commit's cost per hook process (a Python start, then a `git diff` of the whole
work tree after it), so the checks every staged file needs run here together: each staged file is read once
(see `hooks.git.staged_blobs`) and each check is the pure function of its own module.
`SKIP=block-untracked-data` (or `no-secrets-in-dvc-config`, `hygiene`) still skips that check alone. It also runs
dvc-lock-sync's one check that a deleted file triggers (`hooks.lock_deletion`): pre-commit names no deleted file;
and, for the commit that concludes a stopped merge, dvc-lock-sync itself (`hooks.merge_conclusion`).
Takes block-untracked-data's options.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hooks import block_untracked_data, git, hygiene, lock_deletion, merge_conclusion
from hooks import no_secrets_in_dvc_config as no_secrets
from hooks.formats import is_text

HOOK_ID = "staged-files"


def skipped_hooks() -> set[str]:
    """The hook ids in pre-commit's `SKIP` (comma-separated)."""
    return {name.strip() for name in os.environ.get("SKIP", "").split(",")}


def main(argv: Sequence[str] | None = None) -> int:
    args = block_untracked_data.parse_args(argv)
    skipped = skipped_hooks()
    blobs = git.staged_blobs(args.filenames, no_secrets.SCAN_LIMIT)
    refused: set[str] = set()  # files that must leave the index are not worth fixing
    status = 0
    if block_untracked_data.HOOK_ID not in skipped:
        try:
            found = block_untracked_data.check(blobs, args)
        except block_untracked_data.PipelineUnreadable as error:
            print(f"{block_untracked_data.HOOK_ID}: {error}")
            found, status = {}, 1
        if found:
            block_untracked_data.report(found)
            refused |= found.keys()
    if no_secrets.HOOK_ID not in skipped:
        problems = {blob.path: no_secrets.problems_for(blob.path, blob.head) for blob in blobs if not blob.is_symlink}
        if any(problems.values()):
            no_secrets.report([line for lines in problems.values() for line in lines])
            refused |= {path for path, lines in problems.items() if lines}
    status = 1 if refused else status
    if lock_deletion.HOOK_ID not in skipped and lock_deletion.deletes_lock():
        lock_deletion.report()
        status = 1
    git_dir = git.git_dir()
    if hygiene.HOOK_ID not in skipped:
        conflicts = hygiene.in_merge(git_dir)
        text = [blob for blob in blobs if blob.path not in refused and not blob.is_symlink and is_text(blob.head)]
        # What was read is what the work tree holds (pre-commit stashes the rest): open only files to fix.
        to_fix = [b.path for b in text if b.size > len(b.head) or hygiene.needs_fixing(b.path, b.head, conflicts)]
        if hygiene.fix_files(to_fix, conflicts):
            print(hygiene.advice())
            status = 1
    # Last, and only for a commit nothing else refused: it may retrain.
    if status == 0 and merge_conclusion.HOOK_ID not in skipped and merge_conclusion.concluding_a_merge(git_dir):
        status = merge_conclusion.run_lock_sync()
    return status


if __name__ == "__main__":
    sys.exit(main())
