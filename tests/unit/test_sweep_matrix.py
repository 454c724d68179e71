"""The sweep as a CI job matrix: one job per grid point that trains a model of its own, in the grid's order."""

import json
import re
from pathlib import Path

import pytest
import yaml

from pipeline.errors import UserError
from pipeline.experiments.settings import ci_matrix, expand_grid, settings_read_by, trained_params, typed_settings
from pipeline.params import read_params_yaml
from tests.conftest import run


def test_one_job_per_grid_point_with_its_settings():
    grid = expand_grid(["train.model=logreg,hgb", "seed=1,2"])
    matrix = ci_matrix([(f"run-{n}", settings) for n, settings in enumerate(grid)])
    assert matrix == {
        "include": [
            {"name": "run-0", "set": "train.model=logreg seed=1"},
            {"name": "run-1", "set": "train.model=logreg seed=2"},
            {"name": "run-2", "set": "train.model=hgb seed=1"},
            {"name": "run-3", "set": "train.model=hgb seed=2"},
        ]
    }


def test_a_value_with_a_space_is_refused():
    with pytest.raises(UserError, match="cannot hold a space"):
        ci_matrix([("run", {"data.source": "my loans.csv"})])


def test_a_list_value_keeps_its_commas_and_reaches_ci_without_a_space():
    grid = expand_grid(["data.drop=[rownames,term],[rownames]", "seed=1,2"])
    assert [settings["data.drop"] for settings in grid] == [
        "[rownames,term]",
        "[rownames,term]",
        "[rownames]",
        "[rownames]",
    ]
    typed = typed_settings(grid[0], raw=read_params_yaml(Path(__file__).parents[2] / "params.yaml"))
    assert typed["data.drop"] == '["rownames","term"]'
    assert yaml.safe_load(typed["data.drop"]) == ["rownames", "term"]  # as DVC's -S reads it
    assert ci_matrix([("run", typed)])["include"][0]["set"] == 'data.drop=["rownames","term"] seed=1'


def test_the_params_a_run_trains_with_leave_out_the_other_models_section():
    params = {"seed": 1, "train.model": "logreg", "train.logreg.C": 0.1, "train.hgb.max_iter": 100}
    assert trained_params(params) == {"seed": 1, "train.model": "logreg", "train.logreg.C": 0.1}
    hgb = {**params, "train.model": "hgb"}
    assert trained_params(hgb) == {"seed": 1, "train.model": "hgb", "train.hgb.max_iter": 100}


def test_a_run_keeps_only_the_settings_its_model_reads():
    settings = {"train.model": "logreg", "train.logreg.C": "0.1", "train.hgb.max_iter": "100", "seed": "1"}
    assert settings_read_by("logreg", settings) == {"train.model": "logreg", "train.logreg.C": "0.1", "seed": "1"}
    assert settings_read_by("hgb", {"train.logreg": "{C: 0.1}", "train.hgb.max_iter": "100"}) == {
        "train.hgb.max_iter": "100"
    }


def test_points_that_differ_only_in_an_untrained_models_params_run_once(fresh_repo):
    """A grid over both models and both models' params planned hgb runs that differed only in train.logreg.C (and
    logreg runs only in train.hgb.max_iter): identical models, a full run each. The plan, which the CI matrix is,
    keeps the first of each and says in one line what it collapsed and why. A kept point sets only what its model
    reads: it was named `logreg-C-0.01-max_iter-100-...` and compare showed a logreg run with an hgb setting."""
    grid = ["train.model=logreg,hgb", "train.logreg.C=0.01,0.1", "train.hgb.max_iter=100,300"]
    planned = run(["mlops", "exp", "sweep", *grid, "--matrix"], fresh_repo)
    jobs = json.loads(planned.stdout)["include"]
    assert [job["set"] for job in jobs] == [
        "train.model=logreg train.logreg.C=0.01",
        "train.model=logreg train.logreg.C=0.1",
        "train.model=hgb train.hgb.max_iter=100",
        "train.model=hgb train.hgb.max_iter=300",
    ]
    assert [re.sub(r"-[0-9a-f]{4}$", "", job["name"]) for job in jobs] == [
        "logreg-C-0.01",
        "logreg-C-0.1",
        "hgb-max_iter-100",
        "hgb-max_iter-300",
    ]
    assert planned.stderr == (
        "Collapsed 4 of 8 grid points: each trains the same model as an earlier point, differing from it only in "
        "params its model does not read (train.hgb.max_iter under logreg; train.logreg.C under hgb).\n"
    )
    assert run(["git", "for-each-ref", "refs/exps"], fresh_repo).stdout == ""


def test_an_axis_no_point_of_the_grid_reads_is_refused_by_name(fresh_repo):
    """`train.hgb.max_iter=100,300` with params.yaml's `train.model: logreg` collapsed to one point with no settings:
    the matrix's one job was `{"name": "run-93fc", "set": ""}`, a run of the workspace's own params."""
    assert yaml.safe_load((fresh_repo / "params.yaml").read_text())["train"]["model"] == "logreg"
    alone = run(["mlops", "exp", "sweep", "train.hgb.max_iter=100,300", "--matrix"], fresh_repo, check=False)
    assert alone.returncode == 2 and alone.stdout == "", alone.stdout
    assert alone.stderr.splitlines() == [
        "error: sweep axis train.hgb.max_iter: no point of the grid reads it, each trains logreg "
        "(train.model in params.yaml)",
        "  hint: sweep that model too: add train.model=hgb to the grid",
    ], alone.stderr
    grid = ["train.model=logreg", "train.hgb.max_iter=100,300", "train.hgb.learning_rate=0.1", "seed=1,2"]
    with_model = run(["mlops", "exp", "sweep", *grid, "--matrix"], fresh_repo, check=False)
    assert with_model.returncode == 2 and with_model.stderr.splitlines() == [
        "error: sweep axis train.hgb.max_iter, train.hgb.learning_rate: no point of the grid reads them, each "
        "trains logreg (its train.model axis)",
        "  hint: sweep that model too: give the train.model axis train.model=logreg,hgb",
    ], with_model.stderr
    assert run(["git", "for-each-ref", "refs/exps"], fresh_repo).stdout == ""
