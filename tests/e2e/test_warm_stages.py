"""Stages run in warm forks of `mlops` (pipeline.experiments.warm_stages) give DVC's own answer, run the copy's
code, and subset runs are cheaper yet judged on the same test split."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.experiments.warm_stages import stage_of
from tests.conftest import run, test_env


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


def stage_code(repo: Path, stage: str, body: str) -> None:
    """Replace the copy's `stage` module with `body` (the runner's forks run the copy's code)."""
    (repo / "pipeline" / "stages" / f"{stage}.py").write_text(body)


STAGE_THAT_WAITS = "import os, time\nopen('stage.pid', 'w').write(str(os.getpid()))\ntime.sleep(120)\n"
WHEN_IT_STARTED = """
import os, sys, time
from pipeline.experiments.warm_stages import StageRunner
runner = StageRunner(("train",))
runner.go(("train",), os.getcwd(), dict(os.environ), os.getcwd())
while not os.path.exists("stage.pid") or not open("stage.pid").read():
    time.sleep(0.01)
"""


@pytest.fixture(params=["served", "forked"])
def runner_env(request) -> dict[str, str]:
    """Each runner test twice: with the runner forked by the warm stage server, and forked by the command itself."""
    return test_env() if request.param == "served" else test_env(MLOPS_STAGE_SERVER="0")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_runner_stopped_at_once_has_ended_and_reaped_its_stage_when_stop_returns(fresh_repo, runner_env):
    """A stop of `mlops` ends the stage before the journal puts the workspace back: nothing may still be writing."""
    stage_code(fresh_repo, "train", STAGE_THAT_WAITS)
    script = (
        WHEN_IT_STARTED + "runner.stop(at_once=True)\nprint(os.path.exists(f'/proc/{open(\"stage.pid\").read()}'))\n"
    )
    result = run([sys.executable, "-c", script], fresh_repo, timeout=120, env=runner_env)
    assert result.stdout.split() == ["False"], result.stdout + result.stderr


def test_a_runner_whose_caller_is_killed_takes_its_stage_along(fresh_repo, runner_env):
    """SIGKILL gives `mlops` no chance to end anything: the runner and its stage end with it, however it ends."""
    stage_code(fresh_repo, "train", STAGE_THAT_WAITS)
    result = run(
        [sys.executable, "-c", WHEN_IT_STARTED + "os.kill(os.getpid(), 9)\n"], fresh_repo, check=False, env=runner_env
    )
    assert result.returncode == -9, result.stderr
    stage = int((fresh_repo / "stage.pid").read_text())
    deadline = time.monotonic() + 30
    while alive(stage) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(stage)


def test_a_stage_writes_to_the_callers_output_as_it_is_when_the_stage_runs(fresh_repo, runner_env):
    """The runner starts before the command has its final output (a reader of `mlops ... | head` that went away
    turns it into /dev/null): the stage's print goes where the caller's output goes when it runs."""
    stage_code(fresh_repo, "ingest", "print('from the stage', flush=True)\n")
    script = """
import os, sys
from pipeline.experiments.warm_stages import StageRunner
runner = StageRunner(("ingest",))
os.dup2(os.open("later.txt", os.O_WRONLY | os.O_CREAT), 1)
status = runner.run(("ingest",), os.getcwd(), dict(os.environ), os.getcwd())
runner.stop()
print(status, file=sys.stderr)
"""
    result = run([sys.executable, "-c", script], fresh_repo, timeout=120, env=runner_env)
    assert result.stderr.split() == ["0"], result.stderr
    assert "from the stage" not in result.stdout
    assert (fresh_repo / "later.txt").read_text() == "from the stage\n"


def test_a_runner_of_a_command_that_ignores_ctrl_c_ignores_it_too(fresh_repo, runner_env):
    """`mlops ... &` in a script ignores Ctrl-C, and so does its stage runner: a SIGINT fails no stage."""
    stage_code(fresh_repo, "ingest", "print('ran', flush=True)\n")
    script = """
import os, signal, sys
from pipeline.experiments.warm_stages import StageRunner
signal.signal(signal.SIGINT, signal.SIG_IGN)
runner = StageRunner(("ingest",))
first = runner.run(("ingest",), os.getcwd(), dict(os.environ), os.getcwd())  # the runner is serving by now
os.kill(runner.pid, signal.SIGINT)
second = runner.run(("ingest",), os.getcwd(), dict(os.environ), os.getcwd())
runner.stop()
print(first, second, file=sys.stderr)
"""
    result = run([sys.executable, "-c", script], fresh_repo, timeout=120, env=runner_env)
    assert (result.stdout, result.stderr.split()) == ("ran\nran\n", ["0", "0"]), result.stderr
