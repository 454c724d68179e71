"""The DVC ecosystem's own clients on a trained copy, as their users run them: `dvc plots show/diff` offline in a
browser, `dvc exp show` after a sweep, and the data conventions of `mlops data add` and `mlops predict`."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess

import pytest
import yaml

from tests.conftest import run
from tests.e2e.data_helpers import CHROMIUM, headless_chromium, lending_frame, mlops

REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=", re.IGNORECASE)


def read_rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def plot_titles(repo) -> list[str]:
    plots = yaml.safe_load((repo / "dvc.yaml").read_text())["plots"]
    return [properties["title"] for plot in plots for properties in plot.values()]


def test_plots_pages_carry_their_renderer_and_a_charset(repo, tmp_path):
    for command in (["dvc", "plots", "show"], ["dvc", "plots", "diff", "HEAD"]):
        out = tmp_path / command[2]
        run([*command, "-o", str(out)], repo)
        page = (out / "index.html").read_text(encoding="utf-8")
        assert '<meta charset="utf-8">' in page
        assert REMOTE_SCRIPT.search(page) is None, REMOTE_SCRIPT.search(page)
        assert "window.vegaEmbed=" in page and page.count("vegaEmbed('#") == 5
    assert len(plot_titles(repo)) == 5


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_dvc_plots_show_renders_offline_in_chromium(repo, tmp_path):
    out = tmp_path / "plots"
    run(["dvc", "plots", "show", "-o", str(out)], repo)
    browser = headless_chromium(
        tmp_path / "profile",
        "--proxy-server=127.0.0.1:9",  # nothing listens there: any request for the network fails
        "--virtual-time-budget=8000",
        "--dump-dom",
        (out / "index.html").as_uri(),
    )
    dom = subprocess.run(browser, capture_output=True, text=True, timeout=120).stdout
    assert dom.count('aria-label="Vega visualization"') == 5 and dom.count("<path") > 20
    for title in plot_titles(repo):
        assert f"Title text '{title}'" in dom
    # Importance bars sorted by value: the feature axis lists the most important features first.
    importance = json.loads((repo / "reports/plots/importance.json").read_text())["importance"]
    ranked = [row["feature"] for row in sorted(importance, key=lambda row: -row["importance"])]
    axis = re.search(r"Y-axis titled 'Feature' for a discrete scale with \d+ values: ([^\"]+)\"", dom)
    assert axis is not None and axis.group(1).startswith(", ".join(ranked[:3]))


@pytest.mark.slow
def test_dvc_exp_show_after_a_sweep_lists_stage_params_and_each_metric_once(repo):
    run(["git", "add", "-A"], repo)  # HEAD as this code writes it (the committed reports may be older)
    run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "trained"], repo)
    mlops(repo, "exp", "sweep", "train.logreg.C=0.1,1.0", "--subset", "0.2", "--jobs", "2")
    table = run(["dvc", "exp", "show", "--no-pager", "--csv"], repo).stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    header = list(rows[0])
    assert len(rows) >= 4  # the workspace, HEAD and the two runs
    assert [name for name in header if ":" in name] == []  # no metric named twice (DVC prefixes the file)
    assert not [name for name in header if name.startswith("monitor.")]
    declared = {
        param
        for stage in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].values()
        for param in stage["params"]
    }
    params = {name for name in header if "." in name and "/" not in name or name == "seed"}
    assert params and all(any(p == d or p.startswith(d + ".") for d in declared) for p in params), params
    assert {row["train.logreg.C"] for row in rows} >= {"0.1", "1.0"}


def test_data_add_drops_id_like_columns_unless_kept(repo, tmp_path):
    frame = lending_frame().rename(columns={"rownames": "loan_id"}).head(3000)
    frame["reference"] = [f"L-{number:06d}" for number in range(len(frame))]
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    result = mlops(repo, "data", "add", str(path), "--keep-column", "reference", check=False)
    # `reference` kept as text of 3000 distinct values is refused as a category: nothing written.
    assert result.returncode == 2 and "'reference'" in result.stderr
    added = mlops(repo, "data", "add", str(path))
    assert "Dropping column 'loan_id': it looks like an id (named like an id)" in added.stdout
    assert "Dropping column 'reference': it looks like an id (unique in each of the 3000 rows)" in added.stdout
    assert "--keep-column=loan_id" in added.stdout  # as the shell reads it back, whatever the name
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["data"]["drop"] == ["loan_id", "reference"]
    columns = json.loads((repo / "reports/schema.json").read_text())["columns"]
    assert "loan_id" not in columns and "reference" not in columns and "int_rate" in columns

    kept = mlops(repo, "data", "add", str(path), "--keep-column", "loan_id", "--drop", "reference")
    assert "loan_id" not in kept.stdout
    assert "loan_id" in json.loads((repo / "reports/schema.json").read_text())["columns"]
    bad = mlops(repo, "data", "add", str(path), "--keep-column", "nope", check=False)
    assert bad.returncode == 2 and "--keep-column nope: no such column" in bad.stderr


def test_predict_keeps_the_id_column_and_warns_when_it_numbers_rows(repo, tmp_path):
    frame = lending_frame().drop(columns=["Class"]).head(30)  # `rownames`: the id column params.yaml drops
    frame["loan_ref"] = [f"{number:03d}" if number % 2 else f"{number}e3" for number in range(30)]  # not numbers
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)

    result = mlops(repo, "predict", str(path), "--out", str(tmp_path / "a.csv"))
    scores = read_rows(tmp_path / "a.csv")
    assert (
        list(scores[0])[0] == "rownames"
        and [row["rownames"] for row in scores] == frame["rownames"].astype(str).tolist()
    )
    assert "warning" not in result.stderr

    mlops(repo, "predict", str(path), "--out", str(tmp_path / "b.csv"), "--id-column", "loan_ref")
    scores = read_rows(tmp_path / "b.csv")
    assert [row["loan_ref"] for row in scores] == frame["loan_ref"].tolist()  # `001` stays `001`, `0e3` `0e3`

    frame.drop(columns=["rownames", "loan_ref"]).to_csv(path, index=False)
    numbered = mlops(repo, "predict", str(path), "--out", str(tmp_path / "c.csv"))
    assert "warning:" in numbered.stderr and "numbers its rows from 0" in numbered.stderr
    assert "--id-column" in numbered.stderr

    refused = mlops(repo, "predict", str(path), "--out", str(tmp_path / "d.csv"), "--id-column", "nope", check=False)
    assert refused.returncode == 2 and "--id-column nope: no such column" in refused.stderr
    assert not (tmp_path / "d.csv").exists()


def test_plots_pages_as_the_readme_runs_them_stay_out_of_git(repo):
    """`dvc plots show` writes dvc_plots/ into the project: `git add -A` then committed the page."""
    for command in (["dvc", "plots", "show"], ["dvc", "plots", "diff", "HEAD"]):
        run(command, repo)
        assert (repo / "dvc_plots" / "index.html").is_file()
        assert run(["git", "status", "--porcelain"], repo).stdout == ""
