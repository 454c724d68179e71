"""`mlops data add`: make a file the pipeline's source, or append a batch to it as a new DVC version.

Every check runs before anything is written (the checks themselves are `datasets` and `input_limits`); the writes
then happen under one journal (`journal.all_or_nothing`), data first, then the schema and params that point at it.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hooks import git
from hooks.pipeline_state import path_md5
from pipeline import paths
from pipeline.errors import UserError, option, typed
from pipeline.params import PARAMS_FILE, load_params, params_from_text
from pipeline.paths import RDATASETS
from pipeline.training.data_schema import read_schema, write_schema
from pipeline.training.sources import read_table
from pipeline.user_paths import in_project
from pipeline.versioning import dvc_seam
from pipeline.versioning.data_status import kept_elsewhere
from pipeline.versioning.datasets import (
    LOAN_ID,
    IdColumn,
    SourceChoice,
    checked_append,
    id_like_columns,
    infer_source_schema,
    set_data_params,
    target_copies,
)
from pipeline.versioning.input_limits import (
    PARQUET_SUFFIXES,
    check_destination,
    check_not_an_output,
    check_source_file,
    check_table_file,
    table_bytes,
    text_separator,
)
from pipeline.versioning.journal import all_or_nothing
from pipeline.versioning.pipeline_status import require_pulled

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd


@dataclass(frozen=True)
class AddedSource:
    """A file made the pipeline's source."""

    destination: Path
    rows: int
    features: int
    target: str
    positive: str
    schema_path: str
    dropped_ids: list[IdColumn]  # id-like columns dropped on our own initiative, each with why
    dropped_copies: list[str]  # columns that copy the target, dropped on our own initiative
    moved_from: Path | None  # the file was inside the project: moved to `destination`
    removed_from_git: bool = False  # git tracked the moved file: its removal is staged, to commit with the rest


@dataclass(frozen=True)
class AppendedBatch:
    """A batch appended to the source as a new DVC version."""

    source: Path
    batch: Path
    rows: int
    total: int
    left_in_project: bool = False  # the batch file is inside the project, untracked: its rows are in `source` now


def add_source(
    path: Path,
    target: str | None = None,
    positive: str | None = None,
    negative: str | None = None,
    drop: list[str] | None = None,
    keep: list[str] = (),
) -> AddedSource:
    """Make `path` the pipeline's source: copied under data/external/, tracked by DVC, its schema inferred and
    params.yaml's data section pointed at it. `drop` defaults to the current data.drop columns the file has and
    `keep` does not name; id-like columns not in `keep`, and columns that copy the target, are dropped too."""
    dvc_seam.require_repo()
    params = load_params()
    destination = Path(paths.EXTERNAL_DIR) / path.name
    check_source_file(path)
    check_destination(destination)
    check_not_an_output(path)
    check_table_file(path)
    frame = read_table(path)
    if drop is None:  # ids like `rownames` stay out of the features when the new file has them too
        drop = [column for column in params.data.drop if column in frame.columns and column not in keep]
    drop = list(dict.fromkeys(drop))  # `--drop a --drop a` is one column (data.drop refuses a name given twice)
    target = target or params.data.target
    dropped_ids = id_columns_to_drop(frame, target, drop, list(keep), str(path))
    drop += [column.name for column in dropped_ids]
    dropped_copies = target_copies_to_drop(frame, target, drop, list(keep), str(path))
    choice = SourceChoice(target, positive or params.data.positive_label, negative, drop + dropped_copies)
    schema = infer_source_schema(frame, choice, str(path))
    if LOAN_ID in schema["columns"]:
        raise UserError(
            f"{path}: column {LOAN_ID!r} would be a feature, but `{LOAN_ID}` names the loan in `mlops serve` requests "
            "and the prediction log (a client's loan id would be read as the feature)",
            hint=f"rename the column in the file (e.g. to {LOAN_ID}_group) and add it again; nothing was changed",
        )
    if not schema["columns"]:
        raise UserError(
            f"{path}: no feature column is left besides the target {choice.target!r} (dropped: {choice.drop})",
            hint="give a file with feature columns, or keep a dropped one with --keep-column NAME",
        )
    values = {
        "source": destination.as_posix(),
        "target": choice.target,
        "positive_label": choice.positive,
        "drop": choice.drop,
    }
    params_text = set_data_params(Path(PARAMS_FILE).read_text(encoding="utf-8"), values)
    new_params = params_from_text(params_text, PARAMS_FILE)
    if any(getattr(new_params.data, key) != value for key, value in values.items()):
        raise UserError(
            "params.yaml's data: section has a layout this command cannot edit",
            hint="write data.source, target, positive_label and drop each on one line",
        )
    check_nothing_unrecorded_at(destination, path)
    # Every check passed: write (data first, then the schema and params that point at it), all or nothing.
    moved = in_project(path) is not None and path.resolve() != destination.resolve()
    written = (destination, Path(f"{destination}.dvc"), destination.parent / ".gitignore")
    partials = (_partial(destination), _partial(Path(PARAMS_FILE)))  # journaled absent: a stop removes them
    journaled = (PARAMS_FILE, new_params.data.schema_path, *map(str, written + partials))
    journaled += (os.path.relpath(path),) if moved else ()
    with all_or_nothing("mlops data add", journaled, changes_index=True):  # it stages the pointer itself
        _copy_into_place(path, destination)
        removed_from_git = False
        if moved:  # left in the project, git would stage it and the data hook refuse the commit
            path.unlink()
            removed_from_git = dvc_seam.stop_tracking(in_project(path).as_posix())  # else committed data stays
        dvc_seam.add(destination.as_posix())
        write_schema(schema, new_params.data.schema_path)
        _write_atomically(Path(PARAMS_FILE), params_text)
    return AddedSource(
        destination=destination,
        rows=len(frame),
        features=len(schema["columns"]),
        target=choice.target,
        positive=choice.positive,
        schema_path=new_params.data.schema_path,
        dropped_ids=dropped_ids,
        dropped_copies=dropped_copies,
        moved_from=path if moved else None,
        removed_from_git=removed_from_git,
    )


