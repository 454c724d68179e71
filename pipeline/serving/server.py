"""`mlops serve`: which models serve which loans (the champion, following promotions unless a revision is named;
a challenger on a share of loans, or a shadow), checked before the port is taken, then uvicorn."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from hooks.stop_signals import stops_to_take
from pipeline.errors import UserError
from pipeline.serving import registry
from pipeline.serving.app import (
    MALFORMED_REQUEST,
    RECEIVED_BYTES,
    ChampionFollower,
    Deployment,
    ServedModel,
    build_app,
    echoed,
    load_served_model,
)
from pipeline.serving.telemetry import PredictionLog
from pipeline.versioning import dvc_seam
from pipeline.versioning.output_paths import check_log_folder

DEFAULT_SHARE = 0.1
REQUEST_HEAD_SECONDS = 30.0  # the longest wait for a request line and headers, on a new or a kept-alive connection
DEFAULT_MAX_CONNECTIONS = 1000  # connections served at once (gunicorn's default for its asynchronous workers)
BEYOND_LIMIT_HEAD_SECONDS = 1.0  # the wait for a request on a connection beyond the limit, to be told to come back
RETRY_AFTER_SECONDS = 5  # what a 503 beyond the limit asks a client to wait


@dataclass(frozen=True)
class Server:
    """An app ready to serve, and the line that says which models serve which loans."""

    app: Any
    host: str
    port: int
    max_connections: int
    start_line: str
    log: Any = None  # the prediction log: how many answered loans it could not take

    def run(self) -> Stop | None:
        """Serve until a stop signal, then answer the requests in flight and write the log (unless a second Ctrl-C
        forces the end); how it was stopped."""
        server = stoppable_server()(uvicorn_config(self.app, self.host, self.port, self.max_connections))
        server.run()
        if server.stopped_by is None:
            return None
        return Stop(server.stopped_by, forced=server.force_exit, unlogged=getattr(self.log, "lost", 0))


@dataclass(frozen=True)
class Stop:
    signum: int
    forced: bool  # a second Ctrl-C: requests in flight were cut off, and the log's last lines may be lost
    unlogged: int = 0  # answered loans the prediction log could not take (a full disk)


def uvicorn_config(app: Any, host: str, port: int, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> Any:
    """How uvicorn serves the app: quiet but for warnings; plain HTTP/1.1 only (no WebSocket route is served, whatever
    libraries are installed); a request it cannot parse answered as the app would, and said in a line of ours; at
    most `max_connections` connections served at once."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=uvicorn_log_config(),
        access_log=False,
        http=served_http_protocol(app.state.metrics.count_unread, max_connections),
        ws="none",
    )


# What uvicorn logs (a warning) for each request its parser refuses, saying nothing of it: the refusal has a line of
# ours instead (`refusal_line`), naming the client and what was wrong.
UVICORN_UNPARSABLE_LINE = "Invalid HTTP request received."


class WithoutUvicornsUnparsableLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "uvicorn.error" and record.msg == UVICORN_UNPARSABLE_LINE)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, its stderr handler leaving out `UVICORN_UNPARSABLE_LINE`: a client
    sending garbage wrote that warning once per request."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["without_unparsable_line"] = {"()": WithoutUvicornsUnparsableLine}
    config["handlers"]["default"].setdefault("filters", []).append("without_unparsable_line")
    return config


