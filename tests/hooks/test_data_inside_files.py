"""Data inside a file that is not data by its name or first bytes: a notebook committed with outputs that hold a
table, and base64 in source that decodes to data. Through `main(argv)` on a temporary git repository, the printed
fix followed as printed, and once through a real commit in the project."""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import struct
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hooks import block_untracked_data, formats, notebooks, staged_files
from hooks.formats import ENCODED_CHARS, TABLE_ROWS, delimited_table, encoded_data
from tests.conftest import run
from tests.hooks.conftest import commit, output, write


def loans(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(rows),
            "amount": np.arange(rows) * 7.5 + 1000,
            "grade": ["ABCDEFG"[i % 7] for i in range(rows)],
            "purpose": ["car" if i % 3 else "debt_consolidation" for i in range(rows)],
        }
    )


def png(width: int = 120, height: int = 90) -> bytes:
    """A plot as matplotlib saves it: a PNG (its pixels random, so that it does not compress away)."""
    noise = random.Random(0)
    pixels = b"".join(b"\0" + noise.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def notebook(*cells: dict) -> str:
    """A notebook as Jupyter writes it (nbformat 4, one space of indent, keys sorted)."""
    document = {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def cell(source: str, *outputs: dict) -> dict:
    return {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": list(outputs), "source": source}


def printed(text: str) -> dict:
    return {"name": "stdout", "output_type": "stream", "text": text.splitlines(keepends=True)}


def displayed(bundle: dict) -> dict:
    return {"data": bundle, "metadata": {}, "output_type": "display_data"}


def frame_shown(frame: pd.DataFrame) -> dict:
    """`df` as a cell's last line shows it: HTML and text."""
    return displayed({"text/html": frame._repr_html_(), "text/plain": repr(frame)})


def plot() -> dict:
    return displayed({"image/png": base64.b64encode(png()).decode(), "text/plain": "<Figure size 640x480 with 1 Axes>"})


def download_link(content: bytes) -> dict:
    link = (
        f'<a download="loans.parquet" href="data:application/octet-stream;base64,{base64.b64encode(content).decode()}">'
    )
    return displayed({"text/html": link})


MARKDOWN = {"cell_type": "markdown", "metadata": {}, "source": "# Loans"}

NOTEBOOKS_HOLDING_DATA = {
    "printed CSV": cell("print(df.to_csv())", printed(loans(1500).to_csv())),
    "printed frame": cell("print(df.to_string())", printed(loans(1500).to_string())),
    "frame shown whole": cell("pd.set_option('display.max_rows', None)\ndf", frame_shown(loans(50))),
    "HTML table alone": cell("HTML(df.to_html())", displayed({"text/html": loans(300).to_html()})),
    "table schema": cell("df", displayed({notebooks.TABLE_SCHEMA: {"data": [{"a": i} for i in range(40)]}})),
    "large chart data": cell("fig", displayed({"application/vnd.plotly.v1+json": {"data": [list(range(40_000))]}})),
    "download link": cell("HTML(link)", download_link(parquet(loans(300)))),
}


@pytest.mark.parametrize("case", NOTEBOOKS_HOLDING_DATA)
def test_a_notebook_whose_outputs_hold_data_is_refused_naming_the_cell(staging, capsys, case):
    cells = [MARKDOWN, cell("df.head()", frame_shown(loans(5))), NOTEBOOKS_HOLDING_DATA[case]]
    path = staging("notebooks/eda.ipynb", notebook(*cells))
    assert block_untracked_data.main([path]) == 1
    text = capsys.readouterr().out
    assert "  notebooks/eda.ipynb\n      - a notebook whose outputs hold data: cell 3: " in text, text
    assert "fix: clear the outputs of cell 3, then stage it again: python3 -c " in text, text
    assert "SKIP=block-untracked-data" in text


def test_a_notebook_with_small_outputs_and_plots_passes(staging, capsys):
    small = notebook(
        MARKDOWN,
        cell("df.head()", frame_shown(loans(5))),
        cell("df.describe()", frame_shown(loans(1500).describe())),
        cell("df", frame_shown(loans(1500))),  # pandas shows 10 of a long frame's rows
        cell("df.grade.value_counts()", displayed({"text/plain": loans(1500).grade.value_counts().to_string()})),
        cell("plt.plot(...)", plot()),
        cell("for epoch in range(3): print(epoch)", printed("0\n1\n2\n")),
        cell("1 / 0", {"ename": "ZeroDivisionError", "evalue": "x", "output_type": "error", "traceback": ["..."]}),
    )
    plots = notebook(*[cell("plt.plot(...)", plot())] * 8)
    paths = [staging("notebooks/eda.ipynb", small), staging("notebooks/plots.ipynb", plots)]
    assert Path(paths[1]).stat().st_size > 100 * 1024  # more than a data file may be: images are not judged
    assert block_untracked_data.main(paths) == 0, capsys.readouterr().out
    assert staged_files.main(paths) == 0, capsys.readouterr().out


def test_the_printed_fix_clears_only_the_cells_holding_data_and_the_commit_passes(staging, capsys):
    cells = [MARKDOWN, cell("plt.plot(...)", plot()), *NOTEBOOKS_HOLDING_DATA.values()]
    path = staging("notebooks/my eda.ipynb", notebook(*cells, cell("df.head()", frame_shown(loans(5)))))
    assert staged_files.main([path]) == 1
    text = capsys.readouterr().out
    fix = next(line for line in text.splitlines() if "fix:" in line)
    holding = ", ".join(str(number) for number in range(3, 3 + len(NOTEBOOKS_HOLDING_DATA)))
    assert f"fix: clear the outputs of cells {holding}, then stage it again: " in fix, fix
    assert "`jupyter nbconvert --clear-output --inplace 'notebooks/my eda.ipynb'`" in fix, fix
    run(["bash", "-c", as_printed(fix)], Path.cwd())
    assert staged_files.main([path]) == 0, capsys.readouterr().out
    cleared = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    assert [bool(c.get("outputs")) for c in cleared[1:]] == [True] + [False] * len(NOTEBOOKS_HOLDING_DATA) + [True]
    assert run(["git", "diff", "--name-only"], Path.cwd()).stdout == ""  # the fix staged it


def as_printed(fix: str) -> str:
    """The command of a notebook's fix line."""
    return fix.split("then stage it again: ", 1)[1].split("   (", 1)[0]


def test_json_holding_a_notebook_is_a_notebook_whatever_its_name(staging, capsys):
    assert notebooks.is_notebook("eda.ipynb", b"") and not notebooks.is_notebook("a.json", b'{"cells": []}')
    path = staging("exports/analysis.json", notebook(NOTEBOOKS_HOLDING_DATA["printed CSV"]))
    assert block_untracked_data.main([path]) == 1
    text = capsys.readouterr().out
    assert "a notebook whose outputs hold data: cell 1: a table (CSV) of 1,501 lines it printed" in text, text


def test_a_notebook_fixture_in_the_allowed_folder_passes(staging, capsys):
    path = staging("tests/fixtures/eda.ipynb", notebook(cell("df", frame_shown(loans(50)))))
    assert block_untracked_data.main([path]) == 0, capsys.readouterr().out


def test_a_printed_frame_is_a_table_in_any_file(staging, capsys):
    """`df.to_string()` aligns words and numbers in columns: neither a delimiter nor numbers alone found it."""
    assert delimited_table(loans(100).to_string().encode()) == "aligned columns"
    assert delimited_table(loans(TABLE_ROWS - 5).to_string().encode()) is None
    aligned_prose = "".join(f"{word:<12}{word:>12}\n" for word in ["loans", "rates", "grades"] * 10)
    assert delimited_table(aligned_prose.encode()) is None  # no column of numbers
    markdown = "".join(f"| {i:>4} | {i * 7:>6} |\n" for i in range(40))
    assert delimited_table(markdown.encode()) is None  # a document's table
    assert block_untracked_data.main([staging("docs/loans.txt", loans(100).to_string())]) == 1
    assert "by its content (aligned columns)" in capsys.readouterr().out


def source_holding(encoded: str, name: str = "DATA") -> str:
    return f'"""Loans for the demo."""\n\nimport base64\n\n{name} = "{encoded}"\n'


def wrapped_in_literals(encoded: str) -> str:
    lines = "".join(f'    "{line}"\n' for line in textwrap.wrap(encoded, 76))
    return f"DATA = (\n{lines})\n"


LOANS = parquet(loans(1500))
# Source holding data as base64, and the line its base64 starts on.
ENCODED_DATA = {
    "parquet": (source_holding(base64.b64encode(LOANS).decode()), 5, "parquet"),
    "URL-safe parquet": (source_holding(base64.urlsafe_b64encode(LOANS).decode()), 5, "parquet"),
    "MIME lines": (f'DATA = b"""\n{base64.encodebytes(LOANS).decode()}"""\n', 2, "parquet"),
    "literals over lines": (wrapped_in_literals(base64.b64encode(LOANS).decode()), 2, "parquet"),
    "JSON": (json.dumps({"payload": base64.encodebytes(LOANS).decode()}), 1, "parquet"),
    "gzip": (source_holding(base64.b64encode(gzip.compress(loans(1500).to_csv().encode())).decode()), 5, "gzip"),
    "CSV": (source_holding(base64.b64encode(loans(1500).to_csv(index=False).encode()).decode()), 5, "CSV"),
}


@pytest.mark.parametrize("case", ENCODED_DATA)
def test_base64_that_decodes_to_data_is_found_with_its_line(case):
    content, line, kind = ENCODED_DATA[case]
    found = encoded_data(content.encode())
    assert found is not None and found[0] == line and found[2] == kind, found
    assert found[1] > 10 * 1024


@pytest.mark.parametrize("case", ENCODED_DATA)
def test_the_runs_read_are_those_the_regex_finds_over_the_whole_text(case):
    """Only where a run starts is read by the regex: it must find the same runs as over the whole text, with
    identifiers and paths (base64 characters too) and short runs before them."""
    prefix = "path = 'tests/e2e/test_a_long_name_of_base64_characters_only_and_slashes/x'\n" + "x = 'ab'\n" * 3
    text = (prefix + ENCODED_DATA[case][0] + prefix * 2 + ENCODED_DATA[case][0]).encode()
    found = [match.span() for match in formats._base64_runs(text)]
    assert found == [match.span() for match in formats.BASE64_RUN.finditer(text)] and len(found) >= 3


ENCODED_THAT_IS_NOT_DATA = {
    "src/icon.py": source_holding(base64.b64encode(png()).decode(), "ICON"),
    "src/noise.py": source_holding(base64.b64encode(random.Random(1).randbytes(30_000)).decode(), "SALT"),
    "web/style.css": f"body {{ background: url(data:image/png;base64,{base64.b64encode(png()).decode()}); }}\n",
    "src/short.py": source_holding(base64.b64encode(gzip.compress(b"a,b\n1,2\n")).decode()),  # a token's length
    "docs/sha.txt": "".join(f"{i:064x}  file{i}\n" for i in range(50)),
}


def test_base64_that_is_not_data_passes(staging, capsys):
    assert len(base64.b64encode(gzip.compress(b"a,b\n1,2\n"))) < ENCODED_CHARS
    paths = [staging(path, content) for path, content in ENCODED_THAT_IS_NOT_DATA.items()]
    assert block_untracked_data.main(paths) == 0, capsys.readouterr().out
    assert staged_files.main(paths) == 0, capsys.readouterr().out


def test_base64_data_in_source_is_refused_with_its_line_and_the_fix_works(staging, capsys, monkeypatch):
    run(["dvc", "init", "-q"], Path.cwd())
    run(["git", "add", ".dvc", ".dvcignore"], Path.cwd())
    run(["git", "commit", "-q", "--no-verify", "-m", "dvc"], Path.cwd())
    table = parquet(loans(1500))
    path = staging("src/loader.py", source_holding(base64.b64encode(table).decode()))
    monkeypatch.setattr(block_untracked_data, "mlops_installed", lambda: False)
    assert staged_files.main([path]) == 1
    text = capsys.readouterr().out
    kb = len(table) // 1024
    assert f"  src/loader.py\n      - data encoded in its text (parquet): line 5 holds {kb} KB of it as base64" in text
    fix = next(line for line in text.splitlines() if "fix:" in line)
    assert "write the parquet it decodes to into a file of its own that the code reads, data/loader.parquet" in fix
    assert "mlops" not in fix, fix
    # What the user does by hand: the data into its file, the code reading it from there.
    write(Path.cwd(), "data/loader.parquet", table)
    write(Path.cwd(), path, '"""Loans for the demo."""\n\nDATA = "data/loader.parquet"\n')
    run(["bash", "-c", fix.split("; then ", 1)[1].split("   (", 1)[0]], Path.cwd())
    run(["bash", "-c", fix.split("then `", 1)[1].split("`", 1)[0]], Path.cwd())
    staged = run(["git", "diff", "--cached", "--name-only"], Path.cwd()).stdout.split()
    assert staged == ["data/.gitignore", "data/loader.parquet.dvc", "src/loader.py"]
    assert staged_files.main([]) == 0, capsys.readouterr().out


def test_in_this_project_a_table_in_base64_is_also_offered_to_mlops_data_add(staging, capsys, monkeypatch):
    staging("pipeline/params.py", "")
    Path(".dvc").mkdir()
    monkeypatch.setattr(block_untracked_data, "mlops_installed", lambda: True)
    paths = [staging("src/loans.py", ENCODED_DATA["CSV"][0]), staging("src/model.py", pickled_model())]
    assert block_untracked_data.main(paths) == 1
    fixes = [line for line in capsys.readouterr().out.splitlines() if "fix:" in line]
    assert fixes[0].endswith("(a loans table): `mlops data add data/loans.csv`"), fixes
    assert "dvc add data/model.pkl" in fixes[1] and "mlops" not in fixes[1], fixes


def pickled_model() -> str:
    import pickle

    return source_holding(base64.b64encode(pickle.dumps({"weights": list(range(2000))}, protocol=4)).decode(), "MODEL")


def test_a_notebook_with_a_table_is_refused_by_a_commit_and_its_fix_lets_it_in(hooked):
    write(hooked, "notebooks/eda.ipynb", notebook(MARKDOWN, cell("p", plot()), NOTEBOOKS_HOLDING_DATA["printed frame"]))
    refused = commit(hooked, "notebooks/eda.ipynb")
    text = output(refused)
    assert refused.returncode == 1, text
    assert "notebooks/eda.ipynb\n      - a notebook whose outputs hold data: cell 3: a table (aligned columns)" in text
    fix = next(line for line in text.splitlines() if "fix:" in line)
    run(["bash", "-c", as_printed(fix)], hooked)
    passed = commit(hooked)
    assert passed.returncode == 0, output(passed)


def notebook_source_holding(encoded: str) -> dict:
    """A cell as Jupyter saves it (its source a list of lines) that reads a table pasted into it as base64."""
    source = f"import base64, io\nDATA = '{encoded}'\ndf = pd.read_csv(io.BytesIO(base64.b64decode(DATA)))\n"
    return cell(source.splitlines(keepends=True))


def test_base64_data_in_a_notebooks_source_is_refused_naming_the_cell(staging, capsys, monkeypatch):
    """Only the outputs were read: a table pasted into a cell's source as base64 went into git."""
    monkeypatch.setattr(block_untracked_data, "mlops_installed", lambda: False)
    table = base64.b64encode(loans(1500).to_csv(index=False).encode()).decode()
    cells = [MARKDOWN, cell("import pandas as pd"), notebook_source_holding(table), cell("df", frame_shown(loans(5)))]
    paths = [staging("notebooks/demo.ipynb", notebook(*cells))]
    wrapped = wrapped_in_literals(base64.b64encode(LOANS).decode())
    paths.append(staging("exports/analysis.json", notebook(cell(wrapped.splitlines(keepends=True)))))
    assert staged_files.main(paths) == 1
    text = capsys.readouterr().out
    kb = len(table) * 3 // 4 // 1024
    assert f"  notebooks/demo.ipynb\n      - data encoded in its text (CSV): cell 3's source holds {kb} KB" in text, (
        text
    )
    assert (
        "fix: write the CSV it decodes to into a file of its own that the code reads, data/demo.csv, and take "
        "the base64 out of notebooks/demo.ipynb; then dvc init && dvc add data/demo.csv" in text
    ), text
    assert "  exports/analysis.json\n      - data encoded in its text (parquet): cell 1's source holds" in text, text


def test_base64_in_a_notebooks_source_that_is_not_data_passes(staging, capsys):
    icon = f"![logo](data:image/png;base64,{base64.b64encode(png()).decode()})"
    noise = base64.b64encode(random.Random(2).randbytes(30_000)).decode()
    cells = [{"cell_type": "markdown", "metadata": {}, "source": icon}, notebook_source_holding(noise)]
    path = staging("notebooks/demo.ipynb", notebook(*cells))
    assert staged_files.main([path]) == 0, capsys.readouterr().out


def test_a_space_delimited_table_raw_deflate_and_a_notebooks_base64_are_refused_by_a_commit(hooked):
    """Each was committed (rc 0) through the hooks: `df.to_csv(sep=" ")` with words in it, a CSV compressed with
    zlib's raw deflate (no header), and a CSV as base64 in a notebook cell's source."""
    frame = loans(300)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    write(hooked, "docs/loans.txt", frame.to_csv(sep=" ", index=False))
    write(hooked, "docs/loans.deflate", compressor.compress(frame.to_csv().encode()) + compressor.flush())
    table = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    write(hooked, "notebooks/demo.ipynb", notebook(MARKDOWN, notebook_source_holding(table)))
    refused = commit(hooked, "docs/loans.txt", "docs/loans.deflate", "notebooks/demo.ipynb")
    text = output(refused)
    assert refused.returncode == 1, text
    assert "docs/loans.txt\n      - a data or model file by its content (space-delimited table)" in text, text
    assert "docs/loans.deflate\n      - a data or model file by its content (raw deflate holding CSV)" in text, text
    assert "notebooks/demo.ipynb\n      - data encoded in its text (CSV): cell 2's source holds" in text, text
