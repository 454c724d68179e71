"""Run this project's stages in warm forks instead of new Python processes.

DVC runs each stage's `cmd` through a shell in a new Python, which spends 0.5 to 2 s importing pandas,
scikit-learn and skops before any work: on the default data, more than the work itself. While `mlops repro`
(or its subset experiment) has DVC run the pipeline, a stage whose `cmd` is exactly
`python -m pipeline.stages.<name>` is instead run in a fork of a `StageRunner`: a fork of `mlops` started
before DVC, which imports those libraries while DVC starts and checks the stages (two runners: one imports
pandas alone, ready for ingest, the other scikit-learn and skops too, ready by train), or a fork of this
user's warm stage server (`stage_server`), which has imported them already. The
stage's fork moves to the stage's directory, environment and the caller's standard streams, imports the
project's own code afresh from there when it differs from what the runner imported (an experiment's copy may
hold other code), runs the module as `__main__`, and exits with its status. DVC still decides what runs, and
hashes, caches and locks every output as usual; any other `cmd` runs through the shell as DVC's own runner
runs it, and `dvc repro` alone is untouched. Stopped while a stage runs, `mlops` has the runner end the stage
and reap it before the stop unwinds.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import re
import runpy
import select
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from hooks.stop_signals import STOP_SIGNALS, stops_to_take
from pipeline.experiments import stage_server
from pipeline.training import model_file
from pipeline.versioning.exp_queue import only_its_own_experiment, queued_all_or_nothing
from pipeline.versioning.journal import raise_if_stopped
from pipeline.versioning.param_edits import only_set_params_rewritten

STAGE_CMD = re.compile(r"^python -m pipeline\.stages\.(\w+)$")
PROJECT_PACKAGES = ("pipeline", "hooks")
# Libraries more than one stage imports, imported once in this process before the first fork that needs them
# (one that a single stage uses gains nothing from it: the fork imports it as the stage's own process would).
# The project's own count too: building the params' pydantic models alone takes 0.06 s in every fork.
COMMON_IMPORTS = ("numpy", "pandas", "pyarrow.parquet", "pyarrow.dataset", "yaml", "pydantic", "pipeline.params")
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
        # A library missing, or failing as it is imported (a bad value of a variable it reads, such as
        # NUMPY_MADVISE_HUGEPAGE): the stage's own import fails the same way and reports it, as under `dvc repro`.
        for module in (*COMMON_IMPORTS, *(MODEL_IMPORTS if stage in MODEL_STAGES else ())):
            with contextlib.suppress(Exception):
                importlib.import_module(module)
        if stage in MODEL_STAGES:
            with contextlib.suppress(Exception):
                model_file.skops_io()
    finally:
        gc.enable()
    gc.freeze()  # the forks' collections then never walk the libraries' objects (nor copy their pages)


def name_process(name: str) -> None:
    """Call this process `name` in ps/top (/proc/<pid>/comm), since its command line is another's."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, name[:15].encode(), 0, 0, 0)  # PR_SET_NAME


def _end_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Linux: this process gets `signum` when `parent` ends, however it ends (SIGKILL included), so that no stage
    goes on writing outputs after `mlops` was killed and the next command has put the workspace back."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signum, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before the request took effect
        os._exit(1)


def interrupted_with_parent(parent: int):
    """For `subprocess.Popen(preexec_fn=...)`: the child is interrupted as by Ctrl-C when `parent` ends, however
    it ends, so a DVC experiment it runs cleans up after itself instead of running on unseen. It takes SIGINT as
    Ctrl-C even when `parent` ignores it (a script's background job): SIGINT is how it is stopped, and a Python
    started with SIGINT ignored never raises KeyboardInterrupt."""

    def prepare() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _end_with_parent(parent, signal.SIGINT)

    return prepare


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


def _run_in_child(
    stage: str, cwd: str, env: dict[str, str], code_dir: str, parent: int, stdio: dict[int, int] | None = None
) -> int:
    status = 1
    try:
        _end_with_parent(parent)
        # As in a new Python: the parent's handlers (the runner's) are not the stage's; an ignored signal stays so.
        for signum in stops_to_take():
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the runner across the fork
        for target, fd in (stdio or {}).items():  # the caller's standard streams as they are now, not at the fork
            os.dup2(fd, target)
        name_process(f"stage:{stage}")
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
    """Run `python -m pipeline.stages.<stage>` in `cwd` in a fork of a runner `stages_in_warm_forks` started,
    with the project code of `code_dir` (default: `cwd`); its exit status (negative: a signal)."""
    runners = _runners[-1]
    return runners[stage in MODEL_STAGES].run((stage,), cwd, env, code_dir or cwd)


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


