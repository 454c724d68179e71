"""All or nothing under every signal that can stop a command: SIGTERM (`timeout`, CI cancellation, `docker stop`),
SIGHUP (a closed terminal) and SIGINT sent to the real process group in the middle of a stage, and SIGKILL
followed by the next command. dvc.lock, models/, reports/ and the DVC cache end as before the run."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import hangups_as_from_a_terminal, run, test_env
from tests.e2e.data_helpers import lending_frame
from tests.e2e.test_serve import free_port
from tests.reliability.helpers import Snapshot
from tests.reliability.test_faults import (
    assert_model_whole,
    make_train_stale,
    running,
    start_in_own_session,
    start_mlops,
    wait_for_stage,
)

JOURNAL = Path(".dvc/tmp/mlops-journal")


def make_evaluate_stale(repo: Path) -> None:
    """Evaluate alone to run, for seconds (100 shuffles of each feature), so a signal can reach it mid-run."""
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("importance_repeats: 5", "importance_repeats: 100", 1))


def stop(process: subprocess.Popen, signum: int) -> str:
    os.killpg(process.pid, signum)
    output, _ = process.communicate(timeout=300)
    return output


def stop_alone(process: subprocess.Popen, signum: int) -> str:
    os.kill(process.pid, signum)
    output, _ = process.communicate(timeout=300)
    return output


def read_until(process: subprocess.Popen, text: str) -> str:
    """The command's output up to the end of the first line holding `text`."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if text in line:
            return "".join(lines)
    pytest.fail(f"the command ended before it printed {text!r}:\n{''.join(lines)}{process.communicate()[0]}")


def git_state(repo: Path) -> tuple[str, str]:
    head = run(["git", "rev-parse", "HEAD"], repo).stdout
    return head, run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout


def assert_stopped_cleanly(process: subprocess.Popen, output: str) -> None:
    assert process.returncode != 0, output
    assert "Traceback" not in output, output


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the command ended before {what}:\n{process.communicate()[0]}")
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_signal_during_evaluate_keeps_the_reports(repo, signum):
    snapshot = Snapshot(repo)
    make_evaluate_stale(repo)
    process = start_mlops(repo, "repro")
    wait_for_stage(repo, "evaluate", process)
    time.sleep(0.5)  # inside evaluate, its outputs deleted by DVC
    output = stop(process, signum)

    assert_stopped_cleanly(process, output)
    assert "as they were before the run" in output, output
    snapshot.assert_unchanged()
    assert not (repo / JOURNAL).exists()
    assert (repo / "reports" / "metrics.json").is_file() and list((repo / "reports" / "plots").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_of_mlops_alone_ends_its_stage_before_putting_back(repo, signum):
    """`kill PID`, `timeout` or a closed terminal reach the `mlops` process alone, not its stage: the stage must
    be ended and reaped before the reports are put back, or it writes the run's reports over them."""
    snapshot = Snapshot(repo)
    make_train_stale(repo)
    process = start_mlops(repo, "repro")
    stage = wait_for_stage(repo, "evaluate", process)
    output = stop_alone(process, signum)

    assert_stopped_cleanly(process, output)
    assert "as they were before the run" in output, output
    assert not Path(f"/proc/{stage}").exists(), "the stage was left running or unreaped"
    time.sleep(1)  # what a stage left running would write, it writes now
    snapshot.assert_unchanged()
    assert "evaluate" not in run(["dvc", "status"], repo).stdout  # train stale (params), evaluate's outputs whole


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [True, False], ids=["group", "mlops-alone"])
def test_ctrl_c_as_train_starts_stops_the_run(repo, to_group):
    """Ctrl-C while `mlops` itself still prepares the stage (DVC's main catches the KeyboardInterrupt) or waits
    for it: the run stops, is put back, and says it was stopped, not that something failed."""
    snapshot = Snapshot(repo)
    make_train_stale(repo)
    process = start_mlops(repo, "repro")
    seen = read_until(process, "Running stage 'train'")
    output = seen + (stop(process, signal.SIGINT) if to_group else stop_alone(process, signal.SIGINT))

    assert process.returncode == 128 + signal.SIGINT, output
    assert "Stopped by SIGINT: the files it changes are as they were before the run" in output, output
    assert "fix it" not in output and "Traceback" not in output, output
    snapshot.assert_unchanged()
    assert not (repo / JOURNAL).exists()


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["ingest", "validate", "split", "train"])
def test_sigterm_during_each_stage_of_a_forced_run(repo, stage):
    snapshot = Snapshot(repo)
    process = start_mlops(repo, "repro", "--force")
    wait_for_stage(repo, stage, process)
    time.sleep(0.2)
    output = stop(process, signal.SIGTERM)

    assert_stopped_cleanly(process, output)
    snapshot.assert_unchanged()
    assert "up to date" in run(["dvc", "status"], repo).stdout.lower()


def killed_mid_train(repo: Path) -> None:
    """A params change, and `mlops repro` SIGKILLed as train runs: its journal is left for the next command."""
    make_train_stale(repo)
    process = start_mlops(repo, "repro")
    wait_for_stage(repo, "train", process)
    time.sleep(0.5)
    stop(process, signal.SIGKILL)
    assert (repo / JOURNAL).is_dir(), "no journal was left for the next command"


@pytest.mark.slow
def test_sigkill_mid_train_is_undone_by_the_next_command(repo):
    snapshot = Snapshot(repo)
    killed_mid_train(repo)

    status = run(["mlops", "status"], repo)

    assert "stopped before it finished" in status.stderr and "mlops repro" in status.stderr, status.stderr
    snapshot.assert_unchanged()
    assert not (repo / JOURNAL).exists()
    run(["git", "checkout", "--", "params.yaml"], repo)
    assert_model_whole(repo)


@pytest.mark.slow
@pytest.mark.parametrize(("cache", "signum"), [("cleared", signal.SIGTERM), ("corrupted", signal.SIGKILL)])
def test_a_stopped_run_puts_back_the_model_its_cache_lacks_or_holds_corrupted(repo, cache, signum):
    """The model came back from DVC's cache alone: with the cache cleared (`rm -rf .dvc/cache`, `dvc gc`) a stop
    mid-train lost it, with its cached object corrupted the bad bytes replaced a good model, while the run said
    everything was as before."""
    model = repo / "models" / "model.skops"
    before = model.read_bytes()
    if cache == "cleared":
        shutil.rmtree(repo / ".dvc" / "cache")
    else:
        md5 = hashlib.md5(before).hexdigest()
        cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
        cached.chmod(0o644)
        cached.write_bytes(before[:1000] + bytes(byte ^ 0xFF for byte in before[1000:1004]) + before[1004:])
    snapshot = Snapshot(repo)
    make_train_stale(repo)
    process = start_mlops(repo, "repro")
    wait_for_stage(repo, "train", process)
    time.sleep(0.3)
    output = stop(process, signum)
    if signum == signal.SIGKILL:
        output = run(["mlops", "status"], repo).stderr
        assert "stopped before it finished" in output, output
    else:
        assert_stopped_cleanly(process, output)
    assert model.read_bytes() == before, output
    snapshot.assert_unchanged()
    run(["git", "checkout", "--", "params.yaml"], repo)
    assert run(["mlops", "status"], repo).stdout.startswith("Pipeline is up to date")


