"""`mlops gate`: fail (exit 1) when the workspace's model is worse than a revision's by more than the tolerance,
both scored on the test loans neither trained on (or when too few such loans are left to tell); with
`--subset F`, compare the recorded metrics of a subset run of each at the same fraction and seed (run where
missing: both share the workspace's split)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline import paths
from pipeline.cli.exp import Metric, SubsetOption
from pipeline.errors import UserError


def register(app: typer.Typer) -> None:
    app.command()(gate)


def gate(
    against: Annotated[str, typer.Option(help="The revision to compare with (a commit, branch or tag).")] = "HEAD",
    metric: Annotated[Metric, typer.Option(help="The primary metric; its direction is known.")] = Metric.roc_auc,
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="How much worse is allowed (default: a quarter of the DeLong interval's half-width).", min=0.0
        ),
    ] = None,
    subset: SubsetOption = None,
) -> None:
    """Pass or fail the workspace's metrics against another revision's, printing the comparison."""
    from pipeline.cli.exp import require_experiment_repo
    from pipeline.metrics import judge
    from pipeline.versioning import dvc_seam

    require_experiment_repo()
    rev = dvc_seam.resolve_commit(against)
    if rev is None:
        raise UserError(f"--against {against}: no such revision", hint="e.g. --against HEAD or origin/main")
    if subset is None:
        workspace_metrics()  # refuses stale metrics
        gate_on_unseen_loans(rev, against, metric, tolerance)
        return
    current, reference = subset_metrics(subset, rev, against)
    if metric.value not in current or metric.value not in reference:
        raise UserError(f"{metric.value} is missing from the metrics", hint="run `mlops repro`")
    verdict = judge(metric.value, current, reference, tolerance)
    print_comparison(current, reference, against)
    typer.echo(verdict.sentence())
    if not verdict.passed:
        raise typer.Exit(1)


def gate_on_unseen_loans(rev: str, label: str, metric: Metric, tolerance: float | None) -> None:
    """Both models scored on the workspace's test loans that neither trained on: ROC AUC by its paired interval,
    another metric by its noise band; exit 1 when worse beyond the tolerance, or when too few loans are left."""
    from pipeline.experiments.compare import compare_revisions, splits_at, table_lines
    from pipeline.metrics import judge
    from pipeline.params import load_params
    from pipeline.serving.app import load_served_model

    try:
        reference, reference_splits = load_served_model(rev), splits_at(rev)
    except UserError as unreadable:
        if not same_split(rev):
            raise
        recorded_metrics_gate(rev, label, metric, tolerance, unreadable)
        return
    comparison = compare_revisions(
        reference, load_served_model(None), reference_splits, splits_at(None), load_params(), (label, "workspace")
    )
    typer.echo(f"Both models scored {comparison.basis()}.")
    if not comparison.enough:
        typer.echo(f"gate undecided: {comparison.too_few()}; not passed")
        raise typer.Exit(1)
    for line in table_lines(comparison):
        typer.echo(line)
    if metric is not Metric.roc_auc:
        verdict = judge(metric.value, comparison.candidate, comparison.reference, tolerance)
        typer.echo(verdict.sentence())
        if not verdict.passed:
            raise typer.Exit(1)
        return
    used = comparison.default_tolerance() if tolerance is None else tolerance
    passed = comparison.passes(tolerance)
    typer.echo(
        f"gate {'passes' if passed else 'FAILS'}: roc_auc {comparison.reference['roc_auc']:.4f} -> "
        f"{comparison.candidate['roc_auc']:.4f} ({comparison.interval()}: {comparison.word}; tolerance {used:.4f})"
    )
    if not passed:
        raise typer.Exit(1)


def same_split(rev: str) -> bool:
    """Whether the revision's dvc.lock records the workspace's train, validation and test splits, byte for byte."""
    from pipeline.versioning import dvc_seam

    theirs, ours = dvc_seam.lock_at(rev), dvc_seam.read_lock()
    outputs = (paths.TRAIN, paths.VALIDATION, paths.TEST)
    pairs = [(dvc_seam.output_md5(theirs, path), dvc_seam.output_md5(ours, path)) for path in outputs]
    return all(mine is not None and mine == other for other, mine in pairs)


def recorded_metrics_gate(rev: str, label: str, metric: Metric, tolerance: float | None, why: UserError) -> None:
    """The gate on both revisions' recorded test metrics: used when the revision's model cannot be read here and
    both share the workspace's split, so that those metrics are on the same loans, which neither trained on."""
    from pipeline.metrics import judge

    current, reference = workspace_metrics(), metrics_at(rev, label)
    typer.echo(
        f"{label}'s model is not readable here ({why.message.split(':')[0]}); both revisions have the same split, "
        f"so their recorded metrics are on the same {current.get('test_rows', 'test')} test loans, which neither "
        "trained on (no paired interval: the noise band is the DeLong interval)"
    )
    verdict = judge(metric.value, current, reference, tolerance)
    print_comparison(current, reference, label)
    typer.echo(verdict.sentence())
    if not verdict.passed:
        raise typer.Exit(1)