def _end_stage(pid: int, signum: int = signal.SIGKILL) -> None:
    from pipeline.versioning.journal import uninterruptible

    with uninterruptible(), contextlib.suppress(ChildProcessError):  # a second Ctrl-C must not skip the reaping
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        os.waitpid(pid, 0)


def _open_stdio() -> list[int]:
    """Which of this process's standard streams (0, 1, 2) are open."""
    found = []
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.fstat(fd)
            found.append(fd)
    return found


class StageRunner:
    """A fork of this process that imports the stages' libraries from the moment it starts (on the other core,
    while the caller starts DVC or checks the workspace), then runs the stages it is asked for, in order, each in
    a warm fork of itself: `go(...)` then `wait()`, or `run(...)` for both. A stop of the caller ends the runner
    with `stop(at_once=True)`: the runner kills its stage and reaps it before it ends, so when `stop` returns no
    stage is left writing. The runner ends with its caller however the caller ends (SIGKILL included), and its
    stage with it."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        self._in_flight, served = False, stage_server.connect(stages)
        self._served = served is not None
        if served is not None:  # a fork of the warm stage server: its pid comes first on the channel
            self._channel, self._pid = served, None
            return
        self._channel, theirs = socket.socketpair()
        parent = os.getpid()
        self._pid = os.fork()
        if self._pid == 0:
            self._channel.close()
            _end_with_parent(parent)
            serve_runner(theirs, stages)
        theirs.close()

    @property
    def pid(self) -> int:
        """The runner's process id (0 once it has ended)."""
        if self._pid is None:
            self._pid = self._read_number()
        return self._pid

    def go(self, stages: tuple[str, ...], cwd: str, env: dict[str, str], code_dir: str) -> None:
        """Run `stages` in `cwd` with the project code of `code_dir`, with this process's standard streams."""
        sys.stdout.flush()
        sys.stderr.flush()
        stdio = _open_stdio()
        request = {"stages": list(stages), "cwd": cwd, "env": env, "code_dir": code_dir, "stdio": stdio}
        self._in_flight = True  # first: a stop as the request goes must have the runner end what it started
        socket.send_fds(self._channel, [json.dumps(request).encode() + b"\n"], stdio)

    def wait(self) -> int:
        """The first failing stage's exit status, or 0 (the runner's own status if it ended meanwhile)."""
        if self._pid is None:
            self._pid = self._read_number()
        status = self._read_number()
        self._in_flight = False
        if status is not None:
            return status
        status = 1 if self._served else self._reap()
        return status if status != 0 else 1

    def _read_number(self) -> int | None:
        """The next line the runner sends (a number), or None when it ended first."""
        reply = b""
        while not reply.endswith(b"\n") and (chunk := self._channel.recv(1)):
            reply += chunk
        return int(reply) if reply.endswith(b"\n") else None

    def run(self, stages: tuple[str, ...], cwd: str, env: dict[str, str], code_dir: str) -> int:
        """`go`, then `wait`: stopped meanwhile, the stages end before the stop goes on."""
        try:
            self.go(stages, cwd, env, code_dir)
            return self.wait()
        except BaseException:
            self.stop(at_once=True)
            raise

    def stop(self, at_once: bool = False) -> None:
        """End the runner: after the stages it runs have ended (`at_once`: ended by it, at once)."""
        if self._pid != 0 and self._in_flight and not at_once:
            self.wait()
        if self._served:  # the server's runner: closing our end ends its stage, then the runner
            self._end_served()
        elif self._pid:  # SIGTERM: the runner kills its stage and reaps it; idle (perhaps importing), it just ends
            _end_stage(self._pid, signal.SIGTERM if self._in_flight else signal.SIGKILL)
        self._pid = 0
        self._channel.close()

    def _end_served(self) -> None:
        """Close our end and, when a stage runs, wait until the runner has ended it and itself: the runner's
        end of the channel closes only once the runner has exited."""
        from pipeline.versioning.journal import uninterruptible

        with uninterruptible(), contextlib.suppress(OSError):  # a second Ctrl-C must not skip the waiting
            self._channel.shutdown(socket.SHUT_WR)
            while self._in_flight and self._channel.recv(64):
                pass

    def _reap(self) -> int:
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(self._pid, 0)
            self._pid = 0
            return os.waitstatus_to_exitcode(status)
        self._pid = 0
        return 1


