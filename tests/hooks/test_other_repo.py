"""The hooks used from another repository through `.pre-commit-hooks.yaml`, by `repo:` path and `rev:` as
pre-commit users do: pre-commit builds their environment from this project's core install (PyYAML only), and
the advice they print fits a repository without the `mlops` CLI."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, run, test_env
from tests.hooks.conftest import MINIMAL_PATH, commit, output, write


@pytest.mark.slow  # pre-commit builds the hooks' environment with pip (tens of seconds)
def test_a_plain_repository_gets_dvc_advice_even_for_an_mlops_user(fresh_repo, tmp_path):
    rev = run(["git", "rev-parse", "HEAD"], fresh_repo).stdout.strip()
    plain = tmp_path / "plain"
    plain.mkdir()
    run(["git", "init", "-q"], plain)
    write(
        plain,
        ".pre-commit-config.yaml",
        f"repos:\n- repo: {fresh_repo}\n  rev: {rev}\n  hooks:\n  - id: staged-files\n"
        "  - id: block-untracked-data\n  - id: no-secrets-in-dvc-config\n  - id: dvc-post-checkout\n",
    )
    home = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    run(["pre-commit", "install", "-t", "pre-commit", "-t", "post-checkout"], plain, env=test_env(**home))
    assert commit(plain, ".pre-commit-config.yaml", env=test_env(**home)).returncode == 0

    # A user without mlops (the project's venv not on the PATH): DVC's own commands.
    without_mlops = test_env(PATH=MINIMAL_PATH, **home)
    without_mlops.pop("VIRTUAL_ENV", None)
    write(plain, "data/loans.csv", "id,amount\n1,2\n")
    result = commit(plain, "data/loans.csv", env=without_mlops)
    text = output(result)
    assert result.returncode != 0, text
    assert "git rm --cached data/loans.csv && dvc init && dvc add data/loans.csv" in text  # no DVC here yet
    assert "mlops" not in text
    assert text.count("data/loans.csv") >= 2  # both hooks refuse it (staged-files and block-untracked-data)

    # A user who has mlops installed: its `mlops data add` would fail on this repository's params.yaml.
    run(["dvc", "init", "-q"], plain)
    result = commit(plain, env=test_env(**home))
    text = output(result)
    assert result.returncode != 0 and "git rm --cached data/loans.csv && dvc add data/loans.csv" in text, text
    assert "mlops" not in text

    # The other checks work there too, and an ordinary file passes.
    run(["git", "reset", "-q", "--", "data/loans.csv"], plain)
    write(plain, "key.pem", "-----BEGIN RSA PRIVATE" + " KEY-----\nabc\n")
    assert "key.pem: holds a private key" in output(commit(plain, "key.pem", env=without_mlops))
    run(["git", "reset", "-q", "--", "key.pem"], plain)
    write(plain, "notes.md", "An ordinary change.\n")
    result = commit(plain, "notes.md", env=without_mlops)
    assert result.returncode == 0, output(result)

    # A switch from a GUI without DVC on the PATH (the hook's environment has none): said with the fix, no traceback.
    write(plain, "more.md", "Another change.\n")
    assert commit(plain, "more.md", env=without_mlops).returncode == 0
    switched = run(["git", "checkout", "-q", "HEAD~1"], plain, check=False, env=without_mlops)
    text = output(switched)
    assert switched.returncode == 1 and "dvc-post-checkout: no DVC to run" in text, text
    assert "Traceback" not in text and "additional_dependencies: [dvc]" in text
    assert "Stashing" not in text  # the commit-time hooks do not run at a checkout


def test_each_hook_runs_only_at_its_own_git_hook():
    """A repository that installs pre-commit for post-checkout and pre-push (for dvc-post-checkout and dvc-pre-push)
    ran the commit-time hooks, and stashed its changes, on every switch and push."""
    from pre_commit.clientlib import load_manifest  # validates as pre-commit does when it installs the hooks

    stages = {hook["id"]: hook["stages"] for hook in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}
    assert stages.pop("dvc-post-checkout") == ["post-checkout"] and stages.pop("dvc-pre-push") == ["pre-push"]
    assert stages.pop("pushed-files") == ["pre-push"]
    assert stages.pop("staged-files") == ["pre-commit", "pre-merge-commit"]  # a merge: all it brings
    assert stages and all(hook_stages == ["pre-commit"] for hook_stages in stages.values()), stages
