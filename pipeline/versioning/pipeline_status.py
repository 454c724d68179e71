"""Which stages `mlops repro` would run, and why, without starting DVC: the fast path beside `dvc_seam`, read
from the working tree by `hooks.pipeline_state` (the reader the commit hooks use), plus the generated files a
merge kept from one side (`hooks.merge_driver`)."""

from __future__ import annotations

import errno
import os
import posixpath
from pathlib import Path

from hooks import git, md5_cache, merge_driver
from hooks.bounded_yaml import BadYaml, ConflictMarkers, Unbounded
from hooks.params_yaml import AmbiguousScalar
from hooks.pipeline_state import (
    Reader,
    StageState,
    pipeline_state,
    pointer_outs,
    read_worktree,
)
from pipeline.errors import UserError, full_disk, full_disk_in, not_writable, read_dvc_message, shortened
from pipeline.versioning.dvc_command import DvcFailed


def stage_states(command: str = "mlops status", read: Reader | None = None) -> list[StageState]:
    """Every stage of the working tree's dvc.yaml, in order, with the reasons it is stale; a pipeline file that
    cannot be read as the stages would read it is a UserError naming the fix (`command` is what to run again).
    `read`: a memo of the working tree's reader; data is hashed through `hooks.md5_cache`."""
    try:
        with md5_cache.remembered() as md5s:
            return pipeline_state(read or read_worktree(), md5=md5s.md5)
    except (Unbounded, AmbiguousScalar, BadYaml) as error:
        raise explained_failure(error, f"`{command}`") from None


def explained_failure(error: Exception, command: str = "the command") -> UserError | None:
    """What the layers below a command raise for a reason already explained, as the UserError it is: the readers
    of the project's own files refusing one (dvc.yaml, dvc.lock or params.yaml that is not YAML, is unbounded, or
    reads two ways), a DVC command that failed after printing why, a write stopped by a full disk or a read-only
    folder, or a path the user named that the system refuses as too long. None for any other exception."""
    if isinstance(error, Unbounded):  # an alias bomb or a huge file, refused before it is built
        return UserError(str(error), hint=error.hint)
    if isinstance(error, AmbiguousScalar):
        return UserError(str(error), hint=f"fix params.yaml, then run {command} again")
    if isinstance(error, ConflictMarkers):
        return UserError(str(error), hint=merge_driver.conflict_fix(error.name, command))
    if isinstance(error, BadYaml):
        return UserError(str(error), hint=f"fix it (`git diff` shows what changed), then run {command} again")
    if isinstance(error, DvcFailed):
        return dvc_failure(error, command)
    if (no_room := full_disk(error, command) or not_writable(error)) is not None:
        return no_room
    if isinstance(error, OSError) and error.errno == errno.ENAMETOOLONG and error.filename is not None:
        return UserError(
            f"{shortened(str(error.filename))}: too long a path (the system allows 255 bytes for a file or folder "
            "name, 4,096 for the whole path)",
            hint="give a shorter path",
        )
    return None


def dvc_failure(error: DvcFailed, command: str) -> UserError:
    """A failed DVC command in one line: what DVC said (kept from its output), or that its message is above."""
    if not error.said:
        return UserError(str(error), hint=read_dvc_message(f"fix what it names, then run {command} again"))
    number = full_disk_in(error.said)
    if number is not None:
        return UserError(f"{error}: {os.strerror(number)}", hint=f"free some disk space, then run {command} again")
    return UserError(f"{error}: {error.said}", hint=f"fix what DVC names, then run {command} again")


def stale_stages(command: str = "mlops status") -> list[str]:
    return [state.name for state in stage_states(command) if state.stale]


def type_only_stages(command: str = "mlops status") -> list[str]:
    """Stages whose params changed in type only (`1` -> `1.0`): DVC sees them as up to date, the stages do not."""
    return [state.name for state in stage_states(command) if state.type_only_params]


def missing_sources() -> list[str]:
    """The files `.dvc` pointers track (data `mlops data add` added) that are not in the work tree, as in a fresh
    clone before `mlops data pull`: no stage can run without them (DVC says only "missing data 'source'")."""
    read = read_worktree()
    missing = []
    for pointer in git.ls_files("*.dvc", untracked=True):
        for out in pointer_outs(read(pointer)):
            path = posixpath.join(posixpath.dirname(pointer), out.get("path") or "")
            if isinstance(out.get("path"), str) and not os.path.lexists(path):
                missing.append(path)
    return missing


def missing_sources_fix(missing: list[str]) -> UserError:
    """The refusal of a run whose tracked data is not in the work tree, with the command that brings it."""
    named = f"{missing[0]} is" if len(missing) == 1 else f"{', '.join(missing)} are"
    return UserError(
        f"{named} tracked by DVC (its .dvc file is in git) but not in the workspace",
        hint="`mlops data pull` brings this commit's data from the DVC remote (`dvc checkout` from your own "
        "cache), then run the command again",
    )


def require_pulled(path: str) -> None:
    """Refuse to read a file a `.dvc` pointer tracks while it is not in the work tree, naming the pull that brings it
    (the reader would say only "no such file")."""
    if Path(path).as_posix() in missing_sources():
        raise missing_sources_fix([Path(path).as_posix()])


def merge_placeholders() -> list[str]:
    """Generated files a merge, rebase, cherry-pick or revert took from one side, not yet reproduced."""
    return merge_driver.placeholders()


def clear_merge_placeholders() -> None:
    """After a reproduction: the generated files are the pipeline's again."""
    merge_driver.clear_placeholders()


def workspace_md5(path: str) -> str | None:
    """DVC's md5 of a file or folder in the working tree (a folder's is its listing's, ending `.dir`), or None."""
    with md5_cache.remembered() as md5s:
        return md5s.md5(path)
