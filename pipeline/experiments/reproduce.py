"""What `mlops repro` and `mlops status` do: run the pipeline (in full, or a subset as a temporary experiment),
and say which stages are stale and why, without DVC. Each returns a typed result; nothing here prints."""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass, field

from hooks import installed_hooks
from hooks.bounded_yaml import BadYaml
from hooks.pipeline_state import read_worktree, stages_left_to_dvc
from pipeline import metrics as metric_rules
from pipeline import paths
from pipeline.errors import UserError
from pipeline.experiments import dvc_outcomes, plots_page, subset
from pipeline.experiments.metrics_file import read_metrics, workspace_metrics, workspace_metrics_if_readable
from pipeline.experiments.subset import check_fraction
from pipeline.versioning import dvc_seam, journal
from pipeline.versioning.pipeline_status import (
    clear_merge_placeholders,
    merge_placeholders,
    missing_sources,
    missing_sources_fix,
    stage_states,
)
from pipeline.versioning.up_to_date import params_all_recorded, stages_if_nothing_to_run


@dataclass(frozen=True)
class Reproduced:
    title: str
    stages: list[tuple[str, str]] = field(default_factory=list)  # (stage, what DVC did); none for a subset run
    changes: list[metric_rules.Change] = field(default_factory=list)  # test metrics against the workspace's before
    experiment: str | None = None  # the subset run's experiment
    note: str | None = None  # how the subset run was made
    repeats: bool = False  # `experiment` already had these params, code and data: nothing ran


def reproduce(subset: float | None, force: bool) -> Reproduced:
    """Bring the pipeline up to date (only stages whose params, code or data changed run), or train on a
    fraction of the training split as a temporary DVC experiment (the workspace stays untouched)."""
    # The params schema (pydantic) only when a run happens: `mlops status` and a no-op repro answer without it.
    from pipeline.params import load_params

    if subset is not None:
        check_fraction(subset)
    dvc_seam.require_repo()
    plots_page.ensure_template()  # so `dvc plots show` works offline after a repro
    if missing := missing_sources():
        raise missing_sources_fix(missing)
    if subset is not None:
        return _subset_run(subset, repeat=force)
    load_params()  # before any stage does work
    before = workspace_metrics_if_readable()
    outcomes: dict[str, str] = {}
    # The fast path: when nothing is stale, and no stage is one only DVC can judge, DVC need not even start.
    read = functools.cache(read_worktree())  # dvc.yaml, params.yaml and dvc.lock: read once for both questions
    if force or any(state.stale for state in stage_states("mlops repro", read)) or stages_left_to_dvc(read):
        try:
            with dvc_outcomes.contradicting_advice_dropped():
                outcomes = dvc_seam.repro(force=force)
        except dvc_seam.DvcFailed as failure:
            raise UserError(
                "the pipeline failed; dvc.lock, models/ and reports/ are as they were before the run",
                hint="read the stage's message above, fix it, and run `mlops repro` again",
            ) from failure
    clear_merge_placeholders()  # the generated files a merge kept from one side are now reproduced
    stages = [(name, outcomes.get(name, dvc_outcomes.SKIPPED)) for name in dvc_seam.read_lock()]
    return Reproduced("Test metrics", stages, _changes(workspace_metrics(), before))


def nothing_to_run() -> Reproduced | None:
    """`mlops repro` when no stage is stale, as a run would answer it (every stage skipped, the metrics), read
    without DVC or the params schema; None when a stage must run (then `reproduce` runs)."""
    stages = stages_if_nothing_to_run()
    if stages is None:
        return None
    plots_page.ensure_template()
    metrics = workspace_metrics()
    return Reproduced("Test metrics", [(name, dvc_outcomes.SKIPPED) for name in stages], _changes(metrics, metrics))


