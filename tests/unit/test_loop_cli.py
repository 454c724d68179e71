"""The loop side of the CLI (data, remote, checkout, predict, serve, monitor, deploy) only parses, calls the domain
and prints its typed result: what it prints from a drift report, and what its modules may import."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

from pipeline.cli.monitor import print_report
from pipeline.monitoring.drift import FeatureDrift, Thresholds
from pipeline.monitoring.drift_check import DriftReport, Scorer, Window

CLI = Path(__file__).parents[2] / "pipeline" / "cli"
LOOP_COMMANDS = ("data", "remote", "checkout", "predict", "serve", "monitor", "deploy")
COMMAND_MODULES = {path.stem for path in CLI.glob("*.py")} - {"__init__", "options"}


def feature(name: str, psi: float) -> FeatureDrift:
    return FeatureDrift(name, "numeric", psi, 0.0, 0.02, 0.0, {"bin0": 1.0}, {"bin0": 1.0})


def report(findings: list[str]) -> DriftReport:
    judged = "a" * 32
    return DriftReport(
        model={"md5": judged, "rev": "workspace"},
        scored_by=[Scorer("workspace", judged, 1200), Scorer("b" * 40, "c" * 32, 30)],
        window=Window(1230, 0, 0, "7d", "2026-01-01T00:00:00", "2026-01-02T00:00:00"),
        thresholds=Thresholds(0.2, 0.01, 0.05),
        features=[feature("annual_inc", 0.05), feature("int_rate", 0.61)],
        score=feature("p_default", 0.25),
        performance=None,
        evaluated_roc_auc=0.7,
        not_run=["live ROC AUC: 0 loans scored by the judged model have a recorded outcome"],
        findings=findings,
    )


def test_the_drift_table_flags_each_feature_over_the_threshold_most_drifted_first(capsys):
    print_report(report(["int_rate: PSI 0.610 > 0.2"]))
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["int_rate", "p_default", "annual_inc"]
    assert [row.rstrip("│ ").endswith("DRIFT") for row in rows] == [True, True, False]
    assert "warning: 30 loans were scored by another model than the one judged" in out
    assert "drift: int_rate: PSI 0.610 > 0.2" in out and "no drift" not in out


def test_no_drift_names_the_checks_that_ran(capsys):
    print_report(report([]))
    out = capsys.readouterr().out
    assert "no drift: every feature's PSI, unseen shares, the score PSI within the thresholds" in out


def test_the_live_and_the_evaluated_roc_auc_read_alike(capsys):
    """The evaluated one was printed as metrics.json holds it (0.716147), beside a live 0.753."""
    performance = {"roc_auc": 0.75312, "loans": 1500, "mean_predicted": 0.0461, "observed_bad_rate": 0.0567}
    for evaluated, said in ((0.716147, "(evaluated 0.716)"), (None, "(evaluated not recorded)")):
        print_report(replace(report([]), performance=performance, evaluated_roc_auc=evaluated))
        assert f"live ROC AUC 0.753 on 1500 loans with outcomes {said}; mean predicted 0.046" in capsys.readouterr().out


def test_the_report_as_drift_json_holds_it():
    as_json = json.loads(json.dumps(report([]).as_dict(), default=str))
    assert list(as_json) == [
        "model",
        "scored_by",
        "window",
        "thresholds",
        "features",
        "score",
        "performance",
        "evaluated_roc_auc",
        "not_run",
        "findings",
    ]
    assert as_json["scored_by"][1] == {"rev": "b" * 40, "md5": "c" * 32, "loans": 30}
    assert as_json["window"] == {
        "loans": 1230,
        "refused_unseen": 0,
        "refused_missing": 0,
        "since": "7d",
        "first": "2026-01-01T00:00:00",
        "last": "2026-01-02T00:00:00",
    }
    assert as_json["thresholds"] == {"psi": 0.2, "unseen_share": 0.01, "auc_drop": 0.05}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_loop_commands_import_no_other_command_no_subprocess_no_yaml():
    for name in LOOP_COMMANDS:
        imported = imported_modules(CLI / f"{name}.py")
        others = {f"pipeline.cli.{other}" for other in COMMAND_MODULES - {name}}
        assert not imported & others, f"cli/{name}.py imports another command module: {imported & others}"
        forbidden = {m for m in imported if m.split(".")[0] in ("subprocess", "yaml", "ruamel", "hooks", "dvc")}
        assert not forbidden, f"cli/{name}.py imports {forbidden}: that belongs in the domain"
