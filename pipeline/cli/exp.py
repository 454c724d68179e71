"""`mlops exp`: run one experiment or a sweep (temporary DVC experiments, duplicates skipped), compare them
with the workspace on one screen, and apply or promote the chosen one. `mlops gate` and `mlops report` are
registered from here too (pipeline/cli/gate.py, pipeline/cli/report.py)."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipeline import paths
from pipeline.errors import UserError

exp_app = typer.Typer(help="Experiments: run, sweep, push, pull, compare, apply, promote.", no_args_is_help=True)

DEFAULT_JOBS = 2  # measured on 2 cores: two concurrent temporary runs finish a sweep faster than one at a time


class Metric(StrEnum):
    roc_auc = "roc_auc"
    pr_auc = "pr_auc"
    brier = "brier"
    log_loss = "log_loss"
    ks = "ks"
    gini = "gini"
    expected_cost = "expected_cost"


def register(app: typer.Typer) -> None:
    """Add `mlops exp ...` to the `mlops` app."""
    app.add_typer(exp_app, name="exp")


SubsetOption = Annotated[
    float | None,
    typer.Option(
        help="Train on this fraction of the training split (0 < F < 1): a cheap, marked subset run.", min=0.0, max=1.0
    ),
]


# --- Reading experiments ------------------------------------------------------------------------------------


def workspace_run():
    """The workspace as the comparison's baseline: its params.yaml and reports/metrics.json."""
    from pipeline.experiments.settings import Run, flatten
    from pipeline.params import read_params_yaml

    metrics_file = Path(paths.METRICS)
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    return Run("workspace", flatten(read_params_yaml()), metrics, is_workspace=True)


def experiment_runs(baseline: str | None = None) -> list:
    """Every experiment (of the `baseline` commit only, when given) as a Run, read from its git ref."""
    import yaml

    from pipeline.experiments.settings import Run, flatten
    from pipeline.versioning import dvc_seam

    runs = []
    for exp in dvc_seam.list_experiments():
        if baseline and exp.baseline != baseline:
            continue
        params = yaml.safe_load(dvc_seam.read_at(exp.commit, "params.yaml") or b"{}") or {}
        metrics = json.loads(dvc_seam.read_at(exp.commit, paths.METRICS) or b"{}")
        lock = yaml.safe_load(dvc_seam.read_at(exp.commit, "dvc.lock") or b"{}") or {}
        runs.append(Run(exp.name, flatten(params), metrics, exp.baseline, source=source_deps(lock)))
    return runs


def source_deps(lock: dict) -> dict[str, str]:
    """path -> md5 of every dependency in a dvc.lock that no stage writes: the code, schemas and source data."""
    stages = (lock or {}).get("stages") or {}
    written = {out["path"] for stage in stages.values() for out in stage.get("outs") or []}
    return {
        dep["path"]: dep.get("md5")
        for stage in stages.values()
        for dep in stage.get("deps") or []
        if dep["path"] not in written
    }


def workspace_source(paths_wanted) -> dict[str, str]:
    """The workspace's md5 (DVC's) of each path."""
    from hooks.pipeline_state import dir_md5, file_md5

    found = {}
    for path in paths_wanted:
        target = Path(path)
        found[path] = dir_md5(path) if target.is_dir() else file_md5(target.read_bytes()) if target.exists() else None
    return found


def planned_params(settings: dict[str, str]) -> dict:
    """The flat params a run with these settings will have, validated by the schema first."""
    from pipeline.cli.repro import validated_params
    from pipeline.experiments.settings import flatten, typed
    from pipeline.params import read_params_yaml, with_overrides

    overrides = {key: typed(value) for key, value in settings.items()}
    validated_params(overrides)
    return flatten(with_overrides(read_params_yaml(), overrides))


def duplicate_of(params: dict, existing: list):
    """The existing experiment this run would repeat (same params, code and data), if any."""
    from pipeline.experiments.settings import find_duplicate

    wanted_paths = {path for run in existing for path in run.source}
    return find_duplicate(params, workspace_source(wanted_paths), existing)


def require_experiment_repo() -> str:
    """The HEAD commit experiments start from; errors when not in the project root or without a commit."""
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    head = dvc_seam.resolve_commit("HEAD")
    if head is None:
        raise UserError("experiments need a git commit to start from", hint="commit the project first")
    return head


