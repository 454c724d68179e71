"""Fixtures of the end-to-end tests: a trained copy whose data source is a file, built once per run."""

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
