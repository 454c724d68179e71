"""Batch scoring: a CSV or parquet of loans in, `id, p_default, decision, model_md5` out.

Pure scoring (`score_frame`) over one chunk, and a chunked reader and atomic writer around it, so that large
inputs are scored in bounded memory, a failure leaves no partial output, and the same model gives the same
bytes however it was reached (workspace or `--rev`). The serving code reuses `check_features` and `score_frame`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import paths
from pipeline.errors import UserError, typed
from pipeline.params import load_params
from pipeline.serving import registry
from pipeline.serving.telemetry import DistinctIds, refuse_unacceptable_ids
from pipeline.training.data_schema import CATEGORICAL, declared_text, validate_frame
from pipeline.training.model_file import load_model_bytes
from pipeline.user_paths import require_file
from pipeline.versioning import dvc_seam
from pipeline.versioning.input_limits import (
    COMPRESSED_SUFFIXES,
    PARQUET_SUFFIXES,
    check_header,
    check_line_lengths,
    check_table_name,
    check_utf8,
    refuse_another_separator,
)
from pipeline.versioning.output_paths import atomic_output, check_output_path, neutralise_formulas, output_path

if TYPE_CHECKING:
    import pandas as pd

OUTPUT_COLUMNS = ["id", "p_default", "decision", "model_md5"]
SCORE_COLUMNS = OUTPUT_COLUMNS[1:]  # written by scoring; the first is the id, under its own name
REJECT, APPROVE = "reject", "approve"
CHUNK_ROWS = 50_000


SCORING_HINT = (
    "fix those cells in the input: the model reads the schema it was trained with (plain numbers, no thousands "
    "separators; only the categories it saw)"
)


def feature_schema(metadata: dict[str, Any]) -> dict[str, Any]:
    """The model's feature schema in the shape `pipeline.training.data_schema` validates (no target)."""
    return {"columns": metadata["features"], "allow_duplicate_rows": True}


def check_features(frame: pd.DataFrame, metadata: dict[str, Any], source: str, validated: bool = False) -> pd.DataFrame:
    """The model's feature columns of `frame`, validated (unless `validated`: already checked against the same
    feature schema, as the server's request model does); extra columns are ignored."""
    features = list(metadata["features"])
    missing = [name for name in features if name not in frame.columns]
    if missing:
        refuse_another_separator(frame.columns, source)
        raise UserError(
            f"{source} lacks columns the model needs: {missing}", hint=f"the model reads: {', '.join(features)}"
        )
    selected = declared_text(frame[features], feature_schema(metadata))
    if not validated:
        validate_frame(selected, feature_schema(metadata), source, with_target=False, hint=SCORING_HINT)
    return selected


def score_frame(
    model: Any,
    metadata: dict[str, Any],
    frame: pd.DataFrame,
    model_md5: str,
    first_row: int = 0,
    source: str = "input",
    validated: bool = False,
    id_column: str | None = "id",
) -> pd.DataFrame:
    """Scores for one chunk: the `id_column` (kept under its own name) when the frame has it, else `id`, the
    row number counting from `first_row`. `validated`: the rows were already checked against the model's
    feature schema (skips the pandera check, most of the cost of scoring one loan)."""
    import numpy as np
    import pandas as pd

    features = check_features(frame, metadata, source, validated)
    p_default = model.predict_proba(features)[:, 1]
    if id_column is not None and id_column in frame.columns:
        name, ids = id_column, frame[id_column].array  # its own type: an integer id with a gap stays an integer
    else:
        name, ids = "id", np.arange(first_row, first_row + len(frame))
    return pd.DataFrame(
        {
            name: ids,
            "p_default": p_default,
            "decision": np.where(p_default >= metadata["threshold"], REJECT, APPROVE),
            "model_md5": model_md5,
        }
    )


def categorical_features(metadata: dict[str, Any]) -> list[str]:
    return [name for name, spec in metadata["features"].items() if spec["kind"] == CATEGORICAL]


def read_chunks(
    path: Path, metadata: dict[str, Any], rows: int = CHUNK_ROWS, ids: Sequence[str] = ()
) -> Iterator[pd.DataFrame]:
    """The input in chunks of at most `rows` rows (categorical columns and the possible id columns `ids` read as
    text: an id `007` stays `007`)."""
    import pandas as pd

    require_file(path, hint="give the path of a CSV or parquet file of loans")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            import pyarrow.parquet as pq

            integer_ids, first = None, 0
            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                if integer_ids is None:
                    integer_ids = _integer_id_columns(batch.schema, ids, metadata)
                chunk = _with_integer_ids(batch, integer_ids)
                chunk.index = pd.RangeIndex(first, first + len(chunk))  # an error's row counts from the file's start
                first += len(chunk)
                yield chunk
        else:
            text = {name: str for name in [*categorical_features(metadata), *ids]}
            from pipeline.training.sources import csv_dialect  # with pandas: not when the CLI starts

            yield from pd.read_csv(path, chunksize=rows, dtype=text, **csv_dialect(path))
    except UserError:
        raise
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty", hint="give a CSV with a header row and data rows") from None
    except (UnicodeDecodeError, ValueError, OSError) as error:
        if isinstance(error, UnicodeDecodeError):
            check_utf8(path)  # names the line and byte: pandas' offset is into the block it was decoding
        raise UserError(
            f"{path} cannot be read as a table: {str(error).strip()}",
            hint="is it a complete UTF-8 CSV or parquet file?",
        ) from None


