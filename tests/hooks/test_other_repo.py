"""The hooks used from another repository through `.pre-commit-hooks.yaml`, by `repo:` path and `rev:` as
pre-commit users do: pre-commit builds their environment from this project's core install (PyYAML only), and
the advice they print fits a repository without the `mlops` CLI."""

from __future__ import annotations

import pytest

from tests.conftest import run, test_env
from tests.hooks.conftest import MINIMAL_PATH, commit, output, write


@pytest.mark.slow  # pre-commit builds the hooks' environment with pip (tens of seconds)
def test_a_plain_repository_gets_dvc_advice_and_an_mlops_user_gets_mlops_advice(fresh_repo, tmp_path):
    rev = run(["git", "rev-parse", "HEAD"], fresh_repo).stdout.strip()
    plain = tmp_path / "plain"
    plain.mkdir()
    run(["git", "init", "-q"], plain)
    write(
        plain,
        ".pre-commit-config.yaml",
        f"repos:\n- repo: {fresh_repo}\n  rev: {rev}\n  hooks:\n  - id: staged-files\n"
        "  - id: block-untracked-data\n  - id: no-secrets-in-dvc-config\n",
    )
    home = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    run(["pre-commit", "install"], plain, env=test_env(**home))
    assert commit(plain, ".pre-commit-config.yaml", env=test_env(**home)).returncode == 0

    # A user without mlops (the project's venv not on the PATH): DVC's own commands.
    without_mlops = test_env(PATH=MINIMAL_PATH, **home)
    without_mlops.pop("VIRTUAL_ENV", None)
    write(plain, "data/loans.csv", "id,amount\n1,2\n")
    result = commit(plain, "data/loans.csv", env=without_mlops)
    text = output(result)
    assert result.returncode != 0, text
    assert "git rm --cached data/loans.csv && dvc add data/loans.csv" in text
    assert "mlops" not in text
    assert text.count("data/loans.csv") >= 2  # both hooks refuse it (staged-files and block-untracked-data)

    # The same repository for a user who has mlops installed: its command.
    result = commit(plain, env=test_env(**home))
    assert result.returncode != 0 and "mlops data add data/loans.csv" in output(result)

    # The other checks work there too, and an ordinary file passes.
    run(["git", "reset", "-q", "--", "data/loans.csv"], plain)
    write(plain, "key.pem", "-----BEGIN RSA PRIVATE" + " KEY-----\nabc\n")
    assert "key.pem: holds a private key" in output(commit(plain, "key.pem", env=without_mlops))
    run(["git", "reset", "-q", "--", "key.pem"], plain)
    write(plain, "notes.md", "An ordinary change.\n")
    result = commit(plain, "notes.md", env=without_mlops)
    assert result.returncode == 0, output(result)
