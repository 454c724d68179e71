"""hygiene: pre-commit-hooks' check-merge-conflict, trailing-whitespace and end-of-file-fixer in one process.

One process instead of three keeps an ordinary commit cheap (each Python start costs ~40 ms). The fixers
change only UTF-8 text files (by content, whatever the extension: a parquet file named `.txt` is left as it
is), never symlinks, `dvc.lock`, the files DVC writes under `reports/` or the test fixtures, whose bytes are
the point.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence

from hooks.arguments import shown
from hooks.formats import is_text

HOOK_ID = "hygiene"
NOT_FIXED = ("dvc.lock", "reports/", "tests/fixtures/")
CONFLICT_MARKER = re.compile(rb"^(?:<<<<<<< |======= |=======\r?$|>>>>>>> )", re.MULTILINE)
IN_MERGE = ("MERGE_HEAD", "SQUASH_MSG", "rebase-apply", "rebase-merge", "CHERRY_PICK_HEAD", "REVERT_HEAD")


def fixable(path: str) -> bool:
    return not any(path == kept or path.startswith(kept) for kept in NOT_FIXED)


def without_trailing_whitespace(content: bytes) -> bytes:
    lines = content.split(b"\n")
    for number, line in enumerate(lines):
        eol = b"\r" if line.endswith(b"\r") else b""
        lines[number] = line[: len(line) - len(eol)].rstrip(b" \t\f\v") + eol
    return b"\n".join(lines)


def with_one_final_newline(content: bytes) -> bytes:
    """Exactly one line ending at the end of a non-empty file (CRLF kept where the file uses it)."""
    stripped = content.rstrip(b"\r\n")
    if not stripped:
        return b""
    return stripped + (b"\r\n" if content[len(stripped) :].startswith(b"\r\n") else b"\n")


def fixed(content: bytes) -> bytes:
    return with_one_final_newline(without_trailing_whitespace(content))


def needs_fixing(path: str, content: bytes, check_conflicts: bool) -> bool:
    """Whether `fix_files` would report `path` with this content: a fix to make or a conflict marker."""
    return bool(check_conflicts and CONFLICT_MARKER.search(content)) or (fixable(path) and fixed(content) != content)


def in_merge(git_dir: str) -> bool:
    """As check-merge-conflict: markers are refused only while a merge (a squash merge too), rebase, cherry-pick
    or revert that stopped on a conflict is being concluded."""
    present = os.path.exists
    return present(os.path.join(git_dir, "MERGE_MSG")) and any(present(os.path.join(git_dir, m)) for m in IN_MERGE)


def fix_files(paths: Sequence[str], check_conflicts: bool) -> int:
    """Fix the text files among `paths` in place, print each fixed file or conflict; 1 when any was found."""
    status = 0
    for path in paths:
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as handle:
            content = handle.read()
        if not is_text(content):
            continue
        if check_conflicts and CONFLICT_MARKER.search(content):
            line = content[: CONFLICT_MARKER.search(content).start()].count(b"\n") + 1
            print(f"{shown(path)}:{line}: merge conflict marker")
            status = 1
        if fixable(path) and fixed(content) != content:
            with open(path, "wb") as handle:
                handle.write(fixed(content))
            print(f"Fixing {shown(path)} (trailing whitespace, end of file)")
            status = 1
    return status


def advice() -> str:
    return (
        f"\n{HOOK_ID}: fixed files are left unstaged: review them, `git add` them and commit again.\n"
        f"To commit anyway on purpose: SKIP={HOOK_ID} git commit ...  (or git commit --no-verify)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    from hooks import git

    filenames = list(sys.argv[1:] if argv is None else argv)
    status = fix_files(filenames, in_merge(git.git_dir()))
    if status:
        print(advice())
    return status


if __name__ == "__main__":
    sys.exit(main())