def _integer_id_columns(schema, ids: Sequence[str], metadata: dict[str, Any]) -> list[str]:
    import pyarrow as pa

    return [
        name
        for name in ids
        if name in schema.names and name not in metadata["features"] and pa.types.is_integer(schema.field(name).type)
    ]


def _with_integer_ids(batch, integer_ids: list[str]) -> pd.DataFrame:
    """The batch as a frame whose integer id columns stay integers: pyarrow makes an integer column with a null
    float (ids `1.0`, `2.0` that join back to nothing), so those keep their Arrow type, the null empty."""
    import pandas as pd
    import pyarrow as pa

    frame = batch.to_pandas()
    if integer_ids:
        exact = batch.select(integer_ids).to_pandas(
            types_mapper=lambda kind: pd.ArrowDtype(kind) if pa.types.is_integer(kind) else None
        )
        frame[integer_ids] = exact
    return frame


def write_scores(chunks: Iterator[pd.DataFrame], out: Path) -> int:
    """Write the scored chunks to `out` (CSV, or parquet by suffix) atomically; the number of rows."""
    rows, writer = 0, None
    with atomic_output(out) as handle:
        for scores in chunks:
            if out.suffix.lower() in PARQUET_SUFFIXES:
                writer = _write_parquet_chunk(writer, handle, scores)
            else:
                neutralise_formulas(scores).to_csv(handle, header=rows == 0, index=False, lineterminator="\n")
            rows += len(scores)
        if writer is not None:
            writer.close()
    return rows


