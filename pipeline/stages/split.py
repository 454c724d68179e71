"""split: a stratified, seeded train/validation/test split.

The test rows depend only on the seed, the test size and the data, never on the subset fraction: subset runs
sample the training split later, in `train`, so every run is judged on the same full test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import paths
from pipeline.errors import UserError, run_reporting_user_errors
from pipeline.params import load_params


def split(
    frame: pd.DataFrame, target: str, test_size: float, validation_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, validation, test): each class shuffled with the seed and cut at the same fractions."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for label in sorted(frame[target].unique(), key=str):
        rows = np.flatnonzero((frame[target] == label).to_numpy())
        rows = rows[rng.permutation(len(rows))]
        n_test = round(len(rows) * test_size)
        n_validation = round(len(rows) * validation_size)
        if len(rows) - n_test - n_validation < 1 or n_test < 1 or n_validation < 1:
            raise UserError(
                f"label {label!r} of {target!r} has only {len(rows)} rows: too few for a train/validation/test split",
                hint="add more data, or lower split.test_size / split.validation_size",
            )
        parts["test"].append(rows[:n_test])
        parts["validation"].append(rows[n_test : n_test + n_validation])
        parts["train"].append(rows[n_test + n_validation :])
    train, validation, test = (
        frame.iloc[np.sort(np.concatenate(parts[name]))].reset_index(drop=True)
        for name in ("train", "validation", "test")
    )
    return train, validation, test


def main() -> None:
    params = load_params()
    frame = pd.read_parquet(paths.RAW)
    Path(paths.SPLIT_DIR).mkdir(parents=True, exist_ok=True)
    parts = split(frame, params.data.target, params.split.test_size, params.split.validation_size, params.seed)
    for part, path in zip(parts, (paths.TRAIN, paths.VALIDATION, paths.TEST), strict=True):
        part.to_parquet(path, index=False)


if __name__ == "__main__":
    run_reporting_user_errors(main)
