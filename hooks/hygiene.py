"""hygiene: pre-commit-hooks' check-merge-conflict, trailing-whitespace and end-of-file-fixer in one process.

One process instead of three keeps an ordinary commit cheap (each Python start costs ~40 ms). The fixers
never touch dvc.lock nor the files DVC writes under reports/.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

HOOK_ID = "hygiene"
NOT_FIXED = ("dvc.lock", "reports/")


def fixable(path: str) -> bool:
    return not (path == NOT_FIXED[0] or path.startswith(NOT_FIXED[1]))


def main(argv: Sequence[str] | None = None) -> int:
    from pre_commit_hooks import check_merge_conflict, end_of_file_fixer, trailing_whitespace_fixer

    filenames = list(sys.argv[1:] if argv is None else argv)
    to_fix = [path for path in filenames if fixable(path)]
    status = check_merge_conflict.main(filenames)
    if to_fix:
        status |= trailing_whitespace_fixer.main(to_fix)
        status |= end_of_file_fixer.main(to_fix)
    if status:
        print(
            f"\n{HOOK_ID}: fixed files are left unstaged: review them, `git add` them and commit again.\n"
            f"To commit anyway on purpose: SKIP={HOOK_ID} git commit ...  (or git commit --no-verify)"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
