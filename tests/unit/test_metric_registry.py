"""The metric registry is the one definition of each metric: nothing else lists metrics, and a metric registered
anywhere reaches evaluate's metrics, the model card, `mlops exp compare` and the gate."""

import ast
import importlib
import sys

import numpy as np
import pytest

from pipeline import metrics
from pipeline.experiments.settings import Run, as_csv, as_markdown, comparison
from pipeline.params import load_params
from pipeline.stages.evaluate import model_card, score_metrics
from tests.conftest import ROOT
from tests.unit.test_stage_functions import card_metadata

# Metrics computed on other loans than the test split, each of one metric the registry defines: the validation
# split's (the train stage, which picks the threshold there) and live outcomes' (drift monitoring).
OTHER_LOANS = {"pipeline/stages/train.py", "pipeline/monitoring/drift.py"}


def metric_lists(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines of literals naming two or more metrics together: a tuple, list or set of them, a dict keyed by
    them, or a class (an enum) with them as values."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [key for key in node.keys if key is not None]
        elif isinstance(node, ast.ClassDef):
            items = [statement.value for statement in node.body if isinstance(statement, ast.Assign)]
        else:
            continue
        named = {item.value for item in items if isinstance(item, ast.Constant) and item.value in names}
        if len(named) >= 2:
            found.append(node.lineno)
    return found


def test_each_metric_is_defined_once():
    names = set(metrics.REGISTRY)
    definitions = [
        node.args[0].value
        for node in ast.walk(ast.parse((ROOT / "pipeline" / "metrics.py").read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Metric"
    ]
    assert sorted(definitions) == sorted(names)  # each registered metric has exactly one definition
    elsewhere = {}
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        relative = str(path.relative_to(ROOT))
        if relative == "pipeline/metrics.py" or relative in OTHER_LOANS:
            continue
        lines = metric_lists(ast.parse(path.read_text()), names)
        if lines:
            elsewhere[relative] = lines
    assert not elsewhere, f"metrics listed outside pipeline/metrics.py (use the registry): {elsewhere}"


def test_the_scan_finds_a_list_of_metrics():
    names = set(metrics.REGISTRY)
    assert metric_lists(ast.parse('KEY = ("roc_auc", "brier")'), names) == [1]
    assert metric_lists(ast.parse('class M(StrEnum):\n    a = "roc_auc"\n    b = "ks"\n'), names) == [1]
    assert metric_lists(ast.parse('x = metrics["roc_auc"]'), names) == []


ADDED_METRIC = '''
"""A metric added the way a user adds one: a definition, registered."""

import numpy as np

from pipeline.metrics import LOWER, Metric, register

BAD_APPROVED = register(
    Metric(
        "bad_approved_rate",
        "bad loans approved, per loan",
        "badok",
        lambda s: float(np.mean(s.is_bad & (s.p_bad < s.threshold))),
        LOWER,
        key=True,
        in_card=True,
    )
)
'''


@pytest.fixture
def added_metric(tmp_path, monkeypatch):
    """A metric registered by a temporary module, for this test only."""
    monkeypatch.setattr(metrics, "REGISTRY", dict(metrics.REGISTRY))
    (tmp_path / "added_metric.py").write_text(ADDED_METRIC)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("added_metric").BAD_APPROVED
    sys.modules.pop("added_metric", None)


def test_a_registered_metric_reaches_evaluate_the_card_compare_and_the_gate(added_metric):
    rng = np.random.default_rng(0)
    is_bad = rng.random(500) < 0.2
    p_bad = np.clip(0.2 * is_bad + rng.random(500) * 0.5, 0, 1)
    params = load_params()

    scored = {**score_metrics(is_bad, p_bad, 0.3, params), "importance_rows": 0}
    expected = round(float(np.mean(is_bad & (p_bad < 0.3))), 6)
    assert scored["bad_approved_rate"] == expected
    assert list(scored)[-2] == "bad_approved_rate"  # after the existing keys: metrics.json only grows

    assert f"| bad loans approved, per loan | {expected:.4f} |" in model_card(card_metadata(), scored, params)

    worse = {**scored, "bad_approved_rate": expected + 0.05}
    baseline = Run("workspace", {"seed": 1}, scored, is_workspace=True)
    table = comparison(baseline, [Run("worse", {"seed": 1}, worse)], sort_by="bad_approved_rate")
    assert "bad_approved_rate" in table.metrics
    assert table.rows[1].verdicts["bad_approved_rate"] == "worse"
    assert "delta_bad_approved_rate" in as_csv(table).splitlines()[0]

    verdict = metrics.judge("bad_approved_rate", worse, scored, tolerance=0.01)
    assert not verdict.passed and "gate FAILS: bad_approved_rate" in verdict.sentence()
    assert metrics.judge("bad_approved_rate", scored, worse, tolerance=0.0).passed  # lower is better


def test_a_metric_cannot_be_defined_twice(monkeypatch):
    monkeypatch.setattr(metrics, "REGISTRY", dict(metrics.REGISTRY))
    with pytest.raises(ValueError, match="roc_auc is defined twice"):
        metrics.register(metrics.Metric("roc_auc", "again", "auc", lambda s: 0.0, metrics.HIGHER))


def test_facts_are_reported_but_never_judged():
    assert metrics.THRESHOLD not in metrics.judged_metrics()
    with pytest.raises(KeyError):
        metrics.direction("threshold")
    assert [m.name for m in metrics.key_metrics()] == ["roc_auc", "pr_auc", "brier", "log_loss", "expected_cost"]


def test_a_key_fact_is_compared_without_a_best(monkeypatch):
    monkeypatch.setattr(metrics, "REGISTRY", dict(metrics.REGISTRY))
    metrics.register(metrics.Metric("bad_rate", "bad rate", "badrate", lambda s: 0.05, key=True, on_screen=True))
    baseline = Run("workspace", {"seed": 1}, {"roc_auc": 0.7, "bad_rate": 0.05}, is_workspace=True)
    table = comparison(baseline, [Run("other", {"seed": 2}, {"roc_auc": 0.8, "bad_rate": 0.04})])
    assert "bad_rate" in table.metrics
    assert "0.0500*" not in as_markdown(table) and "0.0400*" not in as_markdown(table)


def test_the_compare_legend_names_each_key_metrics_better_direction(added_metric):
    baseline = Run("workspace", {"seed": 1}, {"roc_auc": 0.7}, is_workspace=True)
    legend = as_markdown(comparison(baseline, [])).splitlines()[-1]
    assert "lower Brier score, log loss, expected cost per loan and bad loans approved, per loan" in legend
    assert "higher ROC AUC and PR AUC" in legend
