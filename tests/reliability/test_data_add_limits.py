"""`mlops data add` refuses reserved and tracked names, duplicate header names, and files beyond the documented
width and line-length limits: one clear message, in seconds, and nothing touched."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import UserError
from pipeline.versioning.input_limits import MAX_COLUMNS, MAX_LINE_BYTES, check_table_name
from tests.conftest import clone_repo, run
from tests.e2e.data_helpers import lending_frame
from tests.reliability.helpers import Snapshot, assert_clear_error


@pytest.fixture(scope="module")
def add_repo(tmp_path_factory, trained_template) -> Path:
    """One trained copy for every case: each must leave it exactly as it was."""
    return clone_repo(trained_template, tmp_path_factory.mktemp("add-limits") / "repo")


def good_csv(path: Path) -> Path:
    lending_frame().head(200).to_csv(path, index=False)
    return path


def duplicate_header(path: Path) -> Path:
    frame = lending_frame().head(200)
    text = frame.to_csv(index=False).replace("int_rate", "term", 1)  # term,...,term
    path.write_text(text)
    return path


def unnamed_column(path: Path) -> Path:
    """`a,,b`: pandas reads the second name as `Unnamed: 1`, a name that moves with the column's place."""
    frame = lending_frame().head(200)
    header, _, body = frame.to_csv(index=False).partition("\n")
    names = header.split(",")
    names[5] = ""
    path.write_text(",".join(names) + "\n" + body)
    return path


def duplicate_header_sniffed(path: Path) -> Path:
    """A `.txt` table is split by the separator sniffed from its first line: `term;...;term` was one name to the
    header check, and pandas read the second `term` as `term.1`, a feature of its own."""
    frame = lending_frame().head(200)
    path.write_text(frame.to_csv(index=False, sep=";").replace("int_rate", "term", 1))
    return path


def compressed(make):
    """`make`'s file, compressed as its name says (`dup.csv.gz`): pandas reads it decompressed, and the header and
    line checks read the compressed bytes, so a duplicate name went through as `term.1` and a long line unseen."""

    def make_compressed(path: Path) -> Path:
        plain = make(path.with_name("plain-" + path.stem))
        if path.suffix == ".zip":
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.write(plain, path.stem)
        else:
            with (
                open(plain, "rb") as source,
                {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[path.suffix](path, "wb") as target,
            ):
                target.write(source.read())
        return path

    return make_compressed


def latin1(path: Path) -> Path:
    """A spreadsheet's export in Latin-1: pandas said `byte 1: unexpected end of data`, an offset into the block it
    was decoding, not into the file."""
    frame = lending_frame().head(200).astype({"addr_state": object})
    frame.loc[3, "addr_state"] = "Qu\xe9bec"  # row 5 of the file, the header row 1
    frame.to_csv(path, index=False, encoding="latin-1")
    return path


def duplicate_header_after_a_bom(path: Path) -> Path:
    """`\\ufeffrownames,...,rownames`: the header check took the byte order mark for part of the first name, pandas
    does not, and read the second as `rownames.1`."""
    text = lending_frame().head(200).to_csv(index=False).replace("funded_amnt", "rownames", 1)
    path.write_text(text, encoding="utf-8-sig")
    return path


def too_wide(path: Path) -> Path:
    frame = lending_frame().head(20)
    extra = pd.DataFrame({f"extra_{i}": [1] * len(frame) for i in range(MAX_COLUMNS + 1)}, index=frame.index)
    pd.concat([frame, extra], axis=1).to_csv(path, index=False)
    return path


def long_line(path: Path) -> Path:
    good_csv(path)
    with open(path, "a") as handle:
        handle.write("x" * (MAX_LINE_BYTES + 10) + "\n")
    return path


def symlink_loop(path: Path) -> Path:
    path.symlink_to(path.name)
    return path


def folder(path: Path) -> Path:
    path.mkdir()
    good_csv(path / "loans.csv")
    return path


def pipe(path: Path) -> Path:
    os.mkfifo(path)  # reading it would wait for a writer forever
    return path


def ids_only(path: Path) -> Path:
    frame = lending_frame().head(200)
    pd.DataFrame({"loan_id": range(len(frame)), "Class": frame["Class"]}).to_csv(path, index=False)
    return path


def nested_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(lending_frame().head(200), preserve_index=False)
    pq.write_table(table.append_column("history", pa.array([{"late": [1, 2]}] * table.num_rows)), path)
    return path


def trailing_separator(path: Path) -> Path:
    """A comma at the end of every data row: pandas read the first column as the index, every column shifted."""
    good_csv(path)
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *(row + "," for row in rows)]) + "\n")
    return path


def json_records(path: Path) -> Path:
    lending_frame().head(200).to_json(path, orient="records")
    return path


