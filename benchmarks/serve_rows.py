"""A bounded loopback load test of `mlops serve`: a few seconds of closed-loop traffic from client threads
(urllib, no extra tool) against a server on 127.0.0.1 in a trained copy, for single-loan and 100-loan requests.
The anchor is the same loans scored in this process by `pipeline.serving.predict.score_frame` (what `mlops predict` runs
per chunk): the gap is HTTP, JSON, request validation and logging."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks import workspaces
from benchmarks.measure import CommandFailed, bench_env
from benchmarks.report import Row

CLIENT_THREADS = 4
BATCH = 100
TARGET_P99_MS = {1: 100.0, BATCH: 250.0}


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(repo: Path):
    """`mlops serve` on a free loopback port, stopped (SIGINT, as Ctrl-C) afterwards; yields its base URL."""
    import signal

    port = free_port()
    process = subprocess.Popen(
        ["mlops", "serve", "--port", str(port), "--log-dir", "logs/bench"],
        cwd=repo,
        env=bench_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, process)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_health(base: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandFailed(f"mlops serve exited with {process.returncode}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(base + "/health", timeout=2).read()
            return
        time.sleep(0.2)
    raise CommandFailed("mlops serve did not answer /health within 60 s")


def post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def load(url: str, body: bytes, seconds: float, threads: int = CLIENT_THREADS) -> Load:
    """Closed-loop load: each thread posts `body` again as soon as the answer arrives, for `seconds`."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        mine = []
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            post(url, body)
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return Load(len(latencies), time.perf_counter() - started, latencies)


def sample_loans(repo: Path, rows: int) -> list[dict]:
    import pandas as pd

    frame = pd.read_parquet(repo / "data/split/test.parquet").drop(columns=["Class"]).head(rows)
    return json.loads(frame.to_json(orient="records"))


def in_process_ms(repo: Path, loans: list[dict], repetitions: int = 50) -> float:
    """The median time of `score_frame` on these loans in this process (the model loaded once)."""
    import pandas as pd

    from pipeline.serving.app import load_served_model
    from pipeline.serving.predict import score_frame

    with working_directory(repo):
        served = load_served_model(None)
    frame = pd.DataFrame(loans)
    score_frame(served.model, served.metadata, frame, served.md5)
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        score_frame(served.model, served.metadata, frame, served.md5)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def working_directory(path: Path):
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def ms(value: float) -> str:
    return f"{value:.1f} ms"


def load_rows(label: str, sequential: Load, concurrent: Load, anchor_ms: float, size: int) -> list[Row]:
    """Latency from one client posting back to back; throughput from CLIENT_THREADS clients."""
    target = TARGET_P99_MS[size]
    p50, p99 = sequential.percentile(0.5), sequential.percentile(0.99)
    passed = p99 <= target
    note = f"one client, {sequential.requests} requests in {sequential.seconds:.1f} s"
    busy = concurrent.percentile(0.99)
    throughput = f"{concurrent.per_second:,.0f} req/s ({concurrent.per_second * size:,.0f} loans/s)"
    measure = f"`mlops serve` {label}"
    return [
        Row(
            f"{measure}: p99 latency",
            ms(p99),
            ms(anchor_ms),
            f"{p99 / anchor_ms:.2f}x",
            f"≤ {target:g} ms",
            "pass" if passed else "miss",
            "" if passed else note,
        ),
        Row(
            f"{measure}: p50 latency (anchor: in-process `score_frame`)",
            ms(p50),
            ms(anchor_ms),
            f"{p50 / anchor_ms:.2f}x",
            "—",
            "info",
            note,
        ),
        Row(
            f"{measure}: throughput",
            throughput,
            f"{1000 / anchor_ms:,.0f} req/s",
            "—",
            "—",
            "info",
            f"{CLIENT_THREADS} clients, {concurrent.requests} requests in {concurrent.seconds:.1f} s, p99 "
            f"{busy:.0f} ms; anchor: one in-process scorer, back to back",
        ),
    ]


def serve_section(work: Path, settings) -> list[Row]:
    repo = workspaces.trained_copy(work / "repo")
    single, batch = sample_loans(repo, 1)[0], sample_loans(repo, BATCH)
    rows = []
    with running_server(repo) as base:
        url = base + "/predict"
        for label, body, size, anchor_loans in (
            ("single loan", single, 1, [single]),
            (f"{BATCH}-loan batch", batch, BATCH, batch),
        ):
            encoded = json.dumps(body).encode()
            load(url, encoded, 1.0)  # warm-up
            sequential = load(url, encoded, settings.serve_seconds / 2, threads=1)
            concurrent = load(url, encoded, settings.serve_seconds / 2)
            rows += load_rows(label, sequential, concurrent, in_process_ms(repo, anchor_loans), size)
    return rows
