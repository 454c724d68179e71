"""`mlops checkout`: travel to another version (git checkout, then its data and models from the DVC cache,
byte-identical), all or nothing, refused while anything in the workspace is not yet recorded."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path

from hooks.pipeline_state import LOCK_FILE, locked_outs
from pipeline.errors import UserError
from pipeline.versioning import dvc_seam, integrity
from pipeline.versioning.data_status import kept_elsewhere, object_path
from pipeline.versioning.journal import all_or_nothing


def checkout(rev: str) -> list[str]:
    """Bring back `rev`: its code, params, data and model as they were committed. Returns the outputs `rev` never
    built (its `dvc.lock` records none of them): none are left in the workspace, `mlops repro` builds them."""
    dvc_seam.require_repo()
    commit = dvc_seam.resolve_commit(rev)
    if commit is None:  # before the workspace's checks, which start DVC
        raise UserError(f"{rev!r} is not a commit, tag or branch here", hint=dvc_seam.unknown_rev_hint(rev))
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
    used_at_rev = objects_at(commit)
    require_nothing_unrecorded_in_the_way(rev, used_at_rev, tracked_before)
    require_not_lost(rev, commit, used_at_rev)
    with all_or_nothing("mlops checkout", move_head=True):
        dvc_seam.switch_code(rev)
        try:
            unrecorded = dvc_seam.checkout_outputs()
        except dvc_seam.DvcFailed as failure:
            problem = dvc_seam.config_problem()  # with rev's .dvc/config
            if problem is not None:
                raise UserError(
                    f"DVC refuses {rev}'s config: {problem}; stayed where you were",
                    hint=dvc_seam.config_fix(problem) or "fix what it names, then run the checkout again",
                ) from failure
            raise UserError(
                f"some of {rev}'s data or models are not in the cache; stayed where you were",
                hint=f"fetch them with `{dvc_seam.pull_command(rev)}`, then run `mlops checkout {shlex.quote(rev)}` "
                "again",
            ) from failure
        remove_outputs_not_tracked(tracked_before - set(dvc_seam.tracked_objects()))
    return unrecorded


def require_nothing_unrecorded_in_the_way(rev: str, used_at_rev: dict[str, str], tracked_here: set[str]) -> None:
    """Refuse, before anything moves, a file where `rev` tracks data (`used_at_rev`: {path: md5}) and this version
    tracks none (loans copied in by hand, not in git: untracked files do not block a checkout) whose bytes are in no
    commit and not in the DVC cache: the checkout would replace them with `rev`'s, and nothing could bring them back.
    Files this version tracks (`tracked_here`) were checked as recorded already."""
    cache = dvc_seam.cache_files_dir()
    in_the_way = [
        path
        for path, md5 in used_at_rev.items()
        if not within(path, tracked_here) and Path(path).is_file() and not kept_elsewhere(Path(path), cache, md5)
    ]
    if in_the_way:
        named = ", ".join(in_the_way[:5]) + (f" and {len(in_the_way) - 5} more" if len(in_the_way) > 5 else "")
        files = "the file" if len(in_the_way) == 1 else "the files"
        raise UserError(
            f"{named}: not tracked here, and {rev} tracks data there: checking {rev} out would overwrite content that "
            "is in no commit and not in the DVC cache; stayed where you were",
            hint=f"move {files} out of the way (or `mlops data add` and commit {files}), then "
            f"`mlops checkout {shlex.quote(rev)}` again",
        )


def require_not_lost(rev: str, commit: str, used_at_rev: dict[str, str]) -> None:
    """Refuse, before anything moves, a version whose data or model (`used_at_rev`, `objects_at(commit)`) is neither
    in the cache nor on the DVC remote: the checkout would fail, and the pull its failure suggests would fetch
    nothing. One the remote has, or a remote that cannot be asked, is left to the checkout (whose failure names the
    pull)."""
    missing = integrity.missing_from_cache(used_at_rev)
    if not missing:
        return
    try:
        lost = integrity.not_on_remote(missing)
    except dvc_seam.remote_failures():
        return
    if not lost:
        return
    shown = ", ".join(f"{problem.path} (md5 {problem.md5})" for problem in lost[:3])
    shown += f" and {len(lost) - 3} more" if len(lost) > 3 else ""
    remote = dvc_seam.default_remote()
    looked = f"on DVC remote {remote[0]!r} ({remote[1]})" if remote else "on a DVC remote (none is set)"
    cache = dvc_seam.cache_files_dir().parent.parent
    typed = shlex.quote(rev)
    added = [problem.path for problem in lost if not is_pipeline_output(commit, problem.path)]
    if added:
        hint = (
            f"{', '.join(added[:3])} is data added with `mlops data add`, which no command rebuilds: in a clone "
            f"whose DVC cache still has it, run `mlops checkout {typed} && mlops data push` (a push sends the "
            f"checked-out version's data only), then here `{dvc_seam.pull_command(rev)} && mlops checkout {typed}`"
        )
    else:
        hint = (
            f"rebuild it at {rev}: `git checkout {typed}` (its post-checkout hook says the output is missing), then "
            "`mlops repro`: the same params, code and data give the same bytes; `mlops data push` keeps them"
        )
    raise UserError(
        f"cannot check out {rev}: {shown} {'is' if len(lost) == 1 else 'are'} neither in the DVC cache "
        f"({os.path.relpath(cache)}) nor {looked}; stayed where you were",
        hint=hint,
    )


def objects_at(commit: str) -> dict[str, str]:
    """{workspace path: md5} of every object `commit` uses, a directory's listing too when the cache lacks it."""
    cache = dvc_seam.cache_files_dir()
    listings = {
        path: md5
        for path, md5 in dvc_seam.tracked_objects(commit).items()
        if md5.endswith(".dir") and not object_path(cache, md5).is_file()
    }
    return {**integrity.objects_in_use(commit), **listings}


def is_pipeline_output(commit: str, path: str) -> bool:
    """Whether `path` is (or is inside) an output `dvc.lock` records at `commit`: `mlops repro` makes it again."""
    return within(path, [out["path"] for out in locked_outs(dvc_seam.read_at(commit, LOCK_FILE)) if "path" in out])


def within(path: str, outputs: Iterable[str]) -> bool:
    """Whether `path` is one of `outputs` or inside one of them (a tracked folder)."""
    return any(path == output or path.startswith(f"{output}/") for output in outputs)


def remove_outputs_not_tracked(leftovers: set[str]) -> None:
    """Files the previous version tracked and this one does not (they stay in the cache): removed, so the
    workspace is exactly this version's (a leftover file in data/external/ would change the ingest stage's dep)."""
    for name in sorted(leftovers):
        Path(name).unlink(missing_ok=True)


def changed_outputs() -> tuple[list[str], list[str]]:
    """DVC-tracked files changed, and those deleted, since DVC recorded them."""
    uncommitted = dvc_seam.data_status(not_in_remote=False).get("uncommitted", {})
    return sorted(set(uncommitted.get("modified", []))), sorted(set(uncommitted.get("deleted", [])))
