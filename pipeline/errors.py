"""The one exception type for user mistakes, and how it reaches the user."""

from __future__ import annotations

import errno
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import NoReturn

STOPPED_SAID = "the files it changes are as they were before the run."  # what a stop of any command leaves
FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # error numbers a write stopped by a lack of space gives


class UserError(Exception):
    """Something the user can fix: bad params, bad data, bad arguments. Never shown as a traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


EXIT_USER_ERROR = 2
LONGEST_LINE = 1_000  # characters: a hostile value (a 100 KB label) is named, not printed whole
# Characters of a value the user typed that a message echoes whole; a longer one (a runaway `$(...)`) is cut to its
# start and end. Room for any real path: an absolute one often passes 80 characters, and its end is the file.
LONGEST_VALUE = 160
VALUE_HEAD, VALUE_TAIL = 60, 20


def row_number(position: int) -> int:
    """The row a message names for the data row at 0-based `position`, numbered as a spreadsheet and a text editor
    number a CSV's lines: the header is row 1, the first loan row 2 (a parquet file's rows are counted the same
    way, so the numbers agree with the file exported to CSV)."""
    return int(position) + 2


def option(flag: str, value: str) -> str:
    """`flag=value` as a shell reads it back, for a hint to paste: `--drop='Unnamed: 0'`, `--drop=--x`."""
    return f"{flag}={shlex.quote(value)}"


def typed(flag: str, value: str) -> str:
    """`flag value` as the user typed it, quoted where a shell would need it: `--id-column ''`, not `--id-column `."""
    return f"{flag} {shlex.quote(value)}"


# Control characters but tab and line feed (C0, DEL, C1): a value a user gave, echoed raw, could move the cursor or
# recolour the terminal (a file named `\x1b[31m.csv`); shown as `\x1b` instead.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def report_user_error(error: UserError, given: Iterable[str] | None = None) -> NoReturn:
    """`error` as one `error:` line and its hint on stderr, then exit status 2. A value the user typed (`given`,
    default the command line's arguments) longer than LONGEST_VALUE is shown cut wherever the message quotes it
    (a revision, a path, an option's value), so each message needs no care of its own."""
    text = values_shortened(f"error: {error}", sys.argv[1:] if given is None else given)
    print("\n".join(_bounded(_inert(line)) for line in text.splitlines()), file=sys.stderr)
    raise SystemExit(EXIT_USER_ERROR)


def shortened(value: str) -> str:
    """`value` as a message shows it: whole up to LONGEST_VALUE characters, else its start, end and length."""
    if len(value) <= LONGEST_VALUE:
        return value
    return f"{value[:VALUE_HEAD]}…{value[-VALUE_TAIL:]} ({len(value):,} characters)"


def values_shortened(text: str, given: Iterable[str]) -> str:
    """`text` with each long value of `given` (command-line arguments) shortened wherever it appears: as typed,
    either side of its first `=` (`--against=REV`, `-S KEY=VALUE`), each value of a sweep axis (`KEY=V1,V2`), as a
    path (`a//b/` is `a/b`), or escaped as repr shows it."""
    forms = set()
    for argument in given:
        key, _, value = argument.partition("=")
        for typed in (argument, key, value, *value.split(",")):
            forms |= {typed, str(PurePath(typed)) if typed else "", repr(typed)[1:-1]}
    for form in sorted((form for form in forms if len(form) > LONGEST_VALUE), key=len, reverse=True):
        text = text.replace(form, shortened(form))
    return text


def _inert(line: str) -> str:
    return CONTROL.sub(lambda char: f"\\x{ord(char.group()):02x}", line)


def _bounded(line: str) -> str:
    return line if len(line) <= LONGEST_LINE else f"{line[:LONGEST_LINE]}... ({len(line):,} characters)"


def run_reporting_user_errors(main: Callable[[], object]) -> None:
    """Run `main`, turning a UserError, or a write stopped by a full disk or a read-only folder, into one clear
    message and exit status 2."""
    try:
        main()
    except UserError as error:
        report_user_error(error)
    except OSError as error:
        if (explained := full_disk(error) or not_writable(error)) is None:
            raise
        report_user_error(explained)


NEARLY_FULL = 16 * 1024 * 1024  # bytes free on the project's disk under which a failed write is most likely its


def read_dvc_message(then: str) -> str:
    """The hint for a DVC command that failed after saying why: read it, then `then`; on a nearly full disk, that
    first (DVC says a full disk in its own ways: "disk I/O error", or a bug it hit on the way)."""
    try:
        free = shutil.disk_usage(".").free
    except OSError:
        free = NEARLY_FULL
    if free < NEARLY_FULL:
        return f"the disk holding the project has only {free // 1024:,} KB free: free some space, then run it again"
    return f"read DVC's message above; {then}"


def errno_in(text: str) -> int | None:
    """The error number in an OSError's text (`[Errno 28] No space left on device: ...`), as copytree and DVC
    pass a failure on: in words."""
    number = text.partition("[Errno ")[2].partition("]")[0]
    return int(number) if number.isdigit() else None


# How other programs say a write found no room, besides the system's words for FULL_DISK: git ("fatal: sha1 file
# '.git/index.lock' write error. Out of diskspace") and sqlite, DVC's databases (sqlite3.OperationalError).
NO_ROOM_SAID = {"Out of diskspace": errno.ENOSPC, "database or disk is full": errno.ENOSPC}


def full_disk_in(text: str) -> int | None:
    """The error number of a lack of space that `text` (a failure passed on in words) reports, else None."""
    number = errno_in(text)
    if number is not None:
        return number if number in FULL_DISK else None
    said = {**NO_ROOM_SAID, **{os.strerror(number): number for number in FULL_DISK}}
    return next((number for words, number in said.items() if words in text), None)


def not_writable(error: BaseException) -> UserError | None:
    """A write refused by the file system (a read-only checkout or mount, a folder of another user's) as the
    UserError it is; None for anything else."""
    if not isinstance(error, OSError) or error.errno not in (errno.EROFS, errno.EACCES):
        return None
    written = error.filename2 or error.filename
    return UserError(
        f"{error.strerror or error}{f': {written}' if written else ''}; this command writes in the project",
        hint="run it where the project can be written (`mlops status` only reads: it works in a read-only checkout)",
    )


def full_disk(error: BaseException, command: str = "it") -> UserError | None:
    """A write stopped by a lack of space (a full disk, a quota, a file size limit) as the UserError it is; None for
    anything else."""
    if not isinstance(error, OSError) or error.errno not in FULL_DISK:
        return None
    written = error.filename2 or error.filename  # a copy's destination, else the file written
    where = f": {written}" if written else ""
    return UserError(f"{error.strerror or error}{where}", hint=f"free some disk space, then run {command} again")
