"""Whether `mlops repro` has nothing to do, answered without DVC or the params schema (the no-op fast path).

Nothing is to do when every stage is up to date by `hooks.pipeline_state` (params, code and data against
`dvc.lock`, as `dvc status` decides), none is one only DVC can judge (a templated or `wdir` stage), no merge
left placeholders, and every value in params.yaml is one that `dvc.lock` records: each was then checked by the
params schema when a stage ran (every stage loads the whole file through it), so the schema need not be imported
again. A value no stage reads (a new or misspelt key) sends the command down the full path, where the schema
names it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hooks import md5_cache
from hooks.merge_driver import placeholders
from hooks.pipeline_state import PARAMS_FILE, load, lock_stages, pipeline_state, read_worktree, stages_left_to_dvc


def stages_if_nothing_to_run() -> list[str] | None:
    """The pipeline's stages (dvc.lock's order) when `mlops repro` would run none of them, else None."""
    if not (Path("dvc.yaml").is_file() and Path(".dvc").is_dir()):
        return None
    try:
        if placeholders():
            return None
        read = functools.cache(read_worktree())  # params.yaml and dvc.lock: read once for both questions
        if stages_left_to_dvc(read):
            return None
        with md5_cache.remembered() as md5s:
            if any(state.stale for state in pipeline_state(read, md5=md5s.md5)):
                return None
        stages = lock_stages(read)
        if not params_all_recorded(read):
            return None
    except Exception:  # an unreadable or refused file, no git: the full path reports it properly
        return None
    return list(stages)


def params_all_recorded(read: Callable[[str], bytes | None] | None = None) -> bool:
    """Whether every value in params.yaml is one that dvc.lock records (a new or misspelt key is not)."""
    read = read or read_worktree()
    params = load(read, PARAMS_FILE) or {}
    stages = lock_stages(read)
    recorded = {key for stage in stages.values() for key in ((stage.get("params") or {}).get(PARAMS_FILE) or {})}
    return all(_covered(key, recorded) for key in _leaf_keys(params))


def _leaf_keys(params: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every value (`train.logreg.C`); an empty section counts as a value."""
    if isinstance(params, dict) and (params or not prefix):
        return [key for name, value in params.items() for key in _leaf_keys(value, f"{prefix}{name}.")]
    return [prefix.removesuffix(".")]


def _covered(leaf: str, recorded: set[str]) -> bool:
    """Whether a recorded key is `leaf` itself or a section holding it (`train` holds `train.logreg.C`)."""
    parts = leaf.split(".")
    return any(".".join(parts[:length]) in recorded for length in range(1, len(parts) + 1))