def _write_parquet_chunk(writer, handle, scores: pd.DataFrame):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(scores, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(handle, table.schema)
    writer.write_table(table)
    return writer


def choose_id_column(
    columns: list[str],
    requested: str | None,
    known: list[str],
    source: str,
    features: Sequence[str] = (),
    target: str | None = None,
    not_ids: Collection[str] = (),
) -> str | None:
    """The input's id column: the one asked for (which must exist and be neither one of the model's `features` nor
    its `target`), else the first known id column it has that is no feature and not of a type that holds no ids
    (`not_ids`: dates, booleans); never one named like a score column, whose values would overwrite the ids."""
    if requested is not None:
        if requested not in columns:
            raise UserError(
                f"{source}: {typed('--id-column', requested)}: no such column",
                hint=f"its columns are: {', '.join(columns)}",
            )
        if requested in features:
            raise UserError(
                f"{source}: {typed('--id-column', requested)}: {requested!r} is a feature the model scores with, "
                "not the column that identifies each loan",
                hint="name the column that identifies each loan (e.g. --id-column loan_id), or leave --id-column out",
            )
        if requested == target:  # its labels would be copied out as ids, and joined to outcomes by them
            raise UserError(
                f"{source}: {typed('--id-column', requested)}: {requested!r} is the target the model predicts, "
                "not the column that identifies each loan",
                hint="name the column that identifies each loan (e.g. --id-column loan_id), or leave --id-column out",
            )
        chosen: str | None = requested
    else:  # a known id the model reads is no id: `data.drop` here may list a feature of another revision's model
        usable = (name for name in known if name in columns and name not in features and name not in not_ids)
        chosen = next(usable, None)
    if chosen in SCORE_COLUMNS:
        raise UserError(
            f"{source}: id column {chosen!r} has the name of a column the output writes "
            f"({', '.join(SCORE_COLUMNS)}): the scores would overwrite the ids",
            hint=f"rename {chosen!r} in the input (e.g. to loan_id) and pass --id-column loan_id",
        )
    return chosen


@dataclass(frozen=True)
class Scored:
    rows: int
    id_column: str | None  # None: the input had no id column, so rows were numbered from 0
    not_ids: dict[str, str] = field(default_factory=dict)  # known id columns passed over: dates, booleans


def times_and_flags(frame: pd.DataFrame) -> dict[str, str]:
    """{column: its type} for the columns of dates, times or booleans: no id (`ID_RULE`), and no id stored wrong
    either, as floats are (refused, with the fix). A timestamp unique per row is dropped by `mlops data add` as
    id-like, and would otherwise be taken for the id column and refuse the file."""
    import pandas as pd

    types = pd.api.types
    return {
        str(name): str(column.dtype)
        for name, column in frame.items()
        if types.is_datetime64_any_dtype(column) or types.is_timedelta64_dtype(column) or types.is_bool_dtype(column)
    }


def predict_file(
    model: Any,
    metadata: dict[str, Any],
    model_md5: str,
    source: Path,
    out: Path,
    chunk_rows: int = CHUNK_ROWS,
    id_column: str | None = None,
    known_ids: tuple[str, ...] = ("id",),
) -> Scored:
    """Score every row of `source` into `out`, keeping its id column (`id_column`, else the first of
    `known_ids` it has, else row numbers)."""
    chosen: list[str | None] = []
    not_ids: dict[str, str] = {}
    distinct: list[DistinctIds] = []

    def scored() -> Iterator[pd.DataFrame]:
        first = 0
        ids = [id_column] if id_column is not None else list(known_ids)
        for chunk in read_chunks(source, metadata, chunk_rows, ids):
            if not chosen:
                columns = [str(column) for column in chunk.columns]
                if id_column is None:
                    typed = times_and_flags(chunk)
                    not_ids.update({name: typed[name] for name in known_ids if name in typed})
                chosen.append(
                    choose_id_column(
                        columns,
                        id_column,
                        list(known_ids),
                        str(source),
                        list(metadata["features"]),
                        metadata.get("target"),
                        not_ids,
                    )
                )
                distinct.append(DistinctIds(str(source), chosen[0] or ""))
            if chunk.empty:  # a header-only CSV is read as one empty chunk, which the model cannot score
                continue
            if chosen[0] is not None:  # the ids are copied out, and joined by to the loans' logged outcomes
                refuse_unacceptable_ids(chunk[chosen[0]], str(source), chosen[0])
                distinct[0].add(chunk[chosen[0]])
            yield score_frame(model, metadata, chunk, model_md5, first, str(source), id_column=chosen[0])
            first += len(chunk)
        if first == 0:
            raise UserError(f"{source} has no data rows (header only?)", hint="give a file with at least one loan")

    rows = write_scores(scored(), out)
    return Scored(rows, chosen[0], not_ids)


@dataclass(frozen=True)
class Prediction:
    """`mlops predict`: how many loans were scored, with which model, keeping which id column."""

    rows: int
    model: str  # the model file, and the revision it was read at
    id_column: str | None  # None: the input had none of `looked_for`, so rows were numbered from 0
    looked_for: tuple[str, ...]  # the id columns looked for when none was named
    not_ids: dict[str, str] = field(default_factory=dict)  # those it had, passed over: {column: a type of no ids}


def predict(input_path: Path, out_text: str, rev: str | None = None, id_column: str | None = None) -> Prediction:
    """Score the loans of `input_path` into `--out` with the workspace model, or the model of `rev` (a revision or a
    registry reference, read through DVC without a checkout), checked against dvc.lock before use."""
    out = output_path(out_text, "scores.csv")
    dvc_seam.require_repo()
    check_output_path(out, input_path)
    if out.suffix.lower() not in (".csv", *PARQUET_SUFFIXES):  # `scores.json` got CSV text
        raise UserError(
            f"--out {out}: scores are written as CSV (.csv) or parquet (.parquet, .pq), chosen by the name's ending",
            hint=f"name it {table_stem(out)}.csv or {table_stem(out)}.parquet",
        )
    check_table_name(input_path)  # a `.tsv` read by commas lacked every column, a `.json` was parsed as CSV
    check_header(input_path)
    check_line_lengths(input_path)
    if rev is None:
        data, expected = _workspace_model()
        where = paths.MODEL
    else:
        data, expected, _ = registry.read_output(rev, paths.MODEL)
        where = f"{paths.MODEL} at {rev}"
    model, metadata = load_model_bytes(data, where, expected, of_a_revision=rev is not None)
    known_ids = (*load_params().data.drop, "id")
    scored = predict_file(
        model, metadata, hashlib.md5(data).hexdigest(), input_path, out, id_column=id_column, known_ids=known_ids
    )
    return Prediction(scored.rows, where, scored.id_column, known_ids, scored.not_ids)


def table_stem(path: Path) -> str:
    """`path`'s name without its endings (`scores.csv.gz` -> `scores`), to suggest a name with a table's ending."""
    return (path.with_suffix("") if path.suffix.lower() in COMPRESSED_SUFFIXES else path).stem


def _workspace_model() -> tuple[bytes, str]:
    expected = dvc_seam.output_md5(dvc_seam.read_lock(), paths.MODEL)
    if expected is None:
        raise UserError("dvc.lock records no model", hint="train one with `mlops repro`")
    try:
        return Path(paths.MODEL).read_bytes(), expected
    except FileNotFoundError:
        raise UserError(f"{paths.MODEL} not found", hint="`mlops data pull`, or train it with `mlops repro`") from None
