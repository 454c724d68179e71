"""Shared fixtures: temporary copies of this repository as real git + DVC repos, and a way to run commands there.

`trained_template` builds one copy per test run and runs the real pipeline in it once; `repo` hands each
test its own copy of that (a real git repo with its own DVC cache and default remote), so tests are isolated
and only the first pays for training. `hooked` is the same with the hooks installed, from a template too.
Templates are built once for the whole run (`shared_template`): under pytest-xdist the workers share them.
"""

from __future__ import annotations

import compileall
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.workspaces import project_files  # this checkout's files, as a clone has them
from pipeline.experiments.warm_stages import PROJECT_PACKAGES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Suite",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "Test Suite",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


def test_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_IDENTITY)
    env["DVC_NO_ANALYTICS"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


test_env.__test__ = False  # a helper, though its name starts with test_ (modules import it)


def anonymous_env(home: Path, **extra: str) -> dict[str, str]:
    """test_env where git knows no one, on any host: no identity in the environment, an empty home (pygit2 and
    dulwich read the global config there too), no system config, and user.useConfigOnly (git would otherwise guess
    an identity from a host name with a domain)."""
    home.mkdir(parents=True, exist_ok=True)
    env = test_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_NOSYSTEM="1", **extra)
    env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="user.useConfigOnly", GIT_CONFIG_VALUE_0="true")
    for variable in GIT_IDENTITY:
        if variable not in extra:
            del env[variable]
    return env


def hangups_as_from_a_terminal() -> None:
    """In the child, before it runs: SIGHUP as a terminal leaves it (the default), even when the tests run under
    `nohup`, whose ignored SIGHUP every command keeps. For every command a test sends a hangup."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def run(
    cmd, cwd: Path, check: bool = True, timeout: int = 900, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run a command (a list, or a string through the shell) in `cwd`; fail the test with its output on error."""
    result = subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or test_env(),
        shell=isinstance(cmd, str),
        **kwargs,
    )
    if check and result.returncode != 0:
        pytest.fail(f"`{cmd}` exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def add_stages(repo: Path, stages: str) -> None:
    """Stages of a user's own (`stages:` entries, indented by two) after the project's last, run by `dvc repro`."""
    pipeline = repo / "dvc.yaml"
    text = pipeline.read_text()
    assert "\nplots:" in text  # the section after `stages:`
    pipeline.write_text(text.replace("\nplots:", f"\n{stages}\nplots:", 1))
    run(["dvc", "repro"], repo)


def compile_project(root: Path) -> None:
    """Compile the project's modules under `root` to bytecode (`__pycache__`, ignored by git). Where Python may not
    write bytecode itself (PYTHONDONTWRITEBYTECODE, as on CI machines) every `mlops`, hook and stage process would
    otherwise compile them again; copies keep the files' times, so the bytecode stays valid in every copy."""
    for package in PROJECT_PACKAGES:
        compileall.compile_dir(root / package, quiet=1)


def copy_project(target: Path) -> Path:
    """A fresh git repo at `target` holding this project's files in one commit (no outputs, no DVC cache)."""
    for name in project_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)
    compile_project(target)
    run(["git", "init", "-q", "-b", "main"], target)
    run(["git", "add", "-A"], target)
    run(["git", "commit", "-q", "--no-verify", "-m", "project"], target)
    return target


def clone_repo(source: Path, target: Path) -> Path:
    """A copy of a prepared repo (work tree, .git and DVC cache) at `target`."""
    shutil.copytree(source, target, symlinks=True)
    return target


def pytest_configure(config) -> None:
    compile_project(ROOT)  # the code `mlops` runs from
    ctrl_c_as_from_a_terminal()
    os.environ.pop("COLUMNS", None)  # piped tables as wide as they need, whatever the shell running the tests exports
    workers = getattr(config, "workerinput", {}).get("workercount")  # in a pytest-xdist worker
    if workers or not config.getoption("numprocesses", None):  # (xdist's controller runs no test)
        share_the_cores(workers or 1)
        stage_servers_of_this_run(config)


