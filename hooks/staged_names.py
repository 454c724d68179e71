"""The staged files whose names are not UTF-8, which pre-commit cannot read: it lists the staged files before any
hook runs and ends in "An unexpected error has occurred: UnicodeDecodeError", naming neither the file nor a fix.

Run by the pre-commit script `mlops hooks install` writes, only after pre-commit failed: an ordinary commit pays
nothing for it. Stdlib only (run without site-packages).
"""

from __future__ import annotations

import sys

from hooks import git
from hooks.arguments import from_the_root, shell_word, shown


def not_utf8(paths: list[str]) -> list[str]:
    """The paths (as `hooks.git` reads them: bytes that are not UTF-8 kept as surrogates) whose names are not UTF-8."""
    return [path for path in paths if not _encodes(path)]


def _encodes(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refusal(path: str) -> str:
    return (
        f"pre-commit cannot read the name of the staged file {shown(path)} (it is not UTF-8: the error above): "
        f"rename it, e.g. `git mv -- {shell_word(path)} NEW_NAME`, then commit again"
    )


def main() -> int:
    unreadable = not_utf8([change.path for change in git.staged_changes()])
    for path in unreadable:
        print(refusal(path))
    if unreadable and from_the_root():
        print(from_the_root().lstrip("\n"))
    return 1 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
