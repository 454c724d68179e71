"""What a file is by its content, whatever its name: the data and model formats' magic bytes, delimited tables
(CSV, TSV) by their rows, data encoded as base64 in text, and text.

Pure functions over the first bytes of a file (stdlib only). A format is recognised by its signature at the
offset its specification gives, in content that is not text: several signatures are printable ASCII (`ORC`,
`GGUF`, `PAR1`, `BZh`) and begin ordinary words, while the files themselves hold NUL bytes or bytes that are not
UTF-8 within their first bytes. A protocol-0 pickle is ASCII throughout: its signature is longer instead. Plain
text is UTF-8 without NUL bytes and without any data signature.
"""

from __future__ import annotations

import binascii
import itertools
import re
import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

HEAD_BYTES = 8192  # enough for every signature below and for the text test
# (offset, signature, format): data sets, arrays, archives and model files.
SIGNATURES = (
    (0, b"PAR1", "parquet"),
    (0, b"ARROW1", "arrow/feather"),
    (0, b"FEA1", "feather"),
    (0, b"ORC", "orc"),
    (0, b"Obj\x01", "avro"),
    (0, b"\x89HDF\r\n\x1a\n", "hdf5"),
    (0, b"CDF\x01", "netcdf"),
    (0, b"CDF\x02", "netcdf"),
    (0, b"\x93NUMPY", "numpy .npy"),
    (0, b"PK\x03\x04", "zip (npz, xlsx, PyTorch, ...)"),
    (0, b"PK\x05\x06", "zip"),
    (0, b"PK\x07\x08", "zip"),
    (0, b"\x1f\x8b", "gzip"),
    (0, b"BZh", "bzip2"),
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"\x04\x22\x4d\x18", "lz4"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (257, b"ustar", "tar"),
    (0, b"SQLite format 3\x00", "sqlite"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2 (xls)"),
    (0, b"GGUF", "gguf"),
    (0, b"ggjt", "ggml"),
    (4, b"TFL3", "tflite"),
    (0, b"\x80\x04\x95", "pickle"),
    (0, b"\x80\x05\x95", "pickle"),
)
_AT_START = {signature: name for offset, signature, name in SIGNATURES if offset == 0}
_AT_OFFSET = tuple(entry for entry in SIGNATURES if entry[0])
_START = re.compile(b"|".join(re.escape(signature) for signature in _AT_START))  # one C call per file
PICKLE_BEFORE_FRAMES = (b"\x80\x02", b"\x80\x03")  # protocols 2 and 3: no frame opcode after the header
# Protocols 0 and 1 have no header: a class (`ccopy_reg\n_reconstructor\n`, any object's), a dict or a list, then
# the memo's first entry (`p0\n`; `q\x00` in protocol 1). Protocol 0 is ASCII, so this holds in text too.
PICKLE_WITHOUT_HEADER = re.compile(rb"(?:c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n|\([dl]|[}\]])(?:p0\n|q\x00)")
ARROW_STREAM = b"\xff\xff\xff\xff"  # an Arrow IPC stream's first message: this marker, then its metadata's length
LZMA_ALONE = b"]"  # the properties byte (0x5D) an LZMA "alone" stream starts with, whatever its preset
# ONNX is a protobuf ModelProto: field 1 (ir_version, a small varint), then field 2 or 8 (a string or message).
ONNX_START = re.compile(rb"\x08[\x01-\x1f](?:\x12|\x1a|\x22|\x42)[\x01-\x7f]")


def data_format(head: bytes) -> str | None:
    """The data or model format whose signature `head` (a file's first bytes) carries, if any."""
    if kind := _signed_format(head):
        return kind
    if _is_binary(head) and (inside := _raw_deflate_content(head)):
        return f"raw deflate holding {inside}"
    return None


def _signed_format(head: bytes) -> str | None:
    """The format `head` carries a signature or a header of."""
    match = _START.match(head)
    if match and _is_binary(head):
        return _AT_START[match.group()]
    for offset, signature, name in _AT_OFFSET:
        if head.startswith(signature, offset) and _is_binary(head):
            return name
    if head[:2] in PICKLE_BEFORE_FRAMES and len(head) > 3 and not _is_utf8(head):
        return "pickle"
    if PICKLE_WITHOUT_HEADER.match(head):
        return "pickle"
    if _is_arrow_stream(head):
        return "arrow IPC stream"
    if head.startswith(LZMA_ALONE) and _is_binary(head) and _is_lzma(head):
        return "lzma (joblib's compress='lzma', ...)"
    if _is_safetensors(head):
        return "safetensors"
    if ONNX_START.match(head):
        return "onnx"
    if _is_zlib(head) and _is_binary(head):
        return "zlib (joblib's compress=, ...)"
    return None


# Delimited text: a table saved under any name (`scores.txt`, `export.dat`) carries no signature. It is one by its
# shape, read with the csv module (a quoted field may hold the delimiter or a newline): of its first TABLE_LINES
# lines (blank ones and leading `#` comments aside), nearly all rows have one number (two or more) of fields, so
# that a header, a footer (`total rows: 3000`) or a cut row do not hide it. Those rows are written as a program
# writes a table: `a,b`, no field empty at either end and none after the first starting with a space; or `a, b`
# with a column of numbers. Prose, code and logs vary in their number of commas from line to line, write `a, b`
# between words, indent with a tab and end a statement with `;`. Rows of numbers separated by spaces (`np.savetxt`)
# are a table too, whatever their number of fields (an empty field is a space more). Words and numbers separated by
# one space (`df.to_csv(sep=" ")`) are one when their rows are a table's: one number of fields, none indented, a
# column of numbers, no field of code or config (`=`, `key:`, `f(x);`) and no column of one word on every line, the
# first included (a log's `took`, code's `=`: a table's header names its column), unless the rows also hold a column
# of a few words each on many lines (a grade, a status) and the columns of one word are under a third of all: a
# table saved without its header (`header=False`) whose rows share a value (`RENT`), where a log's or code's words
# are as many as its values (`epoch 3 split train loss 0.5`). Columns aligned as a printed data frame's
# (`print(df.to_string())`) are one too: lines of one length, columns of spaces between, one of numbers.
TABLE_DELIMITERS = {",": "CSV", "\t": "TSV", ";": "CSV (;)", "|": "pipe-delimited"}  # a Markdown table: `| a |`
TABLE_ROWS = 20
TABLE_LINES = 100  # enough for a table's rows to outvote its header, comments and footer; few enough to be cheap
TABLE_BYTES = 1 << 20  # what the table check reads: TABLE_LINES lines of a table of hundreds of columns
TABLE_SHARE = 0.9  # of the rows that must have the table's number of fields
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf)"
NUMBER = re.compile(_NUMBER)
NUMBERS_ROW = re.compile(rf"\s*(?:{_NUMBER})(?:[ \t]+(?:{_NUMBER}))+\s*")
LOGGED_TIME = re.compile(r"\d\d:\d\d:\d\d,\d{3}\b")
# svmlight / libsvm (`sklearn.datasets.dump_svmlight_file`): a label (or several, comma-separated), an optional
# `qid:N`, then INDEX:VALUE pairs with ascending indices, an optional `# comment` last.
SPARSE_PAIR = re.compile(rf"(\d+):(?:{_NUMBER})")
SPARSE_ROW = re.compile(
    rf"\s*(?:{_NUMBER})(?:,(?:{_NUMBER}))*(?:[ \t]+qid:\d+)?((?:[ \t]+{SPARSE_PAIR.pattern})+)[ \t]*(?:#.*)?"
)


