"""`mlops checkout`: travel to another version (git checkout, then its data and models from the DVC cache,
byte-identical), all or nothing, refused while anything in the workspace is not yet recorded."""

from __future__ import annotations

import shlex
from pathlib import Path

from pipeline.errors import UserError
from pipeline.versioning import dvc_seam
from pipeline.versioning.journal import all_or_nothing


def checkout(rev: str) -> None:
    """Bring back `rev`: its code, params, data and model as they were committed."""
    dvc_seam.require_repo()
    if dvc_seam.resolve_commit(rev) is None:  # before the workspace's checks, which start DVC
        raise UserError(f"{rev!r} is not a commit, tag or branch here", hint="see `git log --oneline` and `git tag`")
    dvc_seam.require_committed_workspace("travelling to another version")
    modified, deleted = changed_outputs()
    if modified:
        raise UserError(
            f"DVC-tracked files changed since they were recorded: {', '.join(modified[:5])}",
            hint="commit them (`mlops repro` / `mlops data add`, then git commit), or restore "
            "them with `dvc checkout --force`",
        )
    if deleted:  # `dvc checkout --force` alone fails for a file whose object the cache lacks too
        raise UserError(
            f"DVC-tracked files deleted since they were recorded: {', '.join(deleted[:5])}",
            hint="bring them back first: `dvc checkout --force` (from the cache), `mlops data pull` (from the DVC "
            f"remote) or `mlops repro` (rebuilds the model), then `mlops checkout {shlex.quote(rev)}` again",
        )
    tracked_before = set(dvc_seam.tracked_objects())
    with all_or_nothing("mlops checkout", move_head=True):
        dvc_seam.switch_code(rev)
        try:
            dvc_seam.checkout_outputs()
        except dvc_seam.DvcFailed as failure:
            raise UserError(
                f"some of {rev}'s data or models are not in the cache; stayed where you were",
                hint=f"fetch them with `{dvc_seam.pull_command(rev)}`, then run `mlops checkout {shlex.quote(rev)}` "
                "again",
            ) from failure
        remove_outputs_not_tracked(tracked_before - set(dvc_seam.tracked_objects()))


def remove_outputs_not_tracked(leftovers: set[str]) -> None:
    """Files the previous version tracked and this one does not (they stay in the cache): removed, so the
    workspace is exactly this version's (a leftover file in data/external/ would change the ingest stage's dep)."""
    for name in sorted(leftovers):
        Path(name).unlink(missing_ok=True)


def changed_outputs() -> tuple[list[str], list[str]]:
    """DVC-tracked files changed, and those deleted, since DVC recorded them."""
    uncommitted = dvc_seam.data_status(not_in_remote=False).get("uncommitted", {})
    return sorted(set(uncommitted.get("modified", []))), sorted(set(uncommitted.get("deleted", [])))