def stage_servers_of_this_run(config) -> None:
    """The warm stage servers the commands start (pipeline.experiments.stage_server) listen in a directory of this
    run's own, removed when it ends: each server then ends too, rather than idling on after the tests."""
    runtime = tempfile.mkdtemp(prefix="mlops-tests-run-")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    config.add_cleanup(lambda: shutil.rmtree(runtime, ignore_errors=True))


def ctrl_c_as_from_a_terminal() -> None:
    """Ctrl-C stops the run and every command it starts, even when the tests were started in the background of a
    script (`python -m pytest &`), where the shell ignores SIGINT and every command would keep it ignored: the
    tests that send a command Ctrl-C would see it do nothing. Commands start with the default, as from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def share_the_cores(workers: int) -> None:
    """Give each worker's numerical libraries (and the commands it starts) its share of the cores, as
    scikit-learn's own test suite does under pytest-xdist. OpenMP and BLAS start a thread per core in every
    process, and threads that outnumber the cores spin while they wait: beside the other workers, a test that
    fits a gradient-boosting model in its own process ran ten times slower. Set before anything loads them;
    a value the caller exported is kept. The stages fix their own thread count, so no output changes."""
    threads = str(max(1, len(os.sched_getaffinity(0)) // workers))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, threads)


@contextlib.contextmanager
def run_wide(tmp_path_factory, name: str) -> Iterator[Path]:
    """A directory `name` that every worker of this test run shares (pytest-xdist runs tests in several processes),
    held under an exclusive lock while inside: one worker at a time reads or changes it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's own directory, holding each worker's
    directory = root / "shared" / name
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield directory


def shared_template(tmp_path_factory, name: str, build: Callable[[Path], object]) -> Path:
    """The template repo `name`, made by `build(path)` once for the whole run: the first worker to ask builds it
    while the others wait, so a set-up is paid once, not once per worker. Tests copy templates, never change them."""
    with run_wide(tmp_path_factory, name) as directory:
        repo, built = directory / "repo", directory / "built"
        if not built.exists():
            shutil.rmtree(repo, ignore_errors=True)  # what a failed build left
            build(repo)
            built.touch()
    return repo


@pytest.fixture(scope="session")
def fresh_template(tmp_path_factory) -> Path:
    """The project as a fresh clone has it: committed files only, nothing trained, no DVC cache."""
    return shared_template(tmp_path_factory, "fresh", copy_project)


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory, fresh_template) -> Path:
    """The project after the README's `mlops repro`: outputs built, DVC cache filled, git clean."""

    def build(repo: Path) -> None:
        clone_repo(fresh_template, repo)
        run(["mlops", "repro"], repo)

    return shared_template(tmp_path_factory, "trained", build)


@pytest.fixture(scope="session")
def hooked_template(tmp_path_factory, trained_template) -> Path:
    """The trained project after `mlops hooks install`, git clean (work in progress in the checkout the copy came
    from can leave dvc.lock changed by the training: it is committed first, as its author would)."""

    def build(repo: Path) -> None:
        clone_repo(trained_template, repo)
        run(["git", "commit", "-q", "--no-verify", "-m", "trained", "--allow-empty", "--", "dvc.lock", "reports"], repo)
        run(["mlops", "hooks", "install"], repo)  # nothing it writes names the repo's path: copies keep working hooks

    return shared_template(tmp_path_factory, "hooked", build)


@pytest.fixture
def repo(tmp_path, trained_template) -> Path:
    """This test's own trained copy of the project."""
    return clone_repo(trained_template, tmp_path / "repo")


@pytest.fixture
def hooked(tmp_path, hooked_template) -> Path:
    """This test's own trained copy with the hooks installed, as a user has them."""
    return clone_repo(hooked_template, tmp_path / "repo")


@pytest.fixture
def fresh_repo(tmp_path, fresh_template) -> Path:
    """This test's own untrained copy of the project."""
    return clone_repo(fresh_template, tmp_path / "repo")