def delimited_table(head: bytes) -> str | None:
    """The kind of delimited table (CSV, TSV, ...) `head`, a text file's first bytes, holds, if any."""
    head = head[:TABLE_BYTES]
    if head.count(b"\n") <= TABLE_ROWS or not is_text(head):
        return None
    lines = _table_lines(head)
    if len(lines) < TABLE_ROWS:
        return None
    for delimiter, kind in TABLE_DELIMITERS.items():
        if _is_delimited(lines, delimiter):
            return None if _is_a_log(lines) else kind
    if _is_space_delimited_numbers(lines):
        return "space-delimited numbers"
    if _is_sparse_rows(lines):
        return "sparse rows, svmlight/libsvm"
    if _is_space_delimited_table(lines):
        return "space-delimited table"
    return "aligned columns" if _is_aligned_columns(lines) else None


def _is_a_log(lines: list[str]) -> bool:
    """Most lines hold the time as Python's logging writes it, with a comma (`2024-01-01 12:00:00,123 INFO ...`):
    a log whose messages hold no comma has two fields on every line."""
    return sum(bool(LOGGED_TIME.search(line)) for line in lines) * 2 > len(lines)


def _table_lines(head: bytes) -> list[str]:
    """The first TABLE_LINES lines that are not blank, after the leading `#` comments (the last line, which may
    be cut, left out)."""
    lines = [line for line in head.decode("utf-8", "ignore").split("\n", TABLE_LINES)[:-1] if line.strip()]
    first = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return lines[first:]


