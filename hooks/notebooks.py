"""What a Jupyter notebook's outputs hold: a notebook committed with its outputs carries what its cells printed and
displayed, and a printed table is data in git whatever the file's name. And what its cells' sources hold: base64
pasted into a cell (`DATA = "UEsDB..."`) is data in git too.

Pure functions over a notebook's bytes (stdlib only). A notebook is a `.ipynb` file, or JSON with an `nbformat` key;
its cells are nbformat 4's. An output holds data when its text is a table by the rule for files
(`hooks.formats.delimited_table`, so at the same TABLE_ROWS rows), when its HTML or table-schema JSON has that many
rows, when it holds base64 that decodes to data (`hooks.formats.encoded_data`), or when it is bigger than the
largest data file the hooks let into git (their `--allow-max-kb`). Images are never judged: a plot is a result.
"""

from __future__ import annotations

import json
import re

from hooks.formats import ENCODED_CHARS, TABLE_ROWS, delimited_table, encoded_data

SUFFIX = ".ipynb"
JSON_OBJECT = re.compile(rb"\s*\{")
NBFORMAT_KEY = b'"nbformat"'
HTML_ROW = re.compile(r"<tr[\s>]", re.IGNORECASE)
TABLE_SCHEMA = "application/vnd.dataresource+json"  # pandas' `display.html.table_schema`: the rows as JSON
TEXT_TYPES = ("text/plain", "text/csv", "text/tab-separated-values", "text/markdown")


def is_notebook(path: str, head: bytes) -> bool:
    return path.endswith(SUFFIX) or (JSON_OBJECT.match(head) is not None and NBFORMAT_KEY in head)


def cells_of(head: bytes) -> list:
    """A notebook's cells; none when `head` is not a whole notebook (one cut at the read limit is past the hooks'
    size limit)."""
    try:
        notebook = json.loads(head)
    except (ValueError, RecursionError):
        return []
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    return [cell if isinstance(cell, dict) else {} for cell in cells] if isinstance(cells, list) else []


def cells_holding_data(cells: list[dict], largest: int) -> list[str]:
    """One line per code cell whose outputs hold data (`cell 4: a CSV table of 1,501 lines it printed`), cells
    counted from 1 as a reader counts them."""
    found = []
    for number, cell in enumerate(cells, 1):
        outputs = cell.get("outputs")
        held = (_data_in(output, largest) for output in outputs if isinstance(output, dict)) if outputs else ()
        what = next(filter(None, held), None)
        if what:
            found.append(f"cell {number}: {what}")
    return found


def encoded_in_sources(cells: list[dict]) -> tuple[int, int, str] | None:
    """(cell, size in bytes, format) of the first cell whose source holds base64 that decodes to data, cells counted
    from 1; the source read as the code it is (JSON's escapes and its list of lines undone), so a run wrapped over
    string literals is one run, as in a `.py`."""
    for number, cell in enumerate(cells, 1):
        source = cell.get("source")
        text = source if isinstance(source, str) else "".join(source) if _is_lines(source) else ""
        found = encoded_data(text.encode("utf-8", "surrogatepass")) if len(text) >= ENCODED_CHARS else None
        if found:
            return number, found[1], found[2]
    return None


def _data_in(output: dict, largest: int) -> str | None:
    """What data one output holds, if any: the first of its representations that holds some."""
    if output.get("output_type") == "stream":
        bundle, where = {"text/plain": output.get("text")}, "it printed"
    else:
        bundle, where = output.get("data"), "in its {} output"
    for mimetype, value in bundle.items() if isinstance(bundle, dict) else ():
        if mimetype.startswith("image/"):
            continue
        text = value if isinstance(value, str) else "".join(value) if _is_lines(value) else json.dumps(value)
        held = _table_in(mimetype, value, text) or _encoded_in(text)
        size = len(text.encode("utf-8", "surrogatepass"))
        if not held and size > largest:
            held = f"{size // 1024:,} KB"
        if held:
            return f"{held} {where.format(mimetype)}"
    return None


def _is_lines(value: object) -> bool:
    """A multi-line string as nbformat stores it: a list of its lines."""
    return isinstance(value, list) and all(isinstance(line, str) for line in value)


def _table_in(mimetype: str, value: object, text: str) -> str | None:
    """The table `text` (or `value`, JSON) holds at the table rule's size, if any."""
    if mimetype == "text/html":
        rows = len(HTML_ROW.findall(text))
        return f"an HTML table of {rows:,} rows" if rows > TABLE_ROWS else None
    if mimetype == TABLE_SCHEMA:
        rows = value.get("data") if isinstance(value, dict) else None
        return f"a table of {len(rows):,} rows" if isinstance(rows, list) and len(rows) >= TABLE_ROWS else None
    if mimetype in TEXT_TYPES:
        kind = delimited_table(text.encode("utf-8", "surrogatepass"))
        return f"a table ({kind}) of {len(text.splitlines()):,} lines" if kind else None
    return None


def _encoded_in(text: str) -> str | None:
    """Base64 in an output that decodes to data (a download link `data:...;base64,UEsDB...`)."""
    found = encoded_data(text.encode("utf-8", "surrogatepass"))
    return f"{found[1] // 1024:,} KB of base64 that decodes to {found[2]}" if found else None
