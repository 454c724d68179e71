"""`mlops monitor drift`: a window of logged traffic judged against the training data of the model it concerns
(the champion, or a named revision). The report names the judged model, the models that actually scored the
log, every threshold crossed, and every check that could not run and why; it is written as drift.json and
drift.html. The statistics themselves are `drift`'s pure functions."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import paths
from pipeline.errors import UserError
from pipeline.experiments.metrics_file import REVISION_REPORTS_HINT, read_metrics, workspace_metrics
from pipeline.monitoring import drift
from pipeline.monitoring.drift_report import render
from pipeline.params import load_monitor
from pipeline.serving import registry
from pipeline.serving.app import load_served_model
from pipeline.serving.telemetry import join_outcomes, parse_since, read_log, read_outcomes
from pipeline.user_paths import file_in_the_way
from pipeline.versioning import dvc_seam
from pipeline.versioning.output_paths import check_output_path, write_together

if TYPE_CHECKING:
    import pandas as pd


class WindowTooSmall(UserError):
    """Too few logged loans to tell drift from noise: a refusal of `mlops monitor drift`, which cannot write the
    report asked for, but nothing to do yet for `mlops monitor retrain` (run from cron, a quiet hour is no failure)."""

    def __init__(self, loans: int, needed: int) -> None:
        super().__init__(
            f"the window holds {loans} logged loans; at least {needed} are needed to tell drift from noise "
            "(monitor.min_window)",
            hint="widen --since, or wait for more traffic",
        )


@dataclass(frozen=True)
class Scorer:
    """A model that scored served loans of the window."""

    rev: str
    md5: str
    loans: int


@dataclass(frozen=True)
class Window:
    loans: int  # served loans, one per id
    refused_unseen: int  # loans refused (422) for categories the model never saw (and nothing else)
    refused_missing: int  # loans refused (422) only for a null in a category that takes none
    since: str | None
    first: Any  # the first and last logged time
    last: Any


@dataclass(frozen=True)
class DriftReport:
    model: dict[str, str]  # the judged model: its md5 and revision
    scored_by: list[Scorer]  # most loans first
    window: Window
    thresholds: drift.Thresholds
    features: list[drift.FeatureDrift]
    score: drift.FeatureDrift | None  # None: too few loans scored by the judged model
    performance: dict[str, float] | None  # the live ROC AUC and calibration, when outcomes allow
    evaluated_roc_auc: float | None
    not_run: list[str]  # each check that could not run, and why
    findings: list[str]  # each threshold crossed, in words; empty: no drift
    files: list[Path] = field(default_factory=list)  # where the report was written

    def as_dict(self) -> dict[str, Any]:
        """The report as drift.json holds it."""
        report = asdict(self)
        del report["files"]
        return report

    def scored_by_others(self) -> list[Scorer]:
        """The scorers that are not the judged model."""
        return [scorer for scorer in self.scored_by if scorer.md5 != self.model["md5"]]

    def checks_run(self) -> list[str]:
        """The checks that ran, in words."""
        checks = ["every feature's PSI", "unseen shares"]
        checks += ["the score PSI"] if self.score else []
        checks += ["the live ROC AUC"] if self.performance and self.evaluated_roc_auc is not None else []
        return checks


def served_rev(rev: str | None) -> str | None:
    """The revision to judge: `rev` (a revision or a registry reference), else the champion, else None (the
    workspace)."""
    return registry.resolve(rev) if rev is not None else registry.champion_commit()


def monitor_drift(log_dir: Path, since: str | None, rev: str | None, out: Path | None) -> DriftReport:
    """The drift report of the logged traffic (since `since`) against the judged model's training data, written
    to `out` (default: the log folder's `drift/`, which its `.gitignore` keeps out of git) as drift.json and
    drift.html."""
    dvc_seam.require_repo()
    if out is not None:
        report_files(out)  # refused before the window is read and judged, which takes seconds
    served = served_rev(rev)
    report = drift_report(log_dir, since, served, rev)
    return write_report(report, Path(log_dir) / "drift" if out is None else out)


def drift_report(log_dir: Path, since: str | None, rev: str | None, typed: str | None = None) -> DriftReport:
    """Compare the logged traffic with the training data of the model of `rev` (None: the workspace's), which the
    user named `typed` (None: the champion's, `served_rev`)."""
    import pandas as pd

    monitor = load_monitor()
    served = load_served_model(rev, typed, champion=typed is None)
    features = served.metadata["features"]
    numeric = [name for name, spec in features.items() if spec["kind"] == "numeric"]
    log = read_log(log_dir, parse_since(since), numeric)
    traffic = log[log["served"]].drop_duplicates("id", keep="last") if not log.empty else log
    refused = log[log["role"] == "refused"].drop_duplicates("id", keep="last") if not log.empty else log
    if len(traffic) < monitor.min_window:
        raise WindowTooSmall(len(traffic), monitor.min_window)
    train = training_frame(rev, typed)
    not_run = []
    scored = log[(log["model_md5"] == served.md5) & log["p_default"].notna()].drop_duplicates("id", keep="last")
    score = None
    if len(scored) >= monitor.min_window:
        train_scores = served.model.predict_proba(train[list(features)])[:, 1]
        score = drift.score_drift(pd.Series(train_scores), scored["p_default"])
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
        performance = drift.live_performance(
            known["is_bad"].astype(bool).to_numpy(), known["p_default"].to_numpy(dtype=float)
        )
        if performance is None:
            not_run.append(f"live ROC AUC: the {len(known)} loans with outcomes are all of one class")
    evaluated_auc = evaluated_metrics(rev, typed).get("roc_auc")
    if performance and evaluated_auc is None:
        not_run.append(
            f"live ROC AUC drop: the judged model's {paths.METRICS} records no roc_auc to compare the live "
            f"{performance['roc_auc']:.3f} with (`mlops repro` writes it)"
        )
    live = pd.concat([traffic, refused], ignore_index=True) if len(refused) else traffic
    rows = drift.features_drift(train, live, features)
    limits = drift.Thresholds(monitor.psi_threshold, monitor.unseen_category_share, monitor.auc_drop)
    return DriftReport(
        model=served.version(),
        scored_by=scorers(traffic),
        window=Window(len(traffic), *refused_counts(refused), since, traffic["time"].min(), traffic["time"].max()),
        thresholds=limits,
        features=rows,
        score=score,
        performance=performance,
        evaluated_roc_auc=evaluated_auc,
        not_run=not_run,
        findings=drift.drift_findings(rows, score, performance, evaluated_auc, limits),
    )


def refused_counts(refused: pd.DataFrame) -> tuple[int, int]:
    """(refused for an unseen category, refused only for a null category) among the refused loans."""
    if refused.empty or "unseen" not in refused:
        return 0, 0
    unseen = int(refused["unseen"].map(lambda names: isinstance(names, list) and bool(names)).sum())
    return unseen, len(refused) - unseen


def training_frame(rev: str | None, typed: str | None = None) -> pd.DataFrame:
    """The training split the model of `rev` (or the workspace's) was trained on."""
    import pandas as pd

    if rev is None:
        if not Path(paths.TRAIN).is_file():
            raise UserError(f"{paths.TRAIN} not found", hint="`mlops data pull`, or `mlops repro`")
        return pd.read_parquet(paths.TRAIN)
    data, _, _ = registry.read_output(rev, paths.TRAIN, typed, champion=typed is None)
    return pd.read_parquet(io.BytesIO(data))


def evaluated_metrics(rev: str | None, typed: str | None = None) -> dict[str, Any]:
    """The test metrics of the model of `rev` (None: the workspace's), read as every command reads them: a file
    that is no JSON object of finite numbers is refused, naming it (as `typed`, or the commit, for a revision)."""
    if rev is None:
        return workspace_metrics()
    source = f"{typed or rev[:12]}'s {paths.METRICS}"
    return read_metrics(dvc_seam.read_at(rev, paths.METRICS), source, hint=REVISION_REPORTS_HINT)


def scorers(traffic: pd.DataFrame) -> list[Scorer]:
    """The models that scored the served loans of the window: revision, model md5 and loan count, most first."""
    counts = traffic.groupby(["rev", "model_md5"], dropna=False).size().sort_values(ascending=False)
    return [Scorer(str(rev), str(md5), int(n)) for (rev, md5), n in counts.items()]


REPORT_DIR_EXAMPLE = "drift-reports"


def report_files(out: Path) -> tuple[Path, Path]:
    """drift.json and drift.html in the folder `out`, refused (naming --out) unless they can be written there."""
    blocking = file_in_the_way(out / "drift.json")
    if blocking is not None:  # it could never hold the report's folder
        raise UserError(
            f"--out {out}: {blocking} is a file; --out names the folder drift.json and drift.html go in",
            hint=f"e.g. --out {REPORT_DIR_EXAMPLE}",
        )
    files = out / "drift.json", out / "drift.html"
    for path in files:
        check_output_path(path, folder_made=True, example=REPORT_DIR_EXAMPLE)  # --out names the folder here
    return files


def write_report(report: DriftReport, out: Path) -> DriftReport:
    """Write drift.json and drift.html to `out`, both or neither (a page that contradicts its data is worse than
    none); the report with their paths."""
    json_file, html_file = report_files(out)
    as_dict = report.as_dict()
    write_together({json_file: json.dumps(as_dict, indent=2, default=str) + "\n", html_file: render(as_dict)})
    return replace(report, files=[json_file, html_file])
