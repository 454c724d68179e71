"""The sweep as a CI job matrix: one job per grid point, in the grid's order."""

import pytest

from pipeline.errors import UserError
from pipeline.experiments.settings import ci_matrix, expand_grid


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
