"""The warm stage server (pipeline.experiments.stage_server): started by the first command that runs stages, it
serves the next ones a runner with every import done, as the command's own fork would run its stages, and it
never holds a command back nor outlives its socket."""

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import MEMORY_DEFAULTS
from pipeline.experiments import stage_server
from tests.conftest import run, test_env

# The stage records its runner and its runner's parent; the command records its own pid.
STAGE_THAT_TELLS_ITS_PARENTS = """
import os
runner = os.getppid()
server = int(open(f"/proc/{runner}/stat").read().rsplit(")", 1)[1].split()[1])
open("parents.txt", "w").write(f"{runner} {server}")
open("made.txt", "w").write("x")
"""
COMMAND = """
import os, sys
from pipeline.experiments.warm_stages import StageRunner
os.umask(0o077)
runner = StageRunner(("ingest",))
status = runner.run(("ingest",), os.getcwd(), dict(os.environ), os.getcwd())
runner.stop()
print(os.getpid(), status)
"""


def run_command(repo: Path, **env: str) -> tuple[int, int, int]:
    """Run COMMAND in `repo` (its output captured: a server holding it would keep this waiting): the
    command's pid, and its stage's runner and the runner's parent."""
    result = run([sys.executable, "-c", COMMAND], repo, timeout=120, env=test_env(**env))
    command, status = result.stdout.split()
    assert status == "0", result.stderr
    runner, server = (int(word) for word in (repo / "parents.txt").read_text().split())
    return int(command), runner, server


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A folder of the test's own for the servers' sockets; removed after the test, which ends its servers. In
    /tmp: a socket's path has at most 107 bytes, and pytest's own folders can be longer."""
    folder = Path(tempfile.mkdtemp(prefix="mlops-rt-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def with_stage(repo: Path) -> Path:
    (repo / "pipeline" / "stages" / "ingest.py").write_text(STAGE_THAT_TELLS_ITS_PARENTS)
    return repo


def test_the_server_the_first_command_started_serves_the_next_and_outlives_both(fresh_repo, runtime):
    repo = with_stage(fresh_repo)

    first_command, first_runner, server = run_command(repo, XDG_RUNTIME_DIR=str(runtime))
    second_command, second_runner, second_server = run_command(repo, XDG_RUNTIME_DIR=str(runtime))

    assert second_server == server and first_runner != second_runner
    assert server not in (first_command, second_command) and first_runner != first_command
    time.sleep(2.5 * stage_server.TICK_SECONDS)  # it has checked, idle, that nothing it imported changed
    assert alive(server) and Path(f"/proc/{server}/comm").read_text().strip() == stage_server.PROCESS_NAME
    assert (repo / "made.txt").stat().st_mode & 0o777 == 0o600  # the command's umask, not the server's


def test_a_server_ends_once_its_socket_is_gone(fresh_repo, runtime):
    repo = with_stage(fresh_repo)
    _, _, server = run_command(repo, XDG_RUNTIME_DIR=str(runtime))
    assert alive(server)

    for socket in runtime.rglob("*.sock"):
        socket.unlink()

    deadline = time.monotonic() + 10 * stage_server.TICK_SECONDS
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(server)


def test_a_server_ends_once_its_project_code_changes(fresh_repo, runtime):
    """No command would ask it again: editing the code (or installing libraries) must not leave it idling."""
    repo = with_stage(fresh_repo)  # the command imports the project from `repo`, so the server does too
    _, _, server = run_command(repo, XDG_RUNTIME_DIR=str(runtime))
    assert alive(server)

    stage = repo / "pipeline" / "stages" / "split.py"
    stage.write_text(stage.read_text() + "\n")

    deadline = time.monotonic() + 10 * stage_server.TICK_SECONDS
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(server)


def test_switched_off_the_stage_runs_in_a_fork_of_the_command_and_no_server_starts(fresh_repo, runtime):
    repo = with_stage(fresh_repo)

    command, runner, runners_parent = run_command(repo, XDG_RUNTIME_DIR=str(runtime), MLOPS_STAGE_SERVER="0")

    assert runners_parent == command and runner != command
    assert list(runtime.rglob("*.sock")) == []


def test_another_project_code_or_import_time_environment_is_another_servers(fresh_repo, monkeypatch):
    def fingerprint() -> str:
        return stage_server._fingerprint(fresh_repo)

    before = fingerprint()
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    with_threads = fingerprint()
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    with_huge_pages = fingerprint()
    stage = fresh_repo / "pipeline" / "stages" / "split.py"
    stage.write_text(stage.read_text() + "\n")
    with_code = fingerprint()
    monkeypatch.setenv("GIT_DIR", "elsewhere")  # read by no library as it is imported

    assert len({before, with_threads, with_huge_pages, with_code}) == 4
    assert fingerprint() == with_code


@pytest.mark.parametrize("planted", ["open to every user", "a link to a private folder"])
def test_no_server_where_the_socket_folder_is_not_this_users_own(fresh_repo, runtime, tmp_path, planted):
    folder = runtime / f"mlops-stages-{os.getuid()}"
    if planted == "open to every user":
        folder.mkdir()
        os.chmod(folder, 0o777)
    else:  # as anyone may plant one in a shared /tmp, pointing where they like
        (tmp_path / "private").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "private")
    repo = with_stage(fresh_repo)

    command, _, runners_parent = run_command(repo, XDG_RUNTIME_DIR=str(runtime))

    assert runners_parent == command
    assert list(runtime.rglob("*.sock")) == [] and list(folder.resolve().glob("*.sock")) == []


def test_one_server_whichever_name_of_the_interpreter_started_the_command(fresh_repo, tmp_path, monkeypatch):
    """`mlops` runs `python3.11`, a script `python`: the same interpreter of the same venv, one server."""
    other_name = tmp_path / "python-by-another-name"
    other_name.symlink_to(sys.executable)
    before = stage_server._fingerprint(fresh_repo)
    monkeypatch.setattr(sys, "executable", str(other_name))
    assert stage_server._fingerprint(fresh_repo) == before


# Whether numpy asks the kernel for huge pages (the setting it replaces), and pyarrow's memory pool.
STAGE_THAT_TELLS_ITS_MEMORY_SETTINGS = """
import numpy, pyarrow
huge_pages = numpy._core.multiarray._set_madvise_hugepage(False)
open("memory.txt", "w").write(f"{huge_pages} {pyarrow.default_memory_pool().backend_name}")
"""


@pytest.mark.parametrize(
    ("how", "user_settings", "seen"),
    [
        ("in the server's fork", {}, "False system"),
        ("in the command's fork", {}, "False system"),
        ("by DVC alone", {}, "False system"),
        (
            "in the server's fork",
            {"NUMPY_MADVISE_HUGEPAGE": "1", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"},
            "True mimalloc",
        ),
        ("by DVC alone", {"NUMPY_MADVISE_HUGEPAGE": "1", "ARROW_DEFAULT_MEMORY_POOL": "jemalloc"}, "True jemalloc"),
    ],
)
def test_a_stage_takes_memory_as_the_project_sets_unless_the_user_says(fresh_repo, runtime, how, user_settings, seen):
    (fresh_repo / "pipeline" / "stages" / "ingest.py").write_text(STAGE_THAT_TELLS_ITS_MEMORY_SETTINGS)
    env = test_env(XDG_RUNTIME_DIR=str(runtime), MLOPS_STAGE_SERVER="0" if how == "in the command's fork" else "1")
    for name in MEMORY_DEFAULTS:  # this test's process imported `pipeline`, which set them
        env.pop(name, None)
    env.update(user_settings)

    if how == "by DVC alone":  # the stage's cmd, as `dvc repro` runs it
        run([sys.executable, "-m", "pipeline.stages.ingest"], fresh_repo, env=env)
    else:
        run([sys.executable, "-c", COMMAND], fresh_repo, timeout=120, env=env)

    assert (fresh_repo / "memory.txt").read_text() == seen


@pytest.mark.parametrize("server", ["1", "0"])
def test_a_library_failing_as_it_is_imported_fails_the_stage_with_its_own_message(fresh_repo, runtime, server):
    """A bad value of a variable numpy reads as it starts: the runner's warm-up skips it, and the stage fails on
    numpy's own error, as under `dvc repro` (the runner used to die in its warm-up: DVC said "Broken pipe")."""
    (fresh_repo / "pipeline" / "stages" / "ingest.py").write_text(STAGE_THAT_TELLS_ITS_MEMORY_SETTINGS)
    env = test_env(XDG_RUNTIME_DIR=str(runtime), MLOPS_STAGE_SERVER=server, NUMPY_MADVISE_HUGEPAGE="not a number")

    result = run([sys.executable, "-c", COMMAND], fresh_repo, check=False, timeout=120, env=env)

    assert result.returncode == 0 and result.stdout.split()[1] == "1", result.stderr
    assert "ValueError: invalid literal for int() with base 10: 'not a number'" in result.stderr
    assert not (fresh_repo / "memory.txt").exists()
