"""The command's standard output and error, kept writable to the end: a reader that goes away (`mlops repro |
head -3`) or a stream closed before the start (`mlops repro >&-`) turns it into /dev/null, as Python's note on
SIGPIPE does it, and the command carries on to its end. A BrokenPipeError raised in the middle of a run (by DVC's
log line, a stage's print) would fail the run. A terminal in a legacy encoding (an ISO-8859 locale,
PYTHONIOENCODING=ascii, a Windows console) gets the few characters of ours it cannot show in plain letters."""

from __future__ import annotations

import codecs
import io
import os
import sys
from collections.abc import Callable

# Characters the commands write (a change column `Δauc`, a value shortened `ab…yz`) and what a terminal that cannot
# show them reads instead. Any other character it cannot show is handled as Python would have (stdout: an error,
# stderr: `\xe9`): a loan id or a label is never changed silently.
PLAIN = {"Δ": "d", "…": "..."}


def _plain_else(fallback: str) -> Callable[[UnicodeError], tuple[str, int]]:
    otherwise = codecs.lookup_error(fallback)

    def handle(error: UnicodeError) -> tuple[str, int]:
        unencodable = error.object[error.start : error.end] if isinstance(error, UnicodeEncodeError) else ""
        if unencodable and all(char in PLAIN for char in unencodable):
            return "".join(PLAIN[char] for char in unencodable), error.end
        return otherwise(error)

    return handle


FALLBACKS = ("strict", "backslashreplace")  # Python's own for stdout and stderr
for _fallback in FALLBACKS:
    codecs.register_error(f"mlops-plain-else-{_fallback}", _plain_else(_fallback))


def _plain_first(errors: str) -> str:
    """A stream's error handler, with the characters of PLAIN written plain first."""
    return f"mlops-plain-else-{errors}" if errors in FALLBACKS else errors


class UntilReaderLeaves(io.RawIOBase):
    """A standard stream's file descriptor, written until its reader goes away, then /dev/null."""

    reader_left = False

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data) -> int:
        try:
            return os.write(self.fd, data)
        except BrokenPipeError:
            _point_at_devnull(self.fd)  # for this process, the stages it forks and the programs it starts
            UntilReaderLeaves.reader_left = True
            return len(data)


def outputs_until_reader_leaves() -> None:
    """sys.stdout and sys.stderr through `UntilReaderLeaves`, with the same encoding and buffering. A closed one
    (where Python has none) becomes /dev/null first: the stages, which flush it, would fail, and the next file
    opened would take its number and get what a program started meanwhile writes."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None and _closed(fd):
            _point_at_devnull(fd)
            setattr(sys, name, io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8"))
        stream = getattr(sys, name)
        try:
            fd = stream.fileno()
            stream.flush()
        except (AttributeError, OSError, ValueError):  # no real stream (pythonw, a test's capture): left as it is
            continue
        wrapped = io.TextIOWrapper(
            io.BufferedWriter(UntilReaderLeaves(fd)),
            encoding=stream.encoding,
            errors=_plain_first(stream.errors),
            line_buffering=stream.line_buffering,
            write_through=getattr(stream, "write_through", False),
        )
        setattr(sys, name, wrapped)


def reader_left() -> bool:
    """Whether a reader of the command's output went away during the run."""
    return UntilReaderLeaves.reader_left


def _point_at_devnull(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    if devnull != fd:  # a closed descriptor is the lowest free one, so /dev/null may take its number itself
        os.dup2(devnull, fd)
        os.close(devnull)


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False
