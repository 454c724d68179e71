"""Telemetry: the prediction log and the outcomes joined to it.

The log is append-only JSON lines, one per loan scored by one model. Requests only put a line on a queue; a
single writer thread appends to the file (so lines never interleave and a response never waits for the disk)
and rotates it by size: `predictions.jsonl` becomes `predictions.<UTC time>.jsonl` and a new file starts
(`logging`'s QueueHandler, QueueListener and RotatingFileHandler).
Readers read every `predictions*.jsonl` in the folder.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import logging.handlers
import math
import numbers
import os
import queue
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pipeline.errors import UserError, row_number, shortened
from pipeline.user_paths import file_in_the_way

if TYPE_CHECKING:
    import pandas as pd

LOG_DIR = "logs"
CURRENT = "predictions.jsonl"
PATTERN = "predictions*.jsonl"
OUTCOMES = "outcomes.jsonl"
DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def ensure_log_dir(folder: Path) -> Path:
    """The log folder, created with a `.gitignore` that keeps its contents out of git."""
    blocking = file_in_the_way(folder / CURRENT)
    if blocking is not None:
        raise UserError(
            f"--log-dir {folder}: {blocking} is a file, not a folder", hint="choose another --log-dir (default logs/)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# prediction logs, outcomes and drift reports: never committed\n*\n")
    except OSError as error:
        raise UserError(
            f"--log-dir {folder}: cannot make the log folder there: {error.strerror or error}",
            hint="choose another --log-dir (default logs/)",
        ) from None
    return folder


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class LogFileWriter(logging.handlers.RotatingFileHandler):
    """The rotating file handler, which opens the log again (its folder too) when the file was removed or moved
    while serving: with `logs/` removed (`git clean -fdX`, it ignores itself) or the file moved away, every loan
    answered after went to a file no longer there, lost without a word. A loan it cannot write (a full disk, the
    folder replaced by a file) is counted in `lost` and said once, with the cause, until a write works again: the
    handler's default printed a traceback per loan and nothing counted them."""

    lost = 0  # answered loans the log could not take
    failing: str | None = None  # why the last write failed, while no later one worked

    def _open(self) -> Any:
        """The log opened to append, its unfinished last line (a server killed as it wrote it) removed first:
        the next line would run on from it, a line no reader can read."""
        unfinished = drop_unfinished_line(Path(self.baseFilename))
        if unfinished:
            print(
                f"prediction log {self.baseFilename}: removed its unfinished last line ({unfinished} bytes: a write "
                "cut short, by a server killed as it wrote or a full disk); its whole lines are kept",
                file=sys.stderr,
                flush=True,
            )
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.stream is not None and not self._writes_to_its_path():
                if not self._rotated():  # another server on the same folder rotates it too: no news
                    print(
                        f"prediction log {self.baseFilename} was removed or moved while serving: writing a new one",
                        file=sys.stderr,
                        flush=True,
                    )
                self.stream.close()
                self.stream = None  # opened again below, at its path
            if self.stream is None:  # its folder made again first: removed, or a file stood there at a failed write
                ensure_log_dir(Path(self.baseFilename).parent)
                self.stream = self._open()
        except Exception:  # as the handler's own failures: counted and said, and the writer thread goes on
            self.handleError(record)
            return
        lost_before = self.lost
        with _appending(self.stream):  # so another server opening the log never takes this line for a cut one
            super().emit(record)  # its failure comes to `handleError`
        if self.failing is not None and self.lost == lost_before:
            print(
                f"prediction log {self.baseFilename}: written again; {self.lost} answered loan(s) in all could not "
                "be logged",
                file=sys.stderr,
                flush=True,
            )
            self.failing = None

    def handleError(self, record: logging.LogRecord) -> None:
        """A loan not written: counted, said when the log starts failing, and the file closed, so that the next
        loan opens it again, its cut last line removed (a line run on from a cut one is one no reader can read)."""
        error = sys.exc_info()[1]
        self.lost += 1
        if self.failing is None:
            print(
                f"prediction log {self.baseFilename}: an answered loan could not be written ({error}): loans are "
                "answered but not logged until a write works again (free space on its disk, or make its folder a "
                "folder again); /health says so and /metrics counts them",
                file=sys.stderr,
                flush=True,
            )
        self.failing = str(error).splitlines()[0] if error else "unknown error"  # a UserError's hint goes
        if self.stream is not None:
            with contextlib.suppress(OSError):  # its buffer's flush fails on the same full disk
                self.stream.close()
            self.stream = None

    def _rotated(self) -> bool:
        """Whether the file written to is a rotated log file of the folder now (another server rotated it)."""
        written = os.fstat(self.stream.fileno())
        for path in Path(self.baseFilename).parent.glob(PATTERN):
            with contextlib.suppress(OSError):
                on_disk = path.stat()
                if (on_disk.st_dev, on_disk.st_ino) == (written.st_dev, written.st_ino):
                    return True
        return False

    def _writes_to_its_path(self) -> bool:
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return False
        written = os.fstat(self.stream.fileno())
        return (on_disk.st_dev, on_disk.st_ino) == (written.st_dev, written.st_ino)


