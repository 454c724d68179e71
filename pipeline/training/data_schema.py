"""A dataset's declared schema (kept as JSON in `reports/`, reviewed in git) and the pandera schema built from it.

The JSON is inferred once from a dataset (`infer_schema`) and then declared: later data is checked against it,
so a new batch with an unknown category, a negative amount or a third target label is stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import UserError, option, row_number

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas as pd

NUMERIC = "numeric"
CATEGORICAL = "categorical"
MAX_CATEGORIES = 200
# The largest magnitude of a number in a loan: every whole number up to it is exact in a float (beyond, an
# `integer` column could not tell 1 from 0.5 apart), no amount, count or rate comes near it, and each model's
# arithmetic on it stays finite (1e300 of an income made the scaler overflow to inf: a traceback, not a score).
MAX_MAGNITUDE = 2**53


def infer_schema(frame: pd.DataFrame, target: str, positive_label: str) -> dict[str, Any]:
    """Describe `frame`'s columns: numeric ranges, categorical levels, nullability, and the target's two labels."""
    import numpy as np
    import pandas as pd

    if target not in frame.columns:
        raise UserError(
            f"target column {target!r} is not in the data (columns: {', '.join(map(str, frame.columns))})",
            hint="name the target column with --target COL",
        )
    labels = sorted(map(str, frame[target].dropna().unique()))
    if len(labels) != 2 or positive_label not in labels:
        raise UserError(
            f"target column {target!r} must hold exactly two labels including {positive_label!r}; found {labels[:10]}",
            hint="name the bad-loan label with --positive LABEL, or fix the target column",
        )
    columns: dict[str, Any] = {}
    for name in frame.columns:
        if name == target:
            continue
        series = frame[name]
        if series.isna().all():  # no type, category or range to declare; an empty category list is refused on read
            raise UserError(f"column {name!r} holds no values", hint=f"drop it with {option('--drop', name)}")
        nullable = bool(series.isna().any())
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            _refuse_numbers_with_stray_text(series, name)
            levels = sorted(map(str, series.dropna().unique()))
            if len(levels) > MAX_CATEGORIES:
                raise UserError(
                    f"column {name!r} has {len(levels)} distinct text values: too many for a category",
                    hint=f"drop it with {option('--drop', name)} (ids and free text are not features)",
                )
            columns[name] = {"kind": CATEGORICAL, "categories": levels, "nullable": nullable}
        else:
            observed = series.dropna()
            numbers = observed.to_numpy(dtype=float)
            infinite = observed[~np.isfinite(numbers) | beyond_magnitude(observed)]
            if len(infinite):
                raise UserError(
                    f"column {name!r} holds {infinite.iloc[0]} in {len(infinite)} rows "
                    f"(first: row {row_number(infinite.index[0])})",
                    hint=f"no amount is infinite or beyond {MAX_MAGNITUDE:,} (2**53): fix those cells, or leave "
                    "them empty (a missing value)",
                )
            low = float(observed.min())
            columns[name] = {
                "kind": NUMERIC,
                "integer": bool(pd.api.types.is_integer_dtype(series)),
                "min": 0.0 if low >= 0 else low,
                "max": None,
                "nullable": nullable,
            }
    return {
        "target": {"name": target, "labels": labels, "positive": positive_label},
        "columns": columns,
        "allow_duplicate_rows": bool(frame.duplicated().any()),
    }


# A text column whose values are numbers but for this share of stray words ('unknown', '?') is an amount with
# a few bad cells, not a category of every distinct amount.
MOSTLY_NUMBERS = 0.9


def _refuse_numbers_with_stray_text(series: pd.Series, name: str) -> None:
    import pandas as pd

    observed = series.dropna()
    if observed.empty or pd.api.types.is_bool_dtype(observed):
        return
    stray = observed[pd.to_numeric(observed, errors="coerce").isna()]
    if 0 < len(stray) <= (1 - MOSTLY_NUMBERS) * len(observed):
        shown = ", ".join(repr(str(value)) for value in stray.unique()[:3])
        fix = "fix those cells or leave them empty (a missing value), so that it stays a number"
        raise UserError(
            f"column {name!r} holds numbers but for {len(stray)} cells "
            f"({shown}; first: row {row_number(stray.index[0])})",
            hint=f"{fix}; or {option('--drop', name)}",
        )


def write_schema(schema: dict[str, Any], path: Path | str) -> None:
    Path(path).write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


def read_schema(path: Path | str) -> dict[str, Any]:
    """The declared schema at `path`, checked: a hand-edit that breaks it (a `kind` misspelt, which would leave the
    column out of the model unnoticed; labels that are not two) is one line naming the key."""
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"schema file {path} not found",
            hint="`mlops data add FILE` writes it, or restore it with `git checkout -- " + str(path) + "`",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"schema file {path} is not valid JSON: {error}") from None
    except OSError as error:  # a folder, a file it may not read
        raise UserError(
            f"schema file {path} cannot be read: {error.strerror}",
            hint="data.schema in params.yaml names the schema's JSON file (reports/schema.json by default)",
        ) from None
    _check_schema(schema, path)
    return schema


def _check_schema(schema: Any, path: Path | str) -> None:
    try:
        SchemaFile.model_validate(schema)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"] if part not in (NUMERIC, CATEGORICAL)) or "the file"
        raise UserError(
            f"schema file {path}: {where}: {first['msg'].removeprefix('Value error, ')}",
            hint="fix it, or infer a new one from the data with `mlops data add FILE`; review the change in git",
        ) from None


# --- the shape of a schema file, as `infer_schema` writes it ---------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Target(_Strict):
    name: str = Field(min_length=1)
    labels: list[str] = Field(min_length=2, max_length=2)
    positive: str

    @model_validator(mode="after")
    def _positive_is_a_label(self) -> Target:
        if self.positive not in self.labels or self.labels[0] == self.labels[1]:
            raise ValueError(f"positive {self.positive!r} must be one of two distinct labels, {self.labels}")
        return self


class NumericColumn(_Strict):
    kind: Literal["numeric"]
    integer: bool = False
    min: float | None = None
    max: float | None = None
    nullable: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> NumericColumn:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class CategoricalColumn(_Strict):
    kind: Literal["categorical"]
    categories: list[str] = Field(min_length=1)
    nullable: bool = False


class SchemaFile(_Strict):
    target: Target
    columns: dict[str, Annotated[NumericColumn | CategoricalColumn, Field(discriminator="kind")]] = Field(min_length=1)
    allow_duplicate_rows: bool = True


def declared_text(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """`frame` with the target and the categorical columns as the schema declares them, text: `str` of each value,
    as `infer_schema` wrote the labels and categories (a 0/1 target is `'0'`/`'1'`, a flag `'True'`, a date
    `'2020-01-01 00:00:00'`); missing values stay missing, text columns are untouched."""
    import pandas as pd

    text = [schema["target"]["name"]] if "target" in schema else []
    text += feature_columns(schema)[1]
    typed = [name for name in text if name in frame.columns and pd.api.types.infer_dtype(frame[name]) != "string"]
    if not typed:
        return frame
    return frame.assign(**{name: frame[name].astype(object).map(str, na_action="ignore") for name in typed})


def feature_columns(schema: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature names, in the schema's order."""
    numeric = [name for name, spec in schema["columns"].items() if spec["kind"] == NUMERIC]
    categorical = [name for name, spec in schema["columns"].items() if spec["kind"] == CATEGORICAL]
    return numeric, categorical


