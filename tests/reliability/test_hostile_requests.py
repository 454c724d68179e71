"""The scoring server as a public service: hostile requests over real HTTP on 127.0.0.1 get a 413 or a 422 with a
clear message, never a 500 or a stall; `/metrics` stays bounded and well-formed; a bug answers 500 without its
traceback and is counted."""

from __future__ import annotations

import contextlib
import gzip
import inspect
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipeline.serving.app import MAX_BODY_BYTES
from tests.e2e import test_serve
from tests.e2e.test_serve import Server, free_port, loans

served_repo = test_serve.served_repo  # the fixture: a trained copy whose dvc.lock is committed


def raw_request(port: int, head: bytes, body_chunks=(), timeout: float = 30) -> tuple[int, bytes]:
    """Send a request head, then body chunks from a thread (the server may answer before reading them all), and
    return (status, response body)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send_body() -> None:
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:  # the server answered and closed: what a size limit does
            pass

    sock.sendall(head)
    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    response = b""
    try:
        while b"\r\n\r\n" not in response or not _complete(response):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    finally:
        sock.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.partition(b"\r\n\r\n")[2]


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def post_raw(server: Server, body: bytes, path: str = "/predict") -> tuple[int, dict]:
    request = urllib.request.Request(
        server.base + path, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def health_seconds(server: Server) -> float:
    start = time.perf_counter()
    assert server.get("/health") == {"status": "ok"}
    return time.perf_counter() - start


def test_oversized_bodies_are_refused_before_they_are_read(served_repo):
    server = Server(served_repo)
    try:
        before = peak_memory_mb(server.process.pid)
        declared = 300 * 1024 * 1024
        head = (
            f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        chunk = b"[" + b'{"term": "term_36"},' * 50_000
        status, body = raw_request(server.port, head, (chunk for _ in range(declared // len(chunk))))
        assert status == 413 and "MB" in json.loads(body)["detail"][0]["msg"]

        # Chunked, with no declared length: read only up to the limit, then refused, while /health answers.
        head = (
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        slow = threading.Thread(
            target=lambda: results.append(raw_request(server.port, head, [piece] * (2 * MAX_BODY_BYTES // len(chunk))))
        )
        results: list = []
        slow.start()
        waits = [health_seconds(server) for _ in range(5)]
        slow.join(60)
        assert results and results[0][0] == 413
        assert max(waits) < 2.0, f"/health stalled: {waits}"
        assert peak_memory_mb(server.process.pid) - before < 200, "the server buffered an oversized body"
        assert server.post(loans(served_repo, 1)[0])[0] == 200  # still serving
    finally:
        server.stop()


MALFORMED = {
    "nan": ('{"int_rate": NaN}', "NaN is not a number"),
    "infinity": ('{"int_rate": Infinity}', "Infinity is not a number"),
    "minus-infinity": ('[{"int_rate": -Infinity}]', "-Infinity is not a number"),
    "overflow": ('{"int_rate": 1e400}', "out of the range"),
    "too-many-digits": ('{"funded_amnt": ' + "9" * 5000 + "}", "a number of 5000 digits is out of the range"),
    "deep-nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "nested-value": ('{"int_rate": ' + "[" * 500 + "]" * 500 + "}", "int_rate"),
    "bad-utf8": (b'{"term": "\xff\xfe"}', "not valid JSON"),
    "not-objects": ("[1, 2]", "a loan is a JSON object"),
    "empty-batch": ("[]", "the batch is empty"),
    "huge-string": ('{"term": "' + "x" * 100_000 + '"}', "term"),
    "lone-surrogate": ('{"term": "\\ud800"}', "\\\\ud800"),  # valid JSON, no character: echoed as its escape
    "empty-objects": ("[" + ",".join(["{}"] * 10_000) + "]", "and 219900 more problems"),  # 30 KB, not a 17 MB answer
    "lone-surrogate-id": ('[{"id": "a\\udfff"}]', '0, "id"'),
    "duplicate-id": ('[{"id": "a", "id": "b"}]', 'the key \\"id\\" appears twice in one object'),  # which one counts?
    "duplicate-feature": (
        '{"term": "term_36", "int_rate": 7.5, "term": "term_60"}',
        'the key \\"term\\" appears twice',
    ),
}


def test_malformed_bodies_get_a_clear_422(served_repo):
    server = Server(served_repo)
    try:
        for case, (body, words) in MALFORMED.items():
            status, answer = post_raw(server, body if isinstance(body, bytes) else body.encode())
            text = json.dumps(answer)
            assert status == 422, f"{case}: {status} {text[:300]}"
            assert words in text, f"{case}: {text[:300]}"
            assert len(text) < 20_000, f"{case}: a 422 echoes at most a short part of the offending value"
        assert server.post(loans(served_repo, 1)[0])[0] == 200
    finally:
        server.stop()


UNREADABLE = {  # headers: the words of the 415
    "gzip": ("Content-Encoding: gzip\r\n", 'Content-Encoding \\"gzip\\" is not supported'),
    "br": ("Content-Encoding: br\r\n", 'Content-Encoding \\"br\\" is not supported'),
    "identity-then-gzip": (  # a list, one header or two: the second was not read
        "Content-Encoding: identity\r\nContent-Encoding: gzip\r\n",
        'Content-Encoding \\"identity, gzip\\" is not supported',
    ),
    "text": ("Content-Type: text/plain\r\n", 'Content-Type \\"text/plain\\" is not JSON'),  # a browser's "simple"
    "form": ("Content-Type: application/x-www-form-urlencoded\r\n", "is not JSON"),  # request: no CORS preflight
    "merged": ("Content-Type: text/plain, application/problem+json\r\n", "is not JSON"),  # two, by a proxy
    "suffix-alone": ("Content-Type: text/+json\r\n", 'Content-Type \\"text/+json\\" is not JSON'),
}


def test_a_body_the_service_cannot_read_as_declared_gets_415_naming_the_header(tmp_path, capfd):
    server = small_service(tmp_path)
    try:
        loan = json.dumps({"state": "CA", "income": 1.0}).encode()
        for case, (headers, words) in UNREADABLE.items():
            for body in (loan, gzip.compress(loan)):  # as declared or not: never read as JSON text, nor taken as is
                declared = headers if "Content-Type" in headers else f"Content-Type: application/json\r\n{headers}"
                head = f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n{declared}Content-Length: {len(body)}\r\n\r\n"
                status, answer = raw_request(server.port, head.encode(), [body])
                assert status == 415 and words in json.dumps(json.loads(answer)), f"{case}: {status} {answer[:300]}"
        series = request_series(server)
        assert series[("/predict", "415")] == 2 * len(UNREADABLE) and ("/predict", "500") not in series, series
        for declared in ("application/json; charset=utf-8", "application/problem+json", None):
            head = "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            head += f"Content-Type: {declared}\r\n" if declared else ""
            status, _ = raw_request(server.port, f"{head}Content-Length: {len(loan)}\r\n\r\n".encode(), [loan])
            assert status == 200, declared
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_declared_with_two_content_types_gets_one_415_naming_both(tmp_path):
    """Two Content-Type headers were read by the first: `application/json` then `text/plain` was scored, while a
    proxy or log keeping the other saw a text body (and the reverse order was refused)."""
    server = small_service(tmp_path)
    loan = json.dumps({"state": "CA", "income": 1.0}).encode()
    try:
        for first, second in (("application/json", "text/plain"), ("text/plain", "application/json")):
            head = (
                f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {first}\r\nContent-Type: {second}\r\n"
                f"Content-Length: {len(loan)}\r\n\r\n"
            )
            status, answer = raw_request(server.port, head.encode(), [loan])
            assert status == 415, (first, status, answer)
            detail = json.loads(answer)["detail"]
            assert len(detail) == 1, detail
            assert detail[0]["loc"] == ["header", "content-type"], detail
            assert detail[0]["msg"] == (
                f'Content-Type is given 2 times ("{first}", "{second}"): send it once, as application/json'
            )
    finally:
        server.stop()
    assert (tmp_path / "logs/predictions.jsonl").read_text() == ""


def test_a_malformed_chunked_body_is_counted_as_a_400_not_as_a_client_that_hung_up(tmp_path):
    """uvicorn answers a bad chunk size line with its own 400 and closes the connection; the app, reading the body,
    saw a disconnect and counted a 499 (a client hang-up) in /metrics."""
    server = small_service(tmp_path)
    try:
        head = (
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for bad in (b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n[{}]xx\r\n0\r\n\r\n"):  # no hex size; no CRLF after a chunk
            status, _ = raw_request(server.port, head + b'a\r\n[{"state":\r\n', [bad])
            assert status == 400
        deadline = time.monotonic() + 10
        while predict_requests(server) < 2 and time.monotonic() < deadline:  # counted once the app has seen it
            time.sleep(0.05)
        series = request_series(server)
        assert series.get(("/predict", "400")) == 2 and ("/predict", "499") not in series, series
    finally:
        server.stop()


UNPARSABLE = {  # requests the HTTP server itself cannot read: (request, status, what the problem says was wrong)
    "bad-chunk-size": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
        "illegal chunk header: bytearray(b'zz\\r\\n')",
    ),
    "no-host": (b"GET /health HTTP/1.1\r\n\r\n", 400, "Missing mandatory Host: header"),
    "space-before-colon": (
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
        400,
        "illegal header line: bytearray(b'X-A : 1')",
    ),
    "http-0.9": (b"GET /health\r\n\r\n", 400, "illegal request line: bytearray(b'GET /health')"),
    "a-long-line": (b"X" * 300 + b"\r\n\r\n", 400, "illegal request line: bytearray(b'" + "X" * 46 + "... ("),
    "transfer-coding": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
        "Only Transfer-Encoding: chunked is supported",
    ),
    "headers-too-long": (b"GET /health HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70_000, 431, "Receive buffer too long"),
}


def test_a_request_the_http_server_cannot_parse_gets_a_json_problem_saying_what_was_wrong(tmp_path):
    """uvicorn answered such a request with its own text/plain 'Invalid HTTP request received.', saying nothing of
    what was wrong with it: a client reading the JSON `detail` of every other refusal got none, and no reason."""
    server = small_service(tmp_path)
    try:
        for case, (request, expected, reason) in UNPARSABLE.items():
            status, answer = raw_request(server.port, request)
            assert status == expected, (case, status, answer)
            (problem,) = json.loads(answer)["detail"]
            assert problem["loc"] == ["request"] and problem["type"] == "bad_request", (case, problem)
            assert problem["msg"].startswith(f"not a valid HTTP/1.1 request: {reason}"), (case, problem)
            assert len(problem["msg"]) < 200, (case, problem)
    finally:
        server.stop()


GARBAGE = [  # what scanners send to an HTTP port: a TLS hello, a line of noise, a request with no Host
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x8f\x1c\r\n\r\n",
    b"\x00\xffhello\x1b[31m\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
]


def test_each_request_the_http_server_cannot_parse_is_one_line_naming_the_client_and_why(served_repo):
    """uvicorn wrote `WARNING:  Invalid HTTP request received.` on the server's stderr for each one, saying neither who
    sent it nor what was wrong: a scanner sending garbage filled the operator's log with it."""
    server, clients = Server(served_repo), []
    try:
        for garbage in GARBAGE * 2:
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
                sock.sendall(garbage)
                answer = b""
                while data := sock.recv(65536):  # until the server closes the connection
                    answer += data
                clients.append(f"127.0.0.1:{sock.getsockname()[1]}")
            assert answer.startswith(b"HTTP/1.1 400 "), answer
    finally:
        server.stop()
    output = server.process.stdout.read()
    assert "Invalid HTTP request received" not in output, output
    refused = [line for line in output.splitlines() if line.startswith("refused a request from ")]
    assert [line.split()[4].rstrip(":") for line in refused] == clients, output
    reasons = ["illegal request line", "illegal request line", "Missing mandatory Host"] * 2
    for line, reason in zip(refused, reasons, strict=True):
        assert f": 400 Bad Request, not a valid HTTP/1.1 request: {reason}" in line, line
        assert "\x1b" not in line and len(line) < 200, line