def _is_delimited(lines: list[str], delimiter: str) -> bool:
    """Nearly all `lines` are rows of one number of fields separated by `delimiter`, written as a table's."""
    # Cheap, and loose enough for rows whose quoted fields span lines: most code and prose end here.
    if sum(delimiter in line for line in lines) * 2 < len(lines):
        return False
    import csv

    try:
        table = _rows_of_one_width(csv.reader(lines, delimiter=delimiter), len(lines))
    except csv.Error:  # a field past the csv module's size limit: a quote never closed, not a table
        return False
    if not table:
        return False
    if sum(_is_tight(row) for row in table) * 2 > len(table):
        return True
    return sum(_is_spaced(row) for row in table) >= TABLE_SHARE * len(table) and _has_a_number_column(table)


def _rows_of_one_width(rows: Iterable[list[str]], most: int) -> list[list[str]]:
    """The rows of the commonest number of fields, when that is two or more and nearly all rows have it. `most`
    rows at most: the reading stops as soon as too many rows differ for any width to have enough (prose: in ~12)."""
    read: list[list[str]] = []
    widths: dict[int, int] = {}
    for row in rows:
        read.append(row)
        widths[len(row)] = widths.get(len(row), 0) + 1
        if len(read) - max(widths.values()) > (1 - TABLE_SHARE) * most:
            return []
    width, count = max(widths.items(), key=lambda item: item[1], default=(0, 0))
    if width < 2 or count < TABLE_ROWS or count < TABLE_SHARE * len(read):
        return []
    return [row for row in read if len(row) == width]


def _is_tight(row: list[str]) -> bool:
    """`a,b`: no field empty at either end, none after the first starting with a space."""
    return bool(row[0] and row[-1]) and not any(field.startswith(" ") for field in row[1:])


def _is_spaced(row: list[str]) -> bool:
    """`a, b`: the first field not indented, every other one after spaces, none empty and none ending in a space
    (`a | b`, a Markdown table without its outer pipes), and no code's parentheses around the values (SQL's
    `INSERT INTO t VALUES (0, 1.5, 'A');`, a Python tuple)."""
    return (
        row[0][:1] not in ("", " ", "\t")
        and all(field[:1] == " " and field.strip() for field in row[1:])
        and not any(field.endswith((" ", "\t")) for field in row)
        and "(" not in row[0]
        and not row[-1].endswith((")", ");", ";", "),"))
    )


def _has_a_number_column(rows: list[list[str]]) -> bool:
    return any(
        sum(bool(NUMBER.fullmatch(row[column].strip())) for row in rows) >= TABLE_SHARE * len(rows)
        for column in range(len(rows[0]))
    )