def pandera_schema(schema: dict[str, Any], with_target: bool = True):
    """The pandera DataFrameSchema that `schema` declares."""
    import pandera.pandas as pa

    columns = {}
    for name, spec in schema["columns"].items():
        if spec["kind"] == NUMERIC:
            checks = [pa.Check(_finite, name="finite")]  # CSV, parquet and JSON can all carry inf; no loan has it
            checks.append(pa.Check(_within_magnitude, name=MAGNITUDE_RULE))
            if spec.get("integer"):
                checks.append(pa.Check(_whole, name="whole_number"))
            if spec.get("min") is not None:
                checks.append(pa.Check.ge(spec["min"]))
            if spec.get("max") is not None:
                checks.append(pa.Check.le(spec["max"]))
            columns[name] = pa.Column(
                float, checks=checks, nullable=spec["nullable"], coerce=True, parsers=[pa.Parser(_flags_as_text)]
            )
        else:
            columns[name] = pa.Column(None, checks=[_one_of(spec["categories"])], nullable=spec["nullable"])
    if with_target:
        target = schema["target"]
        columns[target["name"]] = pa.Column(None, checks=[_one_of(target["labels"])], nullable=False)
    unique = None if schema.get("allow_duplicate_rows", True) else list(columns)
    return pa.DataFrameSchema(columns, strict=True, unique=unique, report_duplicates="all")