def answer_until_closed(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """(status, headers, JSON body) of the one answer the server sends before it closes the connection."""
    answer = b""
    while data := sock.recv(65536):
        answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_connections_beyond_the_limit_get_a_503_saying_when_to_come_back_and_are_closed(served_repo):
    """No limit on connections in flight: a client opening thousands of connections held them all, each a file and
    memory of the server's, for as long as it liked (30 s each without a request)."""
    from pipeline.cli.serve import serve
    from pipeline.serving.server import DEFAULT_MAX_CONNECTIONS

    assert inspect.signature(serve).parameters["max_connections"].default == DEFAULT_MAX_CONNECTIONS
    server = Server(served_repo, "--max-connections", "2")
    body = json.dumps(loans(served_repo, 1)[0]).encode()
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=20) for _ in range(2)]
    try:
        for sock in held:  # two requests in the app, waiting for the rest of their bodies
            sock.sendall(head + body[:10])
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, answer = answer_until_closed(sock)
            refused_from = f"127.0.0.1:{sock.getsockname()[1]}"
        assert status == 503 and headers["retry-after"] == "5", (status, headers)
        assert headers["content-type"] == "application/json" and headers["connection"] == "close", headers
        (problem,) = answer["detail"]
        assert problem["loc"] == ["request"] and problem["type"] == "busy", problem
        assert problem["msg"] == "the server is serving as many connections as it takes at once (2): try again in 5 s"
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as idle:  # beyond it, and silent
            status, headers, answer = answer_until_closed(idle)
        assert status == 503 and headers["retry-after"] == "5" and answer["detail"] == [problem], (status, answer)

        for sock in held:  # the held requests end as any other
            sock.sendall(body[10:])
            status, _, answer = answer_until_closed(sock)
            assert status == 200 and answer["decision"] in ("approve", "reject"), (status, answer)
        assert server.post(loans(served_repo, 1)[0])[0] == 200  # served again
        series = request_series(server)
        assert series[("unread", "503")] == 2 and series[("/predict", "200")] == 3, series
    finally:
        for sock in held:
            sock.close()
        server.stop()
    refused = [line for line in server.process.stdout.read().splitlines() if line.startswith("refused a request")]
    assert refused == [f"refused a request from {refused_from}: 503 Service Unavailable, {problem['msg']}"], refused


