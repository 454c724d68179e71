"""Stages run in warm forks of `mlops` (pipeline.experiments.warm_stages) give DVC's own answer, run the copy's
code, and subset runs are cheaper yet judged on the same test split."""

import json
import subprocess
from pathlib import Path

import pytest

from pipeline.experiments.warm_stages import stage_of
from tests.conftest import run


def tracked_changes(repo: Path) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=no"], repo).stdout


def test_only_exact_project_stage_commands_run_warm():
    assert stage_of("python -m pipeline.stages.train") == "train"
    assert stage_of("  python -m pipeline.stages.evaluate\n") == "evaluate"
    for other in ("python -m pipeline.stages.train --fast", "python3 -m pipeline.stages.train", "make train"):
        assert stage_of(other) is None


@pytest.mark.slow
def test_warm_run_writes_what_dvc_repro_in_new_processes_writes(repo):
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "trained by mlops repro (warm)"], repo)
    lock = (repo / "dvc.lock").read_bytes()

    cold = run(["dvc", "repro", "--force"], repo)  # DVC's own runner: a shell and a new Python per stage

    assert "Running stage 'evaluate'" in cold.stdout
    assert (repo / "dvc.lock").read_bytes() == lock
    assert tracked_changes(repo) == ""


def test_warm_fork_runs_the_stage_code_in_the_repo_not_the_installed_one(repo):
    stage = repo / "pipeline" / "stages" / "evaluate.py"
    stage.write_text(stage.read_text().replace("## Limits", "## Limits (edited in this copy)"))
    result = run(["mlops", "repro"], repo)
    assert "evaluate  ran" in result.stdout
    assert "## Limits (edited in this copy)" in (repo / "reports" / "model_card.md").read_text()


def test_failing_stage_in_a_warm_fork_fails_the_run_with_its_message(repo):
    stage = repo / "pipeline" / "stages" / "evaluate.py"
    stage.write_text(stage.read_text().replace("    params = load_params()\n", "    raise RuntimeError('boom')\n", 1))
    lock = (repo / "dvc.lock").read_bytes()
    result = subprocess.run(["mlops", "repro"], cwd=repo, capture_output=True, text=True)
    assert result.returncode != 0
    assert "RuntimeError: boom" in result.stderr + result.stdout
    assert (repo / "dvc.lock").read_bytes() == lock


def test_subset_run_skips_importance_but_scores_the_same_test_split(repo):
    workspace_metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    result = run(["mlops", "repro", "--subset", "0.1"], repo)
    name = next(word for word in result.stdout.split() if word.startswith("subset-"))
    ref = run(["git", "for-each-ref", "--format=%(refname)", f"refs/exps/**/{name}"], repo).stdout.strip()
    metrics = json.loads(run(["git", "show", f"{ref}:reports/metrics.json"], repo).stdout)
    card = run(["git", "show", f"{ref}:reports/model_card.md"], repo).stdout

    assert metrics["test_rows"] == workspace_metrics["test_rows"]
    assert metrics["importance_rows"] == 0 and workspace_metrics["importance_rows"] > 0
    assert "Permutation importance was skipped" in card and "subset run" in card
    assert metrics["roc_auc_ci_low"] < metrics["roc_auc"] < metrics["roc_auc_ci_high"]
