"""The hooks used from another repository through `.pre-commit-hooks.yaml`, by `repo:` path and `rev:` as
pre-commit users do: pre-commit builds their environment from this project's core install (PyYAML only), and
the advice they print fits a repository without the `mlops` CLI."""

from __future__ import annotations

import tomllib

import pytest
import yaml

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
    assert stages.pop("pushed-files") == ["pre-push"] and stages.pop("pushed-lock") == ["pre-push"]
    assert stages.pop("staged-files") == ["pre-commit", "pre-merge-commit"]  # a merge: all it brings
    assert stages and all(hook_stages == ["pre-commit"] for hook_stages in stages.values()), stages


def test_each_git_push_and_checkout_hook_of_this_repository_is_offered_with_its_console_script():
    """pushed-lock ran in this repository only: other repositories had no id for it in `.pre-commit-hooks.yaml`
    and no console script to run. Each offered hook runs, by its console script, the module this repository runs."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    offered = {
        hook["id"]: hook["entry"].split()[0] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    }
    local = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    for hook in local:
        if hook["id"] in offered:
            module = hook["entry"].split(" -m ")[1].split()[0]
            assert scripts[offered[hook["id"]]] == f"{module}:main", hook["id"]
    for hook in local:
        if {"pre-push", "post-checkout"} & set(hook.get("stages", [])):
            assert hook["id"] in offered, f"{hook['id']} is not in .pre-commit-hooks.yaml"


@pytest.mark.slow  # pre-commit builds the hooks' environment with pip (tens of seconds)
def test_another_repository_pushes_through_pushed_lock_with_dvc_advice(fresh_repo, tmp_path):
    """pushed-lock from `.pre-commit-hooks.yaml` in a plain DVC repository: a push without params.yaml or dvc.lock
    (a stage declared, never run) passes quietly, a lock retrained for its params passes, and a params change pushed
    without its retrain is refused with DVC's own commands (no `mlops`, which that repository cannot run)."""
    rev = run(["git", "rev-parse", "HEAD"], fresh_repo).stdout.strip()
    plain = tmp_path / "plain"
    plain.mkdir()
    run(["git", "init", "-q", "-b", "main"], plain)
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], plain)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], plain)
    write(
        plain, ".pre-commit-config.yaml", f"repos:\n- repo: {fresh_repo}\n  rev: {rev}\n  hooks:\n  - id: pushed-lock\n"
    )
    home = {"PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    run(["pre-commit", "install", "-t", "pre-push"], plain, env=test_env(**home))
    without_mlops = test_env(PATH=MINIMAL_PATH, **home)
    without_mlops.pop("VIRTUAL_ENV", None)

    write(plain, "dvc.yaml", "stages:\n  train:\n    cmd: echo trained > model.txt\n    params: [lr]\n")
    assert commit(plain, ".pre-commit-config.yaml", "dvc.yaml").returncode == 0  # never run: no params, no lock
    pushed = run(["git", "push", "-q", "origin", "main"], plain, check=False, env=without_mlops)
    assert pushed.returncode == 0 and "pushed-lock:" not in output(pushed), output(pushed)

    run(["dvc", "init", "-q"], plain)
    write(plain, "params.yaml", "lr: 0.1\n")
    write(
        plain,
        "dvc.yaml",
        "stages:\n  train:\n    cmd: echo trained > model.txt\n    params: [lr]\n"
        "    outs:\n    - model.txt:\n        cache: false\n",
    )
    run(["dvc", "repro", "-q"], plain)
    assert commit(plain, ".").returncode == 0
    pushed = run(["git", "push", "-q", "origin", "main"], plain, check=False, env=without_mlops)
    assert pushed.returncode == 0 and "pushed-lock:" not in output(pushed), output(pushed)

    write(plain, "params.yaml", "lr: 0.2\n")
    assert commit(plain, "params.yaml").returncode == 0
    stale = run(["git", "rev-parse", "HEAD"], plain).stdout.strip()
    for env in (without_mlops, test_env(**home)):  # a user of mlops too: this repository is not its project
        refused = run(["git", "push", "-q", "origin", "main"], plain, check=False, env=env)
        text = output(refused)
        assert refused.returncode != 0 and f"pushed-lock: the pushed commit {stale[:12]} records params" in text, text
        assert "  train: param lr changed (0.1 -> 0.2)\n" in text, text
        assert "`dvc repro`, then `git add dvc.lock model.txt && git commit`; then push again" in text, text
        assert "mlops repro" not in text and "Traceback" not in text, text
