"""`mlops repro` and `mlops status`: run the pipeline (full, or a subset as a temporary experiment) and say
which stages are stale and why."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline import paths
from pipeline.errors import UserError

KEY_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ks", "expected_cost")


def register(app: typer.Typer) -> None:
    app.command()(repro)
    app.command()(status)


def _console():
    from rich.console import Console

    return Console(highlight=False)


def validated_params(overrides: dict[str, Any] | None = None):
    """Check params.yaml (with overrides) against the schema before any stage does work."""
    from pipeline.params import parse_params, read_params_yaml, with_overrides

    raw = read_params_yaml()
    return parse_params(with_overrides(raw, overrides or {}) if overrides else raw)


def subset_name(fraction: float) -> str:
    return f"subset-{fraction:g}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def repro(
    subset: Annotated[
        float | None,
        typer.Option(
            help="Train on this fraction of the training split (0 < F <= 1), as a temporary DVC "
            "experiment: the workspace, its dvc.lock and its model stay untouched.",
            min=0.0,
            max=1.0,
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Re-run every stage, even those that are up to date.")] = False,
) -> None:
    """Reproduce the pipeline: only the stages whose params, code or data changed run."""
    from hooks import merge_driver
    from pipeline.experiments import plots_page
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    plots_page.ensure_template()  # so `dvc plots show` works offline after a repro
    if subset is not None:
        if subset <= 0:
            raise UserError(f"--subset {subset}: must be above 0 and at most 1", hint="e.g. --subset 0.1")
        _repro_subset(subset)
        return
    from pipeline.experiments.dvc_outcomes import SKIPPED

    validated_params()
    outcomes: dict[str, str] = {}
    before_metrics = _read_metrics(Path(paths.METRICS).read_bytes() if Path(paths.METRICS).exists() else None)
    if force or not _up_to_date():  # the fast path: when nothing is stale, DVC need not even start
        try:
            outcomes = dvc_seam.repro(force=force)
        except dvc_seam.DvcFailed as failure:
            raise UserError(
                "the pipeline failed; dvc.lock, models/ and reports/ are as they were before the run",
                hint="read the stage's message above, fix it, and run `mlops repro` again",
            ) from failure
    merge_driver.clear_placeholders()  # the generated files a merge kept from one side are now reproduced
    console = _console()
    for name in dvc_seam.read_lock():
        console.print(f"  {name:<9} {outcomes.get(name, SKIPPED)}")
    _print_metrics(console, _read_metrics(Path(paths.METRICS).read_bytes()), before_metrics)


def repro_when_up_to_date() -> bool:
    """`mlops repro` when no stage is stale, answered as a run would (every stage skipped, the metrics) without
    Typer's parsing, pydantic or DVC; False when a stage must run (then the full command runs)."""
    from pipeline.experiments import plots_page
    from pipeline.experiments.dvc_outcomes import SKIPPED
    from pipeline.versioning.up_to_date import stages_if_nothing_to_run

    if not (Path("dvc.yaml").is_file() and Path(".dvc").is_dir()):
        return False
    stages = stages_if_nothing_to_run()
    if stages is None:
        return False
    plots_page.ensure_template()
    console = _console()
    for name in stages:
        console.print(f"  {name:<9} {SKIPPED}")
    metrics = _read_metrics(Path(paths.METRICS).read_bytes() if Path(paths.METRICS).exists() else None)
    _print_metrics(console, metrics, metrics)
    return True


def _up_to_date() -> bool:
    from hooks.pipeline_state import pipeline_state, read_worktree

    return not any(state.stale for state in pipeline_state(read_worktree()))


