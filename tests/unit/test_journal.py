"""The journal's recovery on a temporary git repository: a journal left by a killed command is undone by the next
one, and a DVC lock file the stop tore in half is removed so that DVC can run again (a whole one is kept)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from pipeline.versioning import journal
from tests.conftest import run


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    run(["git", "init", "-q"], tmp_path)
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def killed_command(workspace: Path, saved: dict[str, str]) -> None:
    """The journal a command killed by SIGKILL leaves: copies of `saved` (path -> content before it ran)."""
    (workspace / journal.JOURNAL / "files").mkdir(parents=True)
    for name, content in saved.items():
        (workspace / journal.JOURNAL / "files" / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / journal.JOURNAL / "files" / name).write_text(content)
    entry = journal.Entry("mlops repro", 4242, paths=dict.fromkeys(saved, "file"), outputs=False)
    (workspace / journal.JOURNAL / "journal.json").write_text(json.dumps(entry.__dict__))


@pytest.mark.parametrize("torn", ["", '{"read": {"dvc.lock": '])
def test_recovery_puts_files_back_and_removes_a_torn_dvc_lock_file(workspace, torn):
    (workspace / "params.yaml").write_text("changed by the killed run\n")
    journal.DVC_RWLOCK.write_text(torn)
    killed_command(workspace, {"params.yaml": "as before\n"})
    message = journal.recover()
    assert message and "mlops repro" in message and "params.yaml" in message
    assert (workspace / "params.yaml").read_text() == "as before\n"
    assert not journal.DVC_RWLOCK.exists() and not journal.JOURNAL.exists()


def test_a_whole_dvc_lock_file_is_left_alone(workspace):
    whole = '{"read": {}, "write": {}}'
    journal.DVC_RWLOCK.write_text(whole)
    killed_command(workspace, {})
    assert journal.recover()
    assert journal.DVC_RWLOCK.read_text() == whole


def test_nothing_to_recover(workspace):
    assert journal.recover() is None


class SignalledWhileCollected:
    """Sends SIGTERM from its finalizer: the handler's exception is raised where Python prints and drops it."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_stop_signal_swallowed_in_a_finalizer_still_stops_and_restores(workspace, capfd):
    (workspace / "params.yaml").write_text("before\n")
    with pytest.raises(journal.Stopped), journal.all_or_nothing("mlops repro", ("params.yaml",), outputs=False):
        (workspace / "params.yaml").write_text("after\n")
        SignalledWhileCollected()  # collected at once
    assert (workspace / "params.yaml").read_text() == "before\n"
    assert "Traceback" not in capfd.readouterr().err


def test_a_stop_signal_a_library_caught_stops_as_a_stop_not_as_its_failure(workspace):
    """DVC's main catches the stop (KeyboardInterrupt) and returns 252; the command then fails on that status: it
    is reported as the stop it was, and everything is put back."""
    (workspace / "params.yaml").write_text("before\n")
    with pytest.raises(journal.Stopped), journal.all_or_nothing("mlops data add", ("params.yaml",), outputs=False):
        (workspace / "params.yaml").write_text("after\n")
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            status = 252
        raise RuntimeError(f"`dvc add` failed (exit {status})")
    assert (workspace / "params.yaml").read_text() == "before\n"


class CutShortBySignal:
    """Like DVC's progress callbacks: a stop signal landing in `__init__` leaves an object whose finaliser fails."""

    def __init__(self, signum: int) -> None:
        os.kill(os.getpid(), signum)
        self.progress = None

    def __del__(self) -> None:
        self.progress.close()  # AttributeError when `__init__` was cut short


class FailsWhenCollected:
    def __del__(self) -> None:
        raise RuntimeError("a finaliser's own bug")


@pytest.fixture
def stops_as_in_a_terminal():
    """Ctrl-C as in `mlops` (a KeyboardInterrupt), whatever handler a stage module imported here installed, and
    SIGHUP as a terminal leaves it, even when the tests run under `nohup`."""
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_what_finalisers_raise_after_a_stop_is_not_printed(workspace, monkeypatch, stops_as_in_a_terminal, signum):
    printed = []
    monkeypatch.setattr("sys.unraisablehook", printed.append)  # what Python would print as "Exception ignored"
    (workspace / "params.yaml").write_text("before\n")
    with pytest.raises(journal.Stopped), journal.all_or_nothing("mlops repro", ("params.yaml",), outputs=False):
        (workspace / "params.yaml").write_text("after\n")
        try:
            CutShortBySignal(signum)
        except KeyboardInterrupt:  # as DVC's main catches it: the half-built object is collected on leaving
            status = 252
        raise RuntimeError(f"`dvc repro` failed (exit {status})")
    assert (workspace / "params.yaml").read_text() == "before\n"
    assert printed == []


def test_what_a_finaliser_raises_without_a_stop_is_still_reported(workspace, monkeypatch):
    seen = []
    monkeypatch.setattr("sys.unraisablehook", seen.append)
    with journal.all_or_nothing("mlops repro", outputs=False):
        FailsWhenCollected()
    assert [str(unraisable.exc_value) for unraisable in seen] == ["a finaliser's own bug"]


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_signal_ignored_from_the_start_stays_ignored(workspace, stops_as_in_a_terminal, signum):
    """`nohup mlops ...` (SIGHUP ignored) or a script's background job (SIGINT ignored): the command and what it
    starts (DVC, the stages) go on through that signal; the unwinding took SIGHUP whatever its handler, and its
    children, which keep an ignored signal but not a handler, took it as the default: the end."""
    signal.signal(signum, signal.SIG_IGN)
    (workspace / "params.yaml").write_text("before\n")
    with journal.all_or_nothing("mlops repro", ("params.yaml",), outputs=False):
        assert signal.getsignal(signum) is signal.SIG_IGN
        os.kill(os.getpid(), signum)
        (workspace / "params.yaml").write_text("after\n")
    assert (workspace / "params.yaml").read_text() == "after\n" and journal.stop_signal() is None
    assert signal.getsignal(signum) is signal.SIG_IGN


