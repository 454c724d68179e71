"""split: a seeded train/validation/test split that is stable across data versions.

A loan's side depends only on its identity and the seed, never on the other rows: appending a batch never moves
an existing loan, so a model's test loans stay unseen by every later model trained on the same seed. The identity
is the loan's content (every column ingest kept, target included, in name order, numbers compared as
numbers): ids are dropped before the split, and exact duplicate rows are then one loan, always on one side.

Each loan draws a number in [0, 1) from a hash of its identity and the seed, and the draws are cut at the split
fractions, so each side's share converges to its fraction as data grows (with a binomial spread of about
sqrt(f (1 - f) / n)), in each class alike. Subset runs sample the training split later, in `train`, so every
run is judged on the same full test split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import paths
from pipeline.errors import UserError, run_reporting_user_errors
from pipeline.params import load_params
from pipeline.training.sources import loan_identity


def side_draws(identity: np.ndarray, seed: int) -> np.ndarray:
    """A number in [0, 1) per loan from its identity and the seed (splitmix64 of the two: every bit of both
    reaches the result, so another seed is another, independent draw)."""
    word = np.uint64(int(hashlib.md5(str(seed).encode()).hexdigest()[:16], 16))
    with np.errstate(over="ignore"):
        z = (identity.astype(np.uint64) ^ word) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def split(
    frame: pd.DataFrame, target: str, test_size: float, validation_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, validation, test): each loan on the side its draw falls in, rows in their original order."""
    draws = side_draws(loan_identity(frame), seed)
    sides = np.where(draws < test_size, 2, np.where(draws < test_size + validation_size, 1, 0))
    for label in sorted(frame[target].unique(), key=str):
        counts = np.bincount(sides[(frame[target] == label).to_numpy()], minlength=3)
        if counts.min() < 1:
            raise UserError(
                f"label {label!r} of {target!r} has only {counts.sum()} rows: too few for a train/validation/test "
                f"split (train {counts[0]}, validation {counts[1]}, test {counts[2]})",
                hint="add more data, or lower split.test_size / split.validation_size",
            )
    return tuple(frame[sides == side].reset_index(drop=True) for side in (0, 1, 2))


def main() -> None:
    params = load_params()
    frame = pd.read_parquet(paths.RAW)
    Path(paths.SPLIT_DIR).mkdir(parents=True, exist_ok=True)
    parts = split(frame, params.data.target, params.split.test_size, params.split.validation_size, params.seed)
    for part, path in zip(parts, (paths.TRAIN, paths.VALIDATION, paths.TEST), strict=True):
        part.to_parquet(path, index=False)


if __name__ == "__main__":
    run_reporting_user_errors(main)