def with_subset(settings: dict[str, str], subset: float | None) -> dict[str, str]:
    from pipeline.experiments.settings import SUBSET_KEY

    if subset is None:
        return settings
    if not 0 < subset < 1:
        raise UserError(f"--subset {subset}: must be above 0 and below 1", hint="e.g. --subset 0.3")
    return {**settings, SUBSET_KEY: repr(float(subset))}


# --- mlops exp run ------------------------------------------------------------------------------------------


@exp_app.command("run")
def run_one(
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-S", help="A param to change: key=value (repeatable), e.g. -S train.model=hgb."),
    ] = None,
    subset: SubsetOption = None,
    name: Annotated[str | None, typer.Option(help="The experiment's name (default: from the settings).")] = None,
) -> None:
    """Run one experiment in a temporary copy of the workspace; skipped when an experiment with the same
    params, code and data exists."""
    from pipeline.cli.repro import _console, _print_metrics
    from pipeline.experiments.settings import experiment_name, parse_setting
    from pipeline.versioning import dvc_seam

    require_experiment_repo()
    settings = with_subset(dict(parse_setting(item) for item in set_ or []), subset)
    params = planned_params(settings)
    same = duplicate_of(params, experiment_runs())
    if same:
        typer.echo(f"Skipped: experiment {same.name} already has these params, code and data.")
        return
    name = name or experiment_name(settings)
    if dvc_seam.exp_ref(name):
        raise UserError(f"an experiment called {name} exists", hint="choose another --name")
    try:
        dvc_seam.exp_run_temp(name, settings)
    except dvc_seam.DvcFailed as failure:
        raise UserError(
            f"experiment {name} failed; the workspace is untouched", hint="read DVC's message above"
        ) from failure
    metrics = json.loads(dvc_seam.read_at(dvc_seam.exp_ref(name), paths.METRICS) or b"{}")
    _print_metrics(_console(), metrics, workspace_run().metrics, title=f"{name} (change vs the workspace)")


# --- mlops exp sweep ----------------------------------------------------------------------------------------


@exp_app.command()
def sweep(
    axes: Annotated[list[str], typer.Argument(help="key=v1,v2,... per param; every combination runs.")],
    subset: SubsetOption = None,
    jobs: Annotated[int, typer.Option(help="Runs at once (temporary experiments in parallel).", min=1)] = DEFAULT_JOBS,
    matrix: Annotated[
        bool,
        typer.Option("--matrix", help="Run nothing: print the runs as a CI job matrix (JSON), one job per grid point."),
    ] = False,
) -> None:
    """Run a grid of experiments: duplicates of existing experiments are skipped, a failed run does not stop
    the others, Ctrl-C stops the runs and leaves no half-written experiment."""
    from pipeline.experiments.settings import ci_matrix, expand_grid, experiment_name

    require_experiment_repo()
    grid = [with_subset(settings, subset) for settings in expand_grid(axes)]
    planned = [(settings, planned_params(settings)) for settings in grid]  # all validated before any runs
    existing = experiment_runs()
    todo, seen = [], []
    for settings, params in planned:
        same = duplicate_of(params, existing)
        if same or params in seen:
            typer.echo(
                f"skip {_describe(settings)}: " + (f"same as experiment {same.name}" if same else "listed twice"),
                err=matrix,  # the matrix alone on stdout, for CI to read
            )
            continue
        seen.append(params)
        todo.append((experiment_name(settings), settings))
    if matrix:
        typer.echo(json.dumps(ci_matrix(todo)))
        return
    if not todo:
        typer.echo("Nothing to run: every combination exists already (see `mlops exp compare`).")
        return
    results = run_concurrently(todo, jobs)
    print_summary(results)
    if any(status != 0 for status in results.values()):
        raise typer.Exit(1)


def _describe(settings: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in settings.items())


def run_concurrently(todo: list[tuple[str, dict]], jobs: int) -> dict[str, int]:
    """Run the experiments `jobs` at a time, with a progress line; name -> exit status."""
    from pipeline.versioning import dvc_seam

    pending, running, results = list(todo), {}, {}
    started = time.monotonic()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                name, settings = pending.pop(0)
                running[name] = dvc_seam.start_exp_run(name, settings)
                time.sleep(0.5)  # stagger the starts: each briefly takes the repo lock
            for name, process in list(running.items()):
                if process.poll() is not None:
                    results[name] = process.returncode
                    del running[name]
                    _announce(name, process.returncode)
            _progress(results, len(running), len(pending), time.monotonic() - started)
            time.sleep(0.3)
    except KeyboardInterrupt:
        _end_progress()
        typer.echo(f"Interrupted: stopping {len(running)} run(s); finished experiments are kept.", err=True)
        for process in running.values():
            dvc_seam.stop_exp_run(process)
        raise typer.Exit(130) from None
    _end_progress()
    return results