UPGRADES = {  # the service speaks neither: each is answered as the plain request it also is
    "websocket": "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
    "h2c": "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
}


def test_a_request_asking_to_upgrade_the_connection_is_answered_as_a_plain_one_without_a_warning(tmp_path, capfd):
    """Each request with an `Upgrade` header (`websocket`, `h2c`) made uvicorn write two warnings on the server's
    stderr, one advising `pip install 'uvicorn[standard]'`: a client could fill the operator's log with them."""
    server = small_service(tmp_path)
    loan = json.dumps({"state": "CA", "income": 1.0}).encode()
    try:
        for case, headers in UPGRADES.items():
            for _ in range(3):
                head = (
                    f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}"
                    f"Content-Length: {len(loan)}\r\n\r\n"
                )
                status, answer = raw_request(server.port, head.encode(), [loan])
                assert status == 200 and json.loads(answer)["decision"] in ("approve", "reject"), (case, answer)
                head = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n"
                assert raw_request(server.port, head.encode()) == (200, b'{"status":"ok"}'), case
    finally:
        server.stop()
    assert capfd.readouterr().err == ""


def test_a_body_framed_both_by_length_and_chunked_is_refused_and_its_connection_closed(tmp_path):
    """`Content-Length: 5` with `Transfer-Encoding: chunked` was read as chunked and scored, the connection kept:
    a proxy going by the length takes the rest of the body for the next request (request smuggling)."""
    server = small_service(tmp_path)
    loan = json.dumps({"state": "CA", "income": 1.0}).encode()
    chunked = f"{len(loan):x}\r\n".encode() + loan + b"\r\n0\r\n\r\n"
    head = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    after = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # on the same connection: not to be read
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
            sock.sendall(head + chunked + after)
            answer = b""
            while data := sock.recv(65536):  # until the server closes the connection
                answer += data
        assert answer.startswith(b"HTTP/1.1 400 ") and answer.count(b"HTTP/1.1 ") == 1, answer
        detail = json.loads(answer.partition(b"\r\n\r\n")[2])["detail"]
        assert detail == [
            {
                "loc": ["header", "transfer-encoding"],
                "msg": "both Content-Length and Transfer-Encoding frame the body: send one of them",
                "type": "ambiguous_length",
            }
        ]
    finally:
        server.stop()
    assert (tmp_path / "logs/predictions.jsonl").read_text() == ""