def _is_space_delimited_numbers(lines: list[str]) -> bool:
    """Rows of two numbers or more separated by spaces or tabs (`np.savetxt`, `df.to_csv(sep=" ")` of numbers, a
    missing value's two spaces, rows of varying length), a header aside."""
    if not NUMBERS_ROW.fullmatch(lines[len(lines) // 2]):  # cheap: prose and code end here
        return False
    return sum(bool(NUMBERS_ROW.fullmatch(line)) for line in lines) >= TABLE_SHARE * len(lines)


def _is_sparse_rows(lines: list[str]) -> bool:
    """Rows of a label then INDEX:VALUE pairs, indices ascending, of any number of pairs (a header comment aside)."""
    if not SPARSE_ROW.fullmatch(lines[len(lines) // 2]):  # cheap: prose and code end here
        return False
    return sum(_is_sparse_row(line) for line in lines) >= TABLE_SHARE * len(lines)


def _is_sparse_row(line: str) -> bool:
    row = SPARSE_ROW.fullmatch(line)
    if not row:
        return False
    indices = [int(index) for index in SPARSE_PAIR.findall(row.group(1))]
    return all(before < after for before, after in itertools.pairwise(indices))


# A field of code or config rather than a table's: an operator, `key:`, `key=`, `f(x);`, a bracket or a comment.
CODE_FIELD = re.compile(r"[=:;,({\[<>|#]|.*[=:;,({\[]\Z|[-+*/%<>=!&|^~]+\Z")


def _is_space_delimited_table(lines: list[str]) -> bool:
    """Words and numbers separated by one space (`df.to_csv(sep=" ")`, quoted where a field holds a space)."""
    middle = lines[len(lines) // 2]
    if " " not in middle or middle[0] in " \t" or not NUMBER.search(middle):  # cheap: most text ends here
        return False
    import csv

    try:
        table = _rows_of_one_width(csv.reader(lines, delimiter=" "), len(lines))
    except csv.Error:
        return False
    if not table or sum(bool(row[0]) for row in table) < TABLE_SHARE * len(table):  # indented: code, YAML
        return False
    if sum(any(CODE_FIELD.match(field) for field in row) for row in table) > (1 - TABLE_SHARE) * len(table):
        return False
    columns = list(zip(*table, strict=True))
    one_word = sum(map(_is_one_word, columns))
    if one_word and (one_word * 3 >= len(columns) or not any(map(_is_a_category, columns))):
        return False
    return _has_a_number_column(table)


def _is_one_word(column: Sequence[str]) -> bool:
    """A column of one word on every line: a log's `took`, code's keyword, or a headerless table's constant value."""
    return len(set(column)) == 1 and not NUMBER.fullmatch(column[0])


def _is_a_category(column: Sequence[str]) -> bool:
    """A column of a few words, each on many lines (a grade, a status): a table's values."""
    values = set(column)
    return 2 <= len(values) <= len(column) // 3 and not any(NUMBER.fullmatch(value) for value in values)


def _is_aligned_columns(lines: list[str]) -> bool:
    """Columns a program aligned (`print(df.to_string())`, `tabulate`): nearly all lines of one length, split by
    columns of spaces into two or more columns, one of them numbers. Not a Markdown or ASCII-art table (`|`): those
    are documents' tables."""
    ((length, count),) = Counter(len(line) for line in lines).most_common(1)
    if count < TABLE_ROWS or count < TABLE_SHARE * len(lines) or any("|" in line for line in lines):
        return False
    rows = [line for line in lines if len(line) == length]
    blank = set.intersection(*({i for i, character in enumerate(row) if character == " "} for row in rows))
    mask = "".join(" " if i in blank else "x" for i in range(length))
    columns = [column.span() for column in re.finditer("x+", mask)]
    table = [[row[start:end] for start, end in columns] for row in rows]
    return len(table[0]) >= 2 and _has_a_number_column(table)


def _raw_deflate_content(head: bytes) -> str | None:
    """The data format or table a raw deflate stream (`zlib.compressobj(wbits=-15)`, a zip member cut out) holds:
    it has no header to recognise, so what it inflates to must be data itself. Content that is not deflate fails
    within its first bytes (a block type of 3, a code or distance out of range) at C speed."""
    import zlib

    try:
        inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(head[:HEAD_BYTES], TABLE_BYTES)
    except zlib.error:
        return None
    if not inflated:
        return None
    if _is_binary(inflated):
        return _signed_format(inflated[:HEAD_BYTES])  # not inflated again: a deflate quine inflates to itself
    return delimited_table(inflated)


def _is_zlib(head: bytes) -> bool:
    """A zlib stream (a model saved by `joblib.dump(..., compress=3)`): its two bytes of header (deflate, and a
    multiple of 31 together: `x^`, `x\\x9c`, `x\\xda`), then a start that inflates."""
    if len(head) < 3 or head[0] & 0x0F != 8 or head[0] >> 4 > 7 or (head[0] << 8 | head[1]) % 31:
        return False
    import zlib

    try:
        zlib.decompressobj().decompress(head[:HEAD_BYTES], 1 << 20)
    except zlib.error:
        return False
    return True


def _is_lzma(head: bytes) -> bool:
    """An LZMA stream of the "alone" format (`.lzma`, `joblib.dump(..., compress="lzma")`): its properties, its
    dictionary size and length, then a start that decompresses."""
    if len(head) < 14:
        return False
    import lzma

    try:
        lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(head[:HEAD_BYTES], 1 << 20)
    except lzma.LZMAError:
        return False
    return True


def _is_arrow_stream(head: bytes) -> bool:
    """An Arrow IPC stream (`pa.ipc.new_stream`, `.arrows`): the marker, then a metadata length padded to 8."""
    if len(head) < 16 or not head.startswith(ARROW_STREAM):
        return False
    (length,) = struct.unpack("<i", head[4:8])
    return length >= 8 and length % 8 == 0


def _is_safetensors(head: bytes) -> bool:
    """safetensors: a little-endian u64 header length, then that many bytes of JSON."""
    if len(head) < 10 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length <= 100_000_000


def _is_binary(head: bytes) -> bool:
    """A NUL byte or bytes that are not UTF-8 in the first HEAD_BYTES (a text file may start `ORCHESTRATOR =`)."""
    start = head[:HEAD_BYTES]
    return b"\0" in start or not _is_utf8(start)


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3 and error.reason == "unexpected end of data"  # a cut character
    return True


def is_text(head: bytes) -> bool:
    """UTF-8 text: no NUL byte, valid UTF-8, no data signature (a parquet file named `.txt` is not text)."""
    return is_text_bytes(head) and data_format(head) is None


def is_text_bytes(chunk: bytes) -> bool:
    """No NUL byte, valid UTF-8 (a character cut at the end allowed): what `is_text` asks of every part of a text
    file, for the parts read after its head (whole lines: a line ending is never inside a character)."""
    return b"\0" not in chunk and _is_utf8(chunk)


# Data encoded in text (`DATA = "UEsDB..."` in a `.py`): a run of base64 longer than a hash or a token (a 4096-bit
# RSA modulus is 684 characters) that decodes to a data format or a table; a long run that is no data (a PEM key, an
# icon, random bytes) decodes to none. Only a prefix is decoded: enough for the signatures, and for a table's rows
# when it decodes to text. A run may be wrapped: at a newline (MIME's 76 columns), an escaped one (JSON's `\n`), or
# across string literals (`"..."` then `"..."` on the next line, `+` or `,` between).
ENCODED_CHARS = 1024
_BASE64 = rb"[A-Za-z0-9+/_-]"  # with the URL-safe alphabet's `-` and `_`
_WRAP = rb"""={0,2}(?:\\n|["']?[ \t]*[+,\\]?[ \t]*\r?\n[ \t]*(?:[bB]?["'])?)"""
# A run starts where no base64 character is before it: each run is read once, however long.
BASE64_RUN = re.compile(rb"(?<!%s)%s{64,}(?:%s%s{4,})*" % (_BASE64, _BASE64, _WRAP, _BASE64))
# A run's base64, without what wraps it: an escaped line ending and a bytes literal's `b` are not part of it.
BASE64_PIECE = re.compile(rb"""(?:\\[nr]|(?<!%s)[bB]["'])*(%s+)""" % (_BASE64, _BASE64))
URL_SAFE = bytes.maketrans(b"-_", b"+/")
# Each base64 character as `a`, every other byte as a space: where a run starts is then found at C speed, and the
# regex (a few megabytes a second) reads only the runs.
_BASE64_AS_A = b"".join(b"a" if re.fullmatch(_BASE64, bytes([byte])) else b" " for byte in range(256))
_FIRST_PIECE = b"a" * 64


def encoded_data(text: bytes) -> tuple[int, int, str] | None:
    """(line, size in bytes, format) of the data the first run of base64 in `text` that decodes to data holds."""
    for match in _base64_runs(text):
        if match.end() - match.start() < ENCODED_CHARS:
            continue
        encoded = b"".join(BASE64_PIECE.findall(match.group()))
        kind = decoded_format(encoded) if len(encoded) >= ENCODED_CHARS else None
        if kind:
            return text.count(b"\n", 0, match.start()) + 1, len(encoded) * 3 // 4, kind
    return None


def _base64_runs(text: bytes) -> Iterator[re.Match]:
    """`BASE64_RUN.finditer(text)`, with the regex only where a run starts (found at C speed)."""
    marked = text.translate(_BASE64_AS_A)
    start = marked.find(_FIRST_PIECE)
    while start != -1:
        match = BASE64_RUN.match(text, start)  # the leftmost piece starts its run: no base64 before it
        yield match
        start = marked.find(_FIRST_PIECE, match.end())


def decoded_format(encoded: bytes) -> str | None:
    """The data format or table `encoded` (base64 characters) decodes to, from its first bytes."""
    head = _decoded(encoded, HEAD_BYTES)
    if kind := data_format(head):
        return kind
    return delimited_table(_decoded(encoded, TABLE_BYTES)) if is_text_bytes(head) else None


def _decoded(encoded: bytes, size: int) -> bytes:
    """The first `size` bytes `encoded` holds (whole groups of four characters: no padding needed)."""
    prefix = encoded[: min(len(encoded), -(-size // 3) * 4) // 4 * 4]
    return binascii.a2b_base64(prefix.translate(URL_SAFE))
