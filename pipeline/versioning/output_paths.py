"""Output paths that cannot destroy: a command's `--out` never overwrites its own input, a file git or DVC
tracks, a directory, or anything under `.git/` and `.dvc/`; and written CSV cells cannot run as spreadsheet
formulas."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from hooks import git
from pipeline.errors import UserError
from pipeline.user_paths import in_project
from pipeline.user_paths import resolved as resolved_path
from pipeline.versioning import dvc_seam

if TYPE_CHECKING:
    import pandas as pd

PROTECTED_DIRS = (".git", ".dvc")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets read as a formula


def check_output_path(out: Path, *inputs: Path, folder_made: bool = False) -> None:
    """Refuse `out` (with the option's name and the fix) unless writing it can only create or replace a file
    that nothing else owns. `folder_made`: its folder may be missing (`write_atomically` makes it)."""
    hint = "choose a new file name, e.g. --out scores.csv"
    resolved = resolved_path(out, f"--out {out}")
    if out.is_dir():
        raise UserError(f"--out {out} is a directory", hint=f"name a file inside it, e.g. --out {out / 'scores.csv'}")
    if not folder_made and not resolved.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist", hint=f"create it: mkdir -p {out.parent}")
    for source in inputs:
        if source.exists() and resolved == resolved_path(source):
            raise UserError(f"--out {out} is the input file: it would be overwritten", hint=hint)
    inside = in_project(resolved)
    if inside is None:
        return
    if inside.parts[:1] and inside.parts[0] in PROTECTED_DIRS or inside.suffix == ".dvc":
        raise UserError(f"--out {out} is one of git's or DVC's own files", hint=hint)
    if git.is_tracked(inside.as_posix()) or inside.as_posix() in _dvc_tracked():
        raise UserError(f"--out {out} is tracked by git or DVC: it would be overwritten", hint=hint)


def write_atomically(out: Path, text: str) -> None:
    """`text` into `out` (its folder made) by way of `out.partial`, so that a stopped or failed write leaves no
    half file; a failure (a read-only folder, a full disk) is one line naming `out`."""
    partial = out.with_name(out.name + ".partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text, encoding="utf-8")
        partial.replace(out)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise UserError(f"cannot write {out}: {error.strerror or error}", hint="choose another --out") from None


def _dvc_tracked() -> set[str]:
    declared = set(dvc_seam.git_kept_paths())
    return set(dvc_seam.tracked_objects()) | declared


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula (`=HYPERLINK(...)`, `+1`, `@SUM`) get a leading `'`, as OWASP
    advises for CSV files opened in a spreadsheet; numbers (a negative score) are left as they are."""
    from pandas.api.types import is_numeric_dtype

    text_columns = [name for name in frame.columns if not is_numeric_dtype(frame[name])]
    if not text_columns:
        return frame
    for name in text_columns:
        text = frame[name].astype("string")
        risky = text.str.startswith(FORMULA_START, na=False)
        if risky.any():
            frame = frame.assign(**{name: text.mask(risky, "'" + text)})
    return frame
