"""Run this project's stages in warm forks of the `mlops` process instead of new Python processes.

DVC runs each stage's `cmd` through a shell in a new Python, which spends 0.5 to 2 s importing pandas,
scikit-learn and skops before any work: on the default data, more than the work itself. While `mlops repro`
(or its subset experiment) has DVC run the pipeline, a stage whose `cmd` is exactly
`python -m pipeline.stages.<name>` is instead run in a fork of this process, which has imported those
libraries once: the child moves to the stage's directory and environment, imports the project's own code
afresh from there when it differs from what this process imported (an experiment's copy may hold other
code), runs the module as `__main__`, and exits with its status. DVC still decides what runs, and hashes,
caches and locks every output as usual; any other `cmd` runs through the shell as DVC's own runner runs it,
and `dvc repro` alone is untouched. Stopped while a stage runs, this process ends the stage and waits for it
before it unwinds.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import os
import re
import runpy
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from pipeline.training import model_file
from pipeline.versioning.exp_queue import only_its_own_experiment
from pipeline.versioning.journal import raise_if_stopped
from pipeline.versioning.param_edits import only_set_params_rewritten

STAGE_CMD = re.compile(r"^python -m pipeline\.stages\.(\w+)$")
PROJECT_PACKAGES = ("pipeline", "hooks")
# Libraries more than one stage imports, imported once in this process before the first fork that needs them
# (one that a single stage uses gains nothing from it: the fork imports it as the stage's own process would).
# The project's own count too: building the params' pydantic models alone takes 0.06 s in every fork.
COMMON_IMPORTS = ("numpy", "pandas", "pyarrow.parquet", "yaml", "pydantic", "pipeline.params")
MODEL_IMPORTS = (
    "threadpoolctl",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "pipeline.metrics",
    "pipeline.training.auc",
    "pipeline.training.model",
)
MODEL_STAGES = frozenset({"train", "evaluate"})


def stage_of(cmd: str) -> str | None:
    """The stage module's name when `cmd` runs one of this project's stages and nothing else."""
    match = STAGE_CMD.match(cmd.strip())
    return match.group(1) if match else None


def preload(stage: str) -> None:
    """Import, in this process, the libraries `stage` needs, so that its fork starts warm."""
    gc.disable()  # importing makes objects but no garbage: collecting meanwhile costs a sixth of the import time
    try:
        for module in (*COMMON_IMPORTS, *(MODEL_IMPORTS if stage in MODEL_STAGES else ())):
            with contextlib.suppress(ImportError):  # a missing optional library: the stage reports it itself
                importlib.import_module(module)
        if stage in MODEL_STAGES:
            model_file.skops_io()
    finally:
        gc.enable()
    gc.freeze()  # the forks' collections then never walk the libraries' objects (nor copy their pages)


def _name_process(stage: str) -> None:
    """Call the fork `stage:<name>` in ps/top (/proc/<pid>/comm), since its command line is `mlops`'s."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, f"stage:{stage}"[:15].encode(), 0, 0, 0)  # PR_SET_NAME


def _end_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Linux: this process gets `signum` when `parent` ends, however it ends (SIGKILL included), so that no stage
    goes on writing outputs after `mlops` was killed and the next command has put the workspace back."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signum, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the request took effect
        os._exit(1)


def interrupted_with_parent(parent: int):
    """For `subprocess.Popen(preexec_fn=...)`: the child is interrupted as by Ctrl-C when `parent` ends, however
    it ends, so a DVC experiment it runs cleans up after itself instead of running on unseen."""
    return lambda: _end_with_parent(parent, signal.SIGINT)


def _same_project_code(cwd: str) -> bool:
    """Whether the stage's directory holds exactly the project code this process imported (the usual case:
    the checkout `mlops` is installed from, or an unchanged copy of it); then the fork reuses those modules."""
    import pipeline

    root, other = Path(pipeline.__file__).resolve().parents[1], Path(cwd).resolve()
    if root == other:
        return True
    for package in PROJECT_PACKAGES:
        ours = sorted(path.relative_to(root) for path in (root / package).rglob("*.py"))
        theirs = sorted(path.relative_to(other) for path in (other / package).rglob("*.py"))
        if ours != theirs or any((root / name).read_bytes() != (other / name).read_bytes() for name in ours):
            return False
    return True


def _exit_status(error: SystemExit) -> int:
    if error.code is None or isinstance(error.code, int):
        return error.code or 0
    print(error.code, file=sys.stderr)
    return 1


def _run_in_child(stage: str, cwd: str, env: dict[str, str], code_dir: str, parent: int) -> int:
    status = 1
    try:
        _end_with_parent(parent)
        # As in a new Python: the parent's handlers (the journal's SIGTERM/SIGHUP unwinding) are not the stage's.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        _name_process(stage)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        if not _same_project_code(code_dir):  # import the stage's own code, as `python -m` in `cwd` would
            for name in [name for name in sys.modules if name.split(".")[0] in PROJECT_PACKAGES]:
                del sys.modules[name]
            sys.path.insert(0, code_dir)
        runpy.run_module(f"pipeline.stages.{stage}", run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as error:
        status = _exit_status(error)
    except KeyboardInterrupt:
        status = 128 + signal.SIGINT
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)  # never return into the parent's code (DVC, the CLI) in the child
    return status  # not reached


