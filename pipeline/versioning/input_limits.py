"""What `mlops data add` accepts, checked before the file is parsed or anything is written: a name that is not
the project's own (README.md, .gitignore, a `.dvc` pointer, a git-tracked file), a file no stage writes, a header
without duplicate names, and a width and line length within documented limits (docs/data.md), so that a hostile
file is one clear error in milliseconds, not minutes of parsing."""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import lzma
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from hooks import git
from hooks.pipeline_state import DVC_YAML, PARAMS_FILE, load, read_worktree, stage_outs
from pipeline.errors import UserError, shortened
from pipeline.user_paths import in_project_as_named, require_file
from pipeline.versioning.output_paths import PROTECTED_DIRS

MAX_COLUMNS = 1_000
MAX_LINE_BYTES = 1 << 20  # 1 MiB: a loan row is well under 10 KB
RESERVED_NAMES = {"readme.md", "readme", "readme.txt", ".gitignore", ".gitattributes", "dvc.yaml", "dvc.lock"}
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", ".txt", *PARQUET_SUFFIXES)  # no suffix at all reads as CSV too
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zip", ".zst")  # pandas reads `loans.csv.gz` by its name
LINE_END = re.compile(rb"\r\n|\r|\n")  # as pandas ends a line: a lone `\r` too (a classic-Mac export)
LONGEST_NAME = 255 - len(".partial")  # bytes: the copy is written beside its place as NAME.partial, then renamed


def check_destination(destination: Path) -> None:
    """`destination` (under data/external/) must not be a file the project or git already owns."""
    name = destination.name
    hint = "rename the file (e.g. loans.csv) and add it again; nothing was changed"
    if name.lower() in RESERVED_NAMES or name.startswith(".") or name.endswith(".dvc"):
        raise UserError(f"{name}: a reserved name in {destination.parent}/ (git's or DVC's own file)", hint=hint)
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        raise UserError(f"{name!r}: the name holds a control character (a newline, a tab)", hint=hint)
    if len(name.encode("utf-8", "surrogateescape")) > LONGEST_NAME:
        raise UserError(
            f"{shortened(name)}: too long a name ({len(name.encode('utf-8', 'surrogateescape')):,} bytes; at most "
            f"{LONGEST_NAME}, as the copy is first written as NAME.partial, within the system's 255)",
            hint=hint,
        )
    if git.is_tracked(destination.as_posix()):
        raise UserError(f"{destination} is tracked by git: adding the data there would overwrite it", hint=hint)


def check_source_file(path: Path) -> None:
    """`path` must be a regular file outside git's and DVC's own folders: the file added is moved out of the
    project when it is inside, and a DVC cache object or `.git/config` must never be."""
    require_file(path, hint="give the path of a CSV or parquet file")
    relative = in_project_as_named(path)
    for folder in PROTECTED_DIRS:
        if relative is not None and Path(folder) in relative.parents:
            raise UserError(
                f"{path}: is inside {folder}/, where git and DVC keep their own files",
                hint="give your data file (`dvc pull` or `git show REV:PATH > loans.csv` brings an old version back)",
            )


def check_not_an_output(path: Path) -> None:
    """`path` must not be a file a stage of dvc.yaml writes: made the source, it would be moved out of the
    pipeline's hands (and the stage's output lost from the workspace)."""
    relative = in_project_as_named(path)
    if relative is None:
        return
    read = read_worktree()
    for output, stage in stage_outs(load(read, DVC_YAML) or {}, load(read, PARAMS_FILE) or {}).items():
        if relative == Path(output) or Path(output) in relative.parents:
            raise UserError(
                f"{path}: stage `{stage}` writes it (dvc.yaml: {output}); the pipeline makes it from data.source",
                hint="add the original data file instead; nothing was changed",
            )


