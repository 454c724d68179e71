"""The ROC AUC, and its intervals by DeLong's method: exact variance of the Mann-Whitney AUC, no resampling.

DeLong, DeLong and Clarke-Pearson (1988), computed in O(n log n) through midranks (Sun and Xu, 2014): each
loan's placement (the share of the other class it outranks, ties counting half) is a difference of its midrank
among all loans and among its own class. Exact ties are midranks, so the AUC equals scikit-learn's
`roc_auc_score`. Only numpy and the standard library, so light callers stay light.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    group_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def roc_auc(is_bad: np.ndarray, scores: np.ndarray) -> float:
    """The ROC AUC as Mann-Whitney's statistic from one ranking: the rank sums are exact in floating point, so the
    result is the exact fraction rounded once, on any machine (scikit-learn's sums the curve's trapezoids), and it
    costs no input checks (permutation importance asks for about a hundred)."""
    is_bad, scores, bad, good = _both_classes(is_bad, scores)
    if not np.isfinite(scores).all():
        raise ValueError(f"an AUC needs finite scores, got {int((~np.isfinite(scores)).sum())} missing or infinite")
    bad_rank_sum = float(midranks(scores)[is_bad].sum())
    return (bad_rank_sum - bad * (bad + 1) / 2) / (bad * good)


def _both_classes(is_bad, scores) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(is_bad as booleans, scores as floats, how many bad, how many good), refusing inputs no AUC comes from."""
    is_bad, scores = np.asarray(is_bad, dtype=bool), np.asarray(scores, dtype=float)
    if is_bad.shape != scores.shape or is_bad.ndim != 1:
        raise ValueError(f"is_bad and scores must be 1-d of one length, got {is_bad.shape} and {scores.shape}")
    bad = int(is_bad.sum())
    if bad == 0 or bad == len(is_bad):
        raise ValueError(f"an AUC needs both classes, got {bad} bad and {len(is_bad) - bad} good loans")
    return is_bad, scores, bad, len(is_bad) - bad


def placements(is_bad: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The AUC and DeLong's structural components: for each bad loan the share of good loans it outranks,
    for each good loan the share of bad loans that outrank it (ties half)."""
    is_bad, scores, m, n = _both_classes(is_bad, scores)
    bad, good = scores[is_bad], scores[~is_bad]
    overall = midranks(np.concatenate([bad, good]))
    bad_components = (overall[:m] - midranks(bad)) / n
    good_components = 1.0 - (overall[m:] - midranks(good)) / m
    return float(bad_components.mean()), bad_components, good_components


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def _variance(bad_a, good_a, bad_b=None, good_b=None) -> float:
    """Var(AUC_a) or, given b, Var(AUC_a - AUC_b) from the structural components (sample covariances)."""
    if bad_b is not None:
        bad_a, good_a = bad_a - bad_b, good_a - good_b
    bad_var = float(np.var(bad_a, ddof=1)) if len(bad_a) > 1 else 0.0
    good_var = float(np.var(good_a, ddof=1)) if len(good_a) > 1 else 0.0
    return bad_var / len(bad_a) + good_var / len(good_a)


def auc_and_variance(is_bad: np.ndarray, p_bad: np.ndarray) -> tuple[float, float]:
    """The ROC AUC and its DeLong variance."""
    auc, bad, good = placements(is_bad, p_bad)
    return auc, _variance(bad, good)


def auc_interval(is_bad: np.ndarray, p_bad: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """A two-sided DeLong interval of the ROC AUC at `level`, clipped to [0, 1]."""
    auc, variance = auc_and_variance(is_bad, p_bad)
    half_width = _z(level) * variance**0.5
    return max(0.0, auc - half_width), min(1.0, auc + half_width)


def paired_auc_difference(
    is_bad: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """AUC of `p_a` minus AUC of `p_b` scored on the same loans, with DeLong's paired interval at `level`.

    The pairing (the covariance of the two models' placements) makes this much narrower than comparing two
    separate intervals: an interval excluding 0 means the difference is not noise at that level.
    """
    auc_a, bad_a, good_a = placements(is_bad, p_a)
    auc_b, bad_b, good_b = placements(is_bad, p_b)
    difference = auc_a - auc_b
    half_width = _z(level) * _variance(bad_a, good_a, bad_b, good_b) ** 0.5
    return difference, max(-1.0, difference - half_width), min(1.0, difference + half_width)
