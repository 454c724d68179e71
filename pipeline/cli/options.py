"""Options that several commands share: one definition each, so their names and help read the same everywhere;
and the printing of the typed results commands get back (metric tables through rich)."""

from __future__ import annotations

import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipeline import metrics
from pipeline.errors import UserError

# --- numbers in a range ---------------------------------------------------------------------------------------


def number_in_range(option: str, low: float, high: float, example: str):
    """`--option TEXT` as a float in [low, high], refused in one wording whatever is wrong with it: not a number,
    NaN (which no bound check catches: Typer's said 'should be less than or equal to 1' of it), inf or out of range.
    A default (a float or None) passes untouched."""

    def parse(text: str | float | None) -> float | None:
        if not isinstance(text, str):
            return text
        try:
            value, shown = float(text), text
        except ValueError:  # quoted, as `number` shows it: `--share '--x'` is a value, not a second option
            value, shown = math.nan, repr(text)
        if not low <= value <= high:  # False for NaN
            bounds = f"[{_plain(low)}, {_plain(high)}]"
            raise UserError(f"{option} {shown}: must be a number in {bounds}", hint=f"e.g. {option} {example}")
        return value + 0.0  # -0.0 as 0.0: it would be shown as -0.0000

    return parse


def number(option: str, example: str):
    """`--option TEXT` as a float, refused naming the option and the value when it is none (`--subset --x`: its
    value forgotten, the next option taken for it); the command checks its range. A default passes untouched."""

    def parse(text: str | float | None) -> float | None:
        if not isinstance(text, str):
            return text
        try:
            return float(text)
        except ValueError:
            raise UserError(f"{option} {text!r}: not a number", hint=f"e.g. {option} {example}") from None

    return parse


WHOLE_NUMBER = re.compile(r"\s*[+-]?\d+\s*")


def whole_number(option: str, low: int, high: int, example: str):
    """`--option TEXT` as an int in [low, high], refused naming the option and the value whatever is wrong with it:
    not a whole number (`--port --x`, a forgotten value; `nan`; `1.5`) or out of range, a 10,000-digit one too
    (int() refuses it with a ValueError of its own). Typer's check said "Invalid value for '--port'" without the
    value or an example. A default passes untouched."""

    def parse(text: str | int | None) -> int | None:
        if not isinstance(text, str):
            return text
        hint = f"e.g. {option} {example}"
        if not WHOLE_NUMBER.fullmatch(text):
            raise UserError(f"{option} {text!r}: not a whole number", hint=hint)
        digits = text.strip().lstrip("+-").lstrip("0")
        if len(digits) > len(str(high)) or not low <= int(text) <= high:
            raise UserError(f"{option} {text.strip()}: must be a whole number in [{low}, {high}]", hint=hint)
        return int(text)

    return parse


def ranged_int(option: str, low: int, high: int, example: str, help: str):
    """An int option in [low, high], checked by `whole_number`; min and max show the range in the help."""
    return typer.Option(help=help, min=low, max=high, parser=whole_number(option, low, high, example))


def ranged_float(option: str, low: float, high: float, example: str, help: str):
    """A float option in [low, high]. Typer runs a parser in place of its own bound check, so min and max only
    show the range in the help (FLOAT RANGE, low<=x<=high); `number_in_range` does the checking."""
    return typer.Option(help=help, min=low, max=high, parser=number_in_range(option, low, high, example))


def _plain(bound: float) -> str:
    return f"{bound:f}".rstrip("0").rstrip(".")


# --- files ----------------------------------------------------------------------------------------------------


def input_file(argument: str, example: str = "loans.csv"):
    """A file `argument`, refused when empty: as a path '' is `.`, which was refused as "a folder, not a file"."""

    def parse(text: str | Path) -> Path:
        if text == "":
            raise UserError(f"{argument} '' is empty: name a CSV or parquet file", hint=f"e.g. {example}")
        return Path(text)

    return parse


# --- revisions ------------------------------------------------------------------------------------------------


def revision(option: str, example: str):
    """`--option REV`, refused naming the option when it is empty or reads as an option (`--against --x`: its value
    forgotten, the next option taken for it); whether it names a revision is checked where it is resolved."""

    def parse(text: str | None) -> str | None:
        return text if text is None else named(option, text, "a revision", hint=f"e.g. {option} {example}")

    return parse


def named(option: str, text: str, what: str, hint: str) -> str:
    """`text`, refused naming `option` when it is blank or reads as an option (its value forgotten, the next option
    taken for it)."""
    if not text.strip():
        raise UserError(f"{option} {text!r} is empty: name {what}", hint=hint)
    if text.startswith("-"):
        raise UserError(f"{option} {text!r} reads as an option: name {what}", hint=hint)
    return text


# --- names ----------------------------------------------------------------------------------------------------