def check_table_file(path: Path) -> None:
    """A table's name, then line length, width and header names of a CSV (or width, names and flat columns of a
    parquet file), before parsing."""
    check_table_name(path)
    if not path.is_file():
        return  # the reader says so
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        check_line_lengths(path)
        check_utf8(path)
    check_header(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        _check_flat_columns(path)


def check_utf8(path: Path) -> None:
    """A text table must be UTF-8 throughout; one that is not is named with the line and byte where it stops being
    so (pandas' own message gives an offset into the block it was decoding, not into the file)."""
    if path.suffix.lower() in PARQUET_SUFFIXES or not path.is_file():
        return
    place = non_utf8_place(path)
    if place is not None:
        raise UserError(
            f"{path} is not UTF-8 text ({place})",
            hint="re-save the file as UTF-8 (from a spreadsheet: CSV UTF-8); nothing was changed",
        )


def non_utf8_place(path: Path) -> str | None:
    """Where a text table first holds bytes that are not UTF-8, as `line N, byte M` (lines as an editor counts
    them, the header line 1; bytes of that line from 1), read decompressed as the reader reads it; None when there
    are none (or it cannot be read: the reader names that)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    number, offset = 1, 0  # the line a block starts in, and how many bytes of that line came before the block
    after_cr = False  # the block before ended with `\r`
    try:
        with table_bytes(path) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as error:
                    start = max(error.start - (len(error.object) - len(block)), 0)  # less a character carried over
                    lines, line_start = _line_ends(block[:start], after_cr)
                    byte = start - line_start + 1 if line_start is not None else offset + start + 1
                    return f"line {number + lines}, byte {byte}"
                lines, line_start = _line_ends(block, after_cr)
                offset = len(block) - line_start if line_start is not None else offset + len(block)
                number, after_cr = number + lines, block.endswith(b"\r")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # a character cut short at the end
        return f"line {number}, byte {offset}"
    except UNREADABLE:
        return None
    return None


def _line_ends(data: bytes, after_cr: bool) -> tuple[int, int | None]:
    """(how many lines end in `data`, where the line after the last of them starts; None when none ends), lines
    ending as pandas ends them. After a `\r` that ended the data before (`after_cr`), a first `\n` is part of that
    line end (a `\r\n` cut between two blocks read)."""
    skip = 1 if after_cr and data.startswith(b"\n") else 0
    ends = [match.end() for match in LINE_END.finditer(data, skip)]
    return len(ends), ends[-1] if ends else (skip or None)


def check_table_name(path: Path) -> None:
    """A name that says a CSV (a `.txt` table) or parquet file, compressed or not, or no suffix at all: any other
    file (`params.yaml`, a `.json`, a spreadsheet) was parsed as CSV and refused for a target column missing from
    columns named after its first line."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    if not suffixes or suffixes[-1] in TABLE_SUFFIXES:
        return
    raise UserError(
        f"{path} is not a CSV or parquet file (its name ends in {path.suffix})",
        hint="give the loans as a .csv, .parquet or .txt (tab, ';' or '|' separated) file (a spreadsheet: export it "
        "as CSV); nothing was changed",
    )


def refuse_another_separator(columns: Sequence[object], source: str) -> None:
    """A `.csv` separated by `;`, tabs or `|` is read by commas as one column: say so, rather than that the columns
    the command needs (the target, the model's features) are missing. Called where they are found missing."""
    if len(columns) != 1:
        return
    header = str(columns[0])
    separator = next((s for s in (";", "\t", "|") if s in header), None)
    if separator is not None:
        raise UserError(
            f"{source} is read by commas, and its header reads as one column ({shortened(header)}): it is "
            f"separated by {separator!r}",
            hint="save it with commas, or name it .txt to have its separator found",
        )


def check_header(path: Path) -> None:
    """The width and distinct names of a loans file's header (a CSV's first line, a parquet file's schema), read
    without parsing the rest: pandas would rename a second `int_rate` to `int_rate.1` and read on."""
    if not path.is_file():
        return  # the reader says so
    if path.suffix.lower() in PARQUET_SUFFIXES:
        _check_columns(path, _parquet_columns(path))
        return
    try:
        with table_bytes(path) as raw:
            # utf-8-sig: a byte order mark is no part of the first name, to the reader either
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
            first = text.readline(MAX_LINE_BYTES + 1)
            rest = text.read(MAX_LINE_BYTES)  # the first data row, quoted line breaks and all (bounded)
    except UNREADABLE:  # damaged or unusual compression: the reader names the problem
        return
    if len(first) > MAX_LINE_BYTES:
        _line_too_long(path, 1)
    delimiter = text_separator(path, first)
    if delimiter is None:  # no separator: the reader names the problem
        _check_columns(path, [])
        return
    names = next(csv.reader([first], delimiter=delimiter), [])
    _check_columns(path, names)
    _check_first_row_width(path, names, delimiter, rest)


def _check_first_row_width(path: Path, names: list[str], delimiter: str, rest: str) -> None:
    """A first data line with more fields than the header (a comma at the end of each row) made pandas read the
    first column as the index: every column shifted by one, and the refusals named the wrong rows, columns and
    values. (A later line so is refused by pandas itself, with its line.)"""
    if not names:
        return
    try:  # line ends as the reader takes them: `\r`, `\n` or both
        fields = next(csv.reader(io.StringIO(rest, newline=""), delimiter=delimiter), [])
    except csv.Error:  # the reader names what is wrong with it
        return
    if len(fields) > len(names):
        raise UserError(
            f"{path}, row 2: {len(fields)} fields, the header names {len(names)} columns",
            hint="remove the extra field from every row (a separator at the end of each line?), or name its column "
            "in the header",
        )


def text_separator(path: Path, first: str) -> str | None:
    """The separator the reader splits a text table's lines by: a comma, or, in a `.txt` table, the one Python's csv
    sniffer finds in its first line, as pandas does (`term;term` is two names); None when that line shows none."""
    from pipeline.training.sources import csv_dialect

    given = csv_dialect(path)["sep"]
    if given is not None:
        return given
    try:
        return csv.Sniffer().sniff(first).delimiter
    except csv.Error:
        return None


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception:  # not parquet: the reader names the problem
        return []


def _check_flat_columns(path: Path) -> None:
    """Every column of a parquet file to train on holds one value per cell: a list, struct or map column is no
    feature (and was a traceback where its cells are compared)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception:  # not parquet: the reader names the problem
        return
    nested = [field for field in schema if pa.types.is_nested(field.type)]
    if nested:
        raise UserError(
            f"{path}: column {nested[0].name!r} holds nested values ({str(nested[0].type)[:80]}); a loan's cell is "
            "one number, text or flag",
            hint="flatten it into plain columns, or leave it out of the file; nothing was changed",
        )


def _check_columns(path: Path, names: list[str]) -> None:
    if len(names) > MAX_COLUMNS:
        raise UserError(
            f"{path} has {len(names)} columns; at most {MAX_COLUMNS} are accepted",
            hint="keep the loan's features, target and id columns (see docs/data.md, Limits)",
        )
    # The first may be unnamed: pandas' `to_csv` writes the index there (read as a row number, an id).
    unnamed = [number for number, name in enumerate(names, start=1) if number > 1 and not str(name).strip()]
    if unnamed:
        raise UserError(
            f"{path}: column {unnamed[0]} of the header has no name",
            hint="name every column (an unnamed one is read as `Unnamed: N`, a name that moves with its position)",
        )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        shown = ", ".join(repr(name[:40]) for name in duplicates[:5])
        raise UserError(
            f"{path}: the header names {shown} more than once",
            hint="give every column a distinct name (a duplicate would be silently renamed `name.1`)",
        )


@contextlib.contextmanager
def table_bytes(path: Path) -> Iterator[BinaryIO]:
    """A text table's bytes as the reader sees them: decompressed when its name says so (`loans.csv.gz`, as pandas
    infers it), so that its header and lines are checked, not those of the compressed bytes."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            [member] = archive.namelist()  # pandas reads a zip of one file only
            with archive.open(member) as handle:
                yield handle
        return
    if suffix == ".zst":  # not in the standard library: pandas needs `zstandard` for it, and names its absence
        raise ValueError("zstandard")
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(suffix, open)
    with opener(path, "rb") as handle:
        yield handle


