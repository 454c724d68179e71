"""Retraining from the prediction log: logged loans whose outcome is known become a data batch, appended to the
current dataset by `mlops data add --append` on a new branch, and the pipeline runs there; the gate then judges
the challenger against the champion, and the branch keeps the commit only when the gate passes.

The work happens in a temporary `git worktree` of HEAD on the new branch that shares this repository's DVC
cache, so the user's workspace (files, index, checked-out branch) is never touched, and the new model is in the
cache for `mlops serve --rev BRANCH` or `mlops deploy promote BRANCH` afterwards.

Pure functions build the batch, the branch name and the commit message; `run_in_worktree` and `commit_all` are
the side effects.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hooks import git
from pipeline.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

BRANCH_PREFIX = "retrain/"


def branch_name(now: datetime | None = None) -> str:
    """`retrain/<UTC stamp>`, e.g. `retrain/20250131T120000Z`."""
    return BRANCH_PREFIX + (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def labelled_traffic(log: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The loans returned to clients (one row per id, the latest), with a known outcome in `is_bad`."""
    from pipeline.serving.telemetry import join_outcomes

    if log.empty:
        return log.assign(is_bad=None).iloc[0:0]
    served = log[log["served"]].drop_duplicates("id", keep="last")
    joined = join_outcomes(served, outcomes)
    return joined[joined["is_bad"].notna()].reset_index(drop=True)


def other_label(labels: list[str], positive: str) -> str:
    """The target's label that is not the positive one."""
    others = [label for label in labels if label != positive]
    if len(others) != 1:
        raise UserError(
            f"the schema's target labels are {labels}; expected the positive {positive!r} and one other",
            hint="restore reports/schema.json from git",
        )
    return others[0]


def batch_frame(
    traffic: pd.DataFrame, current: pd.DataFrame, target: str, labels: tuple[str, str], drop: list[str]
) -> pd.DataFrame:
    """A batch with the current dataset's columns, in its order: the logged features, the target as the labels
    (bad, good) from `is_bad`, and each dropped column (an id) as the logged id, or empty where it is a number.
    Integer columns stay integers when every value is whole, so an appended CSV keeps its look."""
    import pandas as pd

    bad, good = labels
    columns = {}
    for name in current.columns:
        if name == target:
            columns[name] = traffic["is_bad"].astype(bool).map({True: bad, False: good})
        elif name in drop:
            numeric = pd.api.types.is_numeric_dtype(current[name])
            columns[name] = pd.Series([None] * len(traffic), dtype=float) if numeric else traffic["id"].astype(str)
        else:
            columns[name] = traffic[name] if name in traffic.columns else pd.Series([None] * len(traffic))
    batch = pd.DataFrame({name: values.to_numpy() for name, values in columns.items()})
    return match_integer_columns(batch, current)


def without_known_loans(batch: pd.DataFrame, current: pd.DataFrame, drop: list[str]) -> tuple[pd.DataFrame, int]:
    """(the batch without loans already in the data, how many were left out). A logged loan is already in the
    data when every column but the ids (`data.drop`) equals an existing row's, outcome included, or an earlier
    row's of the batch: replayed traffic, which would add no information and which the data's duplicate-row
    rule refuses."""
    import numpy as np
    import pandas as pd

    from pipeline.training.sources import loan_identity

    columns = [name for name in current.columns if name not in drop]
    identities = loan_identity(batch, columns)
    repeated = np.isin(identities, loan_identity(current, columns)) | pd.Series(identities).duplicated().to_numpy()
    return batch[~repeated].reset_index(drop=True), int(repeated.sum())


def match_integer_columns(batch: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    for name in batch.columns:
        if not pd.api.types.is_integer_dtype(current[name]):
            continue
        values = pd.to_numeric(batch[name], errors="coerce")
        if values.notna().all() and np.all(np.mod(values, 1) == 0):
            batch[name] = values.astype(current[name].dtype)
    return batch


def commit_message(findings: list[str], plan: dict[str, Any], comparison: Any, verdict: str) -> str:
    from pipeline.experiments.compare import table_lines

    traffic, rows, repeated = plan["traffic"], plan["rows"], plan["repeated"]
    first, last = str(traffic["time"].min()), str(traffic["time"].max())
    left_out = f"; {repeated} logged loans already in the data left out" if repeated else ""
    return "\n".join(
        [
            f"retrain: {rows} logged loans with outcomes appended to {plan['source']}; {verdict}",
            "",
            f"Why: {'; '.join(findings)}.",
            f"Batch: {rows} loans ({plan['bad']} bad) logged from {first} to {last}{left_out}.",
            "",
            f"Both models scored {comparison.basis()}:",
            *table_lines(comparison),
            "",
            verdict,
        ]
    )


# --- side effects: a worktree on the new branch, commands run there -------------------------------------------


def run_in_worktree(worktree: Path, args: list[str], log_path: Path, what: str) -> None:
    """Run `python -m ARGS` in the worktree (its own code), output appended to the retrain log."""
    import os

    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ python -m {' '.join(args)}\n")
        log.flush()
        result = subprocess.run(
            [sys.executable, "-m", *args], cwd=worktree, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    if result.returncode != 0:
        tail = "\n    ".join(log_path.read_text(encoding="utf-8").splitlines()[-8:])
        raise UserError(
            f"{what} failed on the retrain branch; nothing was committed:\n    {tail}", hint=f"read {log_path}"
        )


def commit_all(worktree: Path, message: str) -> str:
    """Commit every change in the worktree; the new commit id."""
    try:
        git.git("add", "-A", cwd=str(worktree))
        git.git("commit", "-q", "-F", "-", input=message.encode(), cwd=str(worktree))
    except git.GitFailed as failure:
        raise UserError(
            f"could not commit the retrained version: {failure.message}",
            hint="is git's user.name/user.email set, and do the commit hooks pass?",
        ) from None
    return git.resolve_commit("HEAD", cwd=str(worktree)) or ""


def describe_plan(plan: dict[str, Any]) -> list[str]:
    """What a retrain would do, step by step (the dry run prints this)."""
    return [
        f"1. create branch {plan['branch']} from HEAD ({plan['base'][:12]}) in a temporary git worktree that "
        "shares this repository's DVC cache (your workspace is not touched)",
        f"2. append {plan['rows']} logged loans with outcomes ({plan['bad']} bad) to {plan['source']} there "
        f"(`mlops data add --append`; its checks passed here: columns, schema, bounds, duplicate rows)"
        + (f"; {plan['repeated']} logged loans already in the data left out" if plan["repeated"] else ""),
        "3. run the pipeline there (`mlops repro`)",
        f"4. gate: the challenger's test {plan['metric']} against the champion {plan['champion_label']}'s, both "
        "scored on the retrained test loans that neither trained on, with a paired interval"
        + (f" (tolerance {plan['tolerance']})" if plan["tolerance"] is not None else " (tolerance from the noise)"),
        f"5. if the gate passes, commit on {plan['branch']} with the comparison in the message; else delete the branch",
    ]