def workspace_metrics() -> dict:
    from hooks.pipeline_state import pipeline_state, read_worktree

    stale = [state.name for state in pipeline_state(read_worktree()) if state.stale]
    if stale:
        raise UserError(
            f"the workspace's metrics are out of date (stale: {', '.join(stale)})",
            hint="run `mlops repro` first, or gate a subset run with --subset F",
        )
    from pathlib import Path

    return json.loads(Path(paths.METRICS).read_text())


def metrics_at(rev: str, label: str) -> dict:
    from pipeline.versioning import dvc_seam

    data = dvc_seam.read_at(rev, paths.METRICS)
    if data is None:
        raise UserError(f"{label} has no {paths.METRICS}", hint="gate against a revision that was trained")
    return json.loads(data)


def subset_metrics(fraction: float, rev: str, label: str) -> tuple[dict, dict]:
    """(workspace, rev) metrics of subset runs at `fraction` with the workspace's seed, run where missing."""
    from pipeline.cli.exp import planned_params, with_subset
    from pipeline.params import load_params

    settings = with_subset({"seed": str(load_params().seed)}, fraction)
    current = find_or_run_subset(planned_params(settings), settings, None, "workspace")
    params_at_rev = rev_params_with(rev, settings)
    reference = find_or_run_subset(params_at_rev, settings, rev, label)
    return current, reference


def rev_params_with(rev: str, settings: dict[str, str]) -> dict:
    import yaml

    from pipeline.experiments.settings import flatten, typed
    from pipeline.params import with_overrides
    from pipeline.versioning import dvc_seam

    raw = yaml.safe_load(dvc_seam.read_at(rev, "params.yaml") or b"{}") or {}
    return flatten(with_overrides(raw, {key: typed(value) for key, value in settings.items()}))


def find_or_run_subset(params: dict, settings: dict[str, str], rev: str | None, label: str) -> dict:
    """The metrics of an experiment with these params (from `rev`'s code, or the workspace's), run if missing."""
    from pipeline.cli.exp import duplicate_of, experiment_runs
    from pipeline.experiments.settings import experiment_name
    from pipeline.versioning import dvc_seam

    existing = experiment_runs(rev) if rev else experiment_runs()
    same = find_at_rev(params, existing) if rev else duplicate_of(params, existing)
    if same:
        typer.echo(f"{label}: using subset experiment {same.name}")
        return same.metrics
    name = "gate-" + experiment_name(settings)
    typer.echo(f"{label}: running subset experiment {name} ...")
    status = dvc_seam.run_exp_at(rev, name, settings) if rev else dvc_seam.run_exp(name, settings)
    if status != 0:
        raise UserError(f"the subset run of {label} failed", hint=f"read {dvc_seam.exp_log_path(name)}")
    return json.loads(dvc_seam.read_at(dvc_seam.exp_ref(name), paths.METRICS) or b"{}")


def find_at_rev(params: dict, runs: list):
    """An experiment started from the revision (its code and data) with these params."""
    wanted = json.dumps(params, sort_keys=True)
    return next((run for run in runs if json.dumps(run.params, sort_keys=True) == wanted), None)


def print_comparison(current: dict, reference: dict, label: str) -> None:
    from pipeline.experiments.compare import metric_word
    from pipeline.metrics import KEY_METRICS, noise_band

    typer.echo(f"{'metric':<14}{label[:12]:>12}{'workspace':>12}{'change':>10}  ")
    for metric in KEY_METRICS:
        if metric in current and metric in reference:
            change = current[metric] - reference[metric]
            word = metric_word(metric, change, None, noise_band(metric, reference))
            typer.echo(f"{metric:<14}{reference[metric]:>12.4f}{current[metric]:>12.4f}{change:>+10.4f}  {word}")