def check_nothing_unrecorded_at(destination: Path, source: Path) -> None:
    """Refuse to overwrite a file at `destination` whose content exists nowhere else: not `source`'s bytes and not
    in DVC's cache (copied there by hand and never added, or a tracked file edited since): it would be lost."""
    if not destination.is_file() or destination.resolve() == source.resolve():
        return
    recorded = dvc_seam.tracked_objects().get(destination.as_posix())
    if kept_elsewhere(destination, dvc_seam.cache_files_dir(), path_md5(source), recorded):
        return  # the same bytes, those its `.dvc` pointer records (pushed, if no longer cached), or a cached copy
    raise UserError(
        f"{destination} holds other data that DVC has not recorded (its content is in no commit and not in the DVC "
        f"cache): adding {source} there would overwrite it",
        hint=f"record it first (`mlops data add {destination}`), or move it away, or give your file another name; "
        "nothing was changed",
    )


def id_columns_to_drop(
    frame: pd.DataFrame, target: str, drop: list[str], keep: list[str], source: str
) -> list[IdColumn]:
    """The id-like columns not already dropped or kept: an id as a feature only memorises rows."""
    columns = [str(column) for column in frame.columns]
    for name in keep:
        if name not in columns:
            raise UserError(
                f"{source}: {typed('--keep-column', name)}: no such column",
                hint=f"its columns are: {', '.join(columns)}",
            )
        if name in drop:
            raise UserError(
                f"{typed('--keep-column', name)} and {typed('--drop', name)} contradict", hint="give only one of them"
            )
    return [column for column in id_like_columns(frame, target) if column.name not in drop and column.name not in keep]


def target_copies_to_drop(frame: pd.DataFrame, target: str, drop: list[str], keep: list[str], source: str) -> list[str]:
    """The columns not already dropped that copy the target: never a feature, so `--keep-column` cannot keep one."""
    copies = [name for name in target_copies(frame, target) if name not in drop]
    kept = [name for name in copies if name in keep]
    if kept:
        raise UserError(
            f"{source}: {typed('--keep-column', kept[0])}: column {kept[0]!r} holds the target {target!r} row for row; "
            "a model trained on it would read the outcome it is to predict",
            hint=f"leave it dropped: run again without {option('--keep-column', kept[0])}",
        )
    return copies