def test_a_query_string_on_predict_is_refused_not_ignored(served_repo):
    """`/predict?threshold=0.3` was scored with the model's threshold: the client never learnt it had no effect."""
    server = Server(served_repo)
    try:
        loan = json.dumps(loans(served_repo, 1)[0]).encode()
        for query in ("threshold=0.3", "model=challenger&debug", "x=" + "%22" * 10_000):
            status, answer = post_raw(server, loan, f"/predict?{query}")
            assert status == 422 and answer["detail"][0]["loc"] == ["query"], answer
            assert "/predict reads no query parameters" in answer["detail"][0]["msg"], answer
            assert len(answer["detail"][0]["msg"]) < 200
        assert post_raw(server, loan, "/predict?")[0] == 200
    finally:
        server.stop()


def test_a_path_with_a_trailing_slash_is_a_404_not_a_redirect_to_the_clients_host(served_repo):
    """`POST /predict/` got 307 to `http://<the Host header>/predict`: loans re-sent wherever a client or proxy
    named, and a 3xx rather than a clear 4xx."""
    server = Server(served_repo)
    try:
        loan = json.dumps(loans(served_repo, 1)[0]).encode()
        for method, path, body in (("POST", "/predict/", loan), ("GET", "/health/", b"")):
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: elsewhere.example\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            status, answer = raw_request(server.port, head.encode(), [body])
            assert status == 404, (path, status, answer)
        assert request_series(server)[("unmatched", "404")] == 2
    finally:
        server.stop()