def served_http_protocol(count_unread: Callable[[int], None], max_connections: int) -> type:
    """uvicorn's HTTP protocol, answering a request it cannot parse (a bad chunk size line, a header with a space
    before its colon, no Host) with a JSON problem as the app answers every refusal, and one line on stderr naming the
    client and the reason, where uvicorn's answer and warning were both 'Invalid HTTP request received.'; and marking
    such a request's scope if the app is reading it, so that the app, which then sees a disconnect, counts it as the
    400 it got rather than as a client that hung up (499).
    A request asking to upgrade the connection (`Upgrade: websocket`, `h2c`) is answered as the plain request it
    also is, as RFC 9110 lets a server do, without uvicorn's two warnings per request (one advising to install a
    WebSocket library, `ws="none"` or not): any client could fill the server's stderr with them.
    A connection opened while `max_connections` are served (or as many requests are still being answered) is
    answered a JSON 503 with Retry-After and closed: at its request, or after BEYOND_LIMIT_HEAD_SECONDS if it sends
    none, so idle connections cannot pile up by the thousand.
    What it refuses before the app sees a request is counted by `count_unread` (its status)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    admitted: set[Any] = set()  # the connections being served: at most max_connections

    class ServedHTTPProtocol(AutoHTTPProtocol):
        # uvicorn's own limit (`limit_concurrency`) runs an app of its own in place of the app: a text/plain 503
        # with no Retry-After, counted nowhere, and a warning per request that names no client; and it counts every
        # connection open when a request arrives, those it refuses too, so a burst of new ones would turn away
        # requests on connections already served. Here a connection is admitted as it opens, while fewer than
        # max_connections are (and fewer requests are still being answered, their clients gone or not), and the
        # app uvicorn runs for each request serves only the admitted.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.served_app, self.app = self.app, self.unless_beyond_the_limit

        async def unless_beyond_the_limit(self, scope: dict, receive: Callable, send: Callable) -> None:
            if self in admitted:
                await self.served_app(scope, receive, send)
                return
            problem = busy_problem(max_connections)
            say(refusal_line(scope.get("client"), 503, problem))
            count_unread(503)
            body = problem_body(problem)
            headers = [(name.encode(), value.encode()) for name, value in refusal_headers(503, body).items()]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        def _unsupported_upgrade_warning(self) -> None:
            pass

        # uvicorn waits for a request head for ever (its keep-alive timeout ends at the first byte): a client that
        # sends nothing, or a request line and then a header now and then (slowloris), held a connection open, and
        # enough such clients take every connection the server can hold. Beyond the limit, no client waits long.
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(admitted) < max_connections and len(self.tasks) < max_connections:
                admitted.add(self)
                self.loop.call_later(REQUEST_HEAD_SECONDS, self.refuse_unless_a_request_began, self.cycle)
            else:
                self.loop.call_later(BEYOND_LIMIT_HEAD_SECONDS, self.refuse_unless_a_request_began, self.cycle, 503)

        def connection_lost(self, exc: Exception | None) -> None:
            admitted.discard(self)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle  # the request whose body this is, if one is under way (`read_body` weighs it)
            if cycle is not None and not cycle.response_complete:
                cycle.scope[RECEIVED_BYTES] = cycle.scope.get(RECEIVED_BYTES, 0) + len(data)
            super().data_received(data)

        def on_response_complete(self) -> None:
            self.loop.call_later(REQUEST_HEAD_SECONDS, self.refuse_unless_a_request_began, self.cycle)
            super().on_response_complete()  # which starts the next request at once if its head arrived with this one

        def refuse_unless_a_request_began(self, cycle_then: Any, status: int = 408) -> None:
            """Answer `status` (408, or 503 beyond the limit) and close, unless a request began since `cycle_then`
            (None: the connection's first)."""
            if self.cycle is cycle_then and not self.transport.is_closing():
                answer = head_timeout_answer() if status == 408 else json_answer(503, busy_problem(max_connections))
                self.transport.write(answer)
                self.transport.close()
                count_unread(status)

        def send_400_response(self, msg: str) -> None:
            # uvicorn calls this in the `except` that caught its parser's error, and passes on none of it
            status, problem = malformed_request_problem(sys.exception())
            say(refusal_line(self.client, status, problem))
            answer = json_answer(status, problem)
            cycle = getattr(self, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                cycle.scope[MALFORMED_REQUEST] = status  # the app, reading its body, counts it
                if cycle.response_started:  # the app's answer is under way: only uvicorn can cut it short
                    super().send_400_response(msg)
                    return
            else:
                count_unread(status)
            self.transport.write(answer)
            self.transport.close()

    return ServedHTTPProtocol


def busy_problem(max_connections: int) -> dict[str, Any]:
    message = f"the server is serving as many connections as it takes at once ({max_connections}): "
    return {"loc": ["request"], "msg": message + f"try again in {RETRY_AFTER_SECONDS} s", "type": "busy"}


def head_timeout_answer() -> bytes:
    message = f"the request line and headers did not arrive whole within {REQUEST_HEAD_SECONDS:g} s: send them at once"
    return json_answer(408, {"loc": ["request"], "msg": message, "type": "timeout"})


def malformed_request_problem(error: BaseException | None) -> tuple[int, dict[str, Any]]:
    """(status, problem) for a request the HTTP parser refused with `error`: its words (h11's say what was wrong:
    `Missing mandatory Host: header`, `illegal chunk header: ...`) and the status h11 suggests with them (431 for
    headers above its limit, 501 for a transfer coding other than chunked), else 400."""
    status = getattr(error, "error_status_hint", 400)
    reason = echoed(str(error)) if error is not None and str(error) else "its request line or headers cannot be read"
    return status, {"loc": ["request"], "msg": f"not a valid HTTP/1.1 request: {reason}", "type": "bad_request"}


def refusal_line(client: tuple[str, int] | None, status: int, problem: dict[str, Any]) -> str:
    """The server's line for a request it refused before the app saw it: who sent it, the status, and why (the
    problem's words: at most 80 characters of what the client sent, escaped as Python shows bytes)."""
    sender = address(*client) if client else "an unknown address"
    return f"refused a request from {sender}: {status} {HTTPStatus(status).phrase}, {problem['msg']}"


def say(line: str) -> None:
    """One line on the server's stderr, as its others (a champion switch, a prediction log written again) are."""
    print(line, file=sys.stderr, flush=True)


def json_answer(status: int, problem: dict[str, Any]) -> bytes:
    """A whole HTTP response with one problem, as the app's refusals are, written by the protocol (which then closes
    the connection) where no app is reading a request."""
    body = problem_body(problem)
    head = "".join(f"{name}: {value}\r\n" for name, value in refusal_headers(status, body).items())
    return f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{head}\r\n".encode() + body


def problem_body(problem: dict[str, Any]) -> bytes:
    return json.dumps({"detail": [problem]}).encode()


def refusal_headers(status: int, body: bytes) -> dict[str, str]:
    """The headers of a refusal the server answers itself: JSON, the connection closed, and for a 503 (beyond the
    limit of connections) when to try again."""
    headers = {"content-type": "application/json", "connection": "close", "content-length": str(len(body))}
    return headers | ({"retry-after": str(RETRY_AFTER_SECONDS)} if status == 503 else {})


def stoppable_server() -> type:
    """uvicorn's server, shutting down as it does on Ctrl-C and SIGTERM on SIGHUP too (a closed terminal, a
    supervisor), where the default ended the process at once and lost the log lines of loans already answered;
    unless it was ignored from the start (`nohup mlops serve`), as a server meant to outlive its terminal asks.
    The signal is kept, not raised again once the server is down, so the command ends with one line and 128 + n."""
    import uvicorn

    class StoppableServer(uvicorn.Server):
        stopped_by: int | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {signum: signal.signal(signum, self.handle_exit) for signum in stops_to_take()}  # nohup: on
            try:
                yield
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.stopped_by = self.stopped_by or sig
            super().handle_exit(sig, frame)

    return StoppableServer


def prepare_server(
    rev: str | None,
    host: str,
    port: int,
    challenger: str | None,
    share: float | None,
    shadow: str | None,
    log_dir: Path,
    log_max_bytes: int,
    max_connections: int,
) -> Server:
    """Load the models (each hash-checked), check the rollout and the port, build the app."""
    dvc_seam.require_repo()
    check_log_folder(log_dir)
    share = check_rollout(challenger, share, shadow)
    for named in (rev, challenger, shadow):  # a mistyped revision is named before a busy port, loading nothing
        if named:
            registry.commit_of(named)
    require_free_port(host, port)
    follow = rev is None
    champion_commit = registry.champion_commit() if follow else None
    deployment = Deployment(
        champion=load_served_model(rev) if not follow else load_served_model(champion_commit, champion=True),
        challenger=load_served_model(challenger) if challenger else None,
        share=share,
        shadow=load_served_model(shadow) if shadow else None,
    )
    follower = ChampionFollower(deployment) if follow else None
    log = PredictionLog(log_dir, log_max_bytes)
    app = build_app(deployment, log, follower)
    return Server(app, host, port, max_connections, start_line(deployment, follow, champion_commit), log)


def check_rollout(challenger: str | None, share: float | None, shadow: str | None) -> float:
    """The challenger's share, after checking the rollout options fit together."""
    if challenger and shadow:
        raise UserError("--challenger and --shadow cannot be combined", hint="roll out one new model at a time")
    if share is not None and not challenger:
        raise UserError("--share needs --challenger REV", hint="e.g. --challenger my-branch --share 0.1")
    share = DEFAULT_SHARE if share is None else share
    if not 0.0 <= share <= 1.0:
        raise UserError(f"--share {share}: must be between 0 and 1", hint="e.g. --share 0.1 for a tenth of loans")
    return share + 0.0  # -0.0 is 0.0 (printed "-0%" otherwise)


def address(host: str, port: int) -> str:
    """host:port as a URL writes it: an IPv6 address in brackets (`[::1]:8000`)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def require_free_port(host: str, port: int) -> None:
    """Whether uvicorn can listen on host:port, tried on every address the host names (IPv4 or IPv6, both for
    `localhost`), as asyncio binds them: an AF_INET socket alone refused `--host ::1`."""
    try:
        for family, kind, proto, _, where in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(where)
    except OSError as error:  # socket.gaierror included: a host that names no address
        raise UserError(
            f"cannot listen on {address(host, port)}: {error.strerror}", hint="check --host, or choose another --port"
        ) from None


def start_line(deployment: Deployment, follow: bool, champion_commit: str | None) -> str:
    """Which models serve which loans: the champion (and where it comes from), the challenger or the shadow."""

    champion = deployment.champion

    def model(served: ServedModel) -> str:
        where = "the workspace's model" if served.rev == "workspace" else registry.describe(served.rev)
        # a rollout of the champion's own bytes compares nothing: said, rather than sent a share of loans in silence
        itself = (
            " (the champion's own model: nothing is compared)"
            if served is not champion and served.md5 == champion.md5
            else ""
        )
        return f"{where}, model {served.md5}{itself}"

    if follow:
        origin = "the model in stage prod" if champion_commit else "no model in stage prod yet"
        origin += "; following promotions"
    else:
        origin = "chosen with --model; not following promotions"
    if deployment.challenger:
        return (
            f"champion: {model(champion)} ({origin}), {1 - deployment.share:.0%} of loans; "
            f"challenger: {model(deployment.challenger)}, {deployment.share:.0%} of loans"
        )
    line = f"champion: {model(champion)} ({origin}), 100% of loans"
    if deployment.shadow:
        line += f"; shadow: {model(deployment.shadow)}, scores 100% of loans, never returned"
    return line
