"""`mlops monitor` (outcomes, drift, retrain) and `mlops deploy` (promote, rollback): closing the loop from the
prediction log back to the pipeline. Heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline import paths
from pipeline.errors import UserError

monitor_app = typer.Typer(help="Outcomes, drift and retraining from the prediction log.", no_args_is_help=True)
deploy_app = typer.Typer(
    help="Which model `mlops serve` treats as champion: GTO tags of the model artifact (`gto show`).",
    no_args_is_help=True,
)

LogDir = Annotated[Path, typer.Option(help="The prediction log folder of `mlops serve`.")]


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(deploy_app, name="deploy")


# --- mlops monitor outcomes -------------------------------------------------------------------------------------


@monitor_app.command()
def outcomes(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or parquet: id, and the target column or is_bad.")],
    log_dir: LogDir = Path("logs"),
) -> None:
    """Record later-arriving outcomes (did the loan go bad), joined to the logged predictions by id."""
    from pipeline.params import load_params
    from pipeline.stages.ingest import read_table
    from pipeline.telemetry import append_outcomes, normalize_outcomes, read_log

    params = load_params()
    frame = read_table(path)
    known = normalize_outcomes(frame, params.data.target, params.data.positive_label, str(path))
    append_outcomes(log_dir, known)
    log = read_log(log_dir)
    logged = set(log["id"].astype(str)) if not log.empty else set()
    matched = int(known["id"].isin(logged).sum())
    typer.echo(
        f"Recorded {len(known)} outcomes ({int(known['is_bad'].sum())} bad) in {log_dir}/outcomes.jsonl; "
        f"{matched} match logged predictions, {len(known) - matched} do not (yet)."
    )


# --- mlops monitor drift ----------------------------------------------------------------------------------------


def served_rev(rev: str | None) -> str | None:
    """The revision to judge: --rev (a revision or a registry reference), else the champion, else None (the
    workspace)."""
    from pipeline import registry

    return registry.resolve(rev) if rev is not None else registry.champion_commit()


def training_frame(rev: str | None):
    """The training split the model of `rev` (or the workspace's) was trained on."""
    import io

    import pandas as pd

    from pipeline import dvc_seam

    if rev is None:
        if not Path(paths.TRAIN).is_file():
            raise UserError(f"{paths.TRAIN} not found", hint="`mlops data pull`, or `mlops repro`")
        return pd.read_parquet(paths.TRAIN)
    data, _ = dvc_seam.read_output_at(dvc_seam.resolve_commit(rev) or rev, paths.TRAIN)
    return pd.read_parquet(io.BytesIO(data))


def evaluated_metrics(rev: str | None) -> dict:
    from pipeline import dvc_seam

    data = Path(paths.METRICS).read_bytes() if rev is None else dvc_seam.read_at(rev, paths.METRICS)
    return json.loads(data) if data else {}


def drift_report(log_dir: Path, since: str | None, rev: str | None) -> dict:
    """Compare the logged traffic with the training data of the served model: the report as a dict."""
    from pipeline import drift
    from pipeline.params import load_monitor
    from pipeline.serving import load_served_model
    from pipeline.telemetry import join_outcomes, parse_since, read_log, read_outcomes

    monitor = load_monitor()
    log = read_log(log_dir, parse_since(since))
    traffic = log[log["served"]].drop_duplicates("id", keep="last") if not log.empty else log
    if len(traffic) < monitor.min_window:
        raise UserError(
            f"the window holds {len(traffic)} logged loans; at least {monitor.min_window} are needed to tell drift "
            "from noise (monitor.min_window)",
            hint="widen --since, or wait for more traffic",
        )
    served = load_served_model(rev)
    features = served.metadata["features"]
    train = training_frame(rev)
    train_scores = served.model.predict_proba(train[list(features)])[:, 1]
    scored = log[log["model_md5"] == served.md5].drop_duplicates("id", keep="last")
    score = drift.score_drift(_series(train_scores), scored["p_default"]) if len(scored) >= monitor.min_window else None
    performance = _performance(join_outcomes(scored, read_outcomes(log_dir)))
    evaluated_auc = evaluated_metrics(rev).get("roc_auc")
    rows = drift.features_drift(train, traffic, features)
    limits = drift.Thresholds(monitor.psi_threshold, monitor.unseen_category_share, monitor.auc_drop)
    return {
        "model": served.version(),
        "window": {
            "loans": len(traffic),
            "since": since,
            "first": traffic["time"].min(),
            "last": traffic["time"].max(),
        },
        "thresholds": {"psi": limits.psi, "unseen_share": limits.unseen_share, "auc_drop": limits.auc_drop},
        "features": [row.as_dict() for row in rows],
        "score": score.as_dict() if score else None,
        "performance": performance,
        "evaluated_roc_auc": evaluated_auc,
        "findings": drift.drift_findings(rows, score, performance, evaluated_auc, limits),
    }


def time_span(traffic) -> dict:
    return {"first": str(traffic["time"].min()), "last": str(traffic["time"].max())}


def _series(values):
    import pandas as pd

    return pd.Series(values)


def _performance(joined) -> dict | None:
    from pipeline.drift import live_performance

    if joined.empty or "is_bad" not in joined.columns:
        return None
    known = joined[joined["is_bad"].notna()]
    return live_performance(known["is_bad"].astype(bool).to_numpy(), known["p_default"].to_numpy(dtype=float))


def print_report(report: dict) -> None:
    threshold = report["thresholds"]["psi"]
    rows = ([report["score"]] if report["score"] else []) + report["features"]
    typer.echo(f"{report['window']['loans']} live loans vs the training data of model {report['model']}")
    typer.echo(f"{'feature':<28}{'PSI':>8}{'missing train':>15}{'missing live':>14}{'unseen':>9}")
    for row in sorted(rows, key=lambda r: -r["psi"]):
        flag = "  DRIFT" if row["psi"] > threshold else ""
        typer.echo(
            f"{row['name']:<28}{row['psi']:>8.3f}{row['missing_train']:>15.1%}{row['missing_live']:>14.1%}"
            f"{row['unseen_share']:>9.1%}{flag}"
        )
    if report["performance"]:
        p = report["performance"]
        typer.echo(
            f"live ROC AUC {p['roc_auc']:.3f} on {p['loans']} loans with outcomes (evaluated "
            f"{report['evaluated_roc_auc']}); mean predicted {p['mean_predicted']:.3f}, "
            f"observed {p['observed_bad_rate']:.3f}"
        )
    for finding in report["findings"]:
        typer.echo(f"drift: {finding}")
    if not report["findings"]:
        typer.echo("no drift: every PSI, unseen share and the live ROC AUC are within the thresholds")


def write_report(report: dict, out: Path) -> None:
    from pipeline.drift_html import render

    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "drift.html").write_text(render(report), encoding="utf-8")
    typer.echo(f"Report: {out / 'drift.json'}, {out / 'drift.html'}")


