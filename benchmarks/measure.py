"""Running commands side by side: wall time and peak memory of each run, alternating the pair, medians."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def bench_env(**extra: str) -> dict[str, str]:
    """The environment every measured command runs in: this venv first, a fixed git identity, no analytics."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("PYTHONPATH", None)
    for role in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{role}_NAME"] = "Benchmarks"
        env[f"GIT_{role}_EMAIL"] = "benchmarks@example.invalid"
    env.update(extra)
    return env


class CommandFailed(Exception):
    pass


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float
    cpu_seconds: float = 0.0  # user + system of the command and every process it waited for


def run_measured(cmd: Sequence[str], cwd: Path, env: dict | None = None) -> Sample:
    """Run `cmd` once; its wall time and the peak RSS of it and every process it waited for (os.wait4)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        list(cmd), cwd=cwd, env=env or bench_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = output.decode(errors="replace")[-2000:]
        raise CommandFailed(f"`{' '.join(cmd)}` exited {process.returncode} in {cwd}:\n{tail}")
    return Sample(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def run_quiet(cmd: Sequence[str] | str, cwd: Path, env: dict | None = None) -> str:
    """Run a setup command (not measured); raise with its output if it fails."""
    result = subprocess.run(
        cmd, cwd=cwd, env=env or bench_env(), capture_output=True, text=True, shell=isinstance(cmd, str)
    )
    if result.returncode != 0:
        raise CommandFailed(f"`{cmd}` exited {result.returncode} in {cwd}:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass
class Case:
    """One command to measure; `prepare` runs (untimed) before every measured run."""

    name: str
    cmd: Sequence[str]
    cwd: Path
    prepare: Callable[[], None] | None = None
    samples: list[Sample] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # beside `bench_env()`'s

    def run_once(self) -> None:
        if self.prepare:
            self.prepare()
        self.samples.append(run_measured(self.cmd, self.cwd, bench_env(**self.env)))

    @property
    def seconds(self) -> float:
        return statistics.median(sample.seconds for sample in self.samples)

    @property
    def cpu_seconds(self) -> float:
        """Median CPU time: steadier than wall time on a machine others share."""
        return statistics.median(sample.cpu_seconds for sample in self.samples)

    @property
    def peak_mb(self) -> float:
        return statistics.median(sample.peak_mb for sample in self.samples)


def alternate(cases: Sequence[Case], repetitions: int, warmup: bool = True) -> None:
    """Run the cases in turn, `repetitions` rounds, reversing the order every other round (ABC CBA ABC ...)."""
    if warmup:
        for case in cases:
            case.run_once()
            case.samples.clear()
    for round_number in range(repetitions):
        order = cases if round_number % 2 == 0 else list(reversed(cases))
        for case in order:
            case.run_once()