@pytest.mark.slow
def test_sigkill_as_an_experiment_is_queued_leaves_no_params_of_it_in_the_workspace(repo):
    """DVC queues a temporary experiment by setting its params in the workspace's params.yaml, stashing the workspace
    and detaching HEAD, then putting them back: killed in between, the experiment's params stayed, staged, and the
    next experiment (or `mlops repro`) trained on them."""
    snapshot = Snapshot(repo)
    process = start_mlops(repo, "exp", "run", "-S", "train.logreg.C=0.5")
    deadline = time.monotonic() + 120
    while "C: 0.5" not in (repo / "params.yaml").read_text() and process.poll() is None:
        assert time.monotonic() < deadline, "the experiment's params never reached the workspace"
        time.sleep(0.002)
    stop(process, signal.SIGKILL)
    assert (repo / JOURNAL).is_dir(), "no journal was left for the next command"

    status = run(["mlops", "status"], repo)

    assert "stopped before it finished" in status.stderr and "`mlops exp run` (pid " in status.stderr, status.stderr
    assert status.stdout.startswith("Pipeline is up to date"), status.stdout
    snapshot.assert_unchanged()
    assert run(["git", "diff", "--cached", "--name-only"], repo).stdout == ""
    assert run(["git", "symbolic-ref", "--short", "HEAD"], repo).stdout.strip() == "main"


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.slow
def test_a_sweep_killed_outright_as_a_run_is_queued_leaves_no_params_of_it_in_the_workspace(repo):
    """A sweep's runs are queued by DVC as `mlops exp run`'s are, but were not journalled: the sweep and its runs
    killed outright then (an OOM kill, the end of their cgroup), the point's params stayed in params.yaml, staged,
    HEAD detached, and `mlops status` called train stale. The next command names the sweep, the command the user ran
    (it named `mlops exp run`), by the sweep's pid (it named the killed run's, a process the user never started)."""
    snapshot = Snapshot(repo)
    process = start_mlops(repo, "exp", "sweep", "train.logreg.C=0.5", "--jobs", "1")
    deadline = time.monotonic() + 120
    while "C: 0.5" not in (repo / "params.yaml").read_text() and process.poll() is None:
        assert time.monotonic() < deadline, "the point's params never reached the workspace"
        time.sleep(0.002)
    for pid in children(process.pid):
        os.kill(pid, signal.SIGKILL)
    stop(process, signal.SIGKILL)
    assert (repo / JOURNAL).is_dir(), "no journal was left for the next command"

    status = run(["mlops", "status"], repo)

    said = f"`mlops exp sweep` (pid {process.pid}) was stopped before it finished"
    assert said in status.stderr, status.stderr
    assert status.stdout.startswith("Pipeline is up to date"), status.stdout
    snapshot.assert_unchanged()
    assert run(["git", "diff", "--cached", "--name-only"], repo).stdout == ""
    assert run(["git", "symbolic-ref", "--short", "HEAD"], repo).stdout.strip() == "main"


@pytest.mark.slow
@pytest.mark.parametrize("lock", ["as-left", "emptied"])
def test_a_commit_after_a_sigkill_mid_train_leaves_the_putting_back_to_mlops(hooked, lock):
    """The commit's retrain put the killed run's files back inside the hook, where pre-commit had set them aside:
    pre-commit then laid the part-written files back over (an empty dvc.lock, or one recording a model that was not
    there), and the hook called them the user's unstaged edits, to `git add`. A kill as DVC writes dvc.lock (it
    truncates it first) leaves it empty, which the hook told the user to put back by hand."""
    snapshot = Snapshot(hooked)
    killed_mid_train(hooked)
    (hooked / "reports/train_metrics.json").write_text('{"train_rows": 1}\n')  # as the run may have rewritten it
    if lock == "emptied":
        (hooked / "dvc.lock").write_text("")

    refused = run(["git", "commit", "-qam", "C 0.02"], hooked, check=False)  # `-a` stages it: not the user's edit
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "killed before it finished" in output and "mlops status" in output, output
    assert "unstaged edits" not in output and (hooked / JOURNAL).is_dir(), output
    assert "stopped before it finished" in run(["mlops", "status"], hooked).stderr
    run(["git", "stash", "-q"], hooked)  # the params edit aside: the workspace is as before the killed run
    snapshot.assert_unchanged()
    run(["git", "stash", "pop", "-q"], hooked)
    retrained = run(["git", "commit", "-qam", "C 0.02"], hooked, check=False)
    assert retrained.returncode != 0 and "retrained" in retrained.stdout + retrained.stderr
    assert run(["git", "commit", "-qam", "C 0.02"], hooked, check=False).returncode == 0  # as the hook says
    assert_model_whole(hooked)


@pytest.mark.slow
def test_status_during_a_run_says_another_command_is_at_work(repo):
    """A run's half-made workspace (its model deleted, dvc.lock not yet written) looked stale, and nothing said a run
    was at work: after a SIGKILL of a commit whose hook retrains, that run goes on alone for seconds."""
    snapshot = Snapshot(repo)
    make_train_stale(repo)
    process = start_mlops(repo, "repro")
    wait_for_stage(repo, "train", process)
    status = run(["mlops", "status"], repo).stdout
    assert f"Another mlops command is running here (pid {process.pid}: mlops repro)" in status, status
    said = stop(process, signal.SIGTERM)
    assert "Traceback" not in said, said
    # under load, the run may have completed as `mlops status` ran: then it keeps its changes and ends 0
    assert process.returncode != 0 or "once its changes were made: they are kept" in said, said
    assert "Another mlops command" not in run(["mlops", "status"], repo).stdout
    snapshot.assert_as_before_or_after_a_whole_run()


def test_status_while_a_run_writes_its_dvc_lock_says_so_instead_of_refusing_it(repo):
    """DVC writes dvc.lock in place: a `mlops status` reading it at that moment found it empty and refused it as a
    damaged file (exit 2), while a run was at work."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pipeline.versioning.journal import one_run_at_a_time\n"
            "with one_run_at_a_time('mlops repro'):\n    print('held', flush=True); time.sleep(30)",
        ],
        cwd=repo,
        env=test_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        lock = (repo / "dvc.lock").read_text()
        (repo / "dvc.lock").write_text("")  # as DVC has it for an instant, writing it
        status = run(["mlops", "status"], repo).stdout
        assert f"Another mlops command is running here (pid {holder.pid}: mlops repro)" in status, status
        assert "It was writing dvc.lock as this read it" in status, status
        (repo / "dvc.lock").write_text(lock)
    finally:
        holder.kill()
        holder.wait()
    refused = run(["mlops", "status"], repo, check=False)  # no run at work: still a damaged file
    assert refused.returncode == 0 and "Another mlops command" not in refused.stdout, refused.stdout
    (repo / "dvc.lock").write_text("")
    refused = run(["mlops", "status"], repo, check=False)
    assert refused.returncode == 2 and "dvc.lock is empty" in refused.stderr, refused.stderr


@pytest.mark.slow
def test_after_a_sigkill_recovery_the_next_run_warns_of_no_killed_process(repo):
    """DVC's lock file keeps what the killed run held: DVC's next run on those files dropped it with a warning
    naming `mlops repro` as a killed process, after the recovery had already said what happened."""
    make_train_stale(repo)
    process = start_mlops(repo, "repro")
    wait_for_stage(repo, "train", process)
    stop(process, signal.SIGKILL)
    assert str(process.pid) in (repo / ".dvc" / "tmp" / "rwlock").read_text()  # what DVC would warn of

    recovered = run(["mlops", "status"], repo)
    again = run(["mlops", "repro"], repo)

    assert "stopped before it finished" in recovered.stderr, recovered.stderr
    assert "Running stage 'train'" in again.stdout, again.stdout
    assert "had been killed" not in again.stdout + again.stderr, again.stdout + again.stderr
    assert str(process.pid) not in (repo / ".dvc" / "tmp" / "rwlock").read_text()


@pytest.mark.slow
def test_recovery_after_sigkill_keeps_what_the_user_did_to_git_since(repo):
    """Killed mid-run, then the user throws the params change away (`git reset --hard`): the next command puts
    the run's files back but must not stage the discarded change again from the journal's old copy of the index."""
    commit_workspace(repo)
    before, snapshot = git_state(repo), Snapshot(repo)
    make_train_stale(repo)
    run(["git", "add", "params.yaml"], repo)
    process = start_mlops(repo, "repro")
    wait_for_stage(repo, "train", process)
    stop(process, signal.SIGKILL)
    run(["git", "reset", "-q", "--hard", "HEAD"], repo)

    status = run(["mlops", "status"], repo)

    assert git_state(repo) == before, "the discarded params change is staged again"
    assert "stopped before it finished" in status.stderr and "left as it is" in status.stderr, status.stderr
    snapshot.assert_unchanged()
    assert not (repo / JOURNAL).exists()


CTRL_C_DURING_IMPORT = """
import os, signal, sys
from importlib.abc import MetaPathFinder