def _repro_subset(fraction: float) -> None:
    from pipeline.experiments import subset
    from pipeline.versioning import dvc_seam

    stages = subset.start_stages()  # their libraries import while the params are checked
    name = subset_name(fraction)
    try:
        validated_params({"data.sample_frac": fraction})
        done = subset.run(name, fraction, stages)
    except dvc_seam.DvcFailed as failure:
        raise UserError(
            f"subset experiment {name} failed; the workspace is untouched", hint="read DVC's message above"
        ) from failure
    finally:
        if stages is not None:
            stages.stop()
    ref = done.ref
    console = _console()
    if done.why_dvc is None:
        console.print("Ran train and evaluate; ingest, validate and split are the workspace's (up to date).")
    console.print(f"Experiment {name} (data.sample_frac={fraction:g}); compare with `dvc exp show`.")
    metrics = _read_metrics(dvc_seam.read_at(ref, paths.METRICS) if ref else None)
    baseline = _read_metrics(Path(paths.METRICS).read_bytes() if Path(paths.METRICS).exists() else None)
    _print_metrics(console, metrics, baseline, title=f"Test metrics of {name} (vs the workspace)")


def _read_metrics(data: bytes | None) -> dict[str, float]:
    return json.loads(data) if data else {}


def _print_metrics(console, metrics: dict, before: dict, title: str = "Test metrics") -> None:
    from rich.table import Table

    from pipeline.metrics import change_word, noise_band

    if not metrics:
        return
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("change", justify="right")
    table.add_column("")
    same_loans = before.get("test_rows") == metrics.get("test_rows")  # else the data grew: other test loans
    for key in KEY_METRICS:
        if key not in metrics:
            continue
        value = metrics[key]
        shown = f"{value:.4f}"
        if key == "roc_auc" and "roc_auc_ci_low" in metrics:
            shown += f" [{metrics['roc_auc_ci_low']:.3f}, {metrics['roc_auc_ci_high']:.3f}]"
        delta = f"{value - before[key]:+.4f}" if key in before else ""
        word = ""
        if key in before:
            word = change_word(key, value - before[key], noise_band(key, before)) if same_loans else "other test loans"
        table.add_row(key, shown, delta, word)
    console.print(table)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the stages and reasons as JSON.")] = False,
) -> None:
    """Say which stages are stale and why (params, code, data), without running DVC."""
    from hooks.bounded_yaml import AliasRefused
    from hooks.merge_driver import placeholders
    from hooks.params_yaml import AmbiguousScalar
    from hooks.pipeline_state import pipeline_state, read_worktree
    from pipeline.versioning.dvc_seam import require_repo

    require_repo()
    try:
        states = pipeline_state(read_worktree())
    except AliasRefused as error:  # a YAML alias bomb, refused before it expands
        raise UserError(str(error), hint="write the values out in full") from None
    except AmbiguousScalar as error:
        raise UserError(str(error), hint="fix params.yaml, then run `mlops status` again") from None
    kept = placeholders()
    stale_upstream: list[str] = []
    report = []
    for state in states:
        reasons = list(state.reasons)
        if not reasons and stale_upstream:
            reasons = [f"runs after {stale_upstream[-1]} if its outputs change"]
        report.append({"stage": state.name, "stale": state.stale, "reasons": reasons})
        if state.stale:
            stale_upstream.append(state.name)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if kept:
        typer.echo(
            f"A merge, rebase or cherry-pick kept one side of {', '.join(kept)} (generated files are never merged "
            "as text): they are placeholders until reproduced. Run `dvc checkout && mlops repro`, then "
            "`git add dvc.lock reports` and commit (a merge in progress: plain `git commit` retrains and stages them)."
        )
    if not stale_upstream:
        typer.echo("Pipeline is up to date: `mlops repro` would run nothing.")
        return
    for entry in report:
        if entry["stale"]:
            typer.echo(f"{entry['stage']}: stale")
            for reason in entry["reasons"]:
                typer.echo(f"    {reason}")
        elif entry["reasons"]:
            typer.echo(f"{entry['stage']}: {entry['reasons'][0]}")
        else:
            typer.echo(f"{entry['stage']}: up to date")
    typer.echo("Run `mlops repro` to bring it up to date.")
