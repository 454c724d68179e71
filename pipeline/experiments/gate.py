"""What `mlops gate` decides: whether the workspace's model is worse than a revision's by more than the
tolerance, both scored on the test loans neither trained on (no verdict when too few such loans are left); with
a subset fraction, on the recorded metrics of a subset run of each at the same fraction and seed (run where
missing), or, when the revision's run has another test split (its own data), on both runs' models scored on the
loans neither trained on. Nothing here prints: `gate` returns a `GateResult`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline import metrics as metric_rules
from pipeline import paths
from pipeline.errors import UserError
from pipeline.experiments.compare import Comparison, compare_revisions, splits_at
from pipeline.experiments.metrics_file import REVISION_REPORTS_HINT, read_metrics
from pipeline.experiments.runs import (
    duplicate_of,
    experiment_metrics,
    experiment_runs,
    planned,
    require_experiment_repo,
    with_subset,
    workspace_metrics,
)
from pipeline.experiments.settings import experiment_name, flat_params, params_with
from pipeline.params import load_params
from pipeline.serving import registry
from pipeline.serving.app import load_served_model
from pipeline.versioning import dvc_seam
from pipeline.versioning.journal import stops_unwound
from pipeline.versioning.pipeline_status import stale_stages


@dataclass(frozen=True)
class GateResult:
    reference_label: str
    notes: list[str]  # what the comparison stands on
    changes: list[metric_rules.Change] = field(default_factory=list)
    sentence: str = ""  # the verdict in one line
    passed: bool = False


def gate(
    against: str, metric: str, tolerance: float | None, subset: float | None, say: Callable[[str], None]
) -> GateResult:
    """Pass or fail the workspace against revision `against` on `metric`; `say` hears of subset runs as they
    start (they take a while)."""
    require_experiment_repo()
    rev = registry.against_commit(against)
    if subset is not None:
        with stops_unwound():  # SIGTERM or SIGHUP too stops its run and removes the worktree, as Ctrl-C does
            current, reference = subset_runs(subset, rev, against, say)
        if not same_test_loans(current.commit, reference.commit):  # the revision's own data: other test loans
            return _on_unseen_loans(subset_comparison(current, reference, against), metric, tolerance)
        return _recorded(against, [], current.metrics, reference.metrics, metric, tolerance)
    current = fresh_workspace_metrics()
    try:
        reference_model, reference_splits = load_served_model(rev, against), splits_at(rev, typed=against)
    except UserError as unreadable:
        if not same_split(rev, against):
            raise
        note = (
            f"{against}'s model is not readable here ({unreadable.message.split(':')[0]}); both revisions have the "
            f"same split, so their recorded metrics are on the same {current.get('test_rows', 'test')} test loans, "
            "which neither trained on (no paired interval: the noise band is the DeLong interval)"
        )
        return _recorded(against, [note], current, metrics_at(rev, against), metric, tolerance)
    comparison = compare_revisions(
        reference_model,
        load_served_model(None),
        reference_splits,
        splits_at(None),
        load_params(),
        (against, "workspace"),
    )
    return _on_unseen_loans(comparison, metric, tolerance)


def _recorded(
    label: str, notes: list[str], current: dict, reference: dict, metric: str, tolerance: float | None
) -> GateResult:
    require_recorded(metric, current, reference, label)
    verdict = metric_rules.judge(metric, current, reference, tolerance)
    changes = metric_rules.changes(current, reference)
    return GateResult(label, notes, changes, verdict.sentence(), verdict.passed)


def require_recorded(metric: str, current: dict, reference: dict, label: str) -> None:
    """Refuse a metric one side's recorded metrics lack (a revision from before the metric was added)."""
    if metric not in current:
        raise UserError(f"--metric {metric}: the workspace's metrics have no {metric}", hint="run `mlops repro`")
    if metric not in reference:
        raise UserError(
            f"--metric {metric}: {label}'s metrics have no {metric} (recorded before it was added)",
            hint=f"gate on a metric both record, e.g. --metric {metric_rules.PRIMARY.name}",
        )


def _on_unseen_loans(comparison: Comparison, metric: str, tolerance: float | None) -> GateResult:
    """The primary metric by its paired interval, another metric by its noise band; no verdict (not passed)
    with too few loans."""
    label = comparison.reference_label
    notes = [f"Both models scored {comparison.basis()}."]
    if not comparison.enough:
        return GateResult(label, notes, [], f"gate undecided: {comparison.too_few()}; not passed", False)
    changes = comparison.changes()
    if metric != metric_rules.PRIMARY.name:
        verdict = metric_rules.judge(metric, comparison.candidate, comparison.reference, tolerance)
        return GateResult(label, notes, changes, verdict.sentence(), verdict.passed)
    used = comparison.default_tolerance() if tolerance is None else tolerance
    passed = bool(comparison.passes(tolerance))
    sentence = (
        f"gate {'passes' if passed else 'FAILS'}: {metric} {comparison.reference[metric]:.4f} -> "
        f"{comparison.candidate[metric]:.4f} ({comparison.interval()}: {comparison.word}; tolerance {used:.4f})"
    )
    return GateResult(label, notes, changes, sentence, passed)


