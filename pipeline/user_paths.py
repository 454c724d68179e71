"""Paths the user names: resolved without a traceback (a symbolic link loop is one line), input files that
must be regular files, told apart from a missing file, a folder, a device or a pipe, and the file standing where a
folder to be made must go."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pipeline.errors import UserError


def resolved(path: Path, label: str | None = None) -> Path:
    """`path` made absolute with its links followed; a loop of symbolic links is refused, naming `label`
    (default: the path)."""
    try:
        if not _in_a_loop(path):
            return path.resolve()
    except (RuntimeError, OSError):
        pass
    raise UserError(
        f"{label or path}: a loop of symbolic links", hint="give the path of the file itself (`ls -l` shows links)"
    )


def _in_a_loop(path: Path) -> bool:
    """Whether the system finds a loop of links on `path` (ELOOP, on every Python: `Path.resolve()` raises on a loop
    up to 3.12 only, and from 3.13 returns a path)."""
    try:
        os.stat(path)
    except OSError as error:
        return error.errno == errno.ELOOP
    return False


def in_project(path: Path, label: str | None = None) -> Path | None:
    """`path` relative to the project's root (the current directory; `.` for the root itself), or None when it is
    outside the project."""
    try:
        return resolved(path, label).relative_to(Path.cwd().resolve())
    except ValueError:
        return None


def in_project_as_named(path: Path) -> Path | None:
    """`path` relative to the project's root where it is named, a link at its end not followed (DVC's links into
    its cache, with `cache.type symlink`, stand where the data is tracked), or None when it is outside the project."""
    folder = in_project(path.parent)
    return None if folder is None else folder / path.name


def require_file(path: Path, hint: str) -> None:
    """Refuse `path` unless it is a regular file, saying what it is instead."""
    if path.is_file():
        return
    resolved(path)  # a loop of links is said as such, not as a missing file
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a file", hint=hint)
    if path.exists():
        raise UserError(f"{path}: not a regular file (a device, pipe or socket)", hint=hint)
    raise UserError(f"{path}: no such file", hint=hint)


def folder_in_place(name: str | Path) -> UserError:
    """The refusal of a folder standing where one of the project's own files (params.yaml, dvc.lock) belongs."""
    hint = f"rename the folder, then `git checkout -- {name}` brings the file back"
    return UserError(f"{name}: is a folder, not a file", hint=hint)


def file_in_the_way(path: Path) -> Path | None:
    """The file standing where a folder of `path` must be: the nearest of its folders that exists, when that is no
    folder (`report.html` for `report.html/x`); making the folder would fail with "File exists" or "Not a
    directory". None when it is a folder or none exists."""
    for folder in path.parents:
        if folder.is_dir():
            return None
        if folder.exists() or folder.is_symlink():
            return folder
    return None
