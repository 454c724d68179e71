"""Bringing your own data: checks that decide whether a file can become (or extend) the pipeline's source,
and the targeted edit of `params.yaml` that makes it the source. Pure functions over frames and text;
`pipeline.versioning.data_add` reads the files, calls these, and writes only when every check passed."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import UserError, row_number
from pipeline.training.data_schema import (
    declared_text,
    feature_columns,
    infer_schema,
    rows_of_file,
    validate_frame,
)
from pipeline.versioning.input_limits import refuse_another_separator
from pipeline.versioning.param_edits import written_as_text

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import pandas as pd

DATA_KEYS = ("source", "target", "positive_label", "drop")


@dataclass(frozen=True)
class SourceChoice:
    target: str
    positive: str
    negative: str | None
    drop: list[str]


# `id`, `loan_id`, `Loan-ID`, `uuid`, `loanId`, `rownames`, `Unnamed: 0` (a CSV written with its index); not `paid`.
ID_NAME = re.compile(r"(?i:(^|[_\W])(id|uuid|guid)$|^(rownames|row_?number|index|unnamed: ?0)$)|[a-z0-9]I[dD]$")


LOAN_ID = "id"  # the loan's id field of a serve request and of the prediction log, never a feature


@dataclass(frozen=True)
class IdColumn:
    name: str
    reason: str  # why it looks like an id, for the printed line

    @property
    def keepable(self) -> bool:
        """Whether `--keep-column` can make it a feature: not `id`, which names the loan (rename it instead)."""
        return self.name != LOAN_ID


def id_like_columns(frame: pd.DataFrame, target: str) -> list[IdColumn]:
    """Columns that identify a row rather than describe a loan: named like an id, or text or whole numbers
    unique per row (a real amount or rate is a float, so floats are never taken for ids by uniqueness)."""
    import pandas as pd

    found = []
    for name in frame.columns:
        series = frame[name]
        if name == target:
            continue
        if ID_NAME.search(str(name)):
            found.append(IdColumn(str(name), "named like an id"))
        elif (
            len(series) > 1
            and not pd.api.types.is_float_dtype(series)
            and not pd.api.types.is_bool_dtype(series)
            and series.notna().all()
            and series.is_unique
        ):
            found.append(IdColumn(str(name), f"unique in each of the {len(series)} rows"))
    return found


def target_copies(frame: pd.DataFrame, target: str) -> list[str]:
    """Columns whose two values match the target's two labels one to one, row for row: the target under another name
    (`class` beside `Class`) or coded otherwise (`1`/`0`, `True`/`False`). As a feature, the model would read the
    outcome it is to predict."""
    if target not in frame.columns or frame[target].isna().any() or frame[target].nunique() != 2:
        return []
    return [
        str(name)
        for name in frame.columns
        if name != target
        and frame[name].notna().all()
        and frame[name].nunique() == 2
        and len(frame[[name, target]].drop_duplicates()) == 2
    ]


def check_columns(frame: pd.DataFrame, choice: SourceChoice, source: str) -> None:
    """Refuse a --drop or --target that the file does not have, or a target that is also dropped."""
    columns = [str(c) for c in frame.columns]
    if choice.target not in columns:
        refuse_another_separator(columns, source)
        raise UserError(
            f"{source}: target column {choice.target!r} is missing (columns: {', '.join(columns)})",
            hint="name the target column with --target COL",
        )
    missing = [name for name in choice.drop if name not in columns]
    if missing:
        raise UserError(
            f"{source}: --drop names columns it does not have: {missing}", hint=f"its columns are: {', '.join(columns)}"
        )
    if choice.target in choice.drop:
        raise UserError(f"--drop {choice.target}: that is the target column", hint="do not drop the target")


def check_labels(frame: pd.DataFrame, choice: SourceChoice, source: str) -> None:
    """The target must hold exactly the two labels the user named (or the positive one and one other)."""
    if choice.negative == choice.positive:
        raise UserError(
            f"--negative {choice.negative!r} is the --positive label too",
            hint="the two labels of a loan's outcome differ",
        )
    # First: a gap in a 0/1 column makes pandas read every label as a float, so the labels would be named '0.0' and
    # '1.0', and a --positive 1.0 taken from that message would no longer match once the gap is filled.
    if frame[choice.target].isna().any():
        rows = [row_number(i) for i in frame.index[frame[choice.target].isna()][:3]]
        raise UserError(
            f"{source}: target column {choice.target!r} is empty in rows {rows}",
            hint="every training row needs its outcome",
        )
    labels = sorted(map(str, frame[choice.target].dropna().unique()))
    expected = sorted({choice.positive, choice.negative}) if choice.negative else None
    if len(labels) < 2:
        raise UserError(
            f"{source}: target column {choice.target!r} holds a single class {labels}",
            hint="a model needs loans of both outcomes; add data with the other label",
        )
    unexpected = [label for label in labels if label not in (expected or labels)]
    if unexpected or choice.positive not in labels or len(labels) != 2:
        told = f"{expected}" if expected else f"{choice.positive!r} and one other"
        raise UserError(
            f"{source}: target column {choice.target!r} holds labels {labels[:10]}; expected exactly {told}",
            hint="name the labels with --positive BAD_LABEL [--negative GOOD_LABEL], or fix the target column",
        )


def infer_source_schema(frame: pd.DataFrame, choice: SourceChoice, source: str) -> dict[str, Any]:
    """Every check, then the schema of the features left after --drop."""
    check_columns(frame, choice, source)
    check_labels(frame, choice, source)
    try:
        return infer_schema(frame.drop(columns=choice.drop), choice.target, choice.positive)
    except UserError as error:  # name the file the column is in
        raise UserError(f"{source}: {error.message}", hint=error.hint) from None


def align_batch(batch: pd.DataFrame, columns: list[str], source: str) -> pd.DataFrame:
    """The batch with the current dataset's columns in its order; refuse missing or unknown columns."""
    have = [str(c) for c in batch.columns]
    missing = [c for c in columns if c not in have]
    extra = [c for c in have if c not in columns]
    if missing or extra:
        refuse_another_separator(have, source)
        parts = ([f"missing {missing}"] if missing else []) + ([f"unknown {extra}"] if extra else [])
        raise UserError(
            f"{source} does not have the current dataset's columns: {'; '.join(parts)}",
            hint="a batch must have the same columns as the data it extends",
        )
    return batch[columns]