class PredictionLog:
    """Append JSON lines to `folder/predictions.jsonl`; rotate above `max_bytes`.

    The standard library's pieces: requests put records on a queue (`QueueHandler`, so a response never waits for
    the disk), and one `QueueListener` thread writes them through a `RotatingFileHandler` (so lines never
    interleave), whose rotated files are named `predictions.<UTC time>.jsonl` and all kept."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = ensure_log_dir(Path(folder))
        self.path = self.folder / CURRENT
        writer = LogFileWriter(self.path, maxBytes=max_bytes, backupCount=1, encoding="utf-8")
        writer.namer = self._rotated_name  # with one backup, each rotation moves the file to a new, unique name
        writer.setFormatter(logging.Formatter("%(message)s"))
        log_queue: queue.Queue = queue.Queue()
        self.logger = logging.getLogger(f"{__name__}.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(logging.handlers.QueueHandler(log_queue))
        self.listener = logging.handlers.QueueListener(log_queue, writer)
        self.writer = writer
        self.listener.start()

    def _rotated_name(self, default_name: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        return str(self.folder / f"predictions.{stamp}.jsonl")

    def write(self, records: Iterable[dict[str, Any]]) -> None:
        """Queue records for the log (returns at once)."""
        for record in records:
            self.logger.info("%s", json.dumps(record, separators=(",", ":"), default=str))

    @property
    def lost(self) -> int:
        """Answered loans the log could not take (see `LogFileWriter`)."""
        return self.writer.lost

    @property
    def failing(self) -> str | None:
        return self.writer.failing

    def close(self) -> None:
        """Write everything queued, then stop the writer."""
        self.listener.stop()
        with contextlib.suppress(OSError):  # a full disk fails the last flush: those loans are counted lost already
            self.writer.close()
        self.logger.handlers.clear()


def log_files(folder: Path) -> list[Path]:
    """The prediction log files, oldest first (rotated files by name, the current one last)."""
    rotated = sorted(p for p in Path(folder).glob(PATTERN) if p.name != CURRENT)
    current = Path(folder) / CURRENT
    return rotated + ([current] if current.exists() else [])


def is_log_file(path: Path) -> bool:
    """Whether `path` is (or would replace) a file of a prediction log folder that the monitoring commands read: a
    prediction log (current or rotated) or the outcomes, beside a prediction log."""
    named = fnmatch.fnmatchcase(path.name, PATTERN) or path.name == OUTCOMES
    return named and bool(log_files(path.parent))


def require_prediction_log(folder: Path) -> None:
    """Refuse a `--log-dir` that is not a folder `mlops serve` logged to (a typo, `reports`, `.git`): the monitoring
    commands read it, and outcomes recorded anywhere else would never meet their predictions."""
    hint = "name the folder `mlops serve --log-dir` logs to (default logs/)"
    if not Path(folder).is_dir():
        what = "not a folder" if Path(folder).exists() else "no such folder"
        raise UserError(f"--log-dir {folder}: {what}", hint=hint)
    if not log_files(folder):
        raise UserError(f"--log-dir {folder} holds no prediction log of `mlops serve` ({PATTERN})", hint=hint)


# What `mlops serve` writes for each scoring, and what every reader of the log may rely on: one definition for
# drift, retrain and outcomes alike. (`p_default` is null for a refused loan; `features` may be left out.)
SCORING_RECORD = {
    "time": (str,),
    "id": (str, int),
    "role": (str,),
    "served": (bool,),
    "model_md5": (str,),
    "rev": (str,),
    "p_default": (int, float, type(None)),
}
SCORING_RECORD_WORDS = "a JSON object with " + ", ".join(SCORING_RECORD) + " and features"


def read_records(folder: Path, since: datetime | None = None, numeric: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """The scoring records of the log, those logged at or after `since` when given; a `numeric` feature must hold a
    number or null."""
    require_prediction_log(folder)
    numeric = list(numeric)
    for path in log_files(folder):
        for number, line in _text_lines(path):
            if not line.endswith("\n"):
                continue  # the writer's current, unfinished line
            where = f"{path}, line {number}"
            record = _json_line(line, where, SCORING_RECORD_WORDS)
            problem = scoring_problem(record) or _non_numeric(record["features"], numeric)
            if problem:
                raise UserError(
                    f"{where}: not a scoring record: {problem} ({SCORING_RECORD_WORDS})", hint="remove the line"
                )
            if since is None or _logged_time(record["time"], where) >= since:
                yield record


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(number, text) of each line of a log file, its end kept; a line that is not UTF-8 (the log is JSON, ASCII as
    `mlops serve` writes it: a damaged disk block, a foreign file) is refused by file and line, and a folder by the
    log file's name it has."""
    if path.is_dir() or (path.exists() and not path.is_file()):  # a device (/dev/zero) reads forever, a pipe waits
        what = "is a folder, not a file" if path.is_dir() else "is not a regular file (a device, pipe or socket)"
        raise UserError(
            f"{path}: {what}",
            hint=f"move it out of {path.parent}: the monitoring commands read each {PATTERN} and {OUTCOMES} there",
        )
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                yield number, line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UserError(
                    f"{path}, line {number}: not UTF-8 text (byte {error.start + 1} of the line)",
                    hint="remove the line",
                ) from None