def append_batch(path: Path) -> AppendedBatch:
    """Append the rows of `path` to the current source (a file added with `mlops data add`), after every check
    an append makes; the source's new version is tracked by DVC."""
    dvc_seam.require_repo()
    params = load_params()
    source = Path(params.data.source)
    if params.data.source.startswith(RDATASETS) or Path(paths.EXTERNAL_DIR) not in source.parents:
        raise UserError(
            f"data.source is {params.data.source!r}, not a file added with `mlops data add`",
            hint="add your dataset first: `mlops data add FILE --target COL --positive LABEL`",
        )
    schema = read_schema(params.data.schema_path)
    require_pulled(params.data.source)
    current = read_table(source)
    check_source_file(path)
    check_table_file(path)
    batch, combined = checked_append(current, read_table(path), schema, params.data.drop, str(source), str(path))
    write_new_version = _new_version_writer(source, current, batch, combined, str(path))
    partial = _partial(source)
    # The data comes back from the cache; the block stages the new pointer itself.
    with all_or_nothing("mlops data add --append", (f"{source}.dvc", str(partial)), changes_index=True):
        try:
            write_new_version(partial)
            os.replace(partial, source)
        finally:
            partial.unlink(missing_ok=True)
        dvc_seam.add(source.as_posix())
    inside = in_project(path)
    left = (
        inside is not None
        and not git.is_ignored(inside.as_posix())
        and not git.succeeds("ls-files", "--error-unmatch", "--", f":(literal){inside.as_posix()}")
    )
    return AppendedBatch(source=source, batch=path, rows=len(batch), total=len(combined), left_in_project=left)


def _new_version_writer(
    source: Path, current: pd.DataFrame, batch: pd.DataFrame, combined: pd.DataFrame, label: str
) -> Callable[[Path], None]:
    """What writes the source's new version to a path: a parquet file whole; a text table as its existing bytes with
    the batch's rows appended. What could refuse it is checked now, before anything is written."""
    if source.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        table = _parquet_table(combined, current, label)
        return lambda partial: pq.write_table(table, partial)
    open_for_append, rows = _append_opener(source), _text_rows(source, batch)

    def write(partial: Path) -> None:
        shutil.copyfile(source, partial)
        with open_for_append(partial, "ab") as handle:
            handle.write(rows)

    return write


# A gzip, bz2 or xz file appended to in its own format gains a member, which its readers (pandas' too) read on into.
APPEND_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def _append_opener(source: Path):
    """How rows are appended to the text table `source`: as it is compressed. A zip archive (and zstandard, which
    pandas reads only with a package the project lacks) is refused before anything is written."""
    suffix = source.suffix.lower()
    if suffix in APPEND_OPENERS:
        return APPEND_OPENERS[suffix]
    if suffix in (".zip", ".zst"):
        raise UserError(
            f"{source} is a {suffix} archive, which rows cannot be appended to",
            hint="unzip it, make the CSV it holds the source (`mlops data add FILE.csv`), then append the batch "
            "again; nothing was changed",
        )
    return open


def _text_rows(path: Path, batch: pd.DataFrame) -> bytes:
    """The batch's rows to append to the text table `path`, written as it is: its separator and line ends (and one
    to end its last line, if that has none)."""
    with table_bytes(path) as raw:
        first_line = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="").readline()
    with table_bytes(path) as raw:
        last = b""
        for block in iter(lambda: raw.read(1 << 20), b""):
            last = block
    line_end = first_line[len(first_line.rstrip("\r\n")) :] or "\n"
    rows = batch.to_csv(header=False, index=False, sep=text_separator(path, first_line) or ",", lineterminator=line_end)
    return (rows if last.endswith((b"\n", b"\r")) else line_end + rows).encode("utf-8")


def _parquet_table(combined: pd.DataFrame, current: pd.DataFrame, batch: str):
    """The appended data as a parquet table; a column whose cells the batch stores as another type than the source
    (`'1'` where the source has `1`, in a column read as text) cannot be one."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(combined, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        name = next(name for name in combined.columns if not _fits_parquet(combined[name]))
        raise UserError(
            f"{batch}: column {name!r} holds values of another type than the source's {current[name].dtype}",
            hint=f"store {name!r} in the batch as the source does ({current[name].dtype}); nothing was changed",
        ) from None


def _fits_parquet(values: pd.Series) -> bool:
    import pyarrow as pa

    try:
        pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _copy_into_place(source: Path, destination: Path) -> None:
    if source.resolve() == destination.resolve():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, _partial(destination))
    os.replace(_partial(destination), destination)


def _write_atomically(path: Path, text: str) -> None:
    _partial(path).write_text(text, encoding="utf-8")
    os.replace(_partial(path), path)


def _partial(path: Path) -> Path:
    """Where `path` is written before it is renamed into place, whole."""
    return path.with_name(path.name + ".partial")