# Not the new schema `mlops data add FILE` infers: given the batch, it would replace the data with the batch.
APPEND_HINT = (
    "fix the batch; or, if the change is intended, edit the schema file (`data.schema` in params.yaml: add the "
    "category, widen the range, or set allow_duplicate_rows to true) and review it in git"
)


def checked_append(
    current: pd.DataFrame,
    batch: pd.DataFrame,
    schema: dict[str, Any],
    drop: list[str],
    source: str,
    label: str,
    named: Callable[[Sequence[int]], str] = rows_of_file,
    hint: str = APPEND_HINT,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the batch in the current data's column order, its numbers as numbers, the current data with it appended),
    after every check an append makes: the batch's columns, its rows against the schema (types, bounds, categories;
    a failing row named as `named` names the batch's rows at those positions, the refusal ending with `hint`), then
    the whole (duplicate rows, when the schema refuses them). `mlops data add --append` and `mlops monitor retrain`
    (dry run included) both call this."""
    import pandas as pd

    batch = align_batch(batch, [str(c) for c in current.columns], label)
    validate_frame(declared_text(batch.drop(columns=drop), schema), schema, label, hint=hint, named=named)
    batch = numbers_as_numbers(batch, schema)
    combined = pd.concat([current, batch], ignore_index=True)
    appended = declared_text(combined.drop(columns=drop), schema)
    validate_frame(appended, schema, f"{source} with {label} appended", hint=hint)
    return batch, combined


def numbers_as_numbers(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """`frame` with its numeric columns stored as text (a parquet file's strings, validated as numbers) as numbers:
    text among numbers is no duplicate of an equal number, and a parquet column cannot hold both."""
    import pandas as pd

    text = [name for name in feature_columns(schema)[0] if not pd.api.types.is_numeric_dtype(frame[name])]
    return frame.assign(**{name: frame[name].astype(float) for name in text}) if text else frame


def _written_as(value: Any) -> Any:
    """A value as ruamel.yaml should write it: text quoted where YAML 1.1 needs it (`written_as_text`), a list in
    flow style."""
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, list):
        items = CommentedSeq(_written_as(item) for item in value)
        items.fa.set_flow_style()
        return items
    return written_as_text(value) if isinstance(value, str) else value


def set_data_params(text: str, values: dict[str, Any]) -> str:
    """`params.yaml` text with keys of its `data:` section set, keeping every comment and the layout (a round trip
    through ruamel.yaml)."""
    from ruamel.yaml import YAML

    document_yaml = YAML()
    document_yaml.width = 4096  # never fold a long value onto a second line
    document = document_yaml.load(text)
    section = document.get("data") if hasattr(document, "get") else None
    missing = sorted(set(values) - set(section or {}))
    if missing:
        raise UserError(
            f"params.yaml has no data.{missing[0]} line to set",
            hint="restore the data: section (see git history)",
        )
    for key, value in values.items():
        comment = getattr(section[key], "ca", None)
        section[key] = _written_as(value)
        if comment is not None and hasattr(section[key], "ca"):  # a flow list carries its own end-of-line comment
            section[key]._yaml_comment = comment
            # A block list's (`- rownames` lines, as `dvc exp run -S` rewrites params.yaml) leaves this marker on
            # its key, which put the next key on the flow list's line: `schema: ... sample_frac: 1.0`.
            slots = section.ca.items.get(key)
            if slots is not None and len(slots) > 3:
                slots[3] = None
    out = io.StringIO()
    document_yaml.dump(document, out)
    return out.getvalue()