module = sys.argv[1]

class CtrlCWhileImporting(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == module:
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal delivers Ctrl-C, while the command still imports
        return None

sys.meta_path.insert(0, CtrlCWhileImporting())
sys.argv = ["mlops", *sys.argv[2:]]
from pipeline.cli import main
main()
"""


@pytest.mark.parametrize("module", ["pipeline.cli.commands", "pipeline.cli.exp"])
def test_ctrl_c_while_mlops_starts_is_one_line_and_status_130(fresh_repo, module):
    """Ctrl-C before the command has begun (it imports for a second or two) is said as Ctrl-C in a command is."""
    stopped = run(["python", "-c", CTRL_C_DURING_IMPORT, module, "exp", "-h"], fresh_repo, check=False)
    assert (stopped.returncode, stopped.stderr, stopped.stdout) == (130, "Aborted.\n", "")


def ended_soon(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


@pytest.mark.slow
def test_a_stage_ends_with_mlops_killed_alone(repo):
    """SIGKILL of the `mlops` process alone (an OOM kill, `kill -9 PID`): its stage must not run on, orphaned,
    writing outputs after the next command has put the workspace back."""
    snapshot = Snapshot(repo)
    params = repo / "params.yaml"  # a train of several seconds: 6,000 boosting iterations
    text = params.read_text().replace("  model: logreg", "  model: hgb", 1)
    params.write_text(text.replace("    max_iter: 300", "    max_iter: 6000", 1))
    process = start_mlops(repo, "repro")
    stage = wait_for_stage(repo, "train", process)
    os.kill(process.pid, signal.SIGKILL)

    assert ended_soon(stage, seconds=2), "the stage ran on after mlops was killed"
    process.communicate(timeout=60)  # (an orphaned stage would hold the output pipe open until it ended)
    run(["mlops", "status"], repo)  # puts the workspace back
    snapshot.assert_unchanged()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_a_subset_run_stopped_mid_train_leaves_no_experiment_scratch_or_stage(repo, signum):
    snapshot = Snapshot(repo)
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    process = start_mlops(repo, "repro", "--subset", "0.1")
    stage = wait_for_stage(repo, "train", process)
    os.kill(process.pid, signum)  # the command alone

    assert ended_soon(stage, seconds=2), "the subset's stage ran on after mlops was stopped"
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0 and "Traceback" not in output, output
    if signum == signal.SIGTERM:
        assert "Stopped by SIGTERM" in output, output
    else:  # nothing could clean up: the next subset run does
        run(["mlops", "repro", "--subset", "0.1"], repo)
        refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    assert not list((repo / ".dvc" / "tmp").glob("mlops-subset-*"))
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == refs
    snapshot.assert_unchanged()


def process_running(repo: Path, command_part: str) -> int | None:
    """The pid of a running process in `repo` whose command line holds `command_part`, if any."""
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().decode().replace("\0", " ")
            in_repo = Path(os.readlink(entry / "cwd")) == repo
        except (OSError, ValueError):
            continue
        if command_part in command and in_repo and running(int(entry.name)):
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_commit_stopped_while_the_hook_retrains_is_put_back_before_the_hook_ends(hooked, signum):
    snapshot = Snapshot(hooked)
    make_train_stale(hooked)
    run(["git", "add", "params.yaml"], hooked)
    staged = git_state(hooked)
    process = start_in_own_session(hooked, "git", "commit", "-qm", "C")
    wait_for_stage(hooked, "train", process)
    hook = process_running(hooked, "-m hooks.dvc_lock_sync repro")
    assert hook, "the dvc-lock-sync hook is not running"
    output = stop(process, signum)

    assert process.returncode != 0, output
    assert ended_soon(hook, seconds=120), "the hook did not end"
    assert not process_running(hooked, "pipeline hooks repro"), "the retraining outlived the hook"
    assert not (hooked / JOURNAL).exists(), "the hook ended before the workspace was put back"
    snapshot.assert_unchanged()
    assert git_state(hooked) == staged  # the params change still staged, nothing else changed


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_the_hook_passes_a_stop_on_to_the_whole_retrain(hooked, tmp_path, signum):
    """The stop the hook passes on reaches the retrain's running stage too, as a terminal's Ctrl-C reaches every
    process of its foreground job: DVC ignores Ctrl-C while a stage runs, so a Ctrl-C sent to the retrain's main
    process alone let the stage, then the whole retrain, run on. Its output goes to a file, where no reader can go
    away and end it in its place."""
    snapshot = Snapshot(hooked)
    make_train_stale(hooked)
    run(["git", "add", "params.yaml"], hooked)
    staged = git_state(hooked)
    with open(tmp_path / "hook.log", "w") as log:
        hook = subprocess.Popen(
            ["hooks/venv-python", "-m", "hooks.dvc_lock_sync", "repro"],
            cwd=hooked,
            env=test_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=hangups_as_from_a_terminal,
        )
        wait_for_stage(hooked, "train", hook)
        os.kill(hook.pid, signum)
        hook.wait(timeout=300)
    output = (tmp_path / "hook.log").read_text()
    assert hook.returncode != 0, output
    assert not process_running(hooked, "pipeline hooks repro"), "the retraining outlived the hook"
    assert not (hooked / JOURNAL).exists(), output
    snapshot.assert_unchanged()
    assert git_state(hooked) == staged


def commit_workspace(repo: Path) -> None:
    """Commit what training left changed (this checkout's dvc.lock may not reproduce byte for byte here)."""
    run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "trained", "--", "dvc.lock", "reports"], repo)


def test_sigterm_during_data_add_changes_nothing(repo, tmp_path):
    commit_workspace(repo)
    before, snapshot = git_state(repo), Snapshot(repo)
    params = (repo / "params.yaml").read_bytes()
    loans = tmp_path / "loans.csv"
    frame = lending_frame()
    frame.to_csv(loans, index=False)
    process = start_mlops(repo, "data", "add", str(loans), "--target", "Class", "--positive", "bad")
    wait_until(lambda: (repo / JOURNAL).is_dir(), process, "data add started writing")
    output = stop(process, signal.SIGTERM)

    assert_stopped_cleanly(process, output)
    assert git_state(repo) == before
    assert (repo / "params.yaml").read_bytes() == params
    assert not (repo / "data" / "external" / "loans.csv").exists()
    snapshot.assert_unchanged()


