"""Retraining from the prediction log: logged loans whose outcome is known become a data batch, appended to the
current dataset by `mlops data add --append` on a new branch, and the pipeline runs there; the gate then judges
the challenger against the champion, and the branch keeps the commit only when the gate passes.

The work happens in a temporary `git worktree` of HEAD on the new branch that shares this repository's DVC
cache, so the user's workspace (files, index, checked-out branch) is never touched, and the new model is in the
cache for `mlops serve --rev BRANCH` or `mlops deploy promote BRANCH` afterwards.

Pure functions build the batch, the branch name and the commit message; `decide` judges the drift and plans the
retrain (a `RetrainPlan`, every check done, nothing changed), `run` carries it out.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hooks import git
from pipeline import paths
from pipeline.errors import UserError
from pipeline.experiments.compare import Comparison, compare_revisions, splits_at, table_lines
from pipeline.monitoring.drift_check import DriftReport, WindowTooSmall, drift_report, served_rev
from pipeline.params import load_monitor, load_params
from pipeline.paths import RDATASETS
from pipeline.serving.app import ServedModel, load_served_model
from pipeline.serving.deploy import gate_sentence
from pipeline.serving.telemetry import ensure_log_dir, join_outcomes, parse_since, read_log, read_outcomes
from pipeline.training.data_schema import read_schema
from pipeline.training.model_file import load_model
from pipeline.training.sources import loan_identity, read_table
from pipeline.versioning import dvc_seam
from pipeline.versioning.datasets import checked_append
from pipeline.versioning.journal import all_or_nothing
from pipeline.versioning.pipeline_status import require_pulled

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas as pd

BRANCH_PREFIX = "retrain/"


def branch_name(now: datetime | None = None) -> str:
    """`retrain/<UTC stamp>`, e.g. `retrain/20250131T120000Z`."""
    return BRANCH_PREFIX + (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def labelled_traffic(log: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The loans returned to clients (one row per id, the latest), with a known outcome in `is_bad`."""
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
            columns[name] = pd.Series([None] * len(traffic), dtype=float) if numeric else traffic["id"]
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

    columns = [name for name in current.columns if name not in drop]
    identities = loan_identity(batch, columns)
    repeated = np.isin(identities, loan_identity(current, columns)) | pd.Series(identities).duplicated().to_numpy()
    return batch[~repeated], int(repeated.sum())  # each kept row's index: the row of the traffic it came from


def logged_ids(traffic: pd.DataFrame) -> Callable[[Sequence[int]], str]:
    """How a refusal names rows of the batch (indexed by the rows of `traffic` they came from): by the ids the
    loans were logged with, which the user can find in the log, not by positions in a batch held in memory."""
    ids = traffic["id"].to_numpy()
    return lambda positions: "logged ids " + ", ".join(repr(ids[position]) for position in positions)


def batch_schema_hint(schema_path: str) -> str:
    """What to do about logged loans the data's schema refuses. They are no file to fix or re-add (the hint of
    `mlops data add --append`): their values either belong in the schema, or the window should not hold them."""
    return (
        f"if these logged values are right, add them to {schema_path} (a category, a bound), review and commit it, "
        "then retrain; if not (logged by another serving setup, or edited), retrain on a window after them "
        "(--since TIME); nothing was changed"
    )


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


def commit_message(plan: RetrainPlan, comparison: Comparison, verdict: str) -> str:
    first, last = str(plan.traffic["time"].min()), str(plan.traffic["time"].max())
    left_out = f"; {plan.repeated} logged loans already in the data left out" if plan.repeated else ""
    return "\n".join(
        [
            f"retrain: {plan.rows} logged loans with outcomes appended to {plan.source}; {verdict}",
            "",
            f"Why: {'; '.join(plan.findings)}.",
            f"Batch: {plan.rows} loans ({plan.bad} bad) logged from {first} to {last}{left_out}.",
            "",
            f"Both models scored {comparison.basis()}:",
            *table_lines(comparison),
            "",
            verdict,
        ]
    )