CASES = {
    "README.md": (good_csv, ("README.md", "reserved")),
    ".gitignore": (good_csv, (".gitignore", "reserved")),
    "loans.csv.dvc": (good_csv, ("loans.csv.dvc", "reserved")),
    "dup.csv": (duplicate_header, ("dup.csv", "'term'", "more than once")),
    "dup.txt": (duplicate_header_sniffed, ("dup.txt", "'term'", "more than once")),
    "unnamed.csv": (unnamed_column, ("unnamed.csv: column 6 of the header has no name", "name every column")),
    "trailing.csv": (trailing_separator, ("trailing.csv, row 2:", "fields, the header names", "extra field")),
    "dup.csv.gz": (compressed(duplicate_header), ("dup.csv.gz", "'term'", "more than once")),
    "dup.csv.bz2": (compressed(duplicate_header), ("dup.csv.bz2", "'term'", "more than once")),
    "dup.csv.xz": (compressed(duplicate_header), ("dup.csv.xz", "'term'", "more than once")),
    "dup.csv.zip": (compressed(duplicate_header), ("dup.csv.zip", "'term'", "more than once")),
    "long.csv.gz": (compressed(long_line), ("long.csv.gz", "line 202", "longer than")),
    "bom-dup.csv": (duplicate_header_after_a_bom, ("bom-dup.csv", "'rownames'", "more than once")),
    "latin1.csv": (latin1, ("latin1.csv is not UTF-8 text (line 5, byte", "re-save the file as UTF-8")),
    "wide.csv": (too_wide, ("wide.csv", "columns", str(MAX_COLUMNS))),
    "long.csv": (long_line, ("long.csv", "line 202", "longer than")),
    "loop.csv": (symlink_loop, ("loop.csv", "loop of symbolic links")),
    "folder.csv": (folder, ("folder.csv", "is a folder")),
    "pipe.csv": (pipe, ("pipe.csv", "not a regular file")),
    "ids.csv": (ids_only, ("ids.csv", "no feature column", "loan_id")),
    "nested.parquet": (nested_parquet, ("nested.parquet", "column 'history' holds nested values", "flatten")),
    "loans.json": (json_records, ("loans.json is not a CSV or parquet file", "export it as CSV")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_data_add_refuses_and_touches_nothing(add_repo, tmp_path, name):
    make, words = CASES[name]
    source = make(tmp_path / name)
    snapshot = Snapshot(add_repo)
    params = (add_repo / "params.yaml").read_bytes()
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], add_repo).stdout
    existing = add_repo / "data" / "external" / name
    before = existing.read_bytes() if existing.exists() else None  # data/external/README.md is the project's

    started = time.monotonic()
    result = run(["mlops", "data", "add", str(source), "--target", "Class", "--positive", "bad"], add_repo, check=False)

    assert_clear_error(result, *words)
    assert time.monotonic() - started < 30
    assert (add_repo / "params.yaml").read_bytes() == params
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], add_repo).stdout == status
    assert (existing.read_bytes() if existing.exists() else None) == before
    snapshot.assert_unchanged()


def test_the_projects_params_yaml_is_no_table_and_stays(add_repo):
    """`mlops data add params.yaml` parsed the YAML as CSV and said the target column was missing, naming a comment
    of the file as its columns."""
    snapshot = Snapshot(add_repo)
    params = (add_repo / "params.yaml").read_bytes()
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], add_repo).stdout

    result = run(["mlops", "data", "add", "params.yaml"], add_repo, check=False)

    output = assert_clear_error(result, "params.yaml is not a CSV or parquet file (its name ends in .yaml)", ".csv")
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 2  # the line and its hint
    assert "target column" not in output
    assert (add_repo / "params.yaml").read_bytes() == params
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], add_repo).stdout == status
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", ["loans.csv", "loans.CSV", "loans.csv.gz", "loans.txt", "loans.pq", "loans"])
def test_a_table_name_passes(name):
    check_table_name(Path(name))


@pytest.mark.parametrize("name", ["params.yaml", "loans.tsv", "loans.xlsx", "loans.json.gz"])
def test_another_name_is_no_table(name):
    with pytest.raises(UserError, match="is not a CSV or parquet file"):
        check_table_name(Path(name))


def test_a_git_tracked_name_is_refused(add_repo, tmp_path):
    (add_repo / "data" / "external").mkdir(exist_ok=True)
    keep = add_repo / "data" / "external" / "notes.csv"
    keep.write_text("kept\n")
    run(["git", "add", "-f", "data/external/notes.csv"], add_repo)
    run(["git", "commit", "-q", "--no-verify", "-m", "notes"], add_repo)
    try:
        result = run(
            ["mlops", "data", "add", str(good_csv(tmp_path / "notes.csv")), "--target", "Class", "--positive", "bad"],
            add_repo,
            check=False,
        )
        assert_clear_error(result, "notes.csv", "tracked by git")
        assert keep.read_text() == "kept\n"
    finally:
        run(["git", "reset", "-q", "--hard", "HEAD~1"], add_repo)


