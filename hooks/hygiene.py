"""hygiene: pre-commit-hooks' check-merge-conflict, trailing-whitespace and end-of-file-fixer in one process.

One process instead of three keeps an ordinary commit cheap (each Python start costs ~40 ms). The fixers
change only UTF-8 text files (by content, whatever the extension: a parquet file named `.txt` is left as it
is), never symlinks, `dvc.lock`, the files DVC writes under `reports/`, any other output `dvc.yaml` declares
(a stage's `cache: false` metrics, in another repository) or the test fixtures, whose bytes are the point: a
fixed output no longer matched `dvc.lock`, and the retrain that wrote it again was fixed again. A file is read a
line at a time (a staged file of any size costs the memory of its longest line) and rewritten only when a fix is
needed: beside it, then renamed over it, its mode kept.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import sys
from collections.abc import Sequence

from hooks.arguments import shown
from hooks.formats import HEAD_BYTES, is_text, is_text_bytes

HOOK_ID = "hygiene"
NOT_FIXED = ("dvc.lock", "reports/", "tests/fixtures/")
CONFLICT_MARKER = re.compile(rb"^(?:<<<<<<< |======= |=======\r?$|>>>>>>> )", re.MULTILINE)
IN_MERGE = ("MERGE_HEAD", "SQUASH_MSG", "rebase-apply", "rebase-merge", "CHERRY_PICK_HEAD", "REVERT_HEAD")


def fixable(path: str) -> bool:
    if any(path == kept or path.startswith(kept) for kept in NOT_FIXED):
        return False
    from hooks.block_untracked_data import ancestors

    outputs = _declared_outputs()  # read once for the path, not once per folder of it
    return not any(folder in outputs for folder in ancestors(path))


def _declared_outputs() -> set[str]:
    """dvc.yaml's outputs (kept in .git/ between commits), and those dvc.lock records (a templated stage's, a `wdir`
    stage's); none while they cannot be read (block-untracked-data and dvc-lock-sync say so). Read only for a file
    that needs a fix."""
    from hooks.block_untracked_data import PipelineUnreadable, load_declared_outputs

    try:
        declared = set(load_declared_outputs())
    except PipelineUnreadable:
        declared = set()
    if os.path.isfile("dvc.lock"):
        if sys.flags.no_site:  # PyYAML, for the lock: `python -S` left site-packages out
            import site

            site.main()
        from hooks.bounded_yaml import BadYaml, Unbounded
        from hooks.params_yaml import AmbiguousScalar
        from hooks.pipeline_state import locked_outputs, read_worktree

        with contextlib.suppress(BadYaml, Unbounded, AmbiguousScalar):
            declared |= locked_outputs(read_worktree())
    return declared


class _Fixer:
    """A text's lines fixed one at a time (no trailing whitespace, CR of a CRLF kept), with what the end of the text
    needs: exactly one line ending after its last line that is not blank (CRLF where the blank run there opens with
    one). Holds one line at a time, so a file of any size is fixed in the memory of its longest line."""

    def __init__(self) -> None:
        self.changed = False  # a line lost trailing whitespace
        self.length = 0  # of the fixed lines so far
        self.text_end = 0  # offset after the last byte that is neither CR nor LF
        self.run_start = b""  # the first two bytes of the CRs and LFs after it

    def line(self, line: bytes) -> bytes:
        body = line.removesuffix(b"\n")
        eol = b"\r" if body.endswith(b"\r") else b""
        fixed = body[: len(body) - len(eol)].rstrip(b" \t\f\v") + eol + line[len(body) :]
        self.changed = self.changed or fixed != line
        core = fixed.rstrip(b"\r\n")
        if core:
            self.text_end = self.length + len(core)
            self.run_start = fixed[len(core) : len(core) + 2]
        else:
            self.run_start = (self.run_start + fixed)[:2]
        self.length += len(fixed)
        return fixed

    def ending(self) -> bytes:
        """What follows `text_end` in the fixed text: nothing for a blank text."""
        if not self.text_end:
            return b""
        return b"\r\n" if self.run_start == b"\r\n" else b"\n"

    def needs_fixing(self) -> bool:
        """Whether the fixed text differs from the lines given (all of them given)."""
        ending = self.ending()
        return self.changed or self.length != self.text_end + len(ending) or not self.run_start.startswith(ending)


def fixed(content: bytes) -> bytes:
    fixer = _Fixer()
    fixed_lines = b"".join(fixer.line(line) for line in io.BytesIO(content))
    return fixed_lines[: fixer.text_end] + fixer.ending()


def needs_fixing(path: str, content: bytes, check_conflicts: bool) -> bool:
    """Whether `fix_files` would report `path` with this content: a fix to make or a conflict marker."""
    return bool(check_conflicts and CONFLICT_MARKER.search(content)) or (fixed(content) != content and fixable(path))


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
        found = _scan(path, check_conflicts)
        if found is None:
            continue
        marker_line, to_fix = found
        if marker_line:
            print(f"{shown(path)}:{marker_line}: merge conflict marker")
            status = 1
        if to_fix and fixable(path):
            _rewrite_fixed(path)
            print(f"Fixing {shown(path)} (trailing whitespace, end of file)")
            status = 1
    return status


def _scan(path: str, check_conflicts: bool) -> tuple[int, bool] | None:
    """The line of the file's first conflict marker (0 for none, or not asked) and whether it needs a fix; None
    when it is not text (by its head, as `is_text`, and by every line after it: no NUL byte, UTF-8 throughout)."""
    marker_line = 0
    fixer = _Fixer()
    with open(path, "rb") as handle:
        if not is_text(handle.read(HEAD_BYTES)):
            return None
        handle.seek(0)
        for number, line in enumerate(handle, 1):
            if not is_text_bytes(line):
                return None
            if check_conflicts and not marker_line and CONFLICT_MARKER.match(line):
                marker_line = number
            fixer.line(line)
    return marker_line, fixer.needs_fixing()


def _rewrite_fixed(path: str) -> None:
    """Write the fixed file beside `path` (with its mode), then put it in its place in one rename."""
    import tempfile

    folder, name = os.path.split(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".hygiene", dir=folder or ".")
    try:
        with open(descriptor, "wb") as out, open(path, "rb") as handle:
            os.fchmod(out.fileno(), stat.S_IMODE(os.fstat(handle.fileno()).st_mode))
            fixer = _Fixer()
            for line in handle:
                out.write(fixer.line(line))
            out.seek(fixer.text_end)
            out.truncate()
            out.write(fixer.ending())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


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
