"""What a file is by its content, whatever its name: the data and model formats' magic bytes, delimited tables
(CSV, TSV) by their rows, and text.

Pure functions over the first bytes of a file (stdlib only). A format is recognised by its signature at the
offset its specification gives, in content that is not text: several signatures are printable ASCII (`ORC`,
`GGUF`, `PAR1`, `BZh`) and begin ordinary words, while the files themselves hold NUL bytes or bytes that are not
UTF-8 within their first bytes. A protocol-0 pickle is ASCII throughout: its signature is longer instead. Plain
text is UTF-8 without NUL bytes and without any data signature.
"""

from __future__ import annotations

import re
import struct

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
# shape: at least TABLE_ROWS lines (blank ones aside), each of the same number (two or more) of fields of one
# delimiter, quoted fields read as CSV quotes them, and in most rows no field after the first starting with a space
# and none before the first delimiter or after the last. Prose, code and logs vary in their number of commas from
# line to line, write `a, b` where a table has `a,b`, indent with a tab and end a statement with `;`.
TABLE_DELIMITERS = {",": "CSV", "\t": "TSV", ";": "CSV (;)", "|": "pipe-delimited"}  # a Markdown table: `| a |`
TABLE_ROWS = 20


def delimited_table(head: bytes) -> str | None:
    """The kind of delimited table (CSV, TSV) `head`, a text file's first bytes, holds, if any."""
    if head.count(b"\n") <= TABLE_ROWS or not is_text(head):
        return None
    import csv

    lines = [line for line in head.decode("utf-8", "ignore").split("\n")[:-1] if line.strip()]  # the last may be cut
    for delimiter, kind in TABLE_DELIMITERS.items():
        if not all(delimiter in line for line in lines):  # cheap: code and prose end here
            continue
        rows = list(csv.reader(lines, delimiter=delimiter))
        widths = {len(row) for row in rows}
        unlike = sum(not row[0] or not row[-1] or any(field.startswith(" ") for field in row[1:]) for row in rows)
        if len(rows) >= TABLE_ROWS and len(widths) == 1 and widths.pop() >= 2 and unlike * 2 < len(rows):
            return kind
    return None


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