def _announce(name: str, status: int) -> None:
    _end_progress()
    word = "done  " if status == 0 else "FAILED"
    typer.echo(f"{word} {name}", err=True)


def _progress(results: dict[str, int], running: int, pending: int, elapsed: float) -> None:
    if not sys.stderr.isatty():
        return
    done = sum(1 for status in results.values() if status == 0)
    failed = len(results) - done
    sys.stderr.write(f"\r[{elapsed:4.0f}s] done {done}, failed {failed}, running {running}, waiting {pending} ")
    sys.stderr.flush()


def _end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def print_summary(results: dict[str, int]) -> None:
    from pipeline.versioning import dvc_seam

    failed = [name for name, status in results.items() if status != 0]
    typer.echo(f"Sweep: {len(results) - len(failed)} of {len(results)} run(s) succeeded.")
    for name in failed:
        typer.echo(f"  failed: {name} (log: {dvc_seam.exp_log_path(name)})")
    typer.echo("Compare them with `mlops exp compare`.")


# --- mlops exp push / pull ---------------------------------------------------------------------------------

GitRemote = Annotated[str, typer.Option("--remote", help="The git remote (its name or URL).")]
Names = Annotated[list[str] | None, typer.Argument(help="Experiment names (default: those of the current HEAD).")]
AllCommits = Annotated[bool, typer.Option("--all", help="The experiments of every commit.")]


@exp_app.command()
def push(names: Names = None, remote: GitRemote = "origin", all_commits: AllCommits = False) -> None:
    """Share experiments: their git refs to a git remote (`dvc exp push`), their data and models to the DVC
    remote, so a teammate's `mlops exp pull` sees and can apply them."""
    _share("push", names, remote, all_commits)


@exp_app.command()
def pull(names: Names = None, remote: GitRemote = "origin", all_commits: AllCommits = False) -> None:
    """Fetch teammates' experiments: their git refs from a git remote (`dvc exp pull`), their data and models
    from the DVC remote; then `mlops exp compare` lists them."""
    _share("pull", names, remote, all_commits)


def _share(direction: str, names: list[str] | None, remote: str, all_commits: bool) -> None:
    from pipeline.versioning import dvc_seam

    require_experiment_repo()
    move = dvc_seam.exp_push if direction == "push" else dvc_seam.exp_pull
    try:
        move(remote, names or [], all_commits)
    except dvc_seam.DvcFailed as failure:
        raise UserError(
            f"could not {direction} experiments {'to' if direction == 'push' else 'from'} {remote!r}",
            hint="read DVC's message above; is the git remote set (`git remote -v`) and the DVC remote reachable?",
        ) from failure


# --- mlops exp compare --------------------------------------------------------------------------------------

TERMINAL_METRICS = ("roc_auc", "pr_auc", "brier", "expected_cost")
SHORT_METRIC_NAMES = {"auc": "roc_auc", "pr": "pr_auc", "cost": "expected_cost", "logloss": "log_loss"}
SCREEN_WIDTH = 100


@exp_app.command()
def compare(
    sort_by: Annotated[Metric, typer.Option(help="Order experiments best first by this metric.")] = Metric.roc_auc,
    top: Annotated[int | None, typer.Option(help="Show only the best N experiments.", min=1)] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Include experiments of every commit, not only those started from the current HEAD."
        ),
    ] = False,
    md: Annotated[bool, typer.Option("--md", help="Print a Markdown table.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (every key metric and its change).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every key metric and its change).")] = False,
) -> None:
    """The workspace and its experiments on one screen: only the params that differ, the key metrics with their
    change against the workspace, the best per metric, and whether an ROC AUC change is more than noise."""
    from pipeline.experiments import settings as experiments

    if md + as_csv + as_json > 1:
        raise UserError("choose one of --md, --csv and --json")
    head = require_experiment_repo()
    table = experiments.comparison(workspace_run(), experiment_runs(None if all_ else head), sort_by.value, top)
    if as_json:
        typer.echo(json.dumps(table, indent=2))
    elif as_csv:
        typer.echo(experiments.as_csv(table), nl=False)
    elif md:
        typer.echo(experiments.as_markdown(table), nl=False)
    else:
        print_table(table)


