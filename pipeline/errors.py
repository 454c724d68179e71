"""The one exception type for user mistakes, and how it reaches the user."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from typing import NoReturn


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


def row_number(position: int) -> int:
    """The row a message names for the data row at 0-based `position`, numbered as a spreadsheet and a text editor
    number a CSV's lines: the header is row 1, the first loan row 2 (a parquet file's rows are counted the same
    way, so the numbers agree with the file exported to CSV)."""
    return int(position) + 2


def option(flag: str, value: str) -> str:
    """`flag=value` as a shell reads it back, for a hint to paste: `--drop='Unnamed: 0'`, `--drop=--x`."""
    return f"{flag}={shlex.quote(value)}"


# Control characters but tab and line feed (C0, DEL, C1): a value a user gave, echoed raw, could move the cursor or
# recolour the terminal (a file named `\x1b[31m.csv`); shown as `\x1b` instead.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def report_user_error(error: UserError) -> NoReturn:
    print("\n".join(_bounded(_inert(line)) for line in f"error: {error}".splitlines()), file=sys.stderr)
    raise SystemExit(EXIT_USER_ERROR)


def _inert(line: str) -> str:
    return CONTROL.sub(lambda char: f"\\x{ord(char.group()):02x}", line)


def _bounded(line: str) -> str:
    return line if len(line) <= LONGEST_LINE else f"{line[:LONGEST_LINE]}... ({len(line):,} characters)"


def run_reporting_user_errors(main: Callable[[], object]) -> None:
    """Run `main`, turning a UserError into one clear message and exit status 2."""
    try:
        main()
    except UserError as error:
        report_user_error(error)
