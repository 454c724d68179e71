"""Comparing two models honestly: DeLong's intervals, the loans neither model trained on, the words."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.experiments.compare import MIN_LOANS, Comparison, table_lines, unseen_mask
from pipeline.metrics import change_word, noise_band
from pipeline.monitoring.retrain import without_known_loans
from pipeline.training.auc import auc_interval, paired_auc_difference


def scored(n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    is_bad = rng.random(n) < 0.1
    p_a = rng.normal(0, 1, n) + 0.8 * is_bad
    p_b = p_a + rng.normal(0, 0.5, n) + 0.3 * is_bad  # correlated with a, a little better
    return is_bad, p_a, p_b


def test_delong_agrees_with_sklearn_and_with_a_paired_bootstrap():
    is_bad, p_a, p_b = scored()
    low, high = auc_interval(is_bad, p_a)
    assert low < roc_auc_score(is_bad, p_a) < high
    diff, low, high = paired_auc_difference(is_bad, p_b, p_a)
    assert diff == pytest.approx(roc_auc_score(is_bad, p_b) - roc_auc_score(is_bad, p_a))
    rng = np.random.default_rng(1)
    boot = []
    for _ in range(400):
        rows = rng.integers(0, len(is_bad), len(is_bad))
        boot.append(roc_auc_score(is_bad[rows], p_b[rows]) - roc_auc_score(is_bad[rows], p_a[rows]))
    assert (high - low) / 2 == pytest.approx(1.96 * np.std(boot), rel=0.2)
    # the same model twice: no difference and no width; ties are handled (midranks)
    assert paired_auc_difference(is_bad, np.round(p_a, 1), np.round(p_a, 1)) == (0.0, 0.0, 0.0)


def test_the_word_follows_the_interval_and_too_few_loans_decide_nothing():
    base = {"roc_auc": 0.75, "roc_auc_ci_low": 0.71, "roc_auc_ci_high": 0.79}
    better = Comparison("a", "b", 2000, 100, 0, base, base, 0.03, 0.01, 0.05)
    noise = Comparison("a", "b", 2000, 100, 0, base, base, -0.004, -0.02, 0.012)
    worse = Comparison("a", "b", 2000, 100, 0, base, base, -0.03, -0.05, -0.01)
    few = Comparison("a", "b", MIN_LOANS - 1, 50, 700)
    assert [c.word for c in (better, noise, worse)] == ["better", "within noise", "worse"]
    assert better.passes(None) and noise.passes(None) and not worse.passes(None)
    assert noise.default_tolerance() == pytest.approx(0.01)  # a quarter of the bootstrap half-width
    assert not noise.passes(0.001)
    assert few.passes(None) is None and "too few" in few.word
    assert "199 test loans" in few.too_few() and "700 test loans left out" in few.basis()


def test_the_plain_table_names_both_revisions_whole():
    """Its labels were cut to 20 characters: `champion b61e5dfe156f` lost the last digit of its commit id, and a
    branch such as `retrain/2026-01-01T00-00-00Z` its time."""
    base = {"roc_auc": 0.75, "roc_auc_ci_low": 0.71, "roc_auc_ci_high": 0.79, "brier": 0.04}
    labels = ("champion b61e5dfe156f", "retrain/2026-01-01T00-00-00Z")
    lines = table_lines(Comparison(*labels, 2000, 100, 0, base, {**base, "roc_auc": 0.76}, 0.01, -0.01, 0.03))
    assert all(label in lines[0] for label in labels), lines[0]
    assert len({len(line.rstrip().rsplit("  ", 1)[0]) for line in lines[1:]}) == 1  # the values still line up
    assert lines[1].split()[:4] == ["roc_auc", "0.7500", "0.7600", "+0.0100"]


def test_a_paired_difference_worse_by_exactly_the_tolerance_passes():
    base = {"roc_auc": 0.75, "roc_auc_ci_low": 0.71, "roc_auc_ci_high": 0.79}
    edge = Comparison("a", "b", 2000, 100, 0, base, base, 0.74 - 0.75, -0.03, 0.01)  # -0.010000000000000009
    assert edge.passes(0.01)
    assert not edge.passes(0.0099)


def test_change_words_use_the_noise_band():
    reference = {"roc_auc": 0.75, "roc_auc_ci_low": 0.71, "roc_auc_ci_high": 0.79, "pr_auc": 0.2, "brier": 0.05}
    assert change_word("pr_auc", -0.0003, noise_band("pr_auc", reference)) == "within noise"
    assert change_word("brier", -0.0001, noise_band("brier", reference)) == "within noise"
    assert change_word("brier", -0.01, noise_band("brier", reference)) == "better"
    assert change_word("roc_auc", -0.03, noise_band("roc_auc", reference)) == "within noise"
    assert change_word("roc_auc", -0.05, noise_band("roc_auc", reference)) == "worse"
    assert change_word("roc_auc", 0.0, 0.01) == "unchanged"


def test_unseen_loans_are_those_in_no_training_frame_whatever_the_dtypes():
    test = pd.DataFrame({"amount": [1, 2, 3, 4], "grade": ["A", "B", "A", "C"], "status": ["bad", "good"] * 2})
    trained = pd.DataFrame({"status": ["good", "bad"], "amount": [2.0, 3.0], "grade": ["B", "B"]})
    assert unseen_mask(test, [trained]).tolist() == [True, False, True, True]
    assert unseen_mask(test, []).all()


def test_loans_already_in_the_data_are_left_out_of_a_retrain_batch():
    current = pd.DataFrame({"rownames": [1, 2, 3], "amount": [10, 20, 30], "status": ["good", "bad", "good"]})
    batch = pd.DataFrame(
        {"rownames": [None, None, None, None], "amount": [20, 20, 40, 40], "status": ["bad", "good", "bad", "bad"]}
    )
    kept, repeated = without_known_loans(batch, current, ["rownames"])
    assert repeated == 2  # (20, bad) is in the data; the second (40, bad) repeats the first
    assert kept[["amount", "status"]].values.tolist() == [[20, "good"], [40, "bad"]]