def _json_line(line: str, where: str, words: str) -> Any:
    """A log line's JSON value. One that is not JSON, or is nested deeper than Python's JSON reader goes (a
    RecursionError, which was a traceback), is refused by file and line (`words`: what a line should be)."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        problem = "not a JSON line"
    except RecursionError:
        problem = "nested too deeply to read"
    raise UserError(f"{where}: {problem} ({words})", hint="remove the line")


def scoring_problem(record: Any) -> str | None:
    """What keeps `record` from being a scoring record, in words; None when it is one."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kinds in SCORING_RECORD.items():
        if key not in record:
            return f"no {key!r}"
        value = record[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"{key!r} is {json.dumps(value)[:40]}"
    score = record["p_default"]
    if score is not None and not 0 <= score <= 1:  # NaN, Infinity, 7.5: a probability, or ROC AUC fails on it
        return f"'p_default' is {json.dumps(score)[:40]}, not a probability between 0 and 1"
    record.setdefault("features", {})
    return None if isinstance(record["features"], dict) else "'features' is not an object"


def _non_numeric(features: dict[str, Any], numeric: list[str]) -> str | None:
    for name in numeric:
        value = features.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"feature {name!r} is {json.dumps(value)[:40]}, not a number"
    return None


def _logged_time(text: str, where: str) -> datetime:
    """A log line's time as a moment (UTC when it names no zone), so that times in any offset compare as the
    instants they are, not as text."""
    try:
        return _in_utc_unless_zoned(datetime.fromisoformat(text))
    except ValueError:
        raise UserError(f"{where}: time {text!r} is not an ISO date and time", hint="remove the line") from None


def _in_utc_unless_zoned(moment: datetime) -> datetime:
    """A time that names no zone is UTC's, in the log and in --since alike."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_log(folder: Path, since: datetime | None = None, numeric: Iterable[str] = ()) -> pd.DataFrame:
    """Every logged scoring (one row per loan and model) at or after `since`, features as columns (each of
    `numeric` a number or null). Ids are text, as outcomes are: a loan logged as `7` and as `"7"` is one loan."""
    import pandas as pd

    rows = [
        {**record["features"], **{k: v for k, v in record.items() if k != "features"}, "id": str(record["id"])}
        for record in read_records(folder, since, numeric)
    ]
    return pd.DataFrame(rows)


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """`24h`, `7d`, `30m` ago, or an ISO date/time (UTC when no zone is given)."""
    from datetime import timedelta

    if text is None:
        return None
    now = now or datetime.now(UTC)
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].isascii() and text[:-1].isdigit():
        try:
            return now - timedelta(**{units[text[-1]]: int(text[:-1])})
        except OverflowError:  # longer ago than dates go: all the traffic
            return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--since {text!r}: not a duration or a date", hint="e.g. --since 24h, 7d or 2025-01-31"
        ) from None
    return _in_utc_unless_zoned(moment)


# --- outcomes -----------------------------------------------------------------------------------------------


MAX_ID_CHARS = 256
ID_RULE = (
    f"an id is printable text (no control character such as a newline, a tab or NUL) of 1 to {MAX_ID_CHARS} "
    "characters, or a whole number of as many (sign included), as given"
)


def acceptable_id(loan_id: object) -> bool:
    """Whether `loan_id` is an id, by `ID_RULE`: however a loan's id comes in (a request to `mlops serve`, an id
    column of `mlops predict`, an outcomes file), it is joined by and printed. A newline or an escape sequence would
    split or recolour the lines of whatever prints it (a terminal, a CSV of outcomes joined back by id): text must be
    printable, as Python's `str.isprintable` says. A float, a list or bytes (a parquet column's) is none: `1.0` would
    join no loan logged as 1."""
    if isinstance(loan_id, bool) or not isinstance(loan_id, str | numbers.Integral):
        return False
    text = str(loan_id)
    return 1 <= len(text) <= MAX_ID_CHARS and (not isinstance(loan_id, str) or text.isprintable())


def refuse_unacceptable_ids(ids: pd.Series, source: str, column: str) -> None:
    """Refuse the first id of `ids` (a column of `source` as read, indexed by data row from the file's start) that
    `acceptable_id` refuses, naming the file, its row, the column and the id; a missing one is left to the caller."""
    import pandas as pd

    bad = ids.map(lambda value: not acceptable_id(value) and not _missing(value, pd)).to_numpy(dtype=bool)
    if bad.any():
        first = bad.argmax()
        raise UserError(
            f"{source}, row {row_number(ids.index[first])}, column {column!r}: {_shown_id(ids.iloc[first])} "
            f"is no id: {ID_RULE}",
            hint="give each loan the id it is served and logged with: text without control characters (a newline, "
            "tab, NUL, escape), or a whole number (in parquet, an integer column, not floats)",
        )


class DistinctIds:
    """An id column read in chunks (`mlops predict`'s), refused at its first row without an id or with an earlier
    row's: its scores are joined back to the loans and their outcomes by id, so such a row's would be joined to no
    loan or to two. The ids seen are kept as 64-bit hashes in one sorted array, 8 bytes a loan whatever its id."""

    def __init__(self, source: str, column: str) -> None:
        import numpy as np

        self.source, self.column = source, column
        self.seen = np.empty(0, dtype=np.uint64)

    def add(self, ids: pd.Series) -> None:
        """Take the next chunk's ids (indexed by data row from the file's start), refusing the first bad one."""
        import numpy as np
        import pandas as pd

        empty = ids.isna().to_numpy(dtype=bool) | ids.astype(str).str.strip().eq("").to_numpy(dtype=bool)
        if empty.any():
            raise UserError(
                f"{self.source}, row {row_number(ids.index[empty.argmax()])}, column {self.column!r}: no id",
                hint=f"give every loan its id, or name the column that identifies each loan with {ID_COLUMN_FIX}",
            )
        hashes = pd.util.hash_pandas_object(ids, index=False).to_numpy()
        at = np.searchsorted(self.seen, hashes).clip(max=max(len(self.seen) - 1, 0))
        earlier = self.seen[at] == hashes if len(self.seen) else np.zeros(len(hashes), dtype=bool)
        repeated = earlier | ids.duplicated().to_numpy()
        if repeated.any():
            first = repeated.argmax()
            raise UserError(
                f"{self.source}, row {row_number(ids.index[first])}, column {self.column!r}: "
                f"{_shown_id(ids.iloc[first])} is the id of an earlier row too",
                hint=f"give each loan an id of its own, or name the column that identifies each loan with "
                f"{ID_COLUMN_FIX}",
            )
        self.seen = np.sort(np.concatenate([self.seen, hashes]), kind="stable")


ID_COLUMN_FIX = "--id-column COL"


def _missing(value: object, pd) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _shown_id(value: object) -> str:
    if isinstance(value, str | numbers.Integral):
        return shortened(repr(value) if isinstance(value, str) else str(value))
    kind = "a float" if isinstance(value, numbers.Real) else type(value).__name__
    return f"{shortened(str(value))} ({kind})"


def normalize_outcomes(
    frame: pd.DataFrame, target: str, labels: list[str], positive_label: str, source: str
) -> pd.DataFrame:
    """`id, is_bad` from a table with an `id` column and the target column holding one of the target's `labels`
    (or `is_bad` as 0/1 or true/false)."""
    import pandas as pd

    if "id" not in frame.columns:
        raise UserError(f"{source} has no `id` column", hint="give the id each loan was scored with")
    missing_id = frame["id"].isna() | (frame["id"].astype(str).str.strip() == "")
    if missing_id.any():
        raise UserError(
            f"{source}, row {_row_number(missing_id)}: no id", hint="give the id each loan was scored with on every row"
        )
    if target in frame.columns and "is_bad" in frame.columns:  # where they disagree, which one holds is unknown
        raise UserError(
            f"{source} has both a {target!r} column and an `is_bad` column: give the outcome once",
            hint=f"keep {target} ({positive_label!r} for a loan that went bad) or is_bad (1/0), and drop the other",
        )
    if target in frame.columns:
        outcome = frame[target].astype(str).where(frame[target].notna(), "")
        unknown = ~outcome.isin(labels)
        if unknown.any():
            raise UserError(
                f"{source}, row {_row_number(unknown)}: {target} {outcome[unknown].iloc[0]!r} is not one of {labels}",
                hint=f"give {positive_label!r} for a loan that went bad and the other label for one that did not",
            )
        is_bad = outcome == positive_label
    elif "is_bad" in frame.columns:
        is_bad = _is_bad_flags(frame["is_bad"], source)
    else:
        raise UserError(
            f"{source} has neither a {target!r} column nor an `is_bad` column",
            hint=f"give {target} ({positive_label!r} for a loan that went bad) or is_bad (1/0) per id",
        )
    refuse_unacceptable_ids(frame["id"], source, "id")
    known = pd.DataFrame({"id": frame["id"].astype(str), "is_bad": is_bad.astype(bool)})
    contradicted = known.groupby("id", sort=False)["is_bad"].transform("nunique") > 1
    if contradicted.any():
        loan = known["id"][contradicted].iloc[0]
        raise UserError(
            f"{source}, row {_row_number(contradicted)}: id {loan!r} is given both outcomes in this file",
            hint="give each loan's outcome once (a later file may correct it: the latest recorded counts)",
        )
    return known.drop_duplicates("id")


def _is_bad_flags(column: pd.Series, source: str) -> pd.Series:
    """`is_bad` as booleans from 1/0, true/false (any case), or 1.0/0.0 (a pandas export of a column with a gap
    writes its 0/1 as floats); any other cell, an empty one too, is refused by row."""
    cells = column.astype(str).where(column.notna(), "")
    text = cells.str.strip().str.lower().replace({"1.0": "1", "0.0": "0"})
    known = text.isin(["1", "0", "true", "false"])
    if not known.all():
        raise UserError(
            f"{source}, row {_row_number(~known)}: is_bad {cells[~known].iloc[0]!r} is not 1/0 or true/false",
            hint="give 1 (or true) for a loan that went bad and 0 (or false) for one that did not, on every row",
        )
    return text.isin(["1", "true"])


def _row_number(rows: pd.Series) -> int:
    """The row (`pipeline.errors.row_number`: the header is row 1) of the first True in `rows`."""
    return row_number(rows.to_numpy().argmax())


def append_outcomes(folder: Path, outcomes: pd.DataFrame) -> int:
    """Append the outcomes, all or none: a write that fails (a full disk) or is stopped (Ctrl-C) midway is cut off
    again, since the line it cut short would stop every monitoring command until removed by hand. A writer killed
    outright (SIGKILL) can still leave its last line cut short: the readers pass over it, and this append first
    removes it (every whole line is kept), under the file's lock so as never to cut a running append's; its bytes."""
    ensure_log_dir(Path(folder))
    stamp = utc_now()
    lines = (
        json.dumps({"id": loan_id, "is_bad": bool(is_bad), "time": stamp}) + "\n"
        for loan_id, is_bad in zip(outcomes["id"], outcomes["is_bad"], strict=True)
    )
    path = Path(folder) / OUTCOMES
    with open(path, "a+b", buffering=0) as handle, _appending(handle):
        unfinished = _unfinished_line_removed(handle)
        start = handle.seek(0, os.SEEK_END)
        try:
            unwritten = memoryview("".join(lines).encode("utf-8"))
            while unwritten:
                unwritten = unwritten[handle.write(unwritten) :]
        except BaseException as error:
            handle.truncate(start)
            if isinstance(error, OSError):
                raise UserError(
                    f"cannot record outcomes in {path}: {error.strerror or error}; nothing was recorded",
                    hint="free some space (or make the folder writable), then record them again",
                ) from None
            raise
    return unfinished


@contextlib.contextmanager
def _appending(handle: IO) -> Iterator[None]:
    """Hold the log file's lock while appending (or removing an unfinished line): appends take turns."""
    import fcntl

    descriptor = handle.fileno()
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # a rotation closed the file, and its lock with it
            fcntl.flock(descriptor, fcntl.LOCK_UN)


def drop_unfinished_line(path: Path) -> int:
    """Remove the bytes after the last newline of the log file `path` (a line cut short by a writer killed as it
    wrote, never a running writer's: appends hold the file's lock); how many. Every whole line is kept."""
    try:
        with open(path, "r+b", buffering=0) as handle, _appending(handle):
            return _unfinished_line_removed(handle)
    except OSError:  # none yet, or one the writer's own open then names
        return 0


def _unfinished_line_removed(handle: IO[bytes]) -> int:
    size = handle.seek(0, os.SEEK_END)
    end = _whole_lines_end(handle, size)
    if end < size:
        handle.truncate(end)
    return size - end


def _whole_lines_end(handle: IO[bytes], size: int, chunk: int = 65536) -> int:
    """Where the file's last whole line ends (after its newline; 0 when it has none)."""
    end = size
    while end > 0:
        begin = max(0, end - chunk)
        handle.seek(begin)
        newline = handle.read(end - begin).rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0


def read_outcomes(folder: Path) -> pd.DataFrame:
    """The latest known outcome per id."""
    import pandas as pd

    latest: dict[str, bool] = {}
    path = Path(folder) / OUTCOMES
    if path.exists():
        for number, line in _text_lines(path):
            if not line.endswith("\n"):
                continue  # a line being appended, or cut short by a killed writer: the next append removes it
            loan_id, is_bad = _outcome_record(line, f"{path}, line {number}")
            latest.pop(loan_id, None)  # the latest counts, in the order recorded
            latest[loan_id] = is_bad
    return pd.DataFrame(
        {"id": pd.Series(list(latest), dtype=str), "is_bad": pd.Series(list(latest.values()), dtype=bool)}
    )


def _outcome_record(line: str, where: str) -> tuple[str, bool]:
    """(id, is_bad) of a line `append_outcomes` wrote; anything else (a hand edit) is refused by file and line."""
    words = 'a JSON object with "id" (text) and "is_bad" (true or false)'
    record = _json_line(line, where, words)
    if not (isinstance(record, dict) and isinstance(record.get("id"), str) and isinstance(record.get("is_bad"), bool)):
        raise UserError(f"{where}: not an outcome record: {line.strip()[:80]} ({words})", hint="remove the line")
    return record["id"], record["is_bad"]


def join_outcomes(log: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The log's rows (ids as text, as `read_log` gives them) with an `is_bad` column (missing where the outcome is
    not known yet)."""
    if log.empty:
        return log.assign(is_bad=None)
    return log.merge(outcomes, on="id", how="left")