def _subset_run(fraction: float, repeat: bool) -> Reproduced:
    stages = subset.start_stages()  # their libraries import while the params and the workspace are checked
    from pipeline.experiments.runs import existing_run
    from pipeline.experiments.settings import SUBSET_KEY, typed_settings  # the schema: see `reproduce`

    name = subset_name(fraction)
    try:
        typed_settings({SUBSET_KEY: repr(float(fraction))})  # the params with the fraction, through the schema
        same = None if repeat else existing_run({SUBSET_KEY: repr(float(fraction))})
        if same:  # as `mlops exp run` skips it: the same bytes again, under another name
            return _recorded(same, repeats=True)
        with dvc_outcomes.experiment_failure_said(f"subset experiment {name}"):
            done = subset.run(name, fraction, stages)
    finally:
        if stages is not None:
            stages.stop()
    note = "Ran train and evaluate; ingest, validate and split are the workspace's (up to date)."
    return _recorded(name, ref=done.ref, note=None if done.why_dvc else note)


def _recorded(name: str, *, ref: str | None = None, note: str | None = None, repeats: bool = False) -> Reproduced:
    """A subset experiment's metrics against the workspace's."""
    ref = ref or dvc_seam.exp_ref(name)
    metrics = read_metrics(dvc_seam.read_at(ref, paths.METRICS) if ref else None)
    title = f"Test metrics of {name} (vs the workspace)"
    return Reproduced(title, [], _changes(metrics, workspace_metrics_if_readable()), name, note, repeats)


def _changes(metrics: dict, before: dict) -> list[metric_rules.Change]:
    same_loans = before.get(metric_rules.TEST_ROWS.name) == metrics.get(metric_rules.TEST_ROWS.name)
    return metric_rules.changes(metrics, before, same_loans=same_loans)  # else the data grew: other test loans


def subset_name(fraction: float) -> str:
    return f"subset-{fraction!r}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class StageStatus:
    stage: str
    stale: bool
    reasons: list[str]


@dataclass(frozen=True)
class PipelineStatus:
    stages: list[StageStatus]
    kept_placeholders: list[str]  # generated files a merge kept from one side, until reproduced
    missing_sources: list[str] = field(default_factory=list)  # tracked data not in the work tree: pull it first
    running: str | None = None  # another mlops command at work here (`pid N: COMMAND`): its files are mid-run
    lock_in_writing: bool = False  # and its dvc.lock could not be read as it wrote it: no stage is known
    hooks_notice: str | None = None  # the hook scripts here are an older `mlops hooks install`'s: run it again

    @property
    def up_to_date(self) -> bool:
        return not any(stage.stale for stage in self.stages)


def status() -> PipelineStatus:
    """Which stages are stale and why (params, code, data); a stage after a stale one may run too. Params the
    stages would refuse are a UserError, as `mlops repro` says it (checked when a run is due, or when params.yaml
    holds a value no stage recorded: otherwise the run that wrote dvc.lock checked them). While another command is
    at work here, a dvc.lock it is writing that moment (empty, or cut short) is its work in progress, not a fault."""
    running = journal.running_command()
    try:
        return _status(running)
    except BadYaml:
        if running is None:
            raise
        return PipelineStatus([], [], [], running, lock_in_writing=True)


def _status(running: str | None) -> PipelineStatus:
    dvc_seam.require_repo()
    read = functools.cache(read_worktree())  # params.yaml and dvc.lock: read once for both questions
    stale_upstream: list[str] = []
    stages = []
    for state in stage_states(read=read):
        reasons = list(state.reasons)
        if not reasons and stale_upstream:
            reasons = [f"runs after {stale_upstream[-1]} if its outputs change"]
        stages.append(StageStatus(state.name, state.stale, reasons))
        if state.stale:
            stale_upstream.append(state.name)
    if judged_by_dvc := stages_left_to_dvc(read):
        stale = dvc_seam.stages_dvc_calls_stale(judged_by_dvc)
        stages += [StageStatus(state.name, True, state.reasons) for state in stale]
        stale_upstream += [state.name for state in stale]
    if stale_upstream or not params_all_recorded(read):
        from pipeline.params import load_params  # the schema (pydantic) only then: see the docstring

        load_params()
    sources = missing_sources() if stale_upstream else []
    stale_hooks = installed_hooks.out_of_date_here()
    hooks_notice = installed_hooks.notice(stale_hooks) if stale_hooks else None
    return PipelineStatus(stages, merge_placeholders(), sources, running, hooks_notice=hooks_notice)
