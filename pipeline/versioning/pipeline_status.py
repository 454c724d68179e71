"""Which stages `mlops repro` would run, and why, without starting DVC: the fast path beside `dvc_seam`, read
from the working tree by `hooks.pipeline_state` (the reader the commit hooks use), plus the generated files a
merge kept from one side (`hooks.merge_driver`)."""

from __future__ import annotations

from pathlib import Path

from hooks import merge_driver
from hooks.bounded_yaml import Unbounded
from hooks.params_yaml import AmbiguousScalar
from hooks.pipeline_state import StageState, dir_md5, file_md5, pipeline_state, read_worktree
from pipeline.errors import UserError


def stage_states(command: str = "mlops status") -> list[StageState]:
    """Every stage of dvc.yaml, in order, with the reasons it is stale; a params.yaml that cannot be read as
    the stages would read it is a UserError naming the fix (`command` is what to run again)."""
    try:
        return pipeline_state(read_worktree())
    except Unbounded as error:  # an alias bomb or a huge file, refused before it is built
        raise UserError(str(error), hint=error.hint) from None
    except AmbiguousScalar as error:
        raise UserError(str(error), hint=f"fix params.yaml, then run `{command}` again") from None


def stale_stages(command: str = "mlops status") -> list[str]:
    return [state.name for state in stage_states(command) if state.stale]


def type_only_stages(command: str = "mlops status") -> list[str]:
    """Stages whose params changed in type only (`1` -> `1.0`): DVC sees them as up to date, the stages do not."""
    return [state.name for state in stage_states(command) if state.type_only_params]


def merge_placeholders() -> list[str]:
    """Generated files a merge, rebase or cherry-pick took from one side, not yet reproduced."""
    return merge_driver.placeholders()


def clear_merge_placeholders() -> None:
    """After a reproduction: the generated files are the pipeline's again."""
    merge_driver.clear_placeholders()


def workspace_md5(path: str) -> str | None:
    """DVC's md5 of a file or folder in the working tree (a folder's is its listing's, ending `.dir`), or None."""
    if Path(path).is_dir():
        return dir_md5(path)
    data = read_worktree()(path)
    return None if data is None else file_md5(data)