def pausing_git_hook(repo: Path, name: str) -> Path:
    """A git hook that says it started (a marker file), then waits: the command is caught half-way."""
    marker = repo.parent / f"{name}.started"
    hook = repo / ".git" / "hooks" / name
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\nsleep 120\n")
    hook.chmod(0o755)
    return marker


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_checkout_stopped_half_way_stays_where_it_was(repo, signum):
    commit_workspace(repo)
    run(["git", "tag", "v1"], repo)
    (repo / "data" / "extra.csv").write_text("a,b\n1,2\n")
    run(["dvc", "add", "-q", "data/extra.csv"], repo)
    run(["git", "add", "-A", "data"], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", "v2: a tracked data file"], repo)
    before, snapshot = git_state(repo), Snapshot(repo)
    marker = pausing_git_hook(repo, "post-checkout")  # git has moved HEAD and the files; DVC has not run yet

    process = start_mlops(repo, "checkout", "v1")
    wait_until(marker.exists, process, "git checkout moved HEAD")
    output = stop(process, signum)
    (repo / ".git" / "hooks" / "post-checkout").unlink()
    if signum == signal.SIGKILL:
        run(["mlops", "status"], repo)  # the next command puts things back
    else:
        assert_stopped_cleanly(process, output)

    assert git_state(repo) == before
    assert (repo / "data" / "extra.csv").read_text() == "a,b\n1,2\n"
    snapshot.assert_unchanged()
    assert_model_whole(repo)


def test_a_stop_inside_dvcs_import_still_puts_the_outputs_back(repo):
    """A stop signal that lands while `import dvc` runs leaves that import half done in the process (`dvc.logger`
    loaded, `dvc` gone): DVC cannot be imported there again, so putting outputs back must not need it."""
    commit_workspace(repo)
    snapshot = Snapshot(repo)
    stopped_in_import = """
import signal, sys
from pathlib import Path
from pipeline.versioning import journal
with journal.all_or_nothing("mlops repro"):
    Path("models/model.skops").unlink()
    import dvc.logger
    del sys.modules["dvc"]  # what Python leaves when an exception (here: the stop) ends `import dvc` half-way
    raise journal.Stopped(signal.SIGTERM)
"""
    result = run(["python", "-c", stopped_in_import], repo, check=False)

    assert "journal.Stopped" in result.stderr and "AttributeError" not in result.stderr, result.stderr
    assert_model_whole(repo)
    snapshot.assert_unchanged()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_experiment_leaves_no_experiment_and_no_temporary_workspace(repo, signum):
    before = Snapshot(repo)
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    process = start_mlops(repo, "exp", "run", "-S", "train.logreg.C=0.4")
    read_until(process, "Running stage 'train'")
    output = stop(process, signum)
    assert process.returncode == 128 + signum, output
    assert f"Stopped by {signal.Signals(signum).name}" in output and "failed" not in output, output
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == refs  # no row, no "Running" ghost
    assert not list((repo / ".dvc" / "tmp" / "exps" / "standalone").glob("tmp*"))
    before.assert_unchanged()


def test_an_experiment_stopped_while_dvc_makes_its_copy_leaves_no_copy(repo):
    """Stopped after DVC made the run's temporary copy of the workspace and before its run (and its cleanup)
    began, DVC left the copy for good."""
    copies = repo / ".dvc" / "tmp" / "exps" / "standalone"
    process = start_mlops(repo, "exp", "run", "-S", "train.logreg.C=0.4")
    wait_until(lambda: any(copies.glob("tmp*")), process, "DVC makes the temporary copy")
    output = stop(process, signal.SIGTERM)

    assert process.returncode == 128 + signal.SIGTERM and "Traceback" not in output, output
    assert not list(copies.glob("tmp*"))
    assert not experiment_names(repo)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_subset_run_of_a_stale_workspace_stopped_mid_train_cleans_up_as_it_ends(repo, signum):
    """The subset run DVC makes (`dvc exp run --temp`, a stage being stale) had no handler for SIGTERM: the process
    died as if killed, leaving its "Running" row and temporary copy; Ctrl-C was reported as a failure to fix."""
    make_train_stale(repo)
    before = Snapshot(repo)
    process = start_mlops(repo, "repro", "--subset", "0.1")
    read_until(process, "Running stage 'train'")
    output = stop(process, signum)

    assert process.returncode == 128 + signum, output
    assert f"Stopped by {signal.Signals(signum).name}" in output and "failed" not in output, output
    assert not list((repo / ".dvc" / "tmp" / "exps" / "standalone").glob("tmp*"))
    assert "mlops:" not in run(["mlops", "status"], repo).stderr  # nothing left for the next command to clear
    assert not experiment_names(repo)
    before.assert_unchanged()


SWALLOWED_STOP = """
import os, signal, sys, time
from pipeline.experiments import runs
from pipeline.versioning.journal import stops_unwound

with stops_unwound():
    try:  # as fsspec's `exists()` takes every exception, a stop that lands in it included
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except:  # noqa: E722
        pass
    try:
        runs.run_one(["train.logreg.C=0.3"], None, "after-a-stop")
    except KeyboardInterrupt as stop:
        sys.exit(f"stopped: {stop!r}")
"""


def test_a_stop_a_library_swallowed_still_stops_the_experiment(repo):
    """SIGTERM landing in a library's bare `except:` (fsspec's, as DVC sets the run up) was taken by it: DVC ran the
    experiment to its end and recorded it, and `mlops` then said "Stopped by SIGTERM", exit 143."""
    result = run(["python", "-c", SWALLOWED_STOP], repo, check=False)

    assert "stopped: Stopped('SIGTERM')" in result.stderr, result.stdout + result.stderr
    assert "after-a-stop" not in " ".join(experiment_names(repo))


SWALLOWED_STOP_IN_REPRO = """
import os, signal, sys, time
from dvc.stage import Stage
from pipeline.experiments import warm_stages

save, run_forked = Stage.save, warm_stages.run_forked

def save_taking_a_stop(self, *args, **kwargs):
    Stage.save = save
    try:  # as fsspec's `exists()` takes every exception, a stop that lands in it included
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except:  # noqa: E722
        pass
    return save(self, *args, **kwargs)

def run_forked_said(stage, *args, **kwargs):
    print(f"stage {stage} started", flush=True)
    return run_forked(stage, *args, **kwargs)

Stage.save, warm_stages.run_forked = save_taking_a_stop, run_forked_said
sys.argv = ["mlops", "repro"]
from pipeline.__main__ import main
main()
"""


def test_a_stop_a_library_swallowed_in_a_repro_starts_no_further_stage(repo):
    """SIGTERM taken by a library's bare `except:` as DVC saved train's outputs: DVC went on to run evaluate (and
    every later stage, minutes of a long training) before the run was put back."""
    snapshot = Snapshot(repo)
    make_train_stale(repo)
    result = run(["python", "-c", SWALLOWED_STOP_IN_REPRO], repo, check=False)
    output = result.stdout + result.stderr

    assert "stage train started" in output and "stage evaluate started" not in output, output
    assert result.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in output, output
    snapshot.assert_unchanged()


SWALLOWED_STOP_IN_A_SUBSET_RUN = """
import os, signal, sys, time
from pipeline.experiments import subset

commit = subset._commit

def commit_taking_a_stop(*args, **kwargs):
    try:  # as fsspec's `exists()` takes every exception, a stop that lands in it included
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except:  # noqa: E722
        pass
    return commit(*args, **kwargs)

subset._commit = commit_taking_a_stop
sys.argv = ["mlops", "repro", "--subset", "0.1"]
from pipeline.__main__ import main
main()
"""


def test_a_stop_a_library_swallowed_as_a_subset_run_is_recorded_records_no_experiment(repo):
    """SIGTERM taken by a library as the fast subset run recorded its experiment: the experiment was recorded, and
    `mlops` then said "Stopped by SIGTERM", exit 143."""
    result = run(["python", "-c", SWALLOWED_STOP_IN_A_SUBSET_RUN], repo, check=False)
    output = result.stdout + result.stderr

    assert result.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in output, output
    assert not experiment_names(repo), output
    assert not list((repo / ".dvc" / "tmp").glob("mlops-subset-*")), output


DROPPED_STOP = """
import os, signal, sys, time
from pathlib import Path
from pipeline.versioning.journal import stops_unwound
from pipeline.versioning.output_paths import write_atomically

class Collected:  # as dulwich's object store, collected while `mlops report` imports scipy
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the stop lands here: Python drops what a finalizer raises

try:
    with stops_unwound():
        Collected()
        write_atomically(Path(sys.argv[1]), "the new report")
        print("written")
except KeyboardInterrupt as stop:
    sys.exit(f"stopped: {stop!r}")
"""


def test_a_stop_a_finalizer_dropped_writes_no_output(tmp_path):
    """SIGTERM landing in a finalizer was dropped by Python: `mlops report` went on, replaced the former report,
    then said "Stopped by SIGTERM: the files it changes are as they were before the run", exit 143."""
    out = tmp_path / "report.html"
    out.write_text("the former report")
    result = subprocess.run(
        [sys.executable, "-c", DROPPED_STOP, str(out)], capture_output=True, text=True, env=test_env(), timeout=60
    )

    assert "stopped: Stopped('SIGTERM')" in result.stderr and "written" not in result.stdout, result.stderr
    assert out.read_text() == "the former report" and list(tmp_path.glob("*.partial")) == []


def experiment_names(repo: Path) -> list[str]:
    return run(["git", "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps"], repo).stdout.split()


@pytest.mark.slow
def test_an_experiment_killed_outright_is_cleared_by_the_next_command_and_a_live_one_is_kept(repo):
    """SIGKILL of `mlops exp run` (an OOM kill) lets nothing of it clean up, and DVC records no pid for a temporary
    run: `dvc exp show` listed it as "Running" for good, beside its temporary copy of the workspace, and neither
    `dvc exp clean` nor a later run removed them. The next command does, and leaves a run that lives alone."""
    before = Snapshot(repo)
    copies = repo / ".dvc" / "tmp" / "exps" / "standalone"
    live = start_mlops(repo, "exp", "run", "-S", "evaluate.importance_repeats=100")
    read_until(live, "Running stage 'evaluate'")
    os.killpg(live.pid, signal.SIGSTOP)  # alive until the check, however slow the machine: a stopped run lives
    try:
        killed = start_mlops(repo, "exp", "run", "-S", "train.logreg.C=0.4")
        read_until(killed, "Running stage 'train'")
        stop(killed, signal.SIGKILL)
        assert ",Running" in run(["dvc", "exp", "show", "--no-pager", "--csv"], repo).stdout
        assert len(list(copies.glob("tmp*"))) == 2

        cleared = run(["mlops", "exp", "compare"], repo)

        assert live.poll() is None
    finally:
        os.killpg(live.pid, signal.SIGCONT)
    assert cleared.stderr.count("\n") == 1 and "C-0.4-" in cleared.stderr and "killed" in cleared.stderr, cleared.stderr
    assert "importance_repeats" not in cleared.stderr
    assert len(list(copies.glob("tmp*"))) == 1, "the live run's copy was removed, or the killed one's kept"
    output, _ = live.communicate(timeout=600)
    assert live.returncode == 0, output
    assert ",Running" not in run(["dvc", "exp", "show", "--no-pager", "--csv"], repo).stdout
    assert not list(copies.glob("tmp*"))
    again = run(["mlops", "exp", "run", "-S", "train.logreg.C=0.4"], repo)
    assert "had been killed" not in again.stdout + again.stderr and "mlops:" not in again.stderr, again.stderr
    names = experiment_names(repo)
    assert [n.split("-")[0] for n in names].count("C") == 1 and any(n.startswith("importance_repeats") for n in names)
    before.assert_unchanged()


KILLED_WHILE_QUEUED = """
import os
from dvc.repo import Repo
from pipeline.versioning.exp_queue import only_its_own_experiment

with only_its_own_experiment():
    repo = Repo()
    repo.experiments.queue_one(
        repo.experiments.tempdir_queue, params={"params.yaml": ["train.logreg.C=0.3"]}, name="queued-only"
    )
    os._exit(9)  # as SIGKILL there: nothing cleans up
"""


def test_an_experiment_killed_before_its_run_began_is_taken_off_dvcs_queue(repo):
    """Killed between queueing its experiment and starting it, a run left it on the queue DVC's temporary and
    workspace runs share: the next plain `dvc exp run` would have run it first."""
    killed = run(["python", "-c", KILLED_WHILE_QUEUED], repo, check=False)
    assert killed.returncode == 9, killed.stderr
    assert run(["git", "log", "-g", "--format=%H", "refs/exps/stash"], repo).stdout.strip()

    cleared = run(["mlops", "status"], repo)

    assert "queued-only" in cleared.stderr and "killed" in cleared.stderr, cleared.stderr
    assert not run(["git", "log", "-g", "--format=%H", "refs/exps/stash"], repo, check=False).stdout.strip()
    assert "queued-only" not in run(["dvc", "exp", "show", "--no-pager", "--csv"], repo).stdout
    assert "mlops:" not in run(["mlops", "status"], repo).stderr  # said once


def runs_of(repo: Path) -> list[int]:
    """The pids of the `dvc exp run` processes started from `repo` (each in a session of its own; DVC moves them
    into their temporary workspace inside it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cwd = (proc / "cwd").resolve()
            inside = cwd == repo.resolve() or repo.resolve() in cwd.parents
            if inside and b"exp\0run\0--temp" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return [pid for pid in pids if running(pid)]


def start_slow_sweep(repo: Path, start: Callable[..., subprocess.Popen] = start_mlops) -> subprocess.Popen:
    """A sweep of two full runs at once, each long in evaluate, both in evaluate when this returns."""
    process = start(repo, "exp", "sweep", "evaluate.importance_repeats=99,100", "--jobs", "2")
    logs = repo / ".dvc" / "tmp" / "mlops-exp-logs"
    wait_until(
        lambda: sum("Running stage 'evaluate'" in log.read_text() for log in logs.glob("*.log")) == 2,
        process,
        "both runs of the sweep evaluate",
        timeout=300,
    )
    return process


def assert_no_run_left(repo: Path, refs: str) -> None:
    """No run goes on without the sweep, none was recorded half-way, no temporary workspace stays."""
    deadline = time.monotonic() + 60
    while runs_of(repo) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not runs_of(repo), "a run of the sweep goes on without it"
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == refs  # no row, no "Running" ghost
    assert not list((repo / ".dvc" / "tmp" / "exps" / "standalone").glob("tmp*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGTERM, False), (signal.SIGHUP, False), (signal.SIGTERM, True), (signal.SIGINT, True)],
    ids=["SIGTERM-mlops-alone", "SIGHUP-mlops-alone", "SIGTERM-group", "SIGINT-group"],
)
def test_a_stopped_sweep_stops_its_runs_and_records_none(repo, signum, to_group):
    """The runs are in sessions of their own: a stop reaches them only through the sweep, which must pass it on
    (SIGTERM's default ended the sweep and left both runs going, to be recorded unseen). It ends in one line (it
    said "Interrupted: ..." and then `mlops` its own "Stopped by ...: the files it changes are as they were")."""
    snapshot = Snapshot(repo)
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    process = start_slow_sweep(repo)
    output = stop(process, signum) if to_group else stop_alone(process, signum)

    assert process.returncode == 128 + signum, output
    assert output.splitlines()[-1] == (
        f"Stopped by {signal.Signals(signum).name}: stopped 2 run(s), which record no experiment; the finished ones "
        "are kept."
    ), output
    assert "Stopped" not in "".join(output.splitlines()[:-1]) and "Traceback" not in output, output
    assert_no_run_left(repo, refs)
    snapshot.assert_unchanged()


def run_leader(repo: Path, name_start: str) -> int:
    """The pid (and process group) of the sweep's run whose experiment's name starts with `name_start`."""
    for pid in runs_of(repo):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if os.getpgid(pid) == pid and any(word.startswith(name_start.encode()) for word in words):
                return pid
        except OSError:
            continue
    pytest.fail(f"no run {name_start}* of the sweep")


@pytest.mark.slow
def test_a_sweep_stopped_while_one_run_is_slow_to_stop_records_none(repo):
    """The sweep stopped its runs one after the other, waiting up to 20 s for each to end: the other run went on
    meanwhile, finished, and was recorded as an experiment although the sweep had been stopped before it ended."""
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    process = start_slow_sweep(repo)
    slow, other = run_leader(repo, "importance_repeats-99-"), run_leader(repo, "importance_repeats-100-")
    os.killpg(slow, signal.SIGSTOP)  # the run the sweep started first (and stops first) ends only once continued
    try:
        os.kill(process.pid, signal.SIGTERM)
        wait_until(lambda: not running(other), process, "the other run ended", timeout=300)
    finally:
        os.killpg(slow, signal.SIGCONT)
    output, _ = process.communicate(timeout=300)

    assert process.returncode == 128 + signal.SIGTERM, output
    assert_no_run_left(repo, refs)


RUN_RECORDING_AS_IT_IS_STOPPED = '''
import os, signal, subprocess, sys
from pipeline.experiments import runs
from pipeline.versioning import dvc_seam

RUN = """
import signal, subprocess, sys, time
def record(signum, frame):  # as DVC commits the experiment when the interrupt comes
    subprocess.run(["git", "update-ref", sys.argv[1], "HEAD"], check=True)
    sys.exit(0)
signal.signal(signal.SIGINT, record)
print("ready", flush=True)
time.sleep(300)
"""

def start_exp_run(name, settings, command, cwd="."):
    head = dvc_seam.resolve_commit("HEAD")
    ref = f"refs/exps/{head[:2]}/{head[2:]}/{name}"  # where DVC records it
    run = subprocess.Popen([sys.executable, "-c", RUN, ref], stdout=subprocess.PIPE, text=True, start_new_session=True)
    run.stdout.readline()
    return run

dvc_seam.start_exp_run = start_exp_run
try:
    runs.run_sweep([("recorded-as-stopped", {})], 1, lambda progress: os.kill(os.getpid(), signal.SIGTERM))
except runs.SweepInterrupted as stopped:
    print(f"stopped {stopped.stopped} run(s)")
'''


def test_a_run_that_records_its_experiment_as_the_sweep_stops_it_is_not_kept(repo):
    """A run that recorded its experiment although the sweep had stopped it (DVC committing the results as the
    interrupt came, or a library's bare `except:` taking it) kept its experiment: the stopped sweep recorded a run.
    DVC's run is stood in for by a process that records the experiment's ref on SIGINT: that moment cannot be
    chosen in a real run."""
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    result = run(["python", "-c", RUN_RECORDING_AS_IT_IS_STOPPED], repo, check=False)

    assert "stopped 1 run(s)" in result.stdout, result.stdout + result.stderr
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == refs


def start_mlops_ignoring_sigint(repo: Path, *args: str) -> subprocess.Popen:
    return start_in_own_session(repo, "mlops", *args, ignoring_sigint=True)


@pytest.mark.slow
def test_the_runs_of_a_sweep_started_with_sigint_ignored_still_stop(repo):
    """The sweep stops a run with SIGINT; a run inherited SIGINT ignored from a sweep started so (a script's
    background job), and Python then raises no KeyboardInterrupt: the interrupt reached only a stage process it
    had at that moment. One that came as DVC prepared the stage (seconds under load) was lost, and the run went on
    to record its experiment."""
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    process = start_slow_sweep(repo, start_mlops_ignoring_sigint)
    os.kill(run_leader(repo, "importance_repeats-99-"), signal.SIGINT)  # DVC's process alone: no stage process
    seen = read_until(process, "importance_repeats-99-")  # the sweep's line on how that run ended
    output = seen + stop_alone(process, signal.SIGTERM)

    assert "FAILED importance_repeats-99-" in seen, output  # interrupted, not "done"
    assert process.returncode == 128 + signal.SIGTERM, output
    assert_no_run_left(repo, refs)


@pytest.mark.slow
def test_a_sweep_killed_then_run_again_records_each_experiment_once(repo):
    snapshot = Snapshot(repo)
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    process = start_slow_sweep(repo)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)

    assert_no_run_left(repo, refs)  # a run left going would be recorded beside the next sweep's
    run(["mlops", "exp", "sweep", "evaluate.importance_repeats=99,100", "--jobs", "2"], repo)
    names = run(["git", "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps"], repo).stdout.split()
    assert sorted(name.split("-")[1] for name in names if name.startswith("importance_repeats-")) == ["100", "99"]
    snapshot.assert_unchanged()


@pytest.mark.slow
def test_a_point_another_sweep_is_running_is_left_to_it(repo):
    """Two sweeps whose grids share a point, run at once, both planned it (no experiment had it yet) and both ran it:
    two experiments of the same params, code and data."""
    first = start_mlops(repo, "exp", "sweep", "evaluate.importance_repeats=99", "--jobs", "1")
    logs = repo / ".dvc" / "tmp" / "mlops-exp-logs"
    wait_until(lambda: list(logs.glob("importance_repeats-99-*.log")), first, "its run starts")
    (log,) = logs.glob("importance_repeats-99-*.log")

    second = run(["mlops", "exp", "sweep", "evaluate.importance_repeats=99", "--jobs", "1"], repo)
    stop(first, signal.SIGTERM)

    assert "skip importance_repeats-99-" in second.stdout, second.stdout
    assert f": another mlops command is running it, as {log.stem}\n" in second.stdout, second.stdout
    assert "Sweep: 0 of 0 run(s) succeeded." in second.stdout, second.stdout
    assert not list(logs.glob("importance_repeats-99-*.log"))[1:], "the second sweep ran the point too"


@pytest.mark.slow
def test_an_exp_run_of_a_point_a_sweep_is_running_is_refused(repo):
    """`mlops exp run -S` of a point a sweep was running ran it all the same (its name differs, the sweep's
    experiment did not exist yet): two experiments of the same params, code and data."""
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout
    sweep = start_mlops(repo, "exp", "sweep", "evaluate.importance_repeats=99", "--jobs", "1")
    logs = repo / ".dvc" / "tmp" / "mlops-exp-logs"
    wait_until(lambda: list(logs.glob("importance_repeats-99-*.log")), sweep, "its run starts")
    (log,) = logs.glob("importance_repeats-99-*.log")

    single = run(["mlops", "exp", "run", "-S", "evaluate.importance_repeats=99"], repo, check=False)
    stop(sweep, signal.SIGTERM)

    assert single.returncode == 2, single.stdout + single.stderr
    assert f"another mlops command is running this experiment, as {log.stem}\n" in single.stderr, single.stderr
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == refs  # the stopped sweep recorded none either


def test_a_worktree_git_could_not_remove_is_unregistered_once_its_directory_is_gone(fresh_repo, monkeypatch):
    """As a stopped gate's run still writing in its worktree can leave it: git refuses to remove the worktree, the
    temporary directory goes anyway, and git kept it registered at a path that no longer exists."""
    from pipeline.versioning import dvc_seam

    monkeypatch.chdir(fresh_repo)
    worktrees = run(["git", "worktree", "list", "--porcelain"], fresh_repo).stdout
    with dvc_seam.worktree_sharing_cache("HEAD") as worktree:
        (worktree / ".git").write_text("gitdir: /nowhere\n")  # git checks a worktree before removing it: refused

    assert not worktree.exists()
    assert run(["git", "worktree", "list", "--porcelain"], fresh_repo).stdout == worktrees


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_gate_stopped_while_it_runs_another_revision_leaves_no_worktree(repo, signum):
    """`mlops gate --against REV --subset F` runs REV's experiment in a temporary git worktree: a stop by SIGTERM
    or SIGHUP (CI cancelling the job) left it registered in the repository and on disk."""
    run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "next"], repo)
    worktrees = run(["git", "worktree", "list", "--porcelain"], repo).stdout
    process = start_mlops(repo, "gate", "--against", "HEAD~1", "--subset", "0.3")
    seen = read_until(process, "HEAD~1: running subset experiment")
    time.sleep(1)
    output = seen + stop_alone(process, signum)

    assert process.returncode == 128 + signum, output
    assert f"Stopped by {signal.Signals(signum).name}" in output and "Traceback" not in output, output
    assert run(["git", "worktree", "list", "--porcelain"], repo).stdout == worktrees


def has_loaded(pid: int, library: str) -> bool:
    try:
        return f"/{library}/" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # the process ended
        return False


def started(repo: Path, *command: str, **popen) -> subprocess.Popen:
    """`command` started in `repo` with the tests' environment and SIGHUP as a terminal leaves it, its output and errors
    read apart as text."""
    options = {"cwd": repo, "env": test_env(), "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    options["preexec_fn"] = hangups_as_from_a_terminal
    return subprocess.Popen(list(command), **{**options, **popen})


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_early_in_predict_ends_as_a_later_one_does(repo, tmp_path, signum):
    """SIGTERM while `mlops predict` loads the model's libraries and the model (seconds, before the output is
    opened) killed it with no word (status -15); once writing, it said it was stopped, with status 128 + the
    signal."""
    loans = tmp_path / "loans.csv"
    frame = lending_frame().drop(columns=["Class"])
    many = frame.loc[frame.index.repeat(-(-300_000 // len(frame)))].head(300_000)
    many.assign(rownames=range(len(many))).to_csv(loans, index=False)  # each loan an id of its own
    out = tmp_path / "scores.csv"
    process = started(repo, "mlops", "predict", str(loans), "--out", str(out))
    # scikit-learn is first imported by the command itself (never to build the command line): it has begun
    wait_until(lambda: has_loaded(process.pid, "sklearn"), process, "predict loading the model", timeout=60)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    said = f"Stopped by {signum.name}: the files it changes are as they were before the run."
    assert (process.returncode, stderr.strip(), stdout) == (128 + signum, said, ""), stderr
    assert not out.exists() and list(tmp_path.glob("*.partial")) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_while_serve_loads_its_model_is_one_line_and_128_plus_the_signal(repo, signum):
    """SIGTERM or SIGHUP while `mlops serve` loaded the model (seconds, before uvicorn took the signals) killed it
    with no word (status -15 or -1)."""
    process = started(repo, "mlops", "serve", "--port", str(free_port()))
    wait_until(lambda: has_loaded(process.pid, "sklearn"), process, "serve loading the model", timeout=60)
    process.send_signal(signum)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 128 + signum, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"Stopped by {signum.name}: "), stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT], ids=["nohup", "background-job"])
def test_a_signal_ignored_as_repro_starts_is_ignored_by_mlops_dvc_and_the_stage(repo, signum):
    """`nohup mlops repro` is a run meant to outlive its terminal: a hangup of its whole job mid-stage stopped it
    (and DVC and the stage, which keep an ignored signal but not mlops's handler) and put everything back. A script's
    `mlops repro &` (SIGINT ignored) went on through a Ctrl-C but for its stage, whose fork took it: 'the pipeline
    failed', status 2."""
    make_evaluate_stale(repo)
    if signum == signal.SIGHUP:
        process = start_in_own_session(repo, "nohup", "mlops", "repro")
    else:
        process = start_in_own_session(repo, "mlops", "repro", ignoring_sigint=True)
    wait_for_stage(repo, "evaluate", process)
    output = stop(process, signum)
    assert process.returncode == 0 and "Stopped" not in output, output
    assert "evaluate" not in run(["dvc", "status"], repo).stdout


@pytest.mark.parametrize("early", [True, False], ids=["as-mlops-starts", "loading-the-model"])
def test_a_hangup_of_a_nohup_predict_is_ignored_as_nohup_asks(repo, tmp_path, early):
    """`nohup mlops predict` went on through a hangup only in `mlops serve`: here a hangup as it started or loaded
    the model stopped it ('Stopped by SIGHUP', status 129)."""
    loans = tmp_path / "loans.csv"
    lending_frame().drop(columns=["Class"]).to_csv(loans, index=False)
    out = tmp_path / "scores.csv"
    process = started(repo, "nohup", "mlops", "predict", str(loans), "--out", str(out), stdin=subprocess.DEVNULL)
    if early:  # mlops's early handlers are set (SIGTERM's, which are SIGHUP's but for nohup)
        wait_until(lambda: catches(process.pid, signal.SIGTERM), process, "mlops catching stops", timeout=60)
    else:
        wait_until(lambda: has_loaded(process.pid, "sklearn"), process, "predict loading the model", timeout=60)
    process.send_signal(signal.SIGHUP)
    stdout, stderr = process.communicate(timeout=120)
    assert (process.returncode, "Stopped" in stderr) == (0, False), stderr
    assert stdout.startswith("Scored ") and out.is_file()


def test_a_hangup_while_a_nohup_serve_loads_its_model_is_ignored_as_nohup_asks(repo):
    port = free_port()
    process = started(repo, "nohup", "mlops", "serve", "--port", str(port), stderr=subprocess.STDOUT)
    wait_until(lambda: has_loaded(process.pid, "sklearn"), process, "serve loading the model", timeout=60)
    process.send_signal(signal.SIGHUP)
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/health"), process, "serve answering", timeout=60)
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in output, output


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("command", [["gate", "--against", "HEAD"], ["report", "--out"]], ids=lambda c: c[0])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_while_gate_or_report_works_is_one_line_and_128_plus_the_signal(repo, tmp_path, command, signum):
    """SIGTERM or SIGHUP while `mlops gate` or `mlops report` scored both models killed them with no word (status
    -15, -1); Ctrl-C ended them with 130 and no word. They end as every other command does, and the report a
    former run wrote is left as it was."""
    out = tmp_path / "report.html"
    out.write_text("the former report")
    args = [*command, str(out)] if command[0] == "report" else command
    process = started(repo, "mlops", *args)
    # scikit-learn is first imported to load the models the command compares: it has begun
    wait_until(lambda: has_loaded(process.pid, "sklearn"), process, "the command loading the models", timeout=60)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)

    said = f"Stopped by {signum.name}: the files it changes are as they were before the run."
    assert (process.returncode, stderr.strip(), stdout) == (128 + signum, said, ""), stdout + stderr
    assert out.read_text() == "the former report" and list(tmp_path.glob("*.partial")) == []


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (its SigCgt mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # the process ended
        return False
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught >> (signum - 1) & 1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_as_mlops_starts_is_one_line_and_status_128_plus_the_signal(repo, tmp_path, signum):
    """SIGTERM or SIGHUP while `mlops` imports and builds its command line (its first 0.3 s) killed it with no word
    (status -15), and Ctrl-C printed the traceback of the import it cut; it ends as a later stop does. The stop is
    sent once the process catches SIGTERM (Python catches Ctrl-C from its start), not after a time: a stop that
    lands after the command took over stops handling is the command's own, and is tried again."""
    out = tmp_path / "report.html"
    for _attempt in range(5):
        process = started(repo, "mlops", "report", "--out", str(out))
        wait_until(lambda pid=process.pid: catches(pid, signal.SIGTERM), process, "mlops catching stops", timeout=60)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
        own = signum == signal.SIGINT and "Traceback" not in stderr and ":" not in stderr  # "Stopped by SIGINT."
        if process.returncode != -signum and not own:
            break
    said = f"Stopped by {signum.name}: the files it changes are as they were before the run."
    assert (process.returncode, stderr.strip(), stdout) == (128 + signum, said, ""), stderr
    assert not out.exists() and list(tmp_path.glob("*.partial")) == []


def test_a_stage_keeps_an_ignored_ctrl_c_ignored():
    """A script's background `mlops repro &` (SIGINT ignored) went on through a Ctrl-C to its job, but its stage
    took it once `pipeline.stages` was imported (status 130, 'the pipeline failed'): its handler was set whatever
    the process ignored."""
    script = "import signal{}; import pipeline.stages; print(repr(signal.getsignal(signal.SIGINT)))"
    for ignored, handler in ((True, "<Handlers.SIG_IGN: 1>"), (False, "<function _stopped ")):
        code = script.format("; signal.signal(signal.SIGINT, signal.SIG_IGN)" if ignored else "")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=test_env())
        assert result.returncode == 0 and result.stdout.startswith(handler), result.stdout + result.stderr


def test_importing_the_cli_sets_no_stop_handler():
    """Only the `mlops` command ends at once on an early stop: a process that imports `pipeline.cli` (a test, a
    tool) keeps its own SIGTERM and SIGHUP handlers: those of a Python that imports nothing (the suite may run
    under `nohup`, SIGHUP ignored from the start)."""

    def handlers(imports: str) -> list[str]:
        script = f"import signal{imports}; print(signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP))"
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=test_env())
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert handlers(", pipeline.cli") == handlers("")
    assert handlers(", pipeline.cli; signal.signal(signal.SIGTERM, lambda *_: None)") != handlers("")  # it can tell


