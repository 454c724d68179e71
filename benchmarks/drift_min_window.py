"""Measure the smallest traffic window `mlops monitor drift` can judge: the PSI that undrifted samples of the real
data show by chance, per window size. Samples (with replacement) of the held-out splits (validation + test) are
compared with the training split; the minimum window is the smallest size whose 95th-percentile PSI on the
noisiest feature stays below the PSI threshold.

    python benchmarks/drift_min_window.py [--repeats 200]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pipeline import paths
from pipeline.monitoring.drift import minimum_window, noise_psi
from pipeline.params import load_monitor
from pipeline.training.model_file import load_model

SIZES = (200, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    _, metadata = load_model(paths.MODEL)
    features = metadata["features"]
    train = pd.read_parquet(paths.TRAIN)
    pool = pd.concat([pd.read_parquet(paths.VALIDATION), pd.read_parquet(paths.TEST)], ignore_index=True)
    threshold = load_monitor().psi_threshold
    by_size = {}
    print(f"{'size':>6} {'p95 PSI (noisiest)':>20}  feature        median of that feature")
    for size in SIZES:
        noise = noise_psi(train, pool, features, size, args.repeats, seed=size)
        by_size[size] = noise
        worst = max(noise, key=lambda name: np.quantile(noise[name], 0.95))
        p95 = np.quantile(noise[worst], 0.95)
        print(f"{size:>6} {p95:>20.3f}  {worst:<14} {np.median(noise[worst]):.3f}")
    print(f"minimum window at PSI threshold {threshold}: {minimum_window(by_size, threshold)} loans")


if __name__ == "__main__":
    main()