def given(option: str, what: str, example: str):
    """`--option TEXT`, refused when empty: '' reads as not given, so the command went on with its default."""

    def parse(text: str | None) -> str | None:
        if text == "":
            raise UserError(f"{option} '' is empty: name {what}", hint=f"e.g. {option} {example}")
        return text

    return parse


# --- the loop: serving, monitoring, deploying -------------------------------------------------------------------


def listen_address(text: str) -> str:
    """`--host TEXT`, refused when empty (to the socket '' is every interface: the model would be served to the whole
    network, said as http://:8000) or option-like (`--host --port 80`: its value forgotten)."""
    hint = "e.g. --host 127.0.0.1 (this machine only), or --host 0.0.0.0 (every interface)"
    return named("--host", text, "the address to listen on", hint)


def log_dir(text: str | Path) -> Path:
    """`--log-dir TEXT` as a folder: empty (`.` as a path, the project folder) or option-like is refused."""
    return _folder(text, "--log-dir", "logs", "prediction log folder")


def report_dir(text: str | Path) -> Path:
    """`--out TEXT` as the folder a report goes to, refused as `--log-dir` is."""
    return _folder(text, "--out", "drift-reports", "folder to write the report to")


def _folder(text: str | Path, option: str, example: str, what: str) -> Path:
    from pipeline.versioning.output_paths import output_path

    if not isinstance(text, str):  # a default
        return text
    return output_path(text, example, option=option, what=what, folder=True)


LogDir = Annotated[Path, typer.Option(help="The prediction log folder of `mlops serve`.", parser=log_dir)]
ServeLogDir = Annotated[Path, typer.Option(help="Where the prediction log goes.", parser=log_dir)]
Since = Annotated[
    str | None, typer.Option(help="Only traffic since: 24h, 7d, 30m, or a date/time (UTC unless it gives an offset).")
]


# --- experiments: runs, compare, gate, report ---------------------------------------------------------------

MetricName = StrEnum("MetricName", [(metric.name, metric.name) for metric in metrics.judged_metrics()])
PRIMARY = MetricName(metrics.PRIMARY.name)

SubsetOption = Annotated[
    float | None,
    typer.Option(
        help="Train on this fraction of the training split (0.0001 <= F < 1): a cheap, marked subset run.",
        parser=number("--subset", "0.1"),
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-S", help="A param to change: key=value (repeatable), e.g. -S train.model=hgb."),
]
# A tolerance beyond 1 passes any change a model can make to a metric here (ROC AUC, a probability, a cost per loan
# of a few units): a gate that cannot fail, so it is refused.
ToleranceOption = Annotated[
    float | None,
    ranged_float(
        "--tolerance",
        0.0,
        1.0,
        example="0.01",
        help="How much worse the metric may be and still pass (default: a quarter of the noise band's half-width).",
    ),
]
AgainstOption = Annotated[
    str,
    typer.Option(
        help="The revision to compare with (a commit, branch, tag or registry reference: lending-risk@prod).",
        parser=revision("--against", "main"),
    ),
]
MarkdownFlag = Annotated[bool, typer.Option("--md", help="Print a Markdown table.")]
CsvFlag = Annotated[bool, typer.Option("--csv", help="Print CSV (every key metric and its change).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def one_format(*chosen: bool) -> None:
    if sum(chosen) > 1:
        raise UserError("choose one of --md, --csv and --json")


PIPE_WIDTH = 1_000  # rich assumes 80 columns when stdout is not a terminal: a table would be squeezed to fit


def console():
    """rich's console for stdout: a terminal's width, or when piped the width COLUMNS asks for (rich's convention:
    `COLUMNS=100 mlops exp compare | less`), else room for any table."""
    import os

    from rich.console import Console

    shown = Console(highlight=False)
    if shown.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return shown
    return Console(highlight=False, width=PIPE_WIDTH)


def print_changes(
    changes: list[metrics.Change], title: str, reference_label: str = "", current_label: str = ""
) -> None:
    """Metric rows as a rich table: value (with its interval), and with a reference its value, change and word."""
    from rich.table import Table

    if not changes:
        return
    with_reference = any(row.reference is not None for row in changes)
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    if reference_label and with_reference:
        table.add_column(reference_label, justify="right")
    table.add_column(current_label or "value", justify="right")
    if with_reference:
        table.add_column("change", justify="right")
        table.add_column("")
    for row in changes:
        value = f"{row.current:.4f}"
        if row.interval and not reference_label:
            value += f" [{row.interval[0]:.3f}, {row.interval[1]:.3f}]"
        cells = [row.metric.name]
        if reference_label and with_reference:
            cells.append("" if row.reference is None else f"{row.reference:.4f}")
        cells.append(value)
        if with_reference:
            cells += ["" if row.change is None else f"{row.change:+.4f}", row.word]
        table.add_row(*cells)
    console().print(table)