@monitor_app.command("drift")
def drift_command(
    since: Annotated[str | None, typer.Option(help="Only traffic since: 24h, 7d, 30m, or a date/time.")] = None,
    rev: Annotated[str | None, typer.Option(help="Judge this revision's model (default: the champion).")] = None,
    log_dir: LogDir = Path("logs"),
    out: Annotated[Path, typer.Option(help="Where drift.json and drift.html go.")] = Path("logs/drift"),
) -> None:
    """PSI per feature and for the score, unseen categories, missing values and live performance; exit 1 on drift."""
    from pipeline import dvc_seam

    dvc_seam.require_repo()
    report = drift_report(log_dir, since, served_rev(rev))
    print_report(report)
    write_report(report, out)
    if report["findings"]:
        raise typer.Exit(1)


# --- mlops monitor retrain --------------------------------------------------------------------------------------


@monitor_app.command()
def retrain(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be done; change nothing.")] = False,
    since: Annotated[str | None, typer.Option(help="Only traffic since: 24h, 7d, 30m, or a date/time.")] = None,
    rev: Annotated[str | None, typer.Option(help="The served revision to judge (default: the champion).")] = None,
    tolerance: Annotated[
        float | None, typer.Option(help="The gate's tolerance (default: from the noise).", min=0.0)
    ] = None,
    log_dir: LogDir = Path("logs"),
) -> None:
    """On drift or a live performance drop: append the logged loans with outcomes as a data batch on a new branch
    retrain/<UTC time>, run the pipeline there, and commit it if the gate passes against the champion.
    Exit 0: retrained, or no drift; 1: not retrained (too few outcomes, or the gate failed)."""
    from pipeline import dvc_seam

    dvc_seam.require_repo()
    report = drift_report(log_dir, since, served_rev(rev))
    if not report["findings"]:
        typer.echo("no drift: every PSI, unseen share and the live ROC AUC are within the thresholds; not retraining")
        return
    for finding in report["findings"]:
        typer.echo(f"drift: {finding}")
    plan = retrain_plan(log_dir, since, served_rev(rev), tolerance)
    if dvc_seam.uncommitted_git_changes():
        typer.echo("note: the workspace has uncommitted changes; the retrain starts from HEAD without them")
    if dry_run:
        from pipeline.retrain import describe_plan

        typer.echo("Dry run: would retrain (nothing was changed):")
        for step in describe_plan(plan):
            typer.echo(f"  {step}")
        return
    run_retrain(plan, report["findings"], log_dir)