def same_split(rev: str, typed: str) -> bool:
    """Whether the revision's dvc.lock records the workspace's train, validation and test splits, byte for byte;
    a refusal names the revision as the user typed it."""
    theirs, ours = dvc_seam.lock_at(rev, registry.named(typed, rev)), dvc_seam.read_lock()
    outputs = (paths.TRAIN, paths.VALIDATION, paths.TEST)
    pairs = [(dvc_seam.output_md5(theirs, path), dvc_seam.output_md5(ours, path)) for path in outputs]
    return all(mine is not None and mine == other for other, mine in pairs)


def fresh_workspace_metrics() -> dict:
    """The workspace's recorded metrics; refused when a stage is stale (they would not be its model's)."""
    stale = stale_stages("mlops gate")
    if stale:
        raise UserError(
            f"the workspace's metrics are out of date (stale: {', '.join(stale)})",
            hint="run `mlops repro` first, or gate a subset run with --subset F",
        )
    return workspace_metrics()


def metrics_at(rev: str, label: str) -> dict:
    data = dvc_seam.read_at(rev, paths.METRICS)
    if data is None:
        raise UserError(f"{label} has no {paths.METRICS}", hint="gate against a revision that was trained")
    return read_metrics(data, f"{label}'s {paths.METRICS}", hint=REVISION_REPORTS_HINT)


@dataclass(frozen=True)
class SubsetRun:
    name: str
    commit: str  # the experiment's commit: its dvc.lock records its model and splits
    metrics: dict


def subset_runs(fraction: float, rev: str, label: str, say: Callable[[str], None]) -> tuple[SubsetRun, SubsetRun]:
    """(workspace, rev) subset runs at `fraction` with the workspace's seed, run where missing."""
    settings = with_subset({"seed": str(load_params().seed)}, fraction)
    current = find_or_run_subset(planned(settings).params, settings, None, "workspace", say)
    at_rev = flat_params(params_with(settings, raw=dvc_seam.params_at(rev).model_dump(mode="json", by_alias=True)))
    reference = find_or_run_subset(at_rev, settings, rev, label, say)
    return current, reference


def find_or_run_subset(
    params: dict, settings: dict[str, str], rev: str | None, label: str, say: Callable[[str], None]
) -> SubsetRun:
    """The experiment with these params (from `rev`'s code and data, or the workspace's), run if missing."""
    existing = experiment_runs(rev).runs if rev else experiment_runs().runs
    same = find_at_rev(params, existing) if rev else duplicate_of(params, existing)
    if same:
        say(f"{label}: using subset experiment {same.name}")
        commit = next(
            run.commit for run in dvc_seam.list_experiments() if (run.name, run.baseline) == (same.name, same.baseline)
        )
        return SubsetRun(same.name, commit, same.metrics)
    name = "gate-" + experiment_name(settings)
    say(f"{label}: running subset experiment {name} ...")
    if rev:
        status = dvc_seam.run_exp_at(rev, name, settings, "mlops gate")
    else:
        status = dvc_seam.run_exp(name, settings, "mlops gate")
    if status != 0:
        raise UserError(f"the subset run of {label} failed", hint=f"read {dvc_seam.exp_log_path(name)}")
    ref = dvc_seam.exp_ref(name)
    return SubsetRun(name, dvc_seam.resolve_commit(ref), experiment_metrics(name, ref))


def same_test_loans(commit: str, other: str) -> bool:
    """Whether two runs' dvc.lock record the same test split: a revision with other data (or split code) tests its
    subset run on other loans, so their recorded metrics do not compare."""
    test = dvc_seam.recorded_md5_at(commit, paths.TEST)
    return test is not None and test == dvc_seam.recorded_md5_at(other, paths.TEST)


def subset_comparison(current: SubsetRun, reference: SubsetRun, against: str) -> Comparison:
    """Both subset runs' models scored on the workspace run's test loans that neither trained on, as the gate
    without --subset scores both revisions' models."""
    return compare_revisions(
        load_served_model(reference.commit, f"{against}'s subset run {reference.name}"),
        load_served_model(current.commit, f"the workspace's subset run {current.name}"),
        splits_at(reference.commit),
        splits_at(current.commit),
        load_params(),
        (against, "workspace"),
    )


def find_at_rev(params: dict, runs: list):
    """An experiment started from the revision (its code and data) with these params."""
    wanted = json.dumps(params, sort_keys=True)
    return next((run for run in runs if json.dumps(run.params, sort_keys=True) == wanted), None)
