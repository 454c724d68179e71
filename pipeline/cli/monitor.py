"""`mlops monitor` (outcomes, drift, retrain) and `mlops deploy` (promote, rollback): closing the loop from the
prediction log back to the pipeline. Heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
    from pipeline.serving.telemetry import append_outcomes, normalize_outcomes, read_log
    from pipeline.training.sources import read_table

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
    from pipeline.serving import registry

    return registry.resolve(rev) if rev is not None else registry.champion_commit()


def training_frame(rev: str | None):
    """The training split the model of `rev` (or the workspace's) was trained on."""
    import io

    import pandas as pd

    from pipeline.versioning import dvc_seam

    if rev is None:
        if not Path(paths.TRAIN).is_file():
            raise UserError(f"{paths.TRAIN} not found", hint="`mlops data pull`, or `mlops repro`")
        return pd.read_parquet(paths.TRAIN)
    data, _ = dvc_seam.read_output_at(dvc_seam.resolve_commit(rev) or rev, paths.TRAIN)
    return pd.read_parquet(io.BytesIO(data))


def evaluated_metrics(rev: str | None) -> dict:
    from pipeline.versioning import dvc_seam

    data = Path(paths.METRICS).read_bytes() if rev is None else dvc_seam.read_at(rev, paths.METRICS)
    return json.loads(data) if data else {}


def drift_report(log_dir: Path, since: str | None, rev: str | None) -> dict:
    """Compare the logged traffic with the training data of the judged model: the report as a dict, naming the
    judged model, the models that scored the log, and every check that could not run and why."""
    import pandas as pd

    from pipeline.monitoring import drift
    from pipeline.params import load_monitor
    from pipeline.serving.app import load_served_model
    from pipeline.serving.telemetry import join_outcomes, parse_since, read_log, read_outcomes

    monitor = load_monitor()
    log = read_log(log_dir, parse_since(since))
    traffic = log[log["served"]].drop_duplicates("id", keep="last") if not log.empty else log
    refused = log[log["role"] == "refused"].drop_duplicates("id", keep="last") if "role" in log else log.iloc[0:0]
    if len(traffic) < monitor.min_window:
        raise UserError(
            f"the window holds {len(traffic)} logged loans; at least {monitor.min_window} are needed to tell drift "
            "from noise (monitor.min_window)",
            hint="widen --since, or wait for more traffic",
        )
    served = load_served_model(rev)
    features = served.metadata["features"]
    train = training_frame(rev)
    not_run = []
    scored = log[(log["model_md5"] == served.md5) & log["p_default"].notna()].drop_duplicates("id", keep="last")
    score = None
    if len(scored) >= monitor.min_window:
        train_scores = served.model.predict_proba(train[list(features)])[:, 1]
        score = drift.score_drift(_series(train_scores), scored["p_default"])
    else:
        not_run.append(
            f"score PSI: {len(scored)} of the window's loans were scored by the judged model; at least "
            f"{monitor.min_window} are needed (monitor.min_window)"
        )
    joined = join_outcomes(scored, read_outcomes(log_dir))
    known = joined[joined["is_bad"].notna()] if "is_bad" in joined else joined.iloc[0:0]
    performance = None
    if len(known) < monitor.min_outcomes:
        not_run.append(
            f"live ROC AUC: {len(known)} loans scored by the judged model have a recorded outcome; at least "
            f"{monitor.min_outcomes} are needed (monitor.min_outcomes; record them with `mlops monitor outcomes`)"
        )
    else:
        performance = _performance(known)
        if performance is None:
            not_run.append(f"live ROC AUC: the {len(known)} loans with outcomes are all of one class")
    evaluated_auc = evaluated_metrics(rev).get("roc_auc")
    live = pd.concat([traffic, refused], ignore_index=True) if len(refused) else traffic
    rows = drift.features_drift(train, live, features)
    limits = drift.Thresholds(monitor.psi_threshold, monitor.unseen_category_share, monitor.auc_drop)
    return {
        "model": served.version(),
        "scored_by": scorers(traffic),
        "window": {
            "loans": len(traffic),
            "refused_unseen": len(refused),
            "since": since,
            "first": traffic["time"].min(),
            "last": traffic["time"].max(),
        },
        "thresholds": {"psi": limits.psi, "unseen_share": limits.unseen_share, "auc_drop": limits.auc_drop},
        "features": [row.as_dict() for row in rows],
        "score": score.as_dict() if score else None,
        "performance": performance,
        "evaluated_roc_auc": evaluated_auc,
        "not_run": not_run,
        "findings": drift.drift_findings(rows, score, performance, evaluated_auc, limits),
    }


def scorers(traffic) -> list[dict]:
    """The models that scored the served loans of the window: revision, model md5 and loan count, most first."""
    counts = traffic.groupby(["rev", "model_md5"], dropna=False).size().sort_values(ascending=False)
    return [{"rev": str(rev), "md5": str(md5), "loans": int(n)} for (rev, md5), n in counts.items()]


def model_line(version: dict) -> str:
    rev = version["rev"]
    return f"model {version['md5'][:12]} ({'the workspace' if rev == 'workspace' else 'rev ' + rev[:12]})"


def time_span(traffic) -> dict:
    return {"first": str(traffic["time"].min()), "last": str(traffic["time"].max())}


def _series(values):
    import pandas as pd

    return pd.Series(values)


def _performance(known) -> dict | None:
    from pipeline.monitoring.drift import live_performance

    return live_performance(known["is_bad"].astype(bool).to_numpy(), known["p_default"].to_numpy(dtype=float))


def print_report(report: dict) -> None:
    threshold = report["thresholds"]["psi"]
    rows = ([report["score"]] if report["score"] else []) + report["features"]
    judged = report["model"]
    typer.echo(f"{report['window']['loans']} live loans vs the training data of {model_line(judged)}")
    others = [s for s in report["scored_by"] if s["md5"] != judged["md5"]]
    scored_by = "; ".join(f"{model_line(s)}: {s['loans']} loans" for s in report["scored_by"])
    typer.echo(f"the log was scored by {scored_by}")
    if others:
        typer.echo(
            f"warning: {sum(s['loans'] for s in others)} loans were scored by another model than the one judged; "
            f"its score PSI and live ROC AUC use only the loans it scored (judge another with --rev REV)"
        )
    if report["window"]["refused_unseen"]:
        typer.echo(
            f"{report['window']['refused_unseen']} loans were refused (422) for categories the model never saw: "
            "counted in the unseen shares"
        )
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
    for reason in report["not_run"]:
        typer.echo(f"not checked: {reason}")
    for finding in report["findings"]:
        typer.echo(f"drift: {finding}")
    if not report["findings"]:
        typer.echo(f"no drift: {', '.join(checks_run(report))} within the thresholds")


def checks_run(report: dict) -> list[str]:
    """The checks that ran, in words."""
    checks = ["every feature's PSI", "unseen shares"]
    checks += ["the score PSI"] if report["score"] else []
    checks += ["the live ROC AUC"] if report["performance"] else []
    return checks


def write_report(report: dict, out: Path) -> None:
    from pipeline.monitoring.drift_report import render

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
    from pipeline.versioning import dvc_seam

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
    Exit 0: retrained, or no drift; 1: not retrained by decision (too few new outcomes, too few unseen test
    loans to judge, or the gate failed); 2: refused (the source, the batch or a step cannot be used)."""
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    report = drift_report(log_dir, since, served_rev(rev))
    if not report["findings"]:
        for reason in report["not_run"]:
            typer.echo(f"not checked: {reason}")
        typer.echo(f"no drift: {', '.join(checks_run(report))} within the thresholds; not retraining")
        return
    for finding in report["findings"]:
        typer.echo(f"drift: {finding}")
    plan = retrain_plan(log_dir, since, served_rev(rev), tolerance)
    if dvc_seam.uncommitted_git_changes():
        typer.echo("note: the workspace has uncommitted changes; the retrain starts from HEAD without them")
    if dry_run:
        from pipeline.monitoring.retrain import describe_plan

        typer.echo("Dry run: would retrain (nothing was changed):")
        for step in describe_plan(plan):
            typer.echo(f"  {step}")
        return
    run_retrain(plan, report["findings"], log_dir)


def retrain_plan(log_dir: Path, since: str | None, served: str | None, tolerance: float | None) -> dict:
    """Everything a retrain needs, checked before anything changes."""
    from pipeline.monitoring.retrain import batch_frame, branch_name, labelled_traffic, other_label, without_known_loans
    from pipeline.params import load_monitor, load_params
    from pipeline.serving.telemetry import parse_since, read_log, read_outcomes
    from pipeline.training.data_schema import read_schema
    from pipeline.training.sources import RDATASETS, read_table
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.datasets import checked_append

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
    schema = read_schema(params.data.schema_path)
    labels = (positive, other_label(schema["target"]["labels"], positive))
    current = read_table(source)
    batch = batch_frame(traffic, current, params.data.target, labels, params.data.drop)
    batch, repeated = without_known_loans(batch, current, params.data.drop)
    if repeated:
        typer.echo(
            f"{repeated} of {len(traffic)} logged loans with outcomes are already in {source} (same values and "
            "outcome, ids aside): left out of the batch"
        )
    if len(batch) < min_outcomes:
        typer.echo(
            f"not retrained: {len(batch)} new loans with a known outcome after leaving out {repeated} already in "
            f"the data; at least {min_outcomes} are needed (monitor.min_outcomes)"
        )
        raise typer.Exit(1)
    checked_append(current, batch, schema, params.data.drop, source, "the retrain batch")
    champion = served or "HEAD"
    return {
        "branch": branch_name(),
        "base": base,
        "source": source,
        "traffic": traffic,
        "batch": batch,
        "rows": len(batch),
        "repeated": repeated,
        "bad": int((batch[params.data.target] == positive).sum()),
        "metric": "roc_auc",
        "champion": champion,
        "champion_label": champion if champion == "HEAD" else champion[:12],
        "tolerance": tolerance,
    }


def run_retrain(plan: dict, findings: list[str], log_dir: Path) -> None:
    """Append, repro and gate in a worktree on the new branch; commit there if the gate passes, else delete it."""
    import tempfile

    from pipeline.experiments.compare import table_lines
    from pipeline.monitoring.retrain import commit_all, commit_message, run_in_worktree
    from pipeline.serving.telemetry import ensure_log_dir
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.journal import all_or_nothing

    branch, source = plan["branch"], plan["source"]
    log_path = ensure_log_dir(log_dir / "retrain") / f"{branch.removeprefix('retrain/')}.log"
    committed, passed, comparison = None, None, None
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
            comparison = champion_comparison(plan["champion"], plan["champion_label"], worktree, branch)
            typer.echo(f"Champion and challenger scored {comparison.basis()}.")
            passed = comparison.passes(plan["tolerance"])
            verdict = gate_sentence(comparison, plan["tolerance"])
            for line in table_lines(comparison):
                typer.echo(line)
            typer.echo(verdict)
            if passed:
                message = commit_message(findings, plan, comparison, verdict)
                committed = commit_all(worktree, message)
    finally:
        if committed is None:
            delete_branch(branch)
    if committed is None:
        why = (
            comparison.too_few()
            if passed is None
            else f"the challenger is worse than the champion {plan['champion_label']} beyond the tolerance"
        )
        typer.echo(f"not retrained: {why}; branch deleted (its run is in the log)")
        raise typer.Exit(1)
    typer.echo(f"Committed {committed[:12]} on branch {branch} (the workspace is unchanged).")
    typer.echo(f"Next: `mlops serve --challenger {branch} --share 0.1`, then `mlops deploy promote {branch}`.")


def champion_comparison(champion: str, label: str, worktree: Path, branch: str):
    """Champion and challenger scored on the retrained test loans that neither trained on."""
    from pipeline.experiments.compare import compare_revisions, splits_at
    from pipeline.params import load_params
    from pipeline.serving.app import ServedModel, load_served_model
    from pipeline.training.model_file import load_model
    from pipeline.versioning import dvc_seam

    model, metadata = load_model(worktree / paths.MODEL)
    challenger = ServedModel(model, metadata, "", branch)
    reference_splits = splits_at(dvc_seam.resolve_commit(champion) or champion)
    return compare_revisions(
        load_served_model(champion),
        challenger,
        reference_splits,
        splits_at(None, root=str(worktree)),
        load_params(worktree / "params.yaml"),
        (f"champion {label}", "challenger"),
    )


def gate_sentence(comparison, tolerance: float | None) -> str:
    """The gate's verdict in one line: the ROC AUC change, its paired interval, its word and the tolerance."""
    passed = comparison.passes(tolerance)
    if passed is None:
        return f"gate undecided: {comparison.too_few()}"
    used = comparison.default_tolerance() if tolerance is None else tolerance
    return (
        f"gate {'passes' if passed else 'FAILS'}: roc_auc {comparison.reference['roc_auc']:.4f} -> "
        f"{comparison.candidate['roc_auc']:.4f} ({comparison.interval()}: {comparison.word}; tolerance {used:.4f})"
    )


def delete_branch(branch: str) -> None:
    import subprocess

    subprocess.run(["git", "branch", "-D", branch], capture_output=True)


# --- mlops deploy promote / rollback ------------------------------------------------------------------------------


@deploy_app.command()
def promote(
    rev: Annotated[
        str, typer.Argument(help="The revision (commit, branch, tag, registry reference) whose model becomes champion.")
    ],
    tolerance: Annotated[float | None, typer.Option(help="The gate's tolerance (default: from the noise).")] = None,
) -> None:
    """Make REV the champion (stage prod of the model artifact), if it passes the gate against the current
    champion on the test loans neither trained on: registers REV's model as a version and assigns it prod, as GTO
    git tags."""
    import yaml

    from pipeline.experiments.compare import compare_revisions, splits_at, table_lines
    from pipeline.params import parse_params
    from pipeline.serving import registry
    from pipeline.serving.app import load_served_model
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    commit = dvc_seam.resolve_commit(registry.resolve(rev))
    if commit is None:
        raise UserError(f"{rev!r} is not a commit, branch or tag here", hint="see `git log --oneline`")
    current = registry.champion_commit()
    if current == commit:
        raise UserError(f"{rev} ({registry.describe(commit)}) is already the champion", hint="nothing to do")
    served = load_served_model(commit)  # the server must be able to load it: check now
    reference_rev = current or dvc_seam.resolve_commit("HEAD")
    comparison = compare_revisions(
        load_served_model(reference_rev),
        served,
        splits_at(reference_rev),
        splits_at(commit),
        parse_params(yaml.safe_load(dvc_seam.read_at(commit, "params.yaml") or b"{}"), f"params.yaml at {rev}"),
        (f"champion {reference_rev[:12]}", rev),
    )
    typer.echo(f"Both models scored {comparison.basis()}.")
    for line in table_lines(comparison) if comparison.enough else []:
        typer.echo(line)
    verdict = gate_sentence(comparison, tolerance)
    typer.echo(verdict)
    if not comparison.passes(tolerance):
        why = "too few unseen loans to tell" if comparison.passes(tolerance) is None else "worse beyond the tolerance"
        typer.echo(f"Not promoted: {rev} against the champion {reference_rev[:12]}: {why}.")
        raise typer.Exit(1)
    registry.promote(commit, served_before=reference_rev, reason=f"promote {rev}: {verdict}")
    if current is None and reference_rev != commit:
        typer.echo(f"The model served before, {registry.describe(reference_rev)}, is recorded for a rollback.")
    typer.echo(f"{registry.describe(commit)} is the champion (stage prod), model {served.md5}.")


@deploy_app.command()
def rollback() -> None:
    """Make the previous champion the champion again (unassigns prod from the current one, assigns it again to the
    previous one, as GTO git tags)."""
    from pipeline.serving import registry
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    before, after = registry.rollback()
    typer.echo(f"{registry.describe(after)} is the champion again (was {registry.describe(before)}).")