def describe_plan(plan: RetrainPlan) -> list[str]:
    """What a retrain would do, step by step (the dry run shows this)."""
    tolerance = f" (tolerance {plan.tolerance})" if plan.tolerance is not None else " (tolerance from the noise)"
    return [
        f"create branch {plan.branch} from HEAD ({plan.base[:12]}) in a temporary git worktree that shares this "
        "repository's DVC cache (your workspace is not touched)",
        f"append {plan.rows} logged loans with outcomes ({plan.bad} bad) to {plan.source} there "
        f"(`mlops data add --append`; its checks passed here: columns, schema, bounds, duplicate rows)"
        + (f"; {plan.repeated} logged loans already in the data left out" if plan.repeated else ""),
        "run the pipeline there (`mlops repro`)",
        f"gate: the challenger's test {plan.metric} against the champion {plan.champion_label}'s, both scored on "
        f"the retrained test loans that neither trained on, with a paired interval{tolerance}",
        f"if the gate passes, commit on {plan.branch} with the comparison in the message; else delete the branch",
    ]


# --- the decision: drift, enough new outcomes, a file source, a batch that passes the append checks --------------


@dataclass(frozen=True, eq=False)
class RetrainPlan:
    """Everything a retrain needs, checked before anything changes."""

    branch: str
    base: str  # the commit the branch starts from (HEAD)
    source: str  # the data file the batch is appended to
    traffic: pd.DataFrame  # the logged loans with a known outcome
    batch: pd.DataFrame  # of them, the loans not already in the data, as rows of it
    repeated: int  # logged loans left out: already in the data
    bad: int
    champion: str  # the revision the challenger is judged against
    tolerance: float | None  # the gate's (None: from the noise)
    log_path: Path  # the run's output
    findings: list[str]  # why: the drift found
    metric: str = "roc_auc"

    @property
    def rows(self) -> int:
        return len(self.batch)

    @property
    def champion_label(self) -> str:
        return self.champion if self.champion == "HEAD" else self.champion[:12]


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain: too few logged loans to judge yet or no drift (nothing to do), not retrained
    (`not_retrained` says why), or a plan."""

    drift: DriftReport | None  # None: the window is too small to judge (`too_few_loans` says so)
    notes: list[str] = field(default_factory=list)  # worth saying before the decision
    not_retrained: str | None = None
    plan: RetrainPlan | None = None
    too_few_loans: str | None = None


def decide(log_dir: Path, since: str | None, rev: str | None, tolerance: float | None) -> RetrainDecision:
    """Judge the logged traffic for drift; on drift, plan a retrain from the logged loans with outcomes."""
    dvc_seam.require_repo()
    served = served_rev(rev)
    try:
        report = drift_report(log_dir, since, served, rev)
    except WindowTooSmall as small:
        return RetrainDecision(None, too_few_loans=small.message)
    if not report.findings:
        return RetrainDecision(report)
    return plan_retrain(report, log_dir, since, served, tolerance)


def plan_retrain(
    report: DriftReport, log_dir: Path, since: str | None, served: str | None, tolerance: float | None
) -> RetrainDecision:
    params = load_params()
    traffic = labelled_traffic(read_log(log_dir, parse_since(since)), read_outcomes(log_dir))
    min_outcomes = load_monitor().min_outcomes
    if len(traffic) < min_outcomes:
        return RetrainDecision(
            report,
            not_retrained=f"{len(traffic)} logged loans have a known outcome; at least {min_outcomes} are needed "
            "(monitor.min_outcomes). Record outcomes with `mlops monitor outcomes FILE`.",
        )
    source = params.data.source
    if source.startswith(RDATASETS) or Path(paths.EXTERNAL_DIR) not in Path(source).parents:
        raise UserError(
            f"data.source is {source!r}: retraining appends to a data file, and this is not one",
            hint="make the current data a file first: export it to CSV, `mlops data add FILE`, `mlops repro`, "
            "commit (see docs/serving.md, Retraining)",
        )
    base = dvc_seam.resolve_commit("HEAD")
    if base is None or dvc_seam.read_at(base, f"{source}.dvc") is None:
        raise UserError(f"HEAD does not track {source}", hint=f"commit {source}.dvc, dvc.lock and params.yaml first")
    positive = params.data.positive_label
    schema = read_schema(params.data.schema_path)
    labels = (positive, other_label(schema["target"]["labels"], positive))
    require_pulled(source)
    current = read_table(source)
    batch = batch_frame(traffic, current, params.data.target, labels, params.data.drop)
    batch, repeated = without_known_loans(batch, current, params.data.drop)
    notes = []
    if repeated:
        notes.append(
            f"{repeated} of {len(traffic)} logged loans with outcomes are already in {source} (same values and "
            "outcome, ids aside): left out of the batch"
        )
    if len(batch) < min_outcomes:
        return RetrainDecision(
            report,
            notes,
            not_retrained=f"{len(batch)} new loans with a known outcome after leaving out {repeated} already in "
            f"the data; at least {min_outcomes} are needed (monitor.min_outcomes)",
        )
    label = f"the retrain batch (loans logged in {log_dir})"
    hint = batch_schema_hint(params.data.schema_path)
    checked_append(current, batch, schema, params.data.drop, source, label, named=logged_ids(traffic), hint=hint)
    if dvc_seam.uncommitted_git_changes():
        notes.append("note: the workspace has uncommitted changes; the retrain starts from HEAD without them")
    branch = branch_name()
    plan = RetrainPlan(
        branch=branch,
        base=base,
        source=source,
        traffic=traffic,
        batch=batch,
        repeated=repeated,
        bad=int((batch[params.data.target] == positive).sum()),
        champion=served or "HEAD",
        tolerance=tolerance,
        log_path=log_dir / "retrain" / f"{branch.removeprefix(BRANCH_PREFIX)}.log",
        findings=report.findings,
    )
    return RetrainDecision(report, notes, plan=plan)


# --- the run: append, repro and gate in a worktree on the new branch --------------------------------------------


@dataclass(frozen=True)
class RetrainRun:
    """A retrain that ran: the gate's comparison and verdict, and the commit when it passed."""

    plan: RetrainPlan
    comparison: Comparison
    table: list[str]  # the comparison's key metrics, side by side
    verdict: str
    passed: bool | None  # None: too few unseen test loans to tell
    committed: str | None  # the new commit on the branch; None: the branch was deleted

    def why_not(self) -> str:
        if self.passed is None:
            return self.comparison.too_few()
        return f"the challenger is worse than the champion {self.plan.champion_label} beyond the tolerance"


