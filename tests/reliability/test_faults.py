"""Faults: the train stage killed mid-run, and two `mlops repro` at once."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import hangups_as_from_a_terminal, run, test_env
from tests.e2e.test_foundation import digest
from tests.reliability.helpers import Snapshot, assert_clear_error


def start_mlops(repo: Path, *args: str) -> subprocess.Popen:
    return start_in_own_session(repo, "mlops", *args)


def start_in_own_session(repo: Path, *command: str, ignoring_sigint: bool = False) -> subprocess.Popen:
    """`command` started as a terminal starts it (its own process group, SIGHUP as a terminal leaves it), its output
    read as text; `ignoring_sigint`: with SIGINT ignored, as a script's background job (`cmd &`) or a CI step starts
    it."""

    def as_started() -> None:
        hangups_as_from_a_terminal()
        if ignoring_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        list(command),
        cwd=repo,
        env=test_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=as_started,
    )


def stage_process(repo: Path, stage: str) -> int | None:
    """The pid of the Python process running the stage in `repo` (or in a subset run's scratch directory inside
    it), if any: `python -m pipeline.stages.<stage>`, or the warm fork of `mlops` named `stage:<stage>`
    (pipeline.experiments.warm_stages); not the `sh -c` that DVC starts a command through: killing that would
    leave the stage running on, orphaned."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode().split("\0")
            name = (entry / "comm").read_text().strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        is_stage = args[1:3] == ["-m", f"pipeline.stages.{stage}"] or name == f"stage:{stage}"[:15]
        in_repo = Path(cwd) == repo or repo in Path(cwd).parents
        if is_stage and in_repo and running(int(entry.name)):
            return int(entry.name)
    return None


def running(pid: int) -> bool:
    """Whether `pid` runs (an ended process that init has not reaped yet, a zombie, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for_stage(repo: Path, stage: str, process: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        pid = stage_process(repo, stage)
        if pid:
            return pid
        time.sleep(0.005)  # a warm ingest lasts a fraction of a second: poll closely
    pytest.fail(f"stage {stage} never started:\n{process.communicate()[0] if process.poll() is not None else ''}")


def make_train_stale(repo: Path) -> None:
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.02", 1))


def assert_model_whole(repo: Path) -> None:
    """The model loads, its bytes are those dvc.lock records, and DVC sees nothing to do."""
    run(["python", "-c", "from pipeline.training.model_file import load_model; load_model('models/model.skops')"], repo)
    assert "up to date" in run(["dvc", "status"], repo).stdout.lower()


@pytest.mark.slow
def test_train_killed_mid_run_then_repro_completes(repo):
    snapshot = Snapshot(repo)
    make_train_stale(repo)
    process = start_mlops(repo, "repro")
    train = wait_for_stage(repo, "train", process)
    time.sleep(0.05)  # inside the fit (a warm fork has imported everything already)
    os.kill(train, signal.SIGKILL)
    output, _ = process.communicate(timeout=300)

    assert process.returncode != 0, output
    assert "Traceback" not in output, output
    assert "train" in output and "as they were before the run" in output, output
    snapshot.assert_unchanged()

    run(["mlops", "repro"], repo)
    assert_model_whole(repo)


def small_files() -> None:
    """Files of at most 4 KB for the process and its children: a full disk, as a writer sees it (dvc.lock, git's
    index and the model are larger)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


NO_SERVER = test_env(MLOPS_STAGE_SERVER="0")  # no stage server started under the limit, for later runs to use
NO_ROOM = os.strerror(errno.EFBIG)


def test_a_disk_too_full_for_the_journal_refuses_the_run_before_anything_changes(repo):
    """A command that changes outputs first copies what it may change (the journal), to put it back should it fail:
    on a full disk that copy failed with a traceback (shutil.Error), though nothing had changed yet."""
    make_train_stale(repo)
    snapshot = Snapshot(repo)

    refused = run(["mlops", "repro"], repo, check=False, env=NO_SERVER, preexec_fn=small_files)
    assert_clear_error(refused, "could not keep a copy of dvc.lock", "nothing was changed", "free some disk space")
    assert len(refused.stderr.splitlines()) == 2, refused.stderr  # the line and its hint
    snapshot.assert_unchanged()
    assert not list((repo / ".dvc" / "tmp").glob("mlops-journal*"))

    run(["mlops", "repro"], repo)
    assert_model_whole(repo)


