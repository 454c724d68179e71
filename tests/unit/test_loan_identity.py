"""A loan's identity is the hash of its text as the split module documents it: the fast implementation (each
distinct value formatted once, the texts joined by Arrow) gives exactly that, so no loan changes side."""

import numpy as np
import pandas as pd
import pytest

from pipeline.training.sources import IDENTITY_KEY, float_texts, loan_identity
from tests.e2e.data_helpers import lending_frame


def identity_by_definition(frame: pd.DataFrame) -> np.ndarray:
    """The rule, cell by cell: numbers as Python prints them as floats, other values as `str` does, missing
    empty, each after a unit separator, columns in name order; the text hashed with the project's key."""
    text = pd.Series("", index=frame.index, dtype=object)
    for name in sorted(frame.columns, key=str):
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            cells = pd.to_numeric(values, errors="coerce").astype("float64").astype(str).where(values.notna(), "")
        else:
            cells = values.astype(str).where(values.notna(), "")
        text = text + "\x1f" + cells
    return pd.util.hash_pandas_object(text, index=False, hash_key=IDENTITY_KEY).to_numpy()


def tricky_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [5, 5, 7, -3, 0, 2**53 + 1],
            "rate": [0.1, 0.1, -0.0, 0.0, np.nan, 1e16],
            "nullable": pd.array([1, None, 1, 2, None, 3], dtype="Int64"),
            "flag": [True, False, True, True, False, False],
            "grade": pd.array(["A", None, "A", "ß", "", "A"], dtype="string"),
            "mixed": pd.Series([5, 5.0, "5", None, "x", 1.5], dtype=object),
            "state": pd.Categorical(["CA", "NY", "CA", None, "NY", "TX"]),
        }
    )


@pytest.mark.parametrize("frame", [tricky_frame(), lending_frame().head(3000), tricky_frame().head(0)])
def test_identity_is_the_documented_hash_of_each_loans_text(frame):
    assert np.array_equal(loan_identity(frame), identity_by_definition(frame))


def test_equal_content_is_one_identity_whatever_the_dtype_order_or_position():
    frame = tricky_frame()
    as_floats = frame.assign(amount=frame["amount"].astype("float64"))[list(reversed(frame.columns))]
    assert np.array_equal(loan_identity(as_floats.iloc[::-1]), loan_identity(frame)[::-1])
    signed_zeros = loan_identity(pd.DataFrame({"rate": [0.0, -0.0, 0.0], "grade": ["A", "A", "A"]}))
    assert signed_zeros[0] == signed_zeros[2] != signed_zeros[1]  # -0.0 and 0.0 print differently, as before
    assert len(set(loan_identity(lending_frame()))) > 0.99 * len(lending_frame())


def test_floats_are_written_as_python_writes_them_at_every_magnitude():
    rng = np.random.default_rng(7)
    any_bits = rng.integers(0, 2**63, 200_000, dtype=np.int64) | (rng.integers(0, 2, 200_000) << 63)
    values = np.concatenate(
        [
            any_bits.view(np.float64),  # every exponent, with NaN and infinities among them
            np.round(rng.lognormal(10, 3, 200_000), 2),  # amounts, many of them whole
            10.0 ** np.arange(-30, 30),
            -(10.0 ** np.arange(-30, 30)),
            [0.0, -0.0, 1e16 - 2, 1e16, 9.999e-5, 1e-4, 1e-5, 1.5e-5, 1e15, 123456789012345.6, 2.0**53 + 2],
        ]
    )
    assert float_texts(values).to_pylist() == [str(value) for value in values.tolist()]