def retrain_plan(log_dir: Path, since: str | None, served: str | None, tolerance: float | None) -> dict:
    """Everything a retrain needs, checked before anything changes."""
    from pipeline import dvc_seam
    from pipeline.params import load_monitor, load_params
    from pipeline.retrain import batch_frame, branch_name, labelled_traffic, other_label
    from pipeline.schema import read_schema
    from pipeline.stages.ingest import RDATASETS, read_table
    from pipeline.telemetry import parse_since, read_log, read_outcomes

    params = load_params()
    traffic = labelled_traffic(read_log(log_dir, parse_since(since)), read_outcomes(log_dir))
    min_outcomes = load_monitor().min_outcomes
    if len(traffic) < min_outcomes:
        typer.echo(
            f"not retrained: {len(traffic)} logged loans have a known outcome; at least "
            f"{min_outcomes} are needed (monitor.min_outcomes). Record outcomes with "
            "`mlops monitor outcomes FILE`."
        )
        raise typer.Exit(1)
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
    labels = (positive, other_label(read_schema(params.data.schema_path)["target"]["labels"], positive))
    batch = batch_frame(traffic, read_table(source), params.data.target, labels, params.data.drop)
    champion = served or "HEAD"
    return {
        "branch": branch_name(),
        "base": base,
        "source": source,
        "traffic": traffic,
        "batch": batch,
        "rows": len(batch),
        "bad": int(traffic["is_bad"].astype(bool).sum()),
        "metric": "roc_auc",
        "champion": champion,
        "champion_label": champion if champion == "HEAD" else champion[:12],
        "tolerance": tolerance,
    }


def run_retrain(plan: dict, findings: list[str], log_dir: Path) -> None:
    """Append, repro and gate in a worktree on the new branch; commit there if the gate passes, else delete it."""
    import tempfile

    from pipeline import dvc_seam
    from pipeline.journal import all_or_nothing
    from pipeline.metric_rules import judge
    from pipeline.retrain import commit_all, commit_message, comparison_lines, run_in_worktree
    from pipeline.telemetry import ensure_log_dir

    branch, source = plan["branch"], plan["source"]
    log_path = ensure_log_dir(log_dir / "retrain") / f"{branch.removeprefix('retrain/')}.log"
    committed = None
    try:
        with (
            all_or_nothing("mlops monitor retrain", branch=branch, outputs=False),
            tempfile.TemporaryDirectory(prefix="mlops-retrain-") as tmp,
            dvc_seam.worktree_sharing_cache(plan["base"], branch) as worktree,
        ):
            batch_path = Path(tmp) / "retrain-batch.csv"
            plan["batch"].to_csv(batch_path, index=False)
            typer.echo(f"Retraining on branch {branch} (log: {log_path}) ...")
            run_in_worktree(worktree, ["dvc", "checkout", "--quiet", f"{source}.dvc"], log_path, "dvc checkout")
            run_in_worktree(worktree, ["pipeline", "data", "add", str(batch_path), "--append"], log_path, "data add")
            run_in_worktree(worktree, ["pipeline", "repro"], log_path, "mlops repro")
            challenger = json.loads((worktree / paths.METRICS).read_text())
            champion = champion_metrics(plan["champion"], worktree)
            verdict = judge(plan["metric"], challenger, champion, plan["tolerance"])
            comparison = comparison_lines(challenger, champion, plan["champion_label"])
            for line in comparison:
                typer.echo(line)
            typer.echo(verdict.sentence())
            if verdict.passed:
                message = commit_message(findings, plan["traffic"], source, comparison, verdict.sentence())
                committed = commit_all(worktree, message)
    finally:
        if committed is None:
            delete_branch(branch)
    if committed is None:
        typer.echo(
            f"not retrained: the challenger is worse than the champion {plan['champion_label']} beyond the "
            "tolerance; branch deleted (its run is in the log)"
        )
        raise typer.Exit(1)
    typer.echo(f"Committed {committed[:12]} on branch {branch} (the workspace is unchanged).")
    typer.echo(f"Next: `mlops serve --challenger {branch} --share 0.1`, then `mlops deploy promote {branch}`.")


