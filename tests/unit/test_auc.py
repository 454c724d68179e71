"""The ROC AUC and DeLong's intervals against scikit-learn, the exact fraction, a direct O(n^2) DeLong and a
bootstrap."""

from fractions import Fraction

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.training.auc import auc_and_variance, auc_interval, midranks, paired_auc_difference, roc_auc


def scored_loans(n: int, seed: int, ties: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated models' scores; rounded so exact ties occur."""
    rng = np.random.default_rng(seed)
    is_bad = rng.random(n) < 0.25
    signal = is_bad * 0.4 + rng.random(n)
    p_a = signal + rng.normal(0, 0.2, n)
    p_b = signal + rng.normal(0, 0.4, n)
    if ties:
        p_a, p_b = p_a.round(1), p_b.round(1)
    return is_bad, p_a, p_b


def direct_delong(is_bad: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """DeLong's placements from the definition: every bad loan against every good one."""
    bad, good = scores[is_bad], scores[~is_bad]
    psi = (bad[:, None] > good[None, :]) + 0.5 * (bad[:, None] == good[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def test_midranks_average_tied_ranks():
    assert midranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


@pytest.mark.parametrize("ties", [True, False])
def test_auc_equals_sklearn_and_variance_equals_the_direct_definition(ties):
    is_bad, p_a, _ = scored_loans(300, seed=1, ties=ties)
    auc, variance = auc_and_variance(is_bad, p_a)
    assert auc == pytest.approx(roc_auc_score(is_bad, p_a), abs=1e-12)
    direct_auc, v10, v01 = direct_delong(is_bad, p_a)
    assert auc == pytest.approx(direct_auc, abs=1e-12)
    assert variance == pytest.approx(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01), rel=1e-10)
    low, high = auc_interval(is_bad, p_a)
    assert (low + high) / 2 == pytest.approx(auc, abs=1e-12)
    assert high - low == pytest.approx(2 * 1.959964 * variance**0.5, rel=1e-6)
    narrower = auc_interval(is_bad, p_a, level=0.5)
    assert low < narrower[0] < auc < narrower[1] < high


def test_interval_and_paired_difference_agree_with_a_bootstrap():
    is_bad, p_a, p_b = scored_loans(400, seed=2)
    rng = np.random.default_rng(3)
    aucs, differences = [], []
    for _ in range(1000):
        rows = rng.integers(0, len(is_bad), len(is_bad))
        a = roc_auc_score(is_bad[rows], p_a[rows])
        aucs.append(a)
        differences.append(a - roc_auc_score(is_bad[rows], p_b[rows]))
    low, high = auc_interval(is_bad, p_a)
    assert (high - low) / 2 == pytest.approx(1.96 * np.std(aucs), rel=0.1)
    difference, diff_low, diff_high = paired_auc_difference(is_bad, p_a, p_b)
    assert difference == pytest.approx(roc_auc_score(is_bad, p_a) - roc_auc_score(is_bad, p_b), abs=1e-12)
    assert (diff_high - diff_low) / 2 == pytest.approx(1.96 * np.std(differences), rel=0.1)
    # pairing: narrower than the sum of the two separate half-widths
    separate_b = auc_interval(is_bad, p_b)
    assert diff_high - diff_low < (high - low) + (separate_b[1] - separate_b[0])


def test_paired_difference_of_a_model_with_itself_is_exactly_zero():
    is_bad, p_a, _ = scored_loans(200, seed=4)
    assert paired_auc_difference(is_bad, p_a, p_a) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("ties", [True, False])
def test_roc_auc_is_the_exact_fraction_in_any_order_and_equals_sklearn(ties):
    is_bad, p_a, _ = scored_loans(2000, seed=5, ties=ties)
    bad, good = p_a[is_bad], p_a[~is_bad]
    outranked = sum(Fraction(int((b > good).sum())) + Fraction(int((b == good).sum()), 2) for b in bad)
    exact = outranked / (len(bad) * len(good))
    auc = roc_auc(is_bad, p_a)
    assert auc == float(exact)  # rounded once: no summation order can move its last bit
    assert auc == pytest.approx(roc_auc_score(is_bad, p_a), abs=1e-12)
    order = np.random.default_rng(6).permutation(len(p_a))
    assert roc_auc(is_bad[order], p_a[order]) == auc
    assert roc_auc(is_bad.astype(int), p_a.tolist()) == auc


def test_roc_auc_refuses_one_class_missing_scores_and_unequal_lengths():
    with pytest.raises(ValueError, match="both classes, got 3 bad and 0 good"):
        roc_auc(np.ones(3, dtype=bool), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="finite scores, got 1 missing or infinite"):
        roc_auc(np.array([True, False, False]), np.array([0.9, np.nan, 0.1]))
    with pytest.raises(ValueError, match="one length"):
        roc_auc(np.array([True, False]), np.array([0.9, 0.5, 0.1]))


def test_one_class_only_is_refused_clearly():
    with pytest.raises(ValueError, match="both classes, got 0 bad and 3 good"):
        auc_interval(np.zeros(3, dtype=bool), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        auc_interval(np.array([True, False]), np.array([0.9, 0.1]), level=95)