def git_status_that_waits(repo: Path, marker: Path) -> None:
    """Have git's next look at the work tree (`git diff`, `git status`) wait, `marker` made as it begins: git asks
    the fsmonitor hook, a program of ours, which files changed."""
    script = repo.parent / "fsmonitor-that-waits"
    script.write_text(f"#!/bin/sh\nexec >/dev/null 2>&1 </dev/null\ntouch '{marker}'\nexec sleep 20\n")
    script.chmod(0o755)
    run(["git", "config", "core.fsmonitor", str(script)], repo)


@pytest.mark.parametrize(
    "command",
    [("checkout", "HEAD"), ("data", "add", "more.csv"), ("deploy", "promote", "HEAD")],
    ids=["checkout", "data-add", "deploy-promote"],
)
def test_a_stop_during_a_commands_checks_ends_it_with_a_word_and_nothing_changed(repo, tmp_path, command):
    """checkout, data add and deploy promote check the workspace before anything moves; a SIGTERM then ended them in
    silence (the default action: no word, status -15), as no other command ends."""
    lending_frame().to_csv(repo / "more.csv", index=False)
    snapshot, data_before = Snapshot(repo), sorted((repo / "data").rglob("*"))
    marker = tmp_path / "git-looks"
    git_status_that_waits(repo, marker)
    process = start_mlops(repo, *command)
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), process.communicate()[0]
    output = stop_alone(process, signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in output, output
    assert "Traceback" not in output, output
    snapshot.assert_unchanged()
    assert (repo / "more.csv").exists() and sorted((repo / "data").rglob("*")) == data_before
    assert run(["git", "tag", "-l"], repo).stdout == ""  # no registry tag


def held_commit_hook(repo: Path, status: int) -> Path:
    """A pre-commit hook that says it started (a marker file), holds the commit for two seconds, then exits with
    `status`; a Ctrl-C to the group ends its sleep, and the commit fails."""
    marker = repo.parent / "pre-commit.started"
    marker.unlink(missing_ok=True)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\nsleep 2 || exit 1\nexit {status}\n")
    hook.chmod(0o755)
    return marker


@pytest.mark.slow
def test_a_stop_during_the_promotions_commit_lets_git_end_and_then_puts_back_or_completes(repo):
    """git killed mid-commit left `.git/index.lock`, after which every promotion failed in DVC's words and every
    commit was refused; a stop after the commit landed said the files were as before; Ctrl-C said "git commit
    failed" with pre-commit's traceback."""
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--name", "c02"], repo)
    before, snapshot = git_state(repo), Snapshot(repo)
    for signum, hook_status, send in [
        (signal.SIGINT, 0, stop),  # Ctrl-C reaches git and its hook too: the commit fails
        (signal.SIGTERM, 1, stop_alone),  # the commit fails on its own after the stop came
    ]:
        marker = held_commit_hook(repo, hook_status)
        process = start_mlops(repo, "exp", "promote", "c02")
        wait_until(marker.exists, process, "git commit ran its hook")
        output = send(process, signum)
        assert process.returncode == 128 + signum and f"Stopped by {signum.name}" in output, output
        assert "Traceback" not in output and "git commit" not in output, output
        assert not (repo / ".git" / "index.lock").exists()
        assert git_state(repo) == before
        snapshot.assert_unchanged()

    marker = held_commit_hook(repo, 0)
    process = start_mlops(repo, "exp", "promote", "c02")
    wait_until(marker.exists, process, "git commit ran its hook")
    output = stop_alone(process, signal.SIGTERM)
    assert process.returncode == 0, output
    assert "SIGTERM came as the promotion was committed; that completed the command" in output, output
    assert "Committed: Promote experiment c02" in output and not (repo / ".git" / "index.lock").exists()
    assert run(["git", "log", "-1", "--format=%s"], repo).stdout.startswith("Promote experiment c02")
    assert run(["git", "status", "--porcelain"], repo).stdout == ""


@pytest.mark.slow
def test_a_promotion_started_with_ctrl_c_ignored_lets_no_ctrl_c_reach_its_commit(repo):
    """A script's background `mlops exp promote &` ignores Ctrl-C, as the README promises of every command and what
    it runs; git let its hooks take it again, and the commit failed with pre-commit's "Interrupted (^C)"."""
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--name", "c02"], repo)
    marker = held_commit_hook(repo, 0)
    process = start_in_own_session(repo, "mlops", "exp", "promote", "c02", ignoring_sigint=True)
    wait_until(marker.exists, process, "git commit ran its hook")
    output = stop(process, signal.SIGINT)  # to the whole group, as a terminal's Ctrl-C
    assert process.returncode == 0 and "Committed: Promote experiment c02" in output, output
    assert "Interrupted" not in output and not (repo / ".git" / "index.lock").exists()