def champion_metrics(champion: str, worktree: Path) -> dict:
    """The champion's model scored on the retrained test split (with the worktree's params)."""
    import pandas as pd

    from pipeline.params import load_params
    from pipeline.retrain import metrics_on_split
    from pipeline.serving import load_served_model

    test = pd.read_parquet(worktree / paths.TEST)
    return metrics_on_split(load_served_model(champion), test, load_params(worktree / "params.yaml"))


def delete_branch(branch: str) -> None:
    import subprocess

    subprocess.run(["git", "branch", "-D", branch], capture_output=True)


def metrics_on_candidate_split(candidate: Any, commit: str, reference_rev: str) -> tuple[dict, dict]:
    """Both models' test metrics on the candidate revision's test split, as retrain compares them: a retrained
    revision's split holds new loans, so each revision's recorded metrics would judge different loans."""
    import io

    import pandas as pd
    import yaml

    from pipeline import dvc_seam
    from pipeline.params import parse_params
    from pipeline.retrain import metrics_on_split
    from pipeline.serving import load_served_model

    test = pd.read_parquet(io.BytesIO(dvc_seam.read_output_at(commit, paths.TEST)[0]))
    params = parse_params(yaml.safe_load(dvc_seam.read_at(commit, "params.yaml") or b"{}"), f"params.yaml at {commit}")
    reference = load_served_model(reference_rev)
    return metrics_on_split(candidate, test, params), metrics_on_split(reference, test, params)


# --- mlops deploy promote / rollback ------------------------------------------------------------------------------


@deploy_app.command()
def promote(
    rev: Annotated[
        str, typer.Argument(help="The revision (commit, branch, tag, registry reference) whose model becomes champion.")
    ],
    tolerance: Annotated[float | None, typer.Option(help="The gate's tolerance (default: from the noise).")] = None,
) -> None:
    """Make REV the champion (stage prod of the model artifact), if its test metrics pass the gate against the
    current champion: registers REV's model as a version and assigns it prod, as GTO git tags."""
    from pipeline import dvc_seam, registry
    from pipeline.metric_rules import judge
    from pipeline.serving import load_served_model

    dvc_seam.require_repo()
    commit = dvc_seam.resolve_commit(registry.resolve(rev))
    if commit is None:
        raise UserError(f"{rev!r} is not a commit, branch or tag here", hint="see `git log --oneline`")
    current = registry.champion_commit()
    if current == commit:
        raise UserError(f"{rev} ({registry.describe(commit)}) is already the champion", hint="nothing to do")
    served = load_served_model(commit)  # the server must be able to load it: check now
    reference_rev = current or dvc_seam.resolve_commit("HEAD")
    candidate, reference = metrics_on_candidate_split(served, commit, reference_rev)
    verdict = judge("roc_auc", candidate, reference, tolerance)
    typer.echo(verdict.sentence())
    if not verdict.passed:
        typer.echo(f"Not promoted: {rev} is worse than the champion {reference_rev[:12]} beyond the tolerance.")
        raise typer.Exit(1)
    registry.promote(commit, served_before=reference_rev, reason=f"promote {rev}: {verdict.sentence()}")
    if current is None and reference_rev != commit:
        typer.echo(f"The model served before, {registry.describe(reference_rev)}, is recorded for a rollback.")
    typer.echo(f"{registry.describe(commit)} is the champion (stage prod), model {served.md5}.")


@deploy_app.command()
def rollback() -> None:
    """Make the previous champion the champion again (unassigns prod from the current one, assigns it again to the
    previous one, as GTO git tags)."""
    from pipeline import dvc_seam, registry

    dvc_seam.require_repo()
    before, after = registry.rollback()
    typer.echo(f"{registry.describe(after)} is the champion again (was {registry.describe(before)}).")