def run_forked(stage: str, cwd: str, env: dict[str, str], code_dir: str | None = None) -> int:
    """Run `python -m pipeline.stages.<stage>` in `cwd` in a fork of this process, with the project code of
    `code_dir` (default: `cwd`); its exit status (negative: a signal)."""
    preload(stage)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _run_in_child(stage, cwd, env, code_dir or cwd, parent)
    return wait_for_stage(pid)


def wait_for_stage(pid: int) -> int:
    """The exit status of the stage process `pid` (negative: a signal). A stop (Ctrl-C, SIGTERM, SIGHUP) that
    reaches this process while it waits ends the stage and reaps it before the stop unwinds: a stage left running
    would write its outputs over the files the journal puts back."""
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:
        _end_stage(pid)
        raise
    return os.waitstatus_to_exitcode(status)


def _end_stage(pid: int) -> None:
    from pipeline.versioning.journal import uninterruptible

    with uninterruptible(), contextlib.suppress(ChildProcessError):  # a second Ctrl-C must not skip the reaping
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class StagesStarted:
    """Stages run in order, in warm forks of a process that starts importing their libraries at once: the
    caller checks and prepares meanwhile (on the other core), then calls `go(cwd)` and later `wait()`, or
    `stop()` to run nothing."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        release, self._release = os.pipe()  # the runner reads, this process writes
        self._released = False
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            _end_with_parent(parent)
            os.close(self._release)
            self._runner(release, stages)
        os.close(release)

    @staticmethod
    def _runner(release: int, stages: tuple[str, ...]) -> None:
        status = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C while importing: gone, as the caller stops
            for stage in stages:
                preload(stage)
            message = b""
            while not message.endswith(b"\n") and (chunk := os.read(release, 4096)):
                message += chunk
            if message.endswith(b"\n"):  # else the caller gave up (end of file)
                cwd, code_dir = message[:-1].decode().split("\0")
                status = 0
                for stage in stages:
                    status = run_forked(stage, cwd, dict(os.environ), code_dir)
                    if status != 0:
                        break
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status if 0 <= status < 256 else 128 - status)

    def go(self, cwd: str, code_dir: str) -> None:
        """Run the stages in `cwd` with the project code of `code_dir`."""
        os.write(self._release, f"{cwd}\0{code_dir}\n".encode())
        self._released = True

    def wait(self) -> int:
        """The first failing stage's exit status, or 0."""
        self._close_release()
        _, status = os.waitpid(self.pid, 0)  # stopped meanwhile, the caller ends the stages (`stop(at_once=True)`)
        self.pid = 0
        return os.waitstatus_to_exitcode(status)

    def _close_release(self) -> None:
        if self._release >= 0:
            os.close(self._release)
            self._release = -1

    def stop(self, at_once: bool = False) -> None:
        """Unless it has been waited for: end a runner that was never released (it only imported), or wait
        for one that was; `at_once`: end it (and so its stage) whatever it is doing."""
        if self.pid:
            self._close_release()
            if at_once or not self._released:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


def run_in_shell(command: list[str], **popen_arguments) -> int:
    """Any other stage command, as DVC's runner starts it; its exit status, awaited as a warm stage's is."""
    process = subprocess.Popen(command, **popen_arguments)
    process.returncode = wait_for_stage(process.pid)
    return process.returncode


@contextlib.contextmanager
def stages_in_warm_forks() -> Iterator[None]:
    """While inside, DVC runs this project's stage commands with `run_forked` (others as usual)."""
    from dvc.stage import run as dvc_stage_run
    from dvc.stage.exceptions import StageCmdFailedError

    dvc_run = dvc_stage_run._run

    def run(executable, cmd, **kwargs):
        raise_if_stopped()  # a stop a library took (fsspec's bare `except:`) while DVC prepared: run no more stages
        if os.name != "posix":
            return dvc_run(executable, cmd, **kwargs)
        stage = stage_of(cmd)
        if stage is None:
            status = run_in_shell(dvc_stage_run._make_cmd(executable, cmd), **kwargs)
        else:
            status = run_forked(stage, kwargs["cwd"], kwargs["env"])
        if status != 0:
            raise StageCmdFailedError(cmd, status)
        return None

    dvc_stage_run._run = run
    try:
        yield
    finally:
        dvc_stage_run._run = dvc_run


def main(argv: list[str] | None = None) -> int:
    """`python -P -m pipeline.experiments.warm_stages DVC-ARGS...`: `dvc DVC-ARGS...` in this process, with this
    project's stages run warm (how `mlops exp run` starts each concurrent experiment; `-P` keeps the installed code in
    charge even in a worktree of another revision, whose own stage code the forks then import)."""
    from dvc.cli import main as dvc_main

    with stages_in_warm_forks(), only_its_own_experiment(), only_set_params_rewritten():
        return dvc_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