def request_series(server: Server) -> dict[tuple[str, str], float]:
    text = server.get("/metrics")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    return {
        (sample.labels["route"], sample.labels["status"]): sample.value
        for sample in families["mlops_requests"].samples
        if sample.name == "mlops_requests_total"
    }


def predict_requests(server) -> float:
    return sum(count for (route, _), count in request_series(server).items() if route == "/predict")


def test_metrics_are_labelled_by_route_template_and_cannot_be_injected(served_repo):
    server = Server(served_repo)
    try:
        crafted = '/x"} 1\nmlops_injected_total 42\n# {"'
        for path in [urllib.parse.quote(crafted)] + [f"/scan/{i}" for i in range(300)]:
            with pytest.raises(urllib.error.HTTPError) as refused:
                server.get(path)
            assert refused.value.code == 404
        server.post(loans(served_repo, 1)[0])
        text = server.get("/metrics")
        assert "mlops_injected" not in text
        series = request_series(server)
        assert series[("unmatched", "404")] == 301
        assert series[("/predict", "200")] == 1
        assert len(series) <= 5, f"every distinct path added a series: {sorted(series)[:10]}"
    finally:
        server.stop()


def test_a_client_that_hangs_up_mid_body_is_counted_as_499_not_as_a_bug(served_repo):
    server = Server(served_repo)
    try:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(
                    b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 1000\r\n\r\n[{"term": "term_36"'
                )
        deadline = time.monotonic() + 30
        while request_series(server).get(("/predict", "499"), 0) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        series = request_series(server)
        assert series.get(("/predict", "499")) == 3 and ("/predict", "500") not in series, series
        assert server.post(loans(served_repo, 1)[0])[0] == 200
    finally:
        server.stop()
    assert "Traceback" not in server.process.stdout.read()


class InProcessServer:
    """A uvicorn server on 127.0.0.1 in a thread, for an app built here (so a broken deployment can be served)."""

    def __init__(self, app) -> None:
        import uvicorn

        from pipeline.serving.server import uvicorn_config

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port))  # as mlops serve configures it
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return response.read().decode()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def small_service(tmp_path: Path) -> InProcessServer:
    """A real scikit-learn model fitted on four loans (the unit tests' `fitted_model`: features state, income and
    util), served over HTTP as `mlops serve` serves, its log in tmp_path/logs: for what a request is refused for
    whatever the model, without waiting for a project to be trained."""
    from pipeline.serving.app import Deployment, ServedModel, build_app, request_model
    from pipeline.serving.telemetry import PredictionLog
    from tests.unit.test_serving import METADATA, fitted_model

    metadata = dict(METADATA, threshold=0.5)
    model = ServedModel(fitted_model(METADATA["features"]), metadata, "c" * 32, "workspace", request_model(metadata))
    return InProcessServer(build_app(Deployment(model), PredictionLog(tmp_path / "logs", 1 << 20)))


def test_an_id_holding_a_control_character_is_refused_not_logged(tmp_path):
    """`"x\ny"` or `"\u001b[31m"` as an id was scored and logged: a newline splits, an escape sequence recolours,
    the lines of whatever prints the id."""
    server = small_service(tmp_path)
    try:
        for loan_id in ("a\u0000b", "x\ny", "\u001b[31m", "tab\there", "\u2028"):
            loan = {"state": "CA", "income": 1.0, "id": loan_id}
            status, answer = post_raw(server, json.dumps([loan]).encode())
            assert status == 422 and len(answer["detail"]) == 1, (loan_id, answer)
            assert answer["detail"][0]["loc"] == ["body", 0, "id"], (loan_id, answer)
            assert answer["detail"][0]["msg"].startswith("an id is printable text"), (loan_id, answer)
        status, answer = post_raw(server, json.dumps({"state": "CA", "income": 1.0, "id": "Zoë 7 – ✓"}).encode())
        assert status == 200 and answer["id"] == "Zoë 7 – ✓", answer
    finally:
        server.stop()
    logged = [json.loads(line)["id"] for line in (tmp_path / "logs/predictions.jsonl").read_text().splitlines()]
    assert logged == ["Zoë 7 – ✓"]


