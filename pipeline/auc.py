"""ROC AUC intervals by DeLong's method: one model's AUC, and the paired difference of two models' AUCs on the
same loans. O(n log n) (midranks), no resampling, so a comparison costs about as much as scoring.

DeLong, DeLong and Clarke-Pearson (1988), "Comparing the areas under two or more correlated receiver operating
characteristic curves: a nonparametric approach"; midrank form of Sun and Xu (2014).
"""

from __future__ import annotations

import numpy as np


def _components(is_bad: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(AUC per model, V10 per model x bad loan, V01 per model x good loan) for scores of shape (models, loans)."""
    from scipy.stats import rankdata

    is_bad = np.asarray(is_bad, dtype=bool)
    bad, good = scores[:, is_bad], scores[:, ~is_bad]
    m, n = bad.shape[1], good.shape[1]
    if m == 0 or n == 0:
        raise ValueError("an ROC AUC needs loans of both classes")
    combined = rankdata(np.concatenate([bad, good], axis=1), axis=1)
    v10 = (combined[:, :m] - rankdata(bad, axis=1)) / n
    v01 = 1.0 - (combined[:, m:] - rankdata(good, axis=1)) / m
    return v10.mean(axis=1), v10, v01


def _covariance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(v10), len(v10)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(v01), len(v01)))
    return s10 / m + s01 / n


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def auc_interval(is_bad, p_bad, level: float = 0.95) -> tuple[float, float, float]:
    """(ROC AUC, low, high): DeLong's interval at `level`, clipped to [0, 1]."""
    auc, v10, v01 = _components(is_bad, np.asarray(p_bad, dtype=float)[None, :])
    half = _z(level) * float(np.sqrt(max(_covariance(v10, v01)[0, 0], 0.0)))
    return float(auc[0]), max(0.0, float(auc[0]) - half), min(1.0, float(auc[0]) + half)


def paired_auc_difference(is_bad, p_a, p_b, level: float = 0.95) -> tuple[float, float, float]:
    """(AUC of b minus AUC of a, low, high) on the same loans: DeLong's paired interval at `level`."""
    scores = np.vstack([np.asarray(p_a, dtype=float), np.asarray(p_b, dtype=float)])
    auc, v10, v01 = _components(is_bad, scores)
    cov = _covariance(v10, v01)
    diff = float(auc[1] - auc[0])
    half = _z(level) * float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
    return diff, diff - half, diff + half
