"""The staged files whose names are not UTF-8, which pre-commit cannot read: it lists the staged files before any
hook runs and ends in "An unexpected error has occurred: UnicodeDecodeError", naming neither the file nor a fix.

Run by the pre-commit and pre-merge-commit scripts `mlops hooks install` writes, only after pre-commit failed: an
ordinary commit or merge pays nothing for it. Stdlib only (run without site-packages).
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


def refusal(path: str, merging: bool = False, intended: bool = False) -> str:
    # a merge that pre-merge-commit stopped is still under way (MERGE_HEAD): the commit that follows concludes it
    then = "then `git commit` to conclude the merge" if merging else "then commit again"
    what = f"the file {shown(path)} marked to be added (`git add -N`)" if intended else f"the staged file {shown(path)}"
    return (
        f"pre-commit cannot read the name of {what} (it is not UTF-8: the error above): "
        f"rename it, e.g. `git mv -- {shell_word(path)} NEW_NAME`, {then}"
    )


def names_pre_commit_reads() -> list[str]:
    """The staged names, or, while `git commit` concludes a merge, only those pre-commit checks then: a name that
    is not UTF-8 brought by one side alone did not stop it."""
    concluding = git.merge_conclusion_paths()
    return [change.path for change in git.staged_changes()] if concluding is None else concluding


def main() -> int:
    intended = not_utf8(git.intent_to_add())  # pre-commit lists them too, to set them aside while hooks run
    unreadable = list(dict.fromkeys(not_utf8(names_pre_commit_reads()) + intended))
    merging = bool(unreadable) and bool(git.merge_heads())
    for path in unreadable:
        print(refusal(path, merging, intended=path in intended))
    if unreadable and from_the_root():
        print(from_the_root().lstrip("\n"))
    return 1 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