def test_an_id_of_minus_zero_is_kept_as_given_not_logged_as_the_id_zero(tmp_path):
    """JSON's `-0` was read as the number 0: answered and logged as the id "0", so loans -0 and 0 were one loan to
    the outcomes joined back by id."""
    server = small_service(tmp_path)
    try:
        body = b'[{"state": "CA", "income": 1.0, "id": -0}, {"state": "CA", "income": 1.0, "id": 0}]'
        status, answer = post_raw(server, body)
        assert status == 200 and [loan["id"] for loan in answer] == ["-0", "0"], answer
        status, answer = post_raw(server, b'{"state": "TX", "income": 1.0, "id": -0}')  # refused, logged for drift
        assert status == 422, answer
    finally:
        server.stop()
    logged = [json.loads(line)["id"] for line in (tmp_path / "logs/predictions.jsonl").read_text().splitlines()]
    assert logged == ["-0", "0", "-0"]


def test_an_unseen_category_of_a_megabyte_is_logged_and_echoed_shortened_saying_how_long_it_was(tmp_path):
    """A category the model never saw is logged for drift: a 1 MB one was logged whole, a 1 MB line per loan."""
    server = small_service(tmp_path)
    category = "Z" * 1_000_000
    shortened = "Z" * 80 + "... (1000000 characters)"
    try:
        status, answer = post_raw(server, json.dumps({"state": category, "income": 1.0}).encode())
        assert status == 422 and answer["detail"][0]["input"] == shortened, str(answer)[:300]
    finally:
        server.stop()
    (line,) = (tmp_path / "logs/predictions.jsonl").read_text().splitlines()
    assert len(line) < 1000, line[:300]
    record = json.loads(line)
    assert record["unseen"] == ["state"] and record["features"]["state"] == shortened, line


