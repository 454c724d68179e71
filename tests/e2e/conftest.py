"""Fixtures of the end-to-end tests, built once per run: a trained copy whose data source is a file, and one with a
second model on a branch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import clone_repo, run, shared_template
from tests.e2e.data_helpers import lending_frame, mlops


@pytest.fixture(scope="session")
def file_sourced_template(tmp_path_factory, trained_template) -> Path:
    """The trained copy with the real loans added as a CSV source (`mlops data add`), trained and committed."""

    def build(repo: Path) -> None:
        clone_repo(trained_template, repo)
        loans_csv = repo.parent / "loans.csv"
        lending_frame().to_csv(loans_csv, index=False)
        mlops(repo, "data", "add", str(loans_csv), "--drop", "rownames")
        mlops(repo, "repro")
        run("git add -A && git commit -q --no-verify -m 'loans as a file'", repo)

    return shared_template(tmp_path_factory, "file-sourced", build)


@pytest.fixture
def file_sourced(tmp_path, file_sourced_template) -> Path:
    """This test's own copy of the file-sourced, trained project."""
    return clone_repo(file_sourced_template, tmp_path / "repo")


@pytest.fixture(scope="session")
def two_models_template(tmp_path_factory, trained_template) -> Path:
    """The trained copy committed on main, and a branch `candidate` whose model is another (C: 0.03, trained)."""

    def build(repo: Path) -> None:
        clone_repo(trained_template, repo)
        run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
        run("git switch -q -c candidate && sed -i 's/C: 0.01/C: 0.03/' params.yaml && mlops repro", repo)
        run("git add -A && git commit -q --no-verify -m 'C: 0.03' && git switch -q main && dvc checkout -q", repo)

    return shared_template(tmp_path_factory, "two-models", build)


@pytest.fixture
def two_models(tmp_path, two_models_template) -> Path:
    """This test's own copy of `two_models_template`, on main."""
    return clone_repo(two_models_template, tmp_path / "repo")
