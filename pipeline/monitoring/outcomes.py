"""Later-arriving outcomes (did the loan go bad), recorded beside the prediction log and joined to it by id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.params import load_params
from pipeline.serving.telemetry import (
    OUTCOMES,
    append_outcomes,
    normalize_outcomes,
    read_log,
    read_outcomes,
    require_prediction_log,
)
from pipeline.training.data_schema import read_schema
from pipeline.training.sources import csv_dialect, read_table
from pipeline.user_paths import require_file
from pipeline.versioning.input_limits import (
    check_header,
    check_line_lengths,
    check_table_name,
    check_utf8,
    refuse_another_separator,
)

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RecordedOutcomes:
    recorded: int
    bad: int
    matched: int  # of the recorded, how many match a logged prediction
    path: Path  # where they were recorded
    replaced: int = 0  # of the recorded, how many loans had an outcome recorded before (the latest counts)
    unfinished: int = 0  # bytes of a last line cut short (a killed append) removed before this one

    @property
    def unmatched(self) -> int:
        return self.recorded - self.matched


def record_outcomes(path: Path, log_dir: Path) -> RecordedOutcomes:
    """Append the outcomes of `path` (an id column, and the target column or is_bad) to the log folder."""
    params = load_params()
    labels = read_schema(params.data.schema_path)["target"]["labels"]
    check_table_name(path)  # a `.tsv` read by commas lacked its id column, a `.json` was parsed as CSV
    require_file(path, hint="give the CSV or parquet file of outcomes: id, and the target column or is_bad")
    check_header(path)  # two `id` or `Class` columns: which one is meant is unknown
    check_line_lengths(path)
    check_utf8(path)
    known = normalize_outcomes(outcome_table(path), params.data.target, labels, params.data.positive_label, str(path))
    require_prediction_log(log_dir)
    replaced = int(known["id"].isin(read_outcomes(log_dir)["id"]).sum())
    log = read_log(log_dir)  # before anything is written: a log it cannot read refuses the command, recording nothing
    logged = set(log["id"]) if not log.empty else set()
    matched = int(known["id"].isin(logged).sum())
    unfinished = append_outcomes(log_dir, known)
    return RecordedOutcomes(len(known), int(known["is_bad"].sum()), matched, log_dir / OUTCOMES, replaced, unfinished)


def outcome_table(path: Path) -> pd.DataFrame:
    """The outcomes of `path`, ids as text and a CSV's `is_bad` cells as written, so that a refusal quotes the cell
    the file holds (`nan` is no empty cell, `1e400` no `inf`)."""
    import pandas as pd

    frame = read_table(path, text_columns=["id", "is_bad"])
    if "id" not in frame.columns:  # a `;` separated .csv is one column: named so, not as lacking its ids
        refuse_another_separator(frame.columns, str(path))
    if "is_bad" in frame.columns and frame["is_bad"].isna().any() and path.suffix.lower() not in (".parquet", ".pq"):
        # pandas reads `nan`, `NA`, `null`... as missing: read the column again with no cell taken for missing
        written = pd.read_csv(path, usecols=["is_bad"], dtype=str, keep_default_na=False, **csv_dialect(path))
        frame["is_bad"] = written["is_bad"].to_numpy()
    return frame