def _flags_as_text(values: pd.Series) -> pd.Series:
    """True/False as the text `True`/`False`, which is no number: coerced, a flag would pass as 1.0 or 0.0 (a parquet
    file's boolean column in a numeric one), to be written `True` into a CSV source or scored as an amount of 1."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return values.astype(object).map(str, na_action="ignore")
    if values.dtype == object:
        return values.map(lambda value: str(value) if isinstance(value, (bool, np.bool_)) else value)
    return values


def _finite(values: pd.Series) -> pd.Series:
    import numpy as np

    return np.isfinite(values)


MAGNITUDE_RULE = "at_most_2**53_in_size"


def beyond_magnitude(values: pd.Series) -> pd.Series:
    """Which numbers are beyond 2**53 in size, whole numbers compared as they are: as floats, 2**53 + 1 is 2**53, and
    passed (changed) where 2**53 + 2 was refused."""
    if _is_whole_dtype(values):
        return ((values > MAX_MAGNITUDE) | (values < -MAX_MAGNITUDE)).fillna(False).astype(bool)
    import numpy as np

    return np.abs(values.astype(float)) > MAX_MAGNITUDE


def _is_whole_dtype(values: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _within_magnitude(values: pd.Series) -> pd.Series:
    import numpy as np

    return ~np.isfinite(values) | (np.abs(values) <= MAX_MAGNITUDE)  # an inf is the `finite` rule's to name


def _whole(values: pd.Series) -> pd.Series:
    import numpy as np

    return np.floor(values) == values


def _one_of(values: list) -> Any:
    """pandera's category rule, named in failure lines as pandera names it, or by its count when the list is long
    (200 categories): the rows and values after it must still fit the line."""
    import pandera.pandas as pa

    name = f"isin({values})"
    if len(name) > SHOWN_CHARS:
        name = f"isin({len(values)} categories of the schema)"
    return pa.Check.isin(values, error=name)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (`inf`, not `np.float64(inf)`)."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


NOT_A_NUMBER = "coerce_dtype"  # pandera's rule for a cell that cannot be read as the column's number type
SCHEMA_CHANGE_HINT = (
    "fix the data, or if the change is intended, update the schema (`mlops data add FILE` infers a new one) and "
    "review it in git"
)


def rows_of_file(positions: Sequence[int]) -> str:
    """Rows at 0-based `positions` as a message names them in a file: `rows 2, 5` (the header is row 1)."""
    return "rows " + ", ".join(str(row_number(i)) for i in positions)


def describe_failures(
    failure_cases: pd.DataFrame, examples: int = 3, named: Callable[[Sequence[int]], str] = rows_of_file
) -> list[str]:
    """One line per (column, rule): how many rows fail and a few example rows (as `named` names the frame's rows
    at those positions) and values."""
    lines = []
    cases = failure_cases.fillna({"column": "<table>"})
    duplicates = cases["check"] == "multiple_fields_uniqueness"
    if duplicates.any():
        positions = sorted({int(i) for i in cases.loc[duplicates, "index"].dropna()})
        shown = named(positions[:examples])
        lines.append(f"duplicate rows: {len(positions)} rows are identical to another row ({shown}, ...)")
        cases = cases[~duplicates]
    not_numbers = set(cases.loc[cases["check"].astype(str).str.startswith(NOT_A_NUMBER), "column"])
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        if column in not_numbers and not str(check).startswith(NOT_A_NUMBER):
            continue  # its type and range rules fail only because those cells are not numbers
        positions = [int(i) for i in group["index"].dropna().astype(int).unique()[:examples]]
        values = [_shown(_plain(value)) for value in group["failure_case"].unique()[:examples]]
        where = named(positions) if positions else "whole column"
        rule = "cells that are not numbers" if column in not_numbers else f"rule {check}"
        lines.append(f"column {column!r}, {rule}: {len(group)} failing ({where}; values {', '.join(values)})")
    return lines


SHOWN_CHARS = 80  # of a rule or a value in a failure line: the rows and values must fit the bounded error line


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"


def validate_frame(
    frame: pd.DataFrame,
    schema: dict[str, Any],
    source: str,
    with_target: bool = True,
    hint: str = SCHEMA_CHANGE_HINT,
    named: Callable[[Sequence[int]], str] = rows_of_file,
) -> None:
    """Raise a UserError naming each column, rule and example rows (as `named` names them: by default the rows of
    the file `source` is) that break `schema`, with `hint`."""
    import pandera.errors

    try:
        failures = _whole_numbers_beyond_magnitude(frame, schema)  # before pandera turns them into floats
        if failures is None:
            pandera_schema(schema, with_target).validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        failures = errors.failure_cases
    if failures is not None:
        lines = describe_failures(failures, named=named)
        raise UserError(f"{source} does not match its schema:\n  " + "\n  ".join(lines), hint=hint)


def _whole_numbers_beyond_magnitude(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame | None:
    """The failure cases (as pandera lists them) of whole numbers beyond 2**53 in size in the numeric columns: the
    schema's columns are floats, and 2**53 + 1 as a float is 2**53, within the bound."""
    import pandas as pd

    cases = []
    for name, spec in schema["columns"].items():
        if spec["kind"] != NUMERIC or name not in frame.columns or not _is_whole_dtype(frame[name]):
            continue
        beyond = frame[name][beyond_magnitude(frame[name])]
        cases += [{"column": name, "check": MAGNITUDE_RULE, "index": i, "failure_case": v} for i, v in beyond.items()]
    return pd.DataFrame(cases) if cases else None