def serve_runner(channel: socket.socket, stages: tuple[str, ...], watch_caller: bool = False) -> None:
    """The runner's life: import what `stages` need, then run each request's stages in forks, one at a time,
    replying with the first failing status (or 0); SIGTERM, SIGHUP or Ctrl-C end the stage running, then the runner.
    `watch_caller` (a runner that is not the caller's child): the caller closing the channel ends the stage too."""
    status, running = 1, [0]

    def end(signum: int, _frame: object) -> None:
        if running[0]:
            with contextlib.suppress(OSError):
                os.kill(running[0], signal.SIGKILL)
                os.waitpid(running[0], 0)
        os._exit(128 + signum)

    try:
        for signum in stops_to_take():  # one ignored by `mlops` (`nohup`, a background job) stays so
            signal.signal(signum, end)
        for stage in stages:  # all at once: a stage forked between two imports would wait for the second
            preload(stage)
        while request := _receive(channel):
            message, fds = request
            status = 0
            for stage in message["stages"]:
                preload(stage)
                stdio = dict(zip(message["stdio"], fds, strict=True))
                runner = os.getpid()
                signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # a stop before `running` knows the fork
                pid = os.fork()  # would end the runner alone, leaving the stage orphaned, unreaped
                if pid == 0:
                    channel.close()
                    _run_in_child(stage, message["cwd"], message["env"], message["code_dir"], runner, stdio)
                running[0] = pid
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                status = _await_stage(pid, channel if watch_caller else None)
                running[0] = 0
                if status != 0:
                    break
            for fd in fds:
                os.close(fd)
            channel.sendall(f"{status}\n".encode())
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status if 0 <= status < 256 else 128 - status)


def _await_stage(pid: int, caller: socket.socket | None) -> int:
    """The stage's exit status; killed first if `caller` closes its end meanwhile (or sends anything: it sends
    nothing while a stage runs)."""
    if caller is not None:
        stage = os.pidfd_open(pid)
        try:
            if caller in select.select([stage, caller], [], [])[0]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            os.close(stage)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _receive(channel: socket.socket) -> tuple[dict, list[int]] | None:
    """The next request and the descriptors sent with it; None once the caller has closed its end."""
    data, fds = b"", []
    while not data.endswith(b"\n"):
        chunk, more, _flags, _address = socket.recv_fds(channel, 1 << 16, 3)
        if not chunk:
            return None
        data, fds = data + chunk, fds + more
    return json.loads(data), fds


def run_in_shell(command: list[str], **popen_arguments) -> int:
    """Any other stage command, as DVC's runner starts it; its exit status, awaited as a warm stage's is."""
    process = subprocess.Popen(command, **popen_arguments)
    process.returncode = wait_for_stage(process.pid)
    return process.returncode


_runners: list[tuple[StageRunner, StageRunner]] = []  # (for the other stages, for the model's)


@contextlib.contextmanager
def stages_in_warm_forks() -> Iterator[None]:
    """While inside, DVC runs this project's stage commands with `run_forked` (others as usual), in forks of the
    `StageRunner`s started on entry: their imports overlap DVC's start."""
    from dvc.stage import run as dvc_stage_run
    from dvc.stage.exceptions import StageCmdFailedError

    dvc_run = dvc_stage_run._run

    def run(executable, cmd, **kwargs):
        raise_if_stopped()  # a stop a library took (fsspec's `except:`) while DVC prepared: run no more stages
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
    if os.name == "posix":
        # Two: the other stages' fewer imports are done before DVC asks for ingest, the model's by train.
        _runners.append((StageRunner(("ingest",)), StageRunner(tuple(MODEL_STAGES))))
    try:
        yield
    finally:
        dvc_stage_run._run = dvc_run
        if os.name == "posix":
            for runner in _runners.pop():
                runner.stop(at_once=True)


def run_stage_server() -> None:
    """The warm stage server's process (`stage_server.BOOT`): its runners serve as a runner forked by `mlops` does."""
    name_process(stage_server.PROCESS_NAME)
    stage_server.serve(preload, serve_runner)


def main(argv: list[str] | None = None) -> int:
    """`python -P -m pipeline.experiments.warm_stages [--journal-as COMMAND PID] DVC-ARGS...`: `dvc DVC-ARGS...` in
    this process, with this project's stages run warm (how `mlops exp sweep` and `mlops gate` start each experiment;
    `-P` keeps the installed code in charge even in a worktree of another revision, whose own stage code the forks
    then import). COMMAND and PID: the mlops command the user ran and its process, which the next command names
    should this run be killed."""
    from dvc.cli import main as dvc_main

    argv = sys.argv[1:] if argv is None else argv
    command, command_pid = "dvc " + " ".join(argv), None
    if argv[:1] == ["--journal-as"]:
        command, command_pid, argv = argv[1], int(argv[2]), argv[3:]
    # Journalled queueing, as `mlops exp run`'s: a sweep's run killed outright (SIGKILL, an OOM kill) while DVC had
    # set its params in the workspace and detached HEAD left them so, and the next run trained on them.
    queued = queued_all_or_nothing(command, command_pid)
    with stages_in_warm_forks(), only_its_own_experiment(), only_set_params_rewritten(), queued:
        return dvc_main(argv)


if __name__ == "__main__":
    sys.exit(main())
