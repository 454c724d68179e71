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

from pipeline.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

BRANCH_PREFIX = "retrain/"


def branch_name(now: datetime | None = None) -> str:
    """`retrain/<UTC stamp>`, e.g. `retrain/20250131T120000Z`."""
    return BRANCH_PREFIX + (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def labelled_traffic(log: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The loans returned to clients (one row per id, the latest), with a known outcome in `is_bad`."""
    from pipeline.telemetry import join_outcomes

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


def comparison_lines(challenger: dict, champion: dict, champion_label: str) -> list[str]:
    """The key test metrics of champion and challenger side by side, as plain text."""
    from pipeline.metric_rules import KEY_METRICS, improvement

    lines = [f"{'metric':<14}{'champion ' + champion_label[:12]:>22}{'challenger':>12}{'change':>10}"]
    for metric in KEY_METRICS:
        if metric in challenger and metric in champion:
            better = improvement(metric, challenger[metric], champion[metric])
            word = "better" if better > 0 else "worse" if better < 0 else ""
            lines.append(
                f"{metric:<14}{champion[metric]:>22.4f}{challenger[metric]:>12.4f}"
                f"{challenger[metric] - champion[metric]:>+10.4f}  {word}".rstrip()
            )
    return lines


def metrics_on_split(served: Any, test: pd.DataFrame, params: Any) -> dict:
    """The test metrics of a served model on a test split, computed as the evaluate stage computes them: the
    champion scored on the challenger's test split, so the gate compares the two on the same loans."""
    from pipeline.stages.evaluate import score_metrics

    metadata = served.metadata
    is_bad = (test[metadata["target"]] == metadata["positive_label"]).to_numpy()
    p_bad = served.model.predict_proba(test[list(metadata["features"])])[:, 1]
    return score_metrics(is_bad, p_bad, metadata["threshold"], params)


def commit_message(findings: list[str], traffic: pd.DataFrame, source: str, comparison: list[str], verdict: str) -> str:
    bad = int(traffic["is_bad"].astype(bool).sum())
    first, last = str(traffic["time"].min()), str(traffic["time"].max())
    return "\n".join(
        [
            f"retrain: {len(traffic)} logged loans with outcomes appended to {source}; {verdict}",
            "",
            f"Why: {'; '.join(findings)}.",
            f"Batch: {len(traffic)} loans ({bad} bad) logged from {first} to {last}.",
            "",
            "Both models scored on the retrained test split (which holds part of the new batch):",
            *comparison,
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
    for args in (["add", "-A"], ["commit", "-q", "-F", "-"]):
        result = subprocess.run(
            ["git", *args], cwd=worktree, input=message if "-F" in args else None, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise UserError(
                f"could not commit the retrained version: {(result.stderr + result.stdout).strip()}",
                hint="is git's user.name/user.email set, and do the commit hooks pass?",
            )
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=worktree, capture_output=True, text=True).stdout.strip()


def describe_plan(plan: dict[str, Any]) -> list[str]:
    """What a retrain would do, step by step (the dry run prints this)."""
    return [
        f"1. create branch {plan['branch']} from HEAD ({plan['base'][:12]}) in a temporary git worktree that "
        "shares this repository's DVC cache (your workspace is not touched)",
        f"2. append {plan['rows']} logged loans with outcomes ({plan['bad']} bad) to {plan['source']} there "
        "(`mlops data add --append`)",
        "3. run the pipeline there (`mlops repro`)",
        f"4. gate: the challenger's test {plan['metric']} against the champion {plan['champion_label']}'s, both "
        "scored on the retrained test split"
        + (f" (tolerance {plan['tolerance']})" if plan["tolerance"] is not None else " (tolerance from the noise)"),
        f"5. if the gate passes, commit on {plan['branch']} with the comparison in the message; else delete the branch",
    ]