def test_a_body_that_stops_arriving_gets_a_408_not_a_request_held_open_for_ever(served_repo, monkeypatch, tmp_path):
    """A client that declared 1,000 bytes, sent 10 and waited was never answered: each such connection held a
    request open for as long as the client liked."""
    from pipeline.serving import app as served_app
    from pipeline.serving.telemetry import PredictionLog

    monkeypatch.chdir(served_repo)
    monkeypatch.setattr(served_app, "BODY_IDLE_SECONDS", 0.5)
    deployment = served_app.Deployment(served_app.load_served_model(None))
    server = InProcessServer(served_app.build_app(deployment, PredictionLog(tmp_path / "logs", 1 << 20)))
    try:
        head = (
            b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        status, answer = raw_request(server.port, head, [b'[{"term": '], timeout=20)  # then nothing, connected
        assert status == 408 and "the request body stopped arriving" in answer.decode(), (status, answer)
        with urllib.request.urlopen(server.base + "/metrics", timeout=10) as response:
            assert 'mlops_requests_total{route="/predict",status="408"} 1.0' in response.read().decode()
    finally:
        server.stop()


def test_a_connection_whose_request_head_never_arrives_whole_gets_a_408_and_is_closed(tmp_path, monkeypatch):
    """A connection that sent nothing, or a request line and some headers and then nothing (slowloris), was held
    open for ever: enough of them take every connection the server can hold."""
    from pipeline.serving import server as serving

    monkeypatch.setattr(serving, "REQUEST_HEAD_SECONDS", 0.5)
    server = small_service(tmp_path)
    kept_alive = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"  # answered, then the next request's head stalls
    try:
        for sent in (b"", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n", kept_alive + b"GET /version HTTP/1.1\r\n"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
                sock.sendall(sent)
                answer = b""
                while data := sock.recv(65536):  # until the server closes the connection
                    answer += data
            if sent.startswith(kept_alive):
                assert answer.startswith(b"HTTP/1.1 200 "), answer
                answer = answer[answer.index(b"HTTP/1.1 ", 1) :]
            assert answer.startswith(b"HTTP/1.1 408 "), (sent, answer)
            (problem,) = json.loads(answer.partition(b"\r\n\r\n")[2])["detail"]
            assert problem["msg"] == "the request line and headers did not arrive whole within 0.5 s: send them at once"
        loan = json.dumps({"state": "CA", "income": 1.0}).encode()
        head = f"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(loan)}\r\n\r\n".encode()
        for sent in (head, kept_alive + head):  # a head that arrived whole: its body may take longer (up to 30 s)
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
                sock.sendall(sent)
                time.sleep(1.5)
                sock.sendall(loan)
                answer = b""
                while data := sock.recv(65536):
                    answer += data
            assert answer.count(b"HTTP/1.1 200 ") == sent.count(b"HTTP/1.1\r\n") and b" 408 " not in answer, answer
    finally:
        server.stop()


def test_requests_the_http_server_refuses_itself_are_counted_in_metrics(tmp_path, monkeypatch):
    """A request refused before it reached the app (no Host, a header too long, a head that never arrived whole) was
    in no series of /metrics, which claims every status: an operator saw nothing of such traffic."""
    from pipeline.serving import server as serving

    monkeypatch.setattr(serving, "REQUEST_HEAD_SECONDS", 0.5)
    server = small_service(tmp_path)
    try:
        for case in ("no-host", "space-before-colon", "headers-too-long", "bad-chunk-size"):
            raw_request(server.port, UNPARSABLE[case][0])
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # and nothing more: a 408
            while sock.recv(65536):
                pass
        deadline = time.monotonic() + 10
        while predict_requests(server) < 1 and time.monotonic() < deadline:  # the bad chunk, counted by the app
            time.sleep(0.05)
        series = request_series(server)
        assert series[("unread", "400")] == 2 and series[("unread", "431")] == 1, series
        assert series[("unread", "408")] == 1 and series[("/predict", "400")] == 1, series  # each counted once
    finally:
        server.stop()


def test_a_prediction_log_removed_or_moved_while_serving_is_written_again_not_lost(tmp_path, capfd):
    """With the log folder removed (`git clean -fdX` of the ignored `logs/`) or its file moved away, every loan
    answered after was written to a file no longer there: lost, silently."""
    server = small_service(tmp_path)
    log = tmp_path / "logs/predictions.jsonl"
    try:
        for loan_id, remove in (("a", lambda: None), ("b", lambda: shutil.rmtree(log.parent)), ("c", log.unlink)):
            remove()
            assert post_raw(server, json.dumps({"state": "CA", "income": 1.0, "id": loan_id}).encode())[0] == 200
            deadline = time.monotonic() + 10
            while not (log.exists() and f'"id":"{loan_id}"' in log.read_text()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == [loan_id]
            assert (log.parent / ".gitignore").read_text().endswith("*\n")  # still ignored by git
    finally:
        server.stop()
    err = capfd.readouterr().err
    assert err.count(f"prediction log {log} was removed or moved while serving: writing a new one") == 2, err


def test_a_rotation_by_another_server_on_the_same_folder_is_no_removal(tmp_path, capfd):
    """Two servers on one --log-dir: each rotation by one made the other say the log was removed or moved."""
    server = small_service(tmp_path)
    log = tmp_path / "logs/predictions.jsonl"
    try:
        for loan_id in ("a", "b"):
            assert post_raw(server, json.dumps({"state": "CA", "income": 1.0, "id": loan_id}).encode())[0] == 200
            deadline = time.monotonic() + 10
            while not (log.exists() and f'"id":"{loan_id}"' in log.read_text()) and time.monotonic() < deadline:
                time.sleep(0.05)
            if loan_id == "a":
                log.rename(log.with_name("predictions.20261205T000000000000.jsonl"))  # as the other's rotation names it
    finally:
        server.stop()
    assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == ["b"]
    assert "removed or moved" not in capfd.readouterr().err


def test_loans_the_prediction_log_cannot_take_are_said_once_counted_and_shown_by_health(tmp_path, capfd):
    """A full disk (here the kernel's /dev/full) or the log folder replaced by a file: each answered loan printed a
    traceback and was lost, /health said ok, nothing counted them, and the server said on stopping that every
    answered loan was in the log."""
    server = small_service(tmp_path)
    log = tmp_path / "logs/predictions.jsonl"

    def answer(loan_id: str) -> None:
        assert post_raw(server, json.dumps({"state": "CA", "income": 1.0, "id": loan_id}).encode())[0] == 200

    def lost() -> float:
        families = text_string_to_metric_families(server.get("/metrics"))
        return next(s.value for f in families for s in f.samples if s.name == "mlops_prediction_log_lost_loans")

    def wait_for(condition) -> None:
        deadline = time.monotonic() + 10
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert condition()

    try:
        answer("a")
        wait_for(lambda: log.exists() and '"id":"a"' in log.read_text())
        log.unlink()
        log.symlink_to("/dev/full")  # every write fails: No space left on device
        answer("b")
        answer("c")
        wait_for(lambda: lost() == 2)
        health = json.loads(server.get("/health"))
        assert health["status"] == "degraded" and "No space left on device" in health["prediction_log"], health
        log.unlink()
        shutil.rmtree(log.parent)
        log.parent.write_text("a file where the folder was")  # the folder cannot be made again
        answer("d")
        wait_for(lambda: lost() == 3)
        log.parent.unlink()
        answer("e")
        wait_for(lambda: log.exists() and '"id":"e"' in log.read_text())
        assert json.loads(server.get("/health")) == {"status": "ok"} and lost() == 3
    finally:
        server.stop()
    assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == ["e"]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err, err
    assert err.count("an answered loan could not be written (") == 1, err  # said once, not once per loan
    assert "No space left on device" in err and "3 answered loan(s) in all could not be logged" in err, err


def test_a_body_in_chunks_of_a_byte_is_refused_before_it_costs_minutes_of_the_servers_time(tmp_path):
    """Each chunk of a chunked body costs the HTTP parser as much as a large one: 1 MB of body in 1-byte chunks (6 MB
    sent) took 8 s of the event loop, during which /health waited seconds; 16 MB took minutes, for one request."""
    server = small_service(tmp_path)
    head = (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    try:
        tiny = [b"1\r\n \r\n" * 100_000] * 20  # 2 MB of body in 2,000,000 chunks
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            sock.sendall(head)
            threading.Thread(target=lambda: _send_all(sock, tiny), daemon=True).start()
            answer = b""
            with contextlib.suppress(ConnectionResetError):  # closed with chunks unread: after its answer, a reset
                while data := sock.recv(65536):  # until the server closes the connection
                    answer += data
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
        (problem,) = json.loads(answer.partition(b"\r\n\r\n")[2])["detail"]
        assert problem["type"] == "chunk_size" and "send it in larger chunks" in problem["msg"], problem
        loan = json.dumps([{"state": "CA", "income": 1.0}] * 300).encode()  # in chunks of 16 bytes: scored
        pieces = [loan[i : i + 16] for i in range(0, len(loan), 16)]
        body = b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces) + b"0\r\n\r\n"
        status, answer = raw_request(server.port, head, [body])
        assert status == 200 and len(json.loads(answer)) == 300, answer[:300]
    finally:
        server.stop()


def _send_all(sock: socket.socket, parts: list[bytes]) -> None:
    try:
        for part in parts:
            sock.sendall(part)
    except OSError:  # the server answered and closed
        pass


def test_a_bug_answers_500_without_a_traceback_and_is_counted(served_repo, monkeypatch, tmp_path, capfd):
    """A model whose metadata names a feature its pipeline was not fitted on fails inside scikit-learn: a bug,
    not a bad request."""
    from pipeline.serving.app import Deployment, ServedModel, build_app, load_served_model, request_model
    from pipeline.serving.telemetry import PredictionLog

    monkeypatch.chdir(served_repo)
    good = load_served_model(None)
    features = {
        ("int_rate_renamed" if name == "int_rate" else name): spec for name, spec in good.metadata["features"].items()
    }
    metadata = dict(good.metadata, features=features)
    broken = ServedModel(good.model, metadata, good.md5, good.rev, request_model(metadata))
    server = InProcessServer(build_app(Deployment(champion=broken), PredictionLog(tmp_path / "logs", 1 << 20)))
    try:
        loan = loans(served_repo, 1)[0]
        loan["int_rate_renamed"] = loan.pop("int_rate")
        request = urllib.request.Request(
            server.base + "/predict", data=json.dumps(loan).encode(), headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=30)
        assert failed.value.code == 500
        answer = failed.value.read().decode()
        assert json.loads(answer) == {"detail": "internal server error"}
        assert "Traceback" in capfd.readouterr().err  # logged for the operator, not sent to the client
        with urllib.request.urlopen(server.base + "/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'mlops_requests_total{route="/predict",status="500"} 1.0' in text
    finally:
        server.stop()
