"""`mlops gate`: fail (exit 1) when the workspace's primary metric is worse than a revision's by more than the
tolerance; with `--subset F`, compare a subset run of each at the same fraction and seed (run where missing)."""

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
    from pipeline import dvc_seam
    from pipeline.cli.exp import require_experiment_repo
    from pipeline.metric_rules import judge

    require_experiment_repo()
    rev = dvc_seam.resolve_commit(against)
    if rev is None:
        raise UserError(f"--against {against}: no such revision", hint="e.g. --against HEAD or origin/main")
    if subset is None:
        current, reference = workspace_metrics(), metrics_at(rev, against)
    else:
        current, reference = subset_metrics(subset, rev, against)
    if metric.value not in current or metric.value not in reference:
        raise UserError(f"{metric.value} is missing from the metrics", hint="run `mlops repro`")
    verdict = judge(metric.value, current, reference, tolerance)
    print_comparison(current, reference, against)
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
    from pipeline import dvc_seam

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

    from pipeline import dvc_seam
    from pipeline.experiments import flatten, typed
    from pipeline.params import with_overrides

    raw = yaml.safe_load(dvc_seam.read_at(rev, "params.yaml") or b"{}") or {}
    return flatten(with_overrides(raw, {key: typed(value) for key, value in settings.items()}))


def find_or_run_subset(params: dict, settings: dict[str, str], rev: str | None, label: str) -> dict:
    """The metrics of an experiment with these params (from `rev`'s code, or the workspace's), run if missing."""
    from pipeline import dvc_seam
    from pipeline.cli.exp import duplicate_of, experiment_runs
    from pipeline.experiments import experiment_name

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
    from pipeline.metric_rules import KEY_METRICS, improvement

    typer.echo(f"{'metric':<14}{label[:12]:>12}{'workspace':>12}{'change':>10}  ")
    for metric in KEY_METRICS:
        if metric in current and metric in reference:
            change = current[metric] - reference[metric]
            better = improvement(metric, current[metric], reference[metric])
            word = "better" if better > 0 else "worse" if better < 0 else ""
            typer.echo(f"{metric:<14}{reference[metric]:>12.4f}{current[metric]:>12.4f}{change:>+10.4f}  {word}")
