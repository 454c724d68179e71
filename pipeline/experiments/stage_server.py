"""A warm stage server: this user's process that keeps pandas, scikit-learn and skops imported between commands.

A `StageRunner` (see `warm_stages`) imports those libraries as its command starts: a full run hides that behind
DVC's own start, but a subset run, which starts no DVC, waits for it (most of its time on the default data). So
the first `mlops` that runs stages also starts this server (`mlops-stages` in ps): one per Python, project code
and library environment, in its own session, reading nothing and writing nowhere. Each later command connects,
and the server forks it a runner that already has every import: the runner then serves the command exactly as
a runner forked from the command would (stages in forks of it, with the command's directory, environment,
standard streams, umask and ignored stop signals), and ends its stage at once when the command closes the
connection or dies, however it dies. A server whose project code, Python or libraries changed is never asked
again (its socket's name is a fingerprint of them), so it ends once it sees the change; any other ends after
`IDLE_SECONDS` unused, or when its socket goes.
`MLOPS_STAGE_SERVER=0` turns it off: runners are then forks of the command, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hooks.stop_signals import STOP_SIGNALS

SWITCH = "MLOPS_STAGE_SERVER"
IDLE_SECONDS = 600
TICK_SECONDS = 2.0  # how often an idle server reaps its runners and checks that its socket is still its own
PROCESS_NAME = "mlops-stages"
# Environment variables that libraries read as they are imported (threads, BLAS kernels, paths, locale): a
# server imported them under one set, so another set gets another server.
IMPORT_TIME_ENV = (
    "PYTHON",
    "OPENBLAS",
    "GOTO",
    "OMP",
    "MKL",
    "BLIS",
    "KMP",
    "NUMEXPR",
    "VECLIB",
    "NPY",
    "NUMPY",
    "SKLEARN",
    "JOBLIB",
    "ARROW",
    "LD_",
    "LANG",
    "LC_",
    "TZ",
    "MALLOC",
)
BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from pipeline.experiments.warm_stages import run_stage_server; run_stage_server()"
)


def connect(stages: tuple[str, ...]) -> socket.socket | None:
    """A connection to a runner the server forks for `stages` (the server is started first when none runs);
    None when there is no server to use (switched off, or not Linux)."""
    if os.environ.get(SWITCH) == "0" or not hasattr(os, "pidfd_open"):
        return None
    try:
        path = socket_path()
        channel = _connected(path) or _start(path)
        hello = {"stages": list(stages), "ignored": _ignored_stops(), "umask": _umask()}
        channel.sendall(json.dumps(hello).encode() + b"\n")
    except OSError:
        return None
    return channel


def _project_root() -> Path:
    """The folder holding the `pipeline` package this process imported."""
    import pipeline

    return Path(pipeline.__file__).resolve().parents[1]


def socket_path() -> Path:
    """This user's socket for a server of the code and libraries this process runs with."""
    root = _project_root()
    directory = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"mlops-stages-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    status = directory.lstat()  # a symbolic link (in a shared /tmp, anyone's) is not this user's folder
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise PermissionError(f"{directory} is not this user's own")
    return directory / f"{_fingerprint(root)}.sock"


def _fingerprint(root: Path, environ: dict[str, str] | None = None) -> str:
    """What a server's imports depend on: the Python, the project code under `root` and the installed libraries
    (a site-packages folder changes when a package is installed or removed), and the import-time environment
    (`environ`, default this process's)."""
    code = []
    for package in ("pipeline", "hooks"):
        for path in sorted((root / package).rglob("*.py")):
            status = path.stat()
            code.append((str(path), status.st_mtime_ns, status.st_size))
    libraries = [(entry, os.stat(entry).st_mtime_ns) for entry in sys.path if entry.endswith("-packages")]
    environ = os.environ if environ is None else environ
    env = sorted((name, value) for name, value in environ.items() if name.startswith(IMPORT_TIME_ENV))
    # The interpreter by its real file: `python` and `python3.11` of one venv are one Python (its site-packages
    # folders, above, tell one venv from another).
    identity = [os.path.realpath(sys.executable), sys.version, str(root), code, libraries, env]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]


