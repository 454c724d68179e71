"""`mlops monitor` (outcomes, drift, retrain): closing the loop from the prediction log back to the pipeline. The
work is `pipeline.monitoring`; this module parses and prints."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.options import LogDir, Since, ToleranceOption, input_file, report_dir, revision

if TYPE_CHECKING:
    from pipeline.monitoring.drift_check import DriftReport, Scorer

monitor_app = typer.Typer(help="Outcomes, drift and retraining from the prediction log.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")


@monitor_app.command()
def outcomes(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="CSV or parquet: id, and the target column or is_bad.",
            parser=input_file("FILE", "outcomes.csv"),
        ),
    ],
    log_dir: LogDir = Path("logs"),
) -> None:
    """Record later-arriving outcomes (did the loan go bad), joined to the logged predictions by id."""
    from pipeline.monitoring.outcomes import record_outcomes

    recorded = record_outcomes(path, log_dir)
    if recorded.unfinished:
        typer.echo(
            f"warning: removed the unfinished last line of {recorded.path} ({recorded.unfinished} bytes: an append "
            "was killed as it wrote); its whole lines are kept",
            err=True,
        )
    typer.echo(
        f"Recorded {recorded.recorded} outcomes ({recorded.bad} bad) in {recorded.path}; "
        f"{recorded.matched} match logged predictions, {recorded.unmatched} do not (yet)"
        + (f"; {recorded.replaced} replace outcomes recorded before (the latest counts)." if recorded.replaced else ".")
    )


@monitor_app.command("drift")
def drift(
    since: Since = None,
    rev: Annotated[
        str | None,
        typer.Option(help="Judge this revision's model (default: the champion).", parser=revision("--rev", "HEAD~1")),
    ] = None,
    log_dir: LogDir = Path("logs"),
    out: Annotated[
        Path | None,
        typer.Option(help="Where drift.json and drift.html go (default: the --log-dir's drift/).", parser=report_dir),
    ] = None,
) -> None:
    """PSI per feature and for the score, unseen categories, missing values and live performance; exit 1 on drift."""
    from pipeline.monitoring.drift_check import monitor_drift
    from pipeline.versioning.journal import stops_unwound

    with stops_unwound():  # SIGTERM or SIGHUP mid-way ends it with a word, as Ctrl-C does; the report lands whole
        report = monitor_drift(log_dir, since, rev, out)
    print_report(report)
    typer.echo(f"Report: {', '.join(map(str, report.files))}")
    if report.findings:
        raise typer.Exit(1)


@monitor_app.command()
def retrain(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be done; change nothing.")] = False,
    since: Since = None,
    rev: Annotated[
        str | None,
        typer.Option(help="The served revision to judge (default: the champion).", parser=revision("--rev", "HEAD~1")),
    ] = None,
    tolerance: ToleranceOption = None,
    log_dir: LogDir = Path("logs"),
) -> None:
    """On drift or a live performance drop: append the logged loans with outcomes as a data batch on a new branch
    retrain/<UTC time>, run the pipeline there, and commit it if the gate passes against the champion.
    Exit 0: retrained, no drift, or too few logged loans to judge yet; 1: not retrained by decision (too few new
    outcomes, too few unseen test loans to judge, or the gate failed); 2: refused (the source, the batch or a step
    cannot be used)."""
    from pipeline.monitoring import retrain as retraining

    decision = retraining.decide(log_dir, since, rev, tolerance)
    report = decision.drift
    if report is None:
        typer.echo(f"nothing to do yet: {decision.too_few_loans}; not retraining")
        return
    if not report.findings:
        for reason in report.not_run:
            typer.echo(f"not checked: {reason}")
        typer.echo(f"no drift: {', '.join(report.checks_run())} within the thresholds; not retraining")
        return
    for finding in report.findings:
        typer.echo(f"drift: {finding}")
    for note in decision.notes:
        typer.echo(note)
    if decision.not_retrained or decision.plan is None:
        typer.echo(f"not retrained: {decision.not_retrained}")
        raise typer.Exit(1)
    plan = decision.plan
    if dry_run:
        typer.echo("Dry run: would retrain (nothing was changed):")
        print_plan(retraining.describe_plan(plan))
        return
    typer.echo(f"Retraining on branch {plan.branch} (log: {plan.log_path}) ...")
    done = retraining.run(plan)
    typer.echo(f"Champion and challenger scored {done.comparison.basis()}.")
    for line in done.table:
        typer.echo(line)
    typer.echo(done.verdict)
    if done.committed is None:
        typer.echo(f"not retrained: {done.why_not()}; branch deleted (its run is in the log)")
        raise typer.Exit(1)
    typer.echo(f"Committed {done.committed[:12]} on branch {plan.branch} (the workspace is unchanged).")
    typer.echo(
        f"Next: `mlops serve --challenger {plan.branch} --share 0.1`, then `mlops deploy promote {plan.branch}`."
    )


# --- printing -------------------------------------------------------------------------------------------------


def model_line(rev: str, md5: str) -> str:
    return f"model {md5[:12]} ({'the workspace' if rev == 'workspace' else 'rev ' + rev[:12]})"


def print_report(report: DriftReport) -> None:
    from rich.console import Console
    from rich.table import Table

    judged = report.model
    typer.echo(f"{report.window.loans} live loans vs the training data of {model_line(judged['rev'], judged['md5'])}")
    typer.echo(f"the log was scored by {'; '.join(scorer_line(scorer) for scorer in report.scored_by)}")
    others = report.scored_by_others()
    if others:
        typer.echo(
            f"warning: {sum(s.loans for s in others)} loans were scored by another model than the one judged; "
            f"its score PSI and live ROC AUC use only the loans it scored (judge another with --rev REV)"
        )
    if report.window.refused_unseen:
        typer.echo(
            f"{report.window.refused_unseen} loans were refused (422) for categories the model never saw: "
            "counted in the unseen shares"
        )
    if report.window.refused_missing:
        typer.echo(
            f"{report.window.refused_missing} loans were refused (422) for a missing value (null) in a category: "
            "counted in the missing shares"
        )
    table = Table("feature", "PSI", "missing train", "missing live", "unseen", "")
    for column in table.columns[1:5]:
        column.justify = "right"
    rows = ([report.score] if report.score else []) + report.features
    for row in sorted(rows, key=lambda r: -r.psi):
        flag = "DRIFT" if row.psi > report.thresholds.psi else ""
        table.add_row(
            row.name,
            f"{row.psi:.3f}",
            f"{row.missing_train:.1%}",
            f"{row.missing_live:.1%}",
            f"{row.unseen_share:.1%}",
            flag,
        )
    Console(highlight=False).print(table)
    if report.performance:
        p = report.performance
        evaluated = "not recorded" if report.evaluated_roc_auc is None else f"{report.evaluated_roc_auc:.3f}"
        typer.echo(
            f"live ROC AUC {p['roc_auc']:.3f} on {p['loans']} loans with outcomes (evaluated "
            f"{evaluated}); mean predicted {p['mean_predicted']:.3f}, "
            f"observed {p['observed_bad_rate']:.3f}"
        )
    for reason in report.not_run:
        typer.echo(f"not checked: {reason}")
    for finding in report.findings:
        typer.echo(f"drift: {finding}")
    if not report.findings:
        typer.echo(f"no drift: {', '.join(report.checks_run())} within the thresholds")


def scorer_line(scorer: Scorer) -> str:
    return f"{model_line(scorer.rev, scorer.md5)}: {scorer.loans} loans"


def print_plan(steps: list[str]) -> None:
    """The steps as a numbered list: sentences, which a table would break mid-phrase on a narrow terminal."""
    for number, step in enumerate(steps, start=1):
        typer.echo(f"  {number}. {step}")