def run(plan: RetrainPlan) -> RetrainRun:
    """Append, repro and gate in a worktree on the new branch; commit there if the gate passes, else delete the
    branch. The workspace is never touched; the new model lands in this repository's DVC cache."""
    dvc_seam.require_git_identity("`mlops monitor retrain`")
    ensure_log_dir(plan.log_path.parent)
    committed = None
    try:
        with (
            all_or_nothing("mlops monitor retrain", branch=plan.branch, outputs=False),
            tempfile.TemporaryDirectory(prefix="mlops-retrain-") as tmp,
            dvc_seam.worktree_sharing_cache(plan.base, plan.branch) as worktree,
        ):
            batch_path = Path(tmp) / "retrain-batch.csv"
            plan.batch.to_csv(batch_path, index=False)
            _step(dvc_seam.checkout_in_worktree(worktree, f"{plan.source}.dvc", plan.log_path), plan, "dvc checkout")
            add = ["pipeline", "data", "add", str(batch_path), "--append"]
            _step(dvc_seam.run_in_worktree(worktree, add, plan.log_path), plan, "data add")
            _step(dvc_seam.run_in_worktree(worktree, ["pipeline", "repro"], plan.log_path), plan, "mlops repro")
            comparison = champion_comparison(plan.champion, plan.champion_label, worktree, plan.branch)
            passed = comparison.passes(plan.tolerance)
            verdict = gate_sentence(comparison, plan.tolerance)
            if passed:
                committed = commit_all(worktree, commit_message(plan, comparison, verdict))
    finally:
        if committed is None:
            dvc_seam.delete_branch(plan.branch)
    return RetrainRun(plan, comparison, table_lines(comparison), verdict, passed, committed)


def _step(status: int, plan: RetrainPlan, what: str) -> None:
    if status != 0:
        tail = "\n    ".join(plan.log_path.read_text(encoding="utf-8").splitlines()[-8:])
        raise UserError(
            f"{what} failed on the retrain branch; nothing was committed:\n    {tail}", hint=f"read {plan.log_path}"
        )


def champion_comparison(champion: str, label: str, worktree: Path, branch: str) -> Comparison:
    """Champion and challenger scored on the retrained test loans that neither trained on."""
    model, metadata = load_model(worktree / paths.MODEL)
    challenger = ServedModel(model, metadata, "", branch)
    reference_splits = splits_at(champion)
    return compare_revisions(
        load_served_model(champion),
        challenger,
        reference_splits,
        splits_at(None, root=str(worktree)),
        load_params(worktree / "params.yaml"),
        (f"champion {label}", "challenger"),
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