def test_a_held_stop_is_raised_after_the_block_even_when_another_thread_takes_the_signal():
    """Blocking the stop signals in the main thread held nothing once another thread (a library's worker) could take
    them: Python runs the handler in the main thread all the same, inside the block, and a stop between a partial
    file's making and its name being kept left the file behind."""
    import threading

    class Stop(Exception):
        pass

    def stop(signum, frame):
        raise Stop

    go = threading.Event()
    sender = threading.Thread(target=lambda: go.wait() and os.kill(os.getpid(), signal.SIGTERM))
    sender.start()  # before the block: its signal mask is the main thread's as it was, nothing blocked
    previous = signal.signal(signal.SIGTERM, stop)
    reached = []
    try:
        with pytest.raises(Stop), journal.stops_held():
            go.set()
            sender.join()
            for _ in range(1000):  # bytecode boundaries, where Python runs a pending handler
                pass
            reached.append("the end of the block")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert reached == ["the end of the block"]


def dvc_outputs_with_temporaries(workspace: Path) -> list[Path]:
    """Outputs `dvc.lock` records (a model, a folder), each with the temporary a stop leaves as DVC copies it back
    from its cache: beside the model (seen in CI after a SIGTERM during train) and inside the folder."""
    (workspace / "dvc.lock").write_text(
        f"schema: '2.0'\nstages:\n  train:\n    outs:\n    - path: models/model.skops\n      md5: {'ab' * 16}\n"
        f"    - path: data/prepared\n      md5: {'cd' * 16}.dir\n"
    )
    (workspace / "data" / "prepared" / "part").mkdir(parents=True)
    (workspace / "models").mkdir()
    return [workspace / "models" / f".{'m' * 22}.tmp", workspace / "data" / "prepared" / "part" / f".{'p' * 22}.tmp"]


def test_a_failed_command_leaves_none_of_the_temporaries_dvc_left(workspace):
    """DVC copies a file (into its cache, back into the workspace) through `.<22 characters>.tmp` beside its
    destination, then renames it; a full disk stops it between and DVC leaves the temporary: in data/external it
    made the ingest stage look changed, in the cache it held the space the user had to free. Those made before the
    command started, and other names, are not the command's and stay."""
    external = workspace / "data" / "external"
    cache = workspace / ".dvc" / "cache" / "files" / "md5" / "ab"
    for folder in (external, cache):
        folder.mkdir(parents=True)
    (external / "loans.csv").write_text("as before\n")
    older = external / f".{'0' * 22}.tmp"
    older.write_text("made before the command")
    os.utime(older, (1_000_000_000, 1_000_000_000))
    unrelated = [external / "notes.tmp", external / f".{'x' * 21}.tmp", cache / "cdef0123456789"]
    for path in unrelated:
        path.write_text("not DVC's temporary")
    left = [external / f".{'a' * 22}.tmp", external / f"loans.csv.{'B' * 21}-.tmp", cache / f".{'c_' * 11}.tmp"]
    left += dvc_outputs_with_temporaries(workspace)
    with pytest.raises(OSError), journal.all_or_nothing("mlops data add", ("data/external/loans.csv",), outputs=False):
        (external / "loans.csv").write_text("half written")
        for path in left:
            path.write_text("a copy cut short")
        raise OSError(28, "No space left on device")
    assert [path for path in left if path.exists()] == []
    assert older.exists() and all(path.exists() for path in unrelated)
    assert (external / "loans.csv").read_text() == "as before\n"


def test_a_stop_whose_exception_python_replaced_still_ends_as_a_stop(workspace):
    """CPython turns a stop raised while it builds an ImportError into "TypeError: expected a message argument"
    (seen in CI: SIGHUP landed as `mlops gate` imported numpy, and the command ended in a traceback)."""
    with pytest.raises(journal.Stopped) as stopped, journal.stop_signals_unwind():
        try:
            os.kill(os.getpid(), signal.SIGHUP)
        except journal.Stopped:
            raise TypeError("expected a message argument") from None
    assert stopped.value.signum == signal.SIGHUP


def test_an_index_lock_the_killed_command_left_is_named_with_its_removal(workspace, capfd):
    """Killed in its git commit (`mlops exp promote`), the command left `.git/index.lock`: the recovery said the
    files were put back, and every later git command, and `exp promote` again, failed on the lock."""
    killed_command(workspace, {})
    (workspace / ".git" / "index.lock").write_text("")
    assert journal.recover()
    said = capfd.readouterr().err
    assert "git's .git/index.lock is left from that command" in said and "rm .git/index.lock" in said, said
    assert (workspace / ".git" / "index.lock").exists()  # a git command of the user's may hold it

    killed_command(workspace, {})
    record = workspace / journal.JOURNAL / "journal.json"
    record.write_text(json.dumps(json.loads(record.read_text()) | {"started": 1_000_000.0}))
    os.utime(workspace / ".git" / "index.lock", (1, 1))  # older than the killed command: not its own
    assert journal.recover()
    assert "index.lock" not in capfd.readouterr().err
