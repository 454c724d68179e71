"""`mlops serve` for real: a server on 127.0.0.1 started as a subprocess in a trained copy of the project;
requests over loopback; the prediction log, drift and deploy commands on what it logged."""

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.paths import MODEL
from tests import conftest
from tests.conftest import hangups_as_from_a_terminal, run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, repo: Path, *args: str, host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.base = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        self.process = subprocess.Popen(
            ["mlops", "serve", "--host", host, "--port", str(self.port), *args],
            cwd=repo,
            env=conftest.test_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=hangups_as_from_a_terminal,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"mlops serve exited: {self.process.stdout.read()}")
            try:
                self.get("/health")
                self.said_first, self.start_line = [], ""  # what it said before its start line, and that line
                for line in iter(self.process.stdout.readline, ""):
                    if line.startswith("champion: "):
                        self.start_line = line
                        break
                    self.said_first.append(line)
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("mlops serve did not answer /health within 60 s")

    def get(self, path: str) -> dict | str:
        with urllib.request.urlopen(self.base + path, timeout=5) as response:
            body = response.read().decode()
            return json.loads(body) if response.headers["content-type"].startswith("application/json") else body

    def post(self, body) -> tuple[int, object]:
        request = urllib.request.Request(
            self.base + "/predict", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:  # a generous wait: these tests check answers and logs, never speed (the benchmarks measure that)
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        """Stop as Ctrl-C would: uvicorn shuts down and the log writer flushes everything queued."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def served_repo(repo):
    """The trained copy with its dvc.lock committed, so HEAD names the workspace's model."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    return repo


def loans(repo: Path, rows: int | None = None) -> list[dict]:
    """Held-out loans (validation + test splits) as the JSON objects a client sends: features only."""
    frame = pd.concat(
        [pd.read_parquet(repo / "data/split/validation.parquet"), pd.read_parquet(repo / "data/split/test.parquet")]
    )
    frame = frame.drop(columns=["Class"]).head(rows)
    return json.loads(frame.to_json(orient="records"))


def log_lines(repo: Path, folder: str = "logs") -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((repo / folder).glob("predictions*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_single_batch_and_invalid_requests(served_repo):
    server = Server(served_repo)
    try:
        loan = loans(served_repo, 1)[0]
        status, body = server.post(loan)
        assert status == 200, body
        assert set(body) == {"id", "p_default", "decision", "version"}
        assert body["version"]["rev"] == "workspace" and len(body["version"]["md5"]) == 32
        assert body["decision"] in ("approve", "reject") and 0 <= body["p_default"] <= 1

        status, body = server.post([dict(loan, id="a"), dict(loan, id="b")])
        assert status == 200 and [b["id"] for b in body] == ["a", "b"]

        for bad, field in ((dict(loan, annual_inc="lots"), "annual_inc"), (dict(loan, term="term_99"), "term")):
            status, body = server.post(bad)
            assert status == 422 and body["detail"][0]["loc"] == ["body", field]
        status, body = server.post([loan, {k: v for k, v in loan.items() if k != "int_rate"}])
        assert status == 422 and body["detail"][0]["loc"] == ["body", 1, "int_rate"]

        assert server.get("/version")["champion"]["rev"] == "workspace"
        metrics = server.get("/metrics")
        assert "# TYPE mlops_requests_total counter" in metrics
        assert 'mlops_requests_total{route="/predict",status="422"} 3.0' in metrics
        assert 'role="champion"' in metrics
    finally:
        server.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stopped_server_logs_every_loan_it_answered_frees_its_port_and_says_so(served_repo, signum):
    """SIGHUP (a closed terminal) ended the server at once, losing the queued log lines of loans already answered;
    SIGTERM and Ctrl-C ended it with no word (status 143 and 0)."""
    server = Server(served_repo)
    batch = loans(served_repo)
    status, answers = server.post(batch)
    assert status == 200 and len(answers) == len(batch)
    server.process.send_signal(signum)
    output = server.process.communicate(timeout=120)[0]
    assert server.process.returncode == 128 + signum, output
    assert f"Stopped by {signum.name}: the requests in flight were answered" in output
    assert "Traceback" not in output
    assert sorted(line["id"] for line in log_lines(served_repo)) == sorted(answer["id"] for answer in answers)
    with socket.socket() as probe:  # the port is free again for a new server (which binds it as uvicorn does)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", server.port))
        probe.listen()


def test_a_stopped_server_whose_log_failed_says_how_many_answered_loans_are_not_in_it(served_repo):
    """It said "every answered loan is in the prediction log" after a full disk had lost some."""
    server = Server(served_repo)
    loan = loans(served_repo, 1)[0]
    assert server.post(dict(loan, id="kept"))[0] == 200
    log = served_repo / "logs/predictions.jsonl"
    deadline = time.monotonic() + 10
    while not (log.exists() and "kept" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    log.unlink()
    log.symlink_to("/dev/full")  # the kernel's full disk
    assert server.post(dict(loan, id="lost"))[0] == 200
    server.process.send_signal(signal.SIGTERM)
    output = server.process.communicate(timeout=120)[0]
    assert server.process.returncode == 128 + signal.SIGTERM, output
    assert "Stopped by SIGTERM: the requests in flight were answered; 1 answered loan(s) could not be written" in output
    assert "every answered loan is in the prediction log" not in output and "Traceback" not in output, output


def commit_a_model_without_addr_state(repo: Path) -> str:
    """Train and commit a model that does not read addr_state (dropped, and out of the schema); its commit."""
    schema = json.loads((repo / "reports/schema.json").read_text())
    del schema["columns"]["addr_state"]
    (repo / "reports/schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    run("sed -i 's/^  drop: \\[rownames\\]/  drop: [rownames, addr_state]/' params.yaml && mlops repro", repo)
    run("git add -A && git commit -q --no-verify -m 'without addr_state'", repo)
    return run("git rev-parse HEAD", repo).stdout.strip()


def test_a_promotion_while_a_request_is_checked_does_not_score_it_with_the_new_champion(served_repo, monkeypatch):
    """The request was checked against the champion of its start and scored by the champion of the moment: a
    promotion in between (seconds, for a large batch) to a model reading a feature the old one did not (addr_state)
    answered 500."""
    from pipeline.serving import app
    from pipeline.serving.telemetry import PredictionLog
    from tests.reliability.test_hostile_requests import InProcessServer

    loan = dict(loans(served_repo, 1)[0], id="loan-1")
    del loan["addr_state"]
    narrow = commit_a_model_without_addr_state(served_repo)
    monkeypatch.chdir(served_repo)
    deployment = app.Deployment(champion=app.load_served_model(narrow))
    promoted = app.load_served_model(run("git rev-parse HEAD~1", served_repo).stdout.strip())
    checked = app.parse_request

    def promoted_meanwhile(raw, loan_model):
        parsed = checked(raw, loan_model)
        deployment.champion = promoted  # as the champion follower swaps it
        return parsed

    monkeypatch.setattr(app, "parse_request", promoted_meanwhile)
    server = InProcessServer(app.build_app(deployment, PredictionLog(served_repo / "logs", 1 << 20)))
    try:
        request = urllib.request.Request(
            server.base + "/predict", data=json.dumps(loan).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.loads(response.read())["version"]["rev"] == narrow
    finally:
        server.stop()


def test_a_server_started_with_hangups_ignored_nohup_goes_on_serving_after_one(served_repo):
    """`nohup mlops serve` is a server meant to outlive its terminal: the hangup must not stop it."""
    process = subprocess.Popen(
        ["nohup", "mlops", "serve", "--port", str(port := free_port())],
        cwd=served_repo,
        env=conftest.test_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGHUP)
        assert json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read())["status"]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in output, output  # not SIGHUP


def test_a_challenger_or_shadow_reading_a_feature_the_champion_does_not_scores_it_not_a_500(served_repo):
    """The request was checked against the champion's features alone, which dropped the others from the loan:
    every loan routed to a challenger that reads one (here addr_state, which the champion was trained without)
    answered 500, and a shadow's failed every request."""
    loan = dict(loans(served_repo, 1)[0], id="loan-1")
    full = run("git rev-parse HEAD", served_repo).stdout.strip()
    commit_a_model_without_addr_state(served_repo)
    for rollout in (["--challenger", full, "--share", "1"], ["--shadow", full]):
        server = Server(served_repo, "--rev", "HEAD", *rollout)
        try:
            status, body = server.post(loan)
            assert status == 200, body
            status, body = server.post({name: value for name, value in loan.items() if name != "addr_state"})
            assert status == 422 and body["detail"][0]["loc"] == ["body", "addr_state"], body
        finally:
            server.stop()
    scored = {(line["role"], line["rev"]) for line in log_lines(served_repo) if line["id"] == "loan-1"}
    assert scored == {
        ("challenger", full),
        ("champion", run("git rev-parse HEAD", served_repo).stdout.strip()),
        ("shadow", full),
    }


def test_a_burst_of_concurrent_requests_is_logged_completely(served_repo):
    server = Server(served_repo, "--log-max-mb", "0.2")
    loan = loans(served_repo, 1)[0]
    ids = [f"burst-{i}" for i in range(400)]
    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda i: server.post(dict(loan, id=i))[0], ids))
        assert statuses == [200] * len(ids)
    finally:
        server.stop()
    assert "Warning" not in server.process.stdout.read()  # concurrent scoring once left a warning per request
    lines = log_lines(served_repo)
    assert sorted(line["id"] for line in lines) == sorted(ids)
    assert len(list((served_repo / "logs").glob("predictions*.jsonl"))) > 1  # rotated by size


def test_challenger_share_and_shadow(served_repo):
    batch = [dict(loan, id=f"c-{i}") for i, loan in enumerate(loans(served_repo, 50) * 20)]
    server = Server(served_repo, "--challenger", "HEAD", "--share", "0.3", "--log-dir", "logs/challenger")
    try:
        first = server.post(batch)[1]
        again = server.post(batch[:100])[1]
    finally:
        server.stop()
    challenged = [r["id"] for r in first if r["version"]["rev"] != "workspace"]
    assert 0.25 < len(challenged) / len(first) < 0.35
    assert [r["version"]["rev"] for r in again] == [r["version"]["rev"] for r in first[:100]]  # stable per id

    plain, shadowed = Server(served_repo, "--log-dir", "logs/plain"), None
    try:
        expected = plain.post(batch[:200])[1]
    finally:
        plain.stop()
    shadowed = Server(served_repo, "--shadow", "HEAD", "--log-dir", "logs/shadow")
    try:
        assert shadowed.post(batch[:200])[1] == expected
    finally:
        shadowed.stop()
    roles = [line["role"] for line in log_lines(served_repo, "logs/shadow")]
    assert roles.count("shadow") == 200 and roles.count("champion") == 200


def test_drift_flags_shifted_traffic_and_not_unshifted(served_repo):
    traffic = loans(served_repo, 2000)
    shifted = [dict(loan, int_rate=loan["int_rate"] * 1.6, annual_inc=loan["annual_inc"] * 0.5) for loan in traffic]
    for folder, batch in (("logs/same", traffic), ("logs/shifted", shifted)):
        server = Server(served_repo, "--log-dir", folder)
        try:
            assert server.post(batch[:1000])[0] == 200 and server.post(batch[1000:])[0] == 200
        finally:
            server.stop()

    same = run(["mlops", "monitor", "drift", "--log-dir", "logs/same", "--out", "logs/same"], served_repo, check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no drift" in same.stdout

    moved = run(
        ["mlops", "monitor", "drift", "--log-dir", "logs/shifted", "--out", "logs/moved"], served_repo, check=False
    )
    assert moved.returncode == 1, moved.stdout + moved.stderr
    report = json.loads((served_repo / "logs/moved/drift.json").read_text())
    flagged = {f["name"] for f in report["features"] if f["psi"] > report["thresholds"]["psi"]}
    assert {"int_rate", "annual_inc"} <= flagged
    assert "<svg" in (served_repo / "logs/moved/drift.html").read_text()

    refused = run(["mlops", "monitor", "drift", "--log-dir", "logs/shifted", "--out", "data"], served_repo, check=False)
    assert refused.returncode == 2 and "--out data/drift.json is inside data/" in refused.stderr, refused.stderr
    assert refused.stderr.endswith("e.g. --out drift-reports\n"), refused.stderr  # a folder, as --out is here
    for out in ("params.yaml", "params.yaml/reports"):  # a file, where the report's folder goes
        refused = run(
            ["mlops", "monitor", "drift", "--log-dir", "logs/shifted", "--out", out], served_repo, check=False
        )
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert f"--out {out}: params.yaml is a file; --out names the folder" in refused.stderr, refused.stderr


def test_drift_refuses_a_window_below_the_minimum(served_repo):
    server = Server(served_repo, "--log-dir", "logs/small")
    try:
        server.post(loans(served_repo, 300))
    finally:
        server.stop()
    result = run(["mlops", "monitor", "drift", "--log-dir", "logs/small"], served_repo, check=False)
    assert result.returncode == 2 and "at least 1000 are needed" in result.stderr
    assert "Traceback" not in result.stderr


def test_drift_since_with_a_utc_offset_is_the_same_moment_as_in_utc(repo):
    logs = repo / "logs"
    logs.mkdir()
    line = {"id": "1", "served": True, "role": "champion", "features": {}, "time": "2026-12-01T16:25:00.000+00:00"}
    line |= {"model_md5": "m", "rev": "workspace", "p_default": 0.1}
    (logs / "predictions.jsonl").write_text(json.dumps(line) + "\n")
    for since, loans_in_window in [("2026-12-01T12:30:00-05:00", 0), ("2026-12-01T17:00:00+01:00", 1)]:
        result = run(["mlops", "monitor", "drift", "--since", since], repo, check=False)
        assert result.returncode == 2, result.stderr
        assert f"the window holds {loans_in_window} logged loans" in result.stderr, (since, result.stderr)


def test_every_monitor_command_refuses_a_log_line_that_is_no_scoring_record_by_file_line_and_key(repo, tmp_path):
    logs = tmp_path / "elsewhere"
    logs.mkdir()
    (logs / "predictions.jsonl").write_text('{"time": "2026-12-01T10:00:00", "id": 1, "features": {}}\n')
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("id,Class\n1,bad\n")
    for command in (["drift"], ["retrain", "--dry-run"], ["outcomes", str(outcomes)]):
        result = run(["mlops", "monitor", *command, "--log-dir", str(logs)], repo, check=False)
        assert result.returncode == 2, (command, result.stdout + result.stderr)
        assert f"{logs / 'predictions.jsonl'}, line 1: not a scoring record: no 'role'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr

    good = loans(repo, 1)[0]
    line = {"time": "2026-12-01T10:00:00", "id": "z", "role": "champion", "served": True, "model_md5": "m"}
    line |= {"rev": "workspace", "p_default": 0.1, "features": dict(good, annual_inc="abc")}
    (logs / "predictions.jsonl").write_text(json.dumps(line) + "\n")
    for command in (["drift"], ["retrain", "--dry-run"]):
        result = run(["mlops", "monitor", *command, "--log-dir", str(logs)], repo, check=False)
        assert result.returncode == 2, (command, result.stdout + result.stderr)
        assert "line 1: not a scoring record: feature 'annual_inc' is \"abc\", not a number" in result.stderr
        assert "Traceback" not in result.stderr


def test_drift_of_a_log_dir_elsewhere_writes_its_report_there_not_into_the_repository(served_repo, tmp_path):
    elsewhere = tmp_path / "ext"
    elsewhere.mkdir()
    md5 = md5_of_model(served_repo)
    lines = [
        {"time": "2026-12-01T10:00:00", "id": str(n), "role": "champion", "served": True, "model_md5": md5}
        | {"rev": "workspace", "p_default": 0.1, "features": loan}
        for n, loan in enumerate(loans(served_repo, 1000))
    ]
    (elsewhere / "predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run(["mlops", "monitor", "drift", "--log-dir", str(elsewhere)], served_repo, check=False)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert (elsewhere / "drift/drift.json").is_file() and (elsewhere / "drift/drift.html").is_file()
    assert not (served_repo / "logs").exists()
    assert run(["git", "status", "--porcelain"], served_repo).stdout == ""


def test_outcomes_refused_for_a_log_it_cannot_read_records_nothing(repo, tmp_path):
    """The outcomes were appended before the log was read: each refused run still recorded them."""
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("id,Class\n1,bad\n")
    (repo / "logs").mkdir()
    (repo / "logs/predictions.jsonl").write_bytes(b"\xff\xfe not text\n")
    for _ in range(2):
        result = run(["mlops", "monitor", "outcomes", str(outcomes)], repo, check=False)
        assert result.returncode == 2 and "predictions.jsonl, line 1: not UTF-8 text" in result.stderr, result.stderr
    assert not (repo / "logs/outcomes.jsonl").exists()


def test_outcomes_and_drift_refuse_a_log_dir_that_holds_no_prediction_log(repo, tmp_path):
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("id,Class\n1,bad\n")
    before = run(["git", "status", "--porcelain", "--ignored"], repo).stdout
    for folder, words in [("log", "no such folder"), ("params.yaml", "not a folder")] + [
        (folder, "holds no prediction log of `mlops serve`") for folder in ("reports", ".git", str(tmp_path))
    ]:
        for command in (["outcomes", str(outcomes)], ["drift"]):
            result = run(["mlops", "monitor", *command, "--log-dir", folder], repo, check=False)
            assert result.returncode == 2 and f"--log-dir {folder}" in result.stderr, result.stderr
            assert words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert run(["git", "status", "--porcelain", "--ignored"], repo).stdout == before
    assert not (repo / "log").exists() and not (repo / "reports/.gitignore").exists()
    assert not (repo / ".git/outcomes.jsonl").exists() and not (tmp_path / "outcomes.jsonl").exists()
    logged = {"id": "1", "served": True, "role": "champion", "features": {}, "time": "2026-12-01T16:25:00.000+00:00"}
    logged |= {"model_md5": "m", "rev": "workspace", "p_default": 0.1}
    (repo / "logs").mkdir()
    (repo / "logs/predictions.jsonl").write_text(json.dumps(logged) + "\n")
    recorded = run(["mlops", "monitor", "outcomes", str(outcomes)], repo)
    assert "1 match logged predictions" in recorded.stdout
    again = run(["mlops", "monitor", "outcomes", str(outcomes)], repo)  # sent twice: one loan, not two
    assert "Recorded 1 outcomes" in again.stdout and "1 replace outcomes recorded before" in again.stdout


def md5_of_model(repo: Path) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(o["md5"] for stage in lock["stages"].values() for o in stage.get("outs", []) if o["path"] == MODEL)


def champion_rev(server: Server, expected: str) -> str:
    """The champion's revision once the server has followed the registry to `expected` (or after 30 s)."""
    deadline = time.monotonic() + 30
    while server.get("/version")["champion"]["rev"] != expected and time.monotonic() < deadline:
        time.sleep(0.3)
    return server.get("/version")["champion"]["rev"]


@pytest.mark.slow
def test_a_champion_that_cannot_load_yet_is_reported_once_and_served_once_it_can(served_repo):
    """A promotion made elsewhere (its tags fetched) whose model is neither in the cache nor on the remote yet: the
    server keeps serving, says why once, and switches as soon as the model is there (a `dvc pull` later)."""
    run("git switch -q -c candidate && git commit -q --no-verify --allow-empty -m next && git switch -q -", served_repo)
    second = run(["git", "rev-parse", "candidate"], served_repo).stdout.strip()
    server = Server(served_repo)
    md5 = md5_of_model(served_repo)
    cached = served_repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    aside = cached.with_name("aside")
    try:
        cached.rename(aside)  # the object is not here, and the test's remote never had it
        run(["gto", "assign", "lending-risk", "candidate", "--version", "v1.0.0", "--stage", "prod"], served_repo)
        time.sleep(4)  # a few of the follower's tries fail meanwhile
        assert server.get("/version")["champion"]["rev"] == "workspace"
        status, _ = server.post(loans(served_repo, 1)[0])
        assert status == 200
        aside.rename(cached)
        assert champion_rev(server, second) == second
    finally:
        server.stop()
    output = server.process.stdout.read()
    assert output.count("champion change not applied") == 1, output
    assert "champion is now lending-risk@v1.0.0" in output


@pytest.mark.slow
def test_promote_rollback_right_away_a_running_server_follows_and_serves_by_registry_reference(two_models):
    served_repo = two_models  # candidate: another model than main's
    first = run(["git", "rev-parse", "HEAD"], served_repo).stdout.strip()
    second = run(["git", "rev-parse", "candidate"], served_repo).stdout.strip()
    server = Server(served_repo)
    try:
        assert "champion: the workspace's model" in server.start_line and "following promotions" in server.start_line
        assert server.get("/version")["champion"]["rev"] == "workspace"
        run(["mlops", "deploy", "promote", "candidate", "--tolerance", "1.0"], served_repo)  # tags only: no commit
        assert champion_rev(server, second) == second
        status, body = server.post(loans(served_repo, 1)[0])
        assert status == 200 and body["version"]["rev"] == second
        run(["mlops", "deploy", "rollback"], served_repo)  # to the model served before the first promotion
        assert champion_rev(server, first) == first
    finally:
        server.stop()
    assert run(["git", "rev-parse", "HEAD"], served_repo).stdout.strip() == first

    server = Server(
        served_repo, "--model", "lending-risk@v1.1.0", "--challenger", "lending-risk@prod", "--share", "0.25"
    )
    try:
        line = server.start_line
        assert f"champion: lending-risk@v1.1.0 (commit {second[:12]})" in line and "75% of loans" in line
        assert f"challenger: lending-risk@v1.0.0 (commit {first[:12]})" in line and "25% of loans" in line
        version = server.get("/version")
        assert version["champion"]["rev"] == second and version["challenger"]["rev"] == first
        status, body = server.post([dict(loan, id=str(n)) for n, loan in enumerate(loans(served_repo, 40))])
        assert status == 200 and {b["version"]["rev"] for b in body} == {first, second}
    finally:
        server.stop()
    unknown = run(["mlops", "serve", "--model", "lending-risk#staging"], served_repo, check=False)
    assert unknown.returncode == 2 and "no version of lending-risk is in stage staging" in unknown.stderr


@pytest.mark.slow
def test_a_running_server_whose_prod_stage_is_emptied_serves_the_workspace_model_as_a_restarted_one_would(
    served_repo,
):
    run("git switch -q -c candidate && git commit -q --no-verify --allow-empty -m next && git switch -q -", served_repo)
    second = run(["git", "rev-parse", "candidate"], served_repo).stdout.strip()
    run(["mlops", "deploy", "promote", "candidate"], served_repo)  # HEAD's model: v1.0.0 at candidate, alone
    server = Server(served_repo)
    try:
        assert server.get("/version")["champion"]["rev"] == second
        run(["gto", "deprecate", "lending-risk", "v1.0.0", "prod"], served_repo)  # GTO's way to take it out of prod
        assert champion_rev(server, "workspace") == "workspace"
    finally:
        server.stop()
    assert "champion is now the workspace's model" in server.process.stdout.read()
    restarted = Server(served_repo)
    try:
        assert "champion: the workspace's model" in restarted.start_line
    finally:
        restarted.stop()


@contextlib.contextmanager
def served_in_this_process(repo: Path, log) -> Iterator[str]:
    """The workspace's model served by `build_app` over real HTTP from a thread of this process, writing to `log`
    (so a test can see where the app calls it); the base URL."""
    import threading

    import uvicorn

    from pipeline.serving.app import Deployment, build_app, load_served_model

    port = free_port()
    app = build_app(Deployment(load_served_model(None)), log)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class WhereWritten:
    """A prediction log that records only where each write was made: on the event loop or in a worker thread."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def write(self, records) -> None:
        try:
            asyncio.get_running_loop()
            self.threads.append("event loop")
        except RuntimeError:
            self.threads.append("worker")

    def close(self) -> None:
        pass


def test_a_batch_is_logged_and_answered_in_a_worker_thread_not_on_the_event_loop(repo, monkeypatch):
    """10,000 loans' log lines and JSON answer take seconds: made on the event loop, they stalled /health."""
    monkeypatch.chdir(repo)
    log = WhereWritten()
    with served_in_this_process(repo, log) as url:
        loans = pd.read_parquet(repo / "data" / "split" / "test.parquet").drop(columns=["Class"]).head(50)
        body, json_type = loans.to_json(orient="records").encode(), {"Content-Type": "application/json"}
        request = urllib.request.Request(f"{url}/predict", data=body, headers=json_type, method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert len(json.loads(answer.read())) == 50
    assert log.threads == ["worker"]


def test_no_page_loads_its_scripts_from_the_network_the_api_description_is_served(repo, monkeypatch):
    """FastAPI's /docs and /redoc pages load their scripts from a CDN: blank offline, so they are not served."""
    monkeypatch.chdir(repo)
    with served_in_this_process(repo, WhereWritten()) as url:
        for page in ("/docs", "/redoc"):
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(url + page, timeout=30)
            assert missing.value.code == 404
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # FastAPI's warning of a duplicate operation id, on the server's stderr
            with urllib.request.urlopen(f"{url}/openapi.json", timeout=30) as described:
                assert "/predict" in json.loads(described.read())["paths"]


def test_probe_endpoints_answer_head_with_their_headers_and_no_body(repo, monkeypatch):
    """Load balancers and `curl -I` check a service with HEAD, which got 405 (the routes took GET only)."""
    monkeypatch.chdir(repo)
    with served_in_this_process(repo, WhereWritten()) as url:
        port = int(url.rsplit(":", 1)[1])
        for path in ("/health", "/version", "/metrics"):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                answer = b"".join(iter(lambda: sock.recv(65536), b""))
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), (path, head)
            assert body == b"", (path, body[:100])
            request = urllib.request.Request(f"{url}{path}", data=b"", method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 405 and refused.value.headers["allow"] == "GET", path  # not HEAD alone
        with urllib.request.urlopen(f"{url}/metrics", timeout=30) as metrics:
            assert 'route="/health",status="200"} 1.0' in metrics.read().decode()


def test_a_mistyped_revision_is_named_before_a_busy_port(repo):
    """With port 8000 busy, `mlops serve --rev nope` named only the port: the revision was checked after it."""
    from tests.e2e.data_helpers import mlops

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for option, typed in (("--rev", "nope"), ("--rev", "lending-risk@v9.9.9"), ("--shadow", "nope")):
            refused = mlops(repo, "serve", "--host", "127.0.0.1", "--port", port, option, typed, check=False)
            assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
            assert typed in refused.stderr.splitlines()[0] and "cannot listen" not in refused.stderr, refused.stderr
        busy_port = mlops(repo, "serve", "--host", "127.0.0.1", "--port", port, "--rev", "HEAD", check=False)
        assert busy_port.returncode == 2 and "cannot listen on" in busy_port.stderr, busy_port.stderr


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_an_ipv6_host_is_served_and_named_in_brackets(served_repo):
    """`mlops serve --host ::1` was refused ('cannot listen on ::1:8000: Address family for hostname not supported'):
    the port was checked with an IPv4 socket, though uvicorn serves IPv6."""
    from tests.e2e.data_helpers import mlops

    server = Server(served_repo, host="::1")
    try:
        assert server.post(loans(served_repo, 1)[0])[0] == 200
        busy = mlops(served_repo, "serve", "--host", "::1", "--port", str(server.port), check=False)
        assert busy.returncode == 2, busy.stderr
        assert f"cannot listen on [::1]:{server.port}: Address already in use" in busy.stderr, busy.stderr
    finally:
        server.stop()
    assert f"Serving on http://[::1]:{server.port} " in server.process.stdout.read()


@pytest.mark.parametrize("cell", ["nan", "1e400", "NA", "null", "-1e400"])
def test_outcomes_quote_a_bad_is_bad_cell_as_the_file_writes_it(repo, tmp_path, cell):
    """A cell `nan` was quoted as '' and `1e400` as 'inf': the column was parsed before the message quoted it."""
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(f"id,is_bad\n1,1\n2,{cell}\n3,0\n")
    refused = run(["mlops", "monitor", "outcomes", str(outcomes)], repo, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert f"{outcomes}, row 3: is_bad '{cell}' is not 1/0 or true/false" in refused.stderr, refused.stderr


@pytest.mark.parametrize("name", ["outcomes.tsv", "outcomes.json", "outcomes.xlsx", "outcomes.jsonl"])
def test_outcomes_named_as_no_csv_or_parquet_file_are_refused_as_predict_and_data_add_refuse_them(repo, tmp_path, name):
    """Read as CSV whatever their name, a tab-separated file was refused for lacking its id column and a JSON file
    parsed as CSV; outcomes are read as predict and data add read a table (the log's own outcomes.jsonl too)."""
    outcomes = tmp_path / name
    outcomes.write_text("id\tClass\n1\tbad\n" if name.endswith(".tsv") else '[{"id": "1", "Class": "bad"}]\n')
    refused = run(["mlops", "monitor", "outcomes", str(outcomes)], repo, check=False)
    assert refused.returncode == 2, refused.stderr
    assert f"{outcomes} is not a CSV or parquet file (its name ends in {outcomes.suffix})" in refused.stderr
    assert "Traceback" not in refused.stderr and not list(repo.glob("logs/outcomes*"))


def test_a_loan_logged_with_its_id_as_a_number_and_as_text_is_one_loan_in_the_drift_window(repo):
    """The window counted `7` and `"7"` as two loans (and retrain took both into its batch), while outcomes joined
    both to the outcome of id "7"."""
    logs = repo / "logs"
    logs.mkdir()
    line = {"served": True, "role": "champion", "features": {}, "time": "2026-12-01T16:25:00.000+00:00"}
    line |= {"model_md5": "m", "rev": "workspace", "p_default": 0.1}
    (logs / "predictions.jsonl").write_text(json.dumps(line | {"id": 7}) + "\n" + json.dumps(line | {"id": "7"}) + "\n")
    result = run(["mlops", "monitor", "drift"], repo, check=False)
    assert result.returncode == 2 and "the window holds 1 logged loans" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"roc_auc": ', "reports/metrics.json is not a JSON object of metrics"),  # cut short
        ("[0.75]", "reports/metrics.json is not a JSON object of metrics"),
        ('{"roc_auc": "high"}', 'reports/metrics.json holds roc_auc: "high", not a finite number'),
    ],
    ids=["cut short", "a list", "text"],
)
def test_drift_names_evaluated_metrics_it_cannot_read_as_every_command_does(repo, text, said):
    """drift read reports/metrics.json with its own json.loads: a damaged file ended in a JSONDecodeError or
    AttributeError traceback, and a text roc_auc passed as the evaluated ROC AUC (into drift.json)."""
    logs = repo / "logs"
    logs.mkdir()
    line = {"served": True, "role": "champion", "time": "2026-12-01T16:25:00", "model_md5": "m", "rev": "workspace"}
    lines = [line | {"id": str(i), "p_default": 0.1, "features": loan} for i, loan in enumerate(loans(repo, 1000))]
    (logs / "predictions.jsonl").write_text("".join(json.dumps(one) + "\n" for one in lines))
    (repo / "reports/metrics.json").write_text(text)
    result = run(["mlops", "monitor", "drift"], repo, check=False)
    assert result.returncode == 2 and f"error: {said}" in result.stderr, result.stdout + result.stderr
    assert "git checkout -- reports/metrics.json" in result.stderr and "Traceback" not in result.stderr


def test_drift_says_the_live_roc_auc_drop_was_not_checked_when_no_evaluated_roc_auc_is_recorded(repo, tmp_path):
    """With reports/metrics.json deleted, a live ROC AUC of 0.000 passed: 'no drift: ... the live ROC AUC within
    the thresholds', exit 0, as if it had been compared with the evaluated one."""
    batch = pd.DataFrame(loans(repo, 1000))
    batch.to_csv(tmp_path / "window.csv", index=False)
    run(["mlops", "predict", str(tmp_path / "window.csv"), "--out", str(tmp_path / "scores.csv")], repo)
    scores = pd.read_csv(tmp_path / "scores.csv")
    line = {"served": True, "role": "champion", "time": "2026-12-01T16:25:00", "rev": "workspace"}
    features = json.loads(batch.to_json(orient="records"))
    lines = [
        line | {"id": f"l{i}", "p_default": score, "model_md5": md5, "features": loan}
        for i, (score, md5, loan) in enumerate(zip(scores["p_default"], scores["model_md5"], features, strict=True))
    ]
    (repo / "logs").mkdir()
    (repo / "logs/predictions.jsonl").write_text("".join(json.dumps(one) + "\n" for one in lines))
    went_bad = scores["p_default"].rank(method="first") <= 60  # the loans scored safest: a live ROC AUC of 0
    outcomes = pd.DataFrame(
        {"id": [f"l{i}" for i in range(len(lines))], "Class": went_bad.map({True: "bad", False: "good"})}
    )
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    run(["mlops", "monitor", "outcomes", str(tmp_path / "outcomes.csv")], repo)
    judged = run(["mlops", "monitor", "drift"], repo, check=False)
    assert judged.returncode == 1 and "drift: live ROC AUC 0.000 is " in judged.stdout, judged.stdout

    (repo / "reports/metrics.json").unlink()
    result = run(["mlops", "monitor", "drift"], repo, check=False)
    assert "not checked: live ROC AUC drop: the judged model's reports/metrics.json records no roc_auc" in (
        result.stdout
    ), result.stdout
    assert "the live ROC AUC within the thresholds" not in result.stdout, result.stdout


@pytest.mark.parametrize("separator", [";", "\t", "|"], ids=["semicolon", "tab", "bar"])
def test_outcomes_in_a_csv_separated_otherwise_than_by_commas_are_named_so_not_as_idless(repo, tmp_path, separator):
    """Read by commas, the header `id;Class` was one column, refused as 'has no `id` column': the ids are there."""
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(f"id{separator}Class\n1{separator}bad\n")
    refused = run(["mlops", "monitor", "outcomes", str(outcomes)], repo, check=False)
    assert refused.returncode == 2 and f"it is separated by {separator!r}" in refused.stderr, refused.stderr
    assert "no `id` column" not in refused.stderr and not list(repo.glob("logs/outcomes*"))


@pytest.mark.parametrize("given", ["reports", "nothere.csv", "/dev/null"], ids=["folder", "missing", "device"])
def test_outcomes_named_as_a_folder_a_missing_file_or_a_device_get_an_outcomes_hint_not_dvc_pull(repo, given):
    """The hint was read_table's for DVC-tracked data, `check the path (is it pulled? try dvc pull)`: an outcomes
    file is the user's own, never pulled."""
    result = run(["mlops", "monitor", "outcomes", given], repo, check=False)
    assert result.returncode == 2 and f"error: {given}: " in result.stderr, result.stderr
    assert "hint: give the CSV or parquet file of outcomes" in result.stderr and "dvc pull" not in result.stderr


def test_a_log_line_cut_short_by_a_killed_server_is_removed_by_the_next_and_its_whole_lines_kept(served_repo):
    """A server killed outright as it wrote a line left it without its end; the next server appended its first line
    to it, one line that every monitoring command refused as no JSON line."""
    (served_repo / "logs").mkdir()
    logged = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "w"}
    whole = json.dumps(logged | {"id": "before", "p_default": 0.1, "features": {}}) + "\n"
    (served_repo / "logs/predictions.jsonl").write_text(whole + whole[:40])
    server = Server(served_repo)
    try:
        status, answer = server.post(loans(served_repo, 1)[0])
        assert status == 200, answer
    finally:
        server.stop()
    output = "".join(server.said_first) + server.process.stdout.read()
    assert [line["id"] for line in log_lines(served_repo)] == ["before", answer["id"]], output
    assert output.count("removed its unfinished last line (40 bytes") == 1, output
