"""The sweep as a CI job matrix: one job per grid point, in the grid's order."""

from pathlib import Path

import pytest
import yaml

from pipeline.errors import UserError
from pipeline.experiments.settings import ci_matrix, expand_grid, typed_settings
from pipeline.params import read_params_yaml


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