def _connected(path: Path) -> socket.socket | None:
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        channel.connect(str(path))
    except OSError:
        channel.close()
        return None
    return channel


def _start(path: Path) -> socket.socket:
    """Listen on `path` here, hand the listening socket to a new server, and connect: the connection waits in
    the queue while the server imports, so nothing here waits for it."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a server that is gone left it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        listener.listen(64)
        subprocess.Popen(
            [
                sys.executable,
                "-P",
                "-c",
                BOOT,
                str(_project_root()),
                str(path),
                str(listener.fileno()),
            ],
            pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,  # no terminal's signals reach it: it ends on its own
        )
    finally:
        listener.close()
    channel = _connected(path)
    if channel is None:
        raise ConnectionRefusedError(f"no stage server on {path}")
    return channel


def _ignored_stops() -> list[int]:
    return [int(signum) for signum in STOP_SIGNALS if signal.getsignal(signum) is signal.SIG_IGN]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def serve(preload: Callable[[str], None], serve_runner: Callable[..., None]) -> None:
    """The server: `python -P -c BOOT ROOT PATH FD`, listening on the socket FD it inherited. Import the stages'
    libraries (`preload(stage)`; the ingest stage's first, so that a command waiting for it is served soon), then
    fork a runner for each connection (`serve_runner`); the rest of the imports happen while no runner is alive."""
    root, path, listener = Path(sys.argv[1]), sys.argv[2], socket.socket(fileno=int(sys.argv[3]))
    inode = os.stat(path).st_ino
    environ = dict(os.environ)  # the command's: a library may set variables of its own as it is imported
    preload("ingest")
    runners: set[int] = set()
    unwarmed, last_used = ["train"], time.monotonic()
    while True:
        runners -= _reaped(runners)
        if runners:
            last_used = time.monotonic()
        warming = bool(unwarmed) and not runners
        if select.select([listener], [], [], 0 if warming else TICK_SECONDS)[0]:
            if runner := _accept(listener, serve_runner):
                runners.add(runner)
        elif warming:
            preload(unwarmed.pop())
        elif _unwanted(root, environ, path, inode, idle=time.monotonic() - last_used):
            break
    if _still_at(path, inode):
        with contextlib.suppress(OSError):
            os.unlink(path)
    # No command can connect once the name is gone; one that connected just before is served, not dropped.
    while select.select([listener], [], [], 0)[0]:
        _accept(listener, serve_runner)


def _unwanted(root: Path, environ: dict[str, str], path: str, inode: int, idle: float) -> bool:
    """Idle too long, its socket gone or another's, or its code, Python or libraries changed since it imported
    them (a command would then ask another server: nothing would ask this one again)."""
    return idle > IDLE_SECONDS or not _still_at(path, inode) or _fingerprint(root, environ) != Path(path).stem


def _accept(listener: socket.socket, serve_runner: Callable[..., None]) -> int:
    """Fork a runner for the next connection, if this user's own (its pid, else 0)."""
    connection, _ = listener.accept()
    try:
        return _fork_runner(listener, connection, serve_runner) if _peer_uid(connection) == os.getuid() else 0
    finally:
        connection.close()


def _reaped(runners: set[int]) -> set[int]:
    ended = set()
    for pid in runners:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:
                ended.add(pid)
    return ended


def _peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def _still_at(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _fork_runner(listener: socket.socket, connection: socket.socket, serve_runner: Callable[..., None]) -> int:
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            listener.close()
            hello = json.loads(_first_line(connection))
            ignored = set(hello["ignored"])
            for signum in STOP_SIGNALS:  # as in the command: a stop it ignores (nohup, `cmd &`) stays ignored
                signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)
            os.umask(hello["umask"])
            connection.sendall(f"{os.getpid()}\n".encode())
            serve_runner(connection, tuple(hello["stages"]), watch_caller=True)
        finally:
            os._exit(status)
    return pid


def _first_line(connection: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        chunk = connection.recv(1)
        if not chunk:
            raise ConnectionResetError("the command went away")
        line += chunk
    return line