def print_table(table: dict) -> None:
    from pipeline.experiments.settings import LEGEND, as_text_table

    deltas = tuple(dict.fromkeys(("roc_auc", table["sort_by"])))
    lines = as_text_table(table, TERMINAL_METRICS, deltas)
    for short, long in SHORT_METRIC_NAMES.items():
        lines[0] = [title.replace(long, short) if title.lstrip("Δ") == long else title for title in lines[0]]
    for line in aligned(lines):
        typer.echo(line)
    if len(lines) == 2:
        typer.echo("No experiments yet: run `mlops exp run -S key=value` or `mlops exp sweep key=v1,v2`.")
    if table["hidden"]:
        typer.echo(f"({table['hidden']} more experiment(s) not shown: drop --top)")
    legend = LEGEND + " auc: ROC AUC, pr: PR AUC, cost: expected cost per loan."
    typer.echo(textwrap.fill(legend, SCREEN_WIDTH))


def aligned(lines: list[list[str]], gap: str = "  ") -> list[str]:
    """Plain columns: the first left-aligned, the others right-aligned, a rule under the header."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]

    def join(cells: list[str]) -> str:
        return gap.join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    header = join(lines[0])
    return [header, "─" * len(header), *(join(line) for line in lines[1:])]


# --- mlops exp apply / promote ------------------------------------------------------------------------------


NameArgument = Annotated[str, typer.Argument(help="The experiment's name, as `mlops exp compare` shows it.")]


def find_experiment(name: str):
    for run in experiment_runs():
        if run.name == name:
            return run
    raise UserError(f"no experiment called {name}", hint="see `mlops exp compare --all` for their names")


@exp_app.command()
def apply(name: NameArgument) -> None:
    """Bring an experiment's params, dvc.lock, reports and model into the workspace (nothing is committed)."""
    from pipeline.versioning import dvc_seam

    require_experiment_repo()
    find_experiment(name)
    try:
        dvc_seam.exp_apply(name)
    except dvc_seam.DvcFailed as failure:
        raise UserError(f"could not apply {name}", hint="read DVC's message above") from failure
    typer.echo(f"Applied {name}: review with `git diff`, commit with `mlops exp promote {name}` or git.")


@exp_app.command()
def promote(name: NameArgument) -> None:
    """Apply a full-data experiment and commit it (params, dvc.lock, reports) with its metric change."""
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.journal import all_or_nothing

    head = require_experiment_repo()
    run = find_experiment(name)
    if run.subset:
        raise UserError(
            f"{name} is a subset run (data.sample_frac = {run.subset:g}): its model saw part of the data",
            hint="run it on all the data first: mlops exp run -S key=value (without --subset)",
        )
    before = json.loads(dvc_seam.read_at(head, paths.METRICS) or b"{}")
    message = promotion_message(name, before, run.metrics)
    promoted = ("params.yaml", "dvc.lock", paths.REPORTS)
    with all_or_nothing("mlops exp promote", promoted, ends_with_commit=True):
        apply(name)
        subprocess_git("add", "--", *promoted)
        subprocess_git("commit", "-q", "-m", message, "--", *promoted)  # only these, whatever else is staged
    typer.echo(f"Committed: {message.splitlines()[0]}")


def promotion_message(name: str, before: dict, after: dict) -> str:
    from pipeline.metrics import KEY_METRICS

    change = ""
    if "roc_auc" in before and "roc_auc" in after:
        old, new = before["roc_auc"], after["roc_auc"]
        change = f": roc_auc {old:.4f} -> {new:.4f} ({new - old:+.4f})"
    body = [f"{m}: {before[m]:.4f} -> {after[m]:.4f}" for m in KEY_METRICS if m in before and m in after]
    return f"Promote experiment {name}{change}\n\n" + "\n".join(body)


def subprocess_git(*args: str) -> None:
    import subprocess

    result = subprocess.run(["git", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(
            f"`git {' '.join(args[:2])}` failed: {(result.stderr or result.stdout).strip()}",
            hint="the workspace is as it was before the promotion; fix the problem and promote again",
        )