# What a damaged compressed file (or one not compressed as its name says) raises while read.
UNREADABLE = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


def check_line_lengths(path: Path) -> None:
    """Refuse a text table's line over MAX_LINE_BYTES, reading in blocks (a 50 MB line is never held whole, as
    pandas would hold it, and a 200 MB one cost a gigabyte and most of a minute before any check said no)."""
    if not path.is_file() or path.suffix.lower() in PARQUET_SUFFIXES:
        return  # the reader names a missing file; parquet has no lines
    try:
        _check_block_lines(path)
    except UNREADABLE:  # damaged or unusual compression: the reader names the problem
        return


def _check_block_lines(path: Path) -> None:
    line, number, after_cr = 0, 1, False
    with table_bytes(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            if after_cr and block.startswith(b"\n"):
                block = block[1:]  # the `\n` of a `\r\n` cut between two blocks: that line has ended
            after_cr = block.endswith(b"\r")
            *complete, rest = LINE_END.split(block)
            for part in complete:
                if line + len(part) > MAX_LINE_BYTES:
                    _line_too_long(path, number)
                line, number = 0, number + 1
            line += len(rest)
            if line > MAX_LINE_BYTES:
                _line_too_long(path, number)


def _line_too_long(path: Path, number: int) -> None:
    raise UserError(
        f"{path}: line {number} is longer than {MAX_LINE_BYTES // 1024} KB",
        hint="is it a CSV with one loan per line? (see docs/data.md, Limits)",
    )