def test_a_full_disk_in_a_stage_or_a_subset_run_is_one_line_and_records_nothing(repo):
    """A stage whose write the disk stopped, and the subset run's own copy of git's index, ended in a traceback."""
    before = digest(repo)
    stage = run([sys.executable, "-m", "pipeline.stages.train"], repo, check=False, preexec_fn=small_files)
    assert_clear_error(stage, NO_ROOM, "free some disk space")
    assert len(stage.stderr.splitlines()) == 2, stage.stderr  # the line and its hint
    for partial in (repo / "models").glob("*.partial"):
        partial.unlink()  # the stage's own leftover: `mlops repro`'s journal removes it, run alone it stays

    subset = run(["mlops", "repro", "--subset", "0.1"], repo, check=False, env=NO_SERVER, preexec_fn=small_files)
    assert_clear_error(subset, NO_ROOM, "free some disk space")
    assert digest(repo) == before and run(["git", "for-each-ref", "refs/exps"], repo).stdout == ""
    assert not list((repo / ".dvc" / "tmp").glob("mlops-subset-*"))


@pytest.mark.slow
def test_second_repro_refuses_while_the_first_runs(repo):
    make_train_stale(repo)
    first = start_mlops(repo, "repro")
    train = wait_for_stage(repo, "train", first)
    os.kill(train, signal.SIGSTOP)  # hold the first run inside train, so nothing of its own moves dvc.lock
    try:
        lock_during_run = (repo / "dvc.lock").read_bytes()
        second = run(["mlops", "repro"], repo, check=False)
        assert_clear_error(second, "another", "mlops repro")
        assert (repo / "dvc.lock").read_bytes() == lock_during_run, "the refused run touched dvc.lock"
    finally:
        os.kill(train, signal.SIGCONT)
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output
    assert_model_whole(repo)


def test_a_full_disk_that_stops_dvc_itself_is_raised_as_what_it_is_and_dvc_reports_no_bug(tmp_path):
    """DVC reported it as a bug ("ERROR: unexpected error - ... File too large" and a footer asking to tell them);
    then `mlops exp run` said "read DVC's message above". Here `exp run --temp` cannot copy the workspace."""
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "notes.txt").write_text("n" * 300_000)
    (tmp_path / "params.yaml").write_text("x: 1\n")
    stage = {"cmd": "echo 1 > out.txt", "params": ["x"], "outs": ["out.txt"]}
    (tmp_path / "dvc.yaml").write_text(json.dumps({"stages": {"s": stage}}))  # JSON is YAML
    run(["dvc", "repro", "-q"], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-q", "-m", "a pipeline"], tmp_path)
    driver = "from pipeline.versioning.dvc_command import dvc\ntry:\n    dvc('exp', 'run', '--temp', '-S', 'x=2')\n"
    driver += "except OSError as error:\n    print(error.errno)"

    def no_room_for_the_notes() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    result = run([sys.executable, "-c", driver], tmp_path, check=False, preexec_fn=no_room_for_the_notes)
    assert result.stdout.strip() == str(errno.EFBIG), result.stdout + result.stderr
    assert "ERROR" not in result.stderr and "Having any troubles" not in result.stderr, result.stderr
    assert run(["git", "for-each-ref", "refs/exps"], tmp_path).stdout == ""


def read_only(repo: Path, *command: str):
    """`command` run in `repo` mounted read-only (a bind mount in a mount namespace of its own: `unshare -m`, as
    root, or `-rm` as a user who may map themselves to root)."""
    import shlex
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("no unshare here to mount a read-only checkout")
    folder = shlex.quote(str(repo))
    script = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} {folder} && cd {folder} && "
    script += shlex.join(command)
    flags = "-m" if os.geteuid() == 0 else "-rm"
    probe = run(["unshare", flags, "true"], repo, check=False)
    if probe.returncode != 0:
        pytest.skip(f"unshare {flags} is not allowed here: {probe.stderr.strip()}")
    return run(["unshare", flags, "sh", "-c", script], repo, check=False)


def test_a_run_in_a_read_only_checkout_says_so_in_one_line(repo):
    """A stale workspace in a read-only checkout: `mlops repro` and `mlops exp run` ended in a 57-line traceback at
    their first write (the run lock)."""
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.02", 1))
    before = Snapshot(repo)
    for command in (["mlops", "repro"], ["mlops", "exp", "run", "-S", "train.logreg.C=0.03"]):
        refused = read_only(repo, *command)
        said = assert_clear_error(refused, "Read-only file system", "this command writes in the project")
        assert refused.returncode == 2 and len(said.strip().splitlines()) == 2, said
    status = read_only(repo, "mlops", "status")
    assert status.returncode == 0 and "train" in status.stdout, status.stdout + status.stderr
    before.assert_unchanged()