@pytest.mark.parametrize("output", ["data/raw.parquet", "data/split/train.parquet", "reports/plots/roc.json"])
def test_a_file_a_stage_writes_is_refused_and_stays(add_repo, output):
    """Made the source, a stage's output would be moved out of the workspace and out of the pipeline's hands."""
    snapshot = Snapshot(add_repo)
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], add_repo).stdout

    result = run(["mlops", "data", "add", output, "--target", "Class", "--positive", "bad"], add_repo, check=False)

    assert_clear_error(result, output, "writes it", "nothing was changed")
    assert (add_repo / output).is_file()
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], add_repo).stdout == status
    snapshot.assert_unchanged()


@pytest.mark.parametrize("inside", [".dvc/cache/files/md5/0a/loans", ".git/loans.csv"])
def test_a_file_inside_git_or_dvc_is_refused_and_stays(add_repo, inside):
    """A file added from inside the project is moved out of it: from `.dvc/cache`, a cache object would be lost."""
    source = add_repo / inside
    source.parent.mkdir(parents=True, exist_ok=True)
    good_csv(source)
    snapshot = Snapshot(add_repo)
    try:
        result = run(["mlops", "data", "add", inside, "--target", "Class", "--positive", "bad"], add_repo, check=False)
        assert_clear_error(result, inside, f"inside {inside.split('/')[0]}/")
        assert source.is_file()
        snapshot.assert_unchanged()
    finally:
        source.unlink()


def test_bytes_that_are_not_utf8_are_placed_by_line_across_blocks_and_compression(tmp_path):
    from pipeline.serving.predict import read_chunks
    from pipeline.versioning.input_limits import non_utf8_place

    path = tmp_path / "loans.csv"
    for data, place in [
        (b"a,b\n1,\xe9\n", "line 2, byte 3"),
        (b"a,b\n" + b"x" * (1 << 20) + b"\xe9\n", f"line 2, byte {(1 << 20) + 1}"),  # in the second block read
        (b"a,b\n1,\xc3", "line 2, byte 3"),  # a character cut short at the end
        (b"a,b\n1,2\n", None),
    ]:
        path.write_bytes(data)
        assert non_utf8_place(path) == place, data[-12:]
    packed = tmp_path / "loans.csv.gz"
    packed.write_bytes(gzip.compress(b"a,b\n1,2\n3,\xe94\n"))
    assert non_utf8_place(packed) == "line 3, byte 3"
    with pytest.raises(UserError, match=r"loans.csv.gz is not UTF-8 text \(line 3, byte 3\)"):
        list(read_chunks(packed, {"features": {}}))  # `mlops predict` said pandas' `position 0`


@pytest.mark.parametrize("name", ["loans.csv", "loans.txt"])
def test_lines_ended_by_a_lone_carriage_return_are_counted_as_the_reader_counts_them(tmp_path, name):
    """A classic-Mac export ends its lines with `\\r`, which pandas reads as line ends: split at `\\n` only, a file
    of 1 MiB was one line 'longer than 1024 KB'."""
    from pipeline.versioning.input_limits import check_table_file

    path = tmp_path / name
    frame = pd.concat([lending_frame()] * 2)  # 2 MB
    frame.to_csv(path, index=False, lineterminator="\r", sep="," if name.endswith(".csv") else ";")
    assert path.stat().st_size > MAX_LINE_BYTES and len(pd.read_csv(path, sep=None, engine="python")) == len(frame)
    check_table_file(path)
    with open(path, "ab") as handle:
        handle.write(b"x" * (MAX_LINE_BYTES + 10) + b"\r")
    with pytest.raises(UserError, match=f"line {len(frame) + 2} is longer than"):
        check_table_file(path)


def test_a_crlf_cut_between_two_blocks_read_ends_one_line(tmp_path):
    """A `\\r\\n` whose `\\n` starts the next block read is one line end, not two: the long line is still named."""
    from pipeline.versioning.input_limits import check_table_file

    path = tmp_path / "loans.csv"
    first = b"a,b\r\n" + b"1," + b"2" * ((1 << 20) - 5 - 2 - 1) + b"\r"  # the block read ends at the `\r`
    path.write_bytes(first + b"\n" + b"3,4\r\n" + b"5," + b"6" * MAX_LINE_BYTES + b"\r\n")
    with pytest.raises(UserError, match="line 4 is longer than"):
        check_table_file(path)


def test_bytes_that_are_not_utf8_are_placed_by_line_whatever_the_line_ends(tmp_path):
    """A Latin-1 byte in a file whose lines end with a lone `\\r` was placed on line 1, at a byte of the whole file."""
    from pipeline.versioning.input_limits import non_utf8_place

    path = tmp_path / "loans.csv"
    for data, place in [
        (b"a,b\r1,2\r3,\xe9\r", "line 3, byte 3"),
        (b"a,b\r\n1,2\r\n3,\xe9\r\n", "line 3, byte 3"),
        (b"a,b\r" + b"x" * ((1 << 20) - 5) + b"\r\n\xe9\r", "line 3, byte 1"),  # a `\r\n` cut between blocks
        (b"a,b\r" + b"x" * ((1 << 20) - 5) + b"\r\nx\xe9\r", "line 3, byte 2"),
    ]:
        path.write_bytes(data)
        assert non_utf8_place(path) == place, data[-12:]
