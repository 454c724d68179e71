"""staged-files: block-untracked-data, no-secrets-in-dvc-config and hygiene in one process and one pass.

An ordinary commit pays pre-commit's cost per hook process (a Python start, then a `git diff` of the whole
work tree after it), so the checks every staged file needs run here together: each staged file is read once
(see `hooks.git.staged_blobs`) and each check is the pure function of its own module.
`SKIP=block-untracked-data` (or `no-secrets-in-dvc-config`, `hygiene`) still skips that check alone. It also refuses
a commit that deletes dvc.lock or .dvc/config (`hooks.deletions`): pre-commit names no deleted file to a hook;
and, for the commit that concludes a stopped merge, dvc-lock-sync itself (`hooks.merge_conclusion`).
In a merge (`git merge`'s pre-merge-commit hook, or the commit that concludes a stopped one) the data and secrets
checks also read what the merged commits that no remote has bring, and hygiene fixes only the files pre-commit
names when it concludes a merge.
Takes block-untracked-data's options.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from hooks import block_untracked_data, deletions, git, hygiene, merge_conclusion
from hooks import no_secrets_in_dvc_config as no_secrets
from hooks.formats import is_text

HOOK_ID = "staged-files"
MERGED_ADVICE = (
    "In a merge: a file the merged branch brings stays in that branch's history when it is taken out here only. "
    "Fix: `git merge --abort`; on that branch, take it out of the commit that added it (`git rebase -i`, if the "
    "branch is not pushed) as the fix above says; then merge again."
)


def skipped_hooks() -> set[str]:
    """The hook ids in pre-commit's `SKIP` (comma-separated)."""
    return {name.strip() for name in os.environ.get("SKIP", "").split(",")}


def merged_blobs() -> list[git.StagedBlob]:
    """The file versions a merge brings in from commits no remote has (a data file committed there with
    --no-verify): pre-commit names a merge's hooks only the files that differ from both parents, and, inside
    `git merge`, every file the merge changes, most of them long shared."""
    heads = list(git.merge_heads())
    return list(git.file_blobs(git.unshared_files(heads, ("HEAD",)), no_secrets.SCAN_LIMIT).values())


def main(argv: Sequence[str] | None = None) -> int:
    args = block_untracked_data.parse_args(argv)
    skipped = skipped_hooks()
    git_dir = git.git_dir()
    merging = git.in_git_merge() or os.path.exists(os.path.join(git_dir, "MERGE_HEAD"))
    blobs = [] if git.in_git_merge() else git.staged_blobs(args.filenames, no_secrets.SCAN_LIMIT)
    checked = blobs + (merged_blobs() if merging else [])
    refused: set[str] = set()  # files that must leave the index are not worth fixing
    status = 0
    if block_untracked_data.HOOK_ID not in skipped:
        try:
            found = block_untracked_data.check(checked, args)
        except block_untracked_data.PipelineUnreadable as error:
            print(f"{block_untracked_data.HOOK_ID}: {error}")
            found, status = {}, 1
        if found:
            block_untracked_data.report(found)
            refused |= found.keys()
    if no_secrets.HOOK_ID not in skipped:
        problems = {b.path: no_secrets.problems_for(b.path, b.head) for b in checked if not b.is_symlink}
        if any(problems.values()):
            no_secrets.report([line for lines in problems.values() for line in lines])
            refused |= {path for path, lines in problems.items() if lines}
    if refused and merging:
        print(MERGED_ADVICE)
    status = 1 if refused else status
    for refusal in deletions.refusals(skipped):
        print(refusal)
        status = 1
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
