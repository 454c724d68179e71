"""Canonical floats: a model whose fitted floats moved by more than BLAS kernels move them writes the same bytes;
thresholds and derived outputs do not hinge on the last bits of a probability."""

import copy
import hashlib

import numpy as np
import pytest

from pipeline.training.canonical import (
    EXACT_STATE,
    canonical_probabilities,
    round_fitted_state,
    round_floats,
    short_between,
)
from pipeline.training.model import choose_threshold
from pipeline.training.model_file import dump_model
from tests.unit.test_model_io import fitted  # noqa: F401  (a fixture: both model kinds, fitted)

KERNEL_NOISE = 1e-13  # a little above the ~1e-14 relative measured between x86 BLAS kernels


def perturb(node, rng, seen=None) -> int:
    """Move every float64 array (and float field of a structured array) reachable from `node`, and every
    float attribute named like fitted state (`coef_`), by KERNEL_NOISE relative, in place; return the count."""
    seen = set() if seen is None else seen
    if id(node) in seen or isinstance(node, str | bytes | int | type):
        return 0
    seen.add(id(node))
    if isinstance(node, np.ndarray):
        fields = node.dtype.names or ([None] if node.dtype == np.float64 else [])
        count = 0
        for name in fields:
            view = node if name is None else node[name]
            if view.dtype != np.float64:
                continue
            noisy = view * (1 + KERNEL_NOISE * rng.choice([-1.0, 1.0], view.shape))
            if name is None:
                node[...] = noisy
            else:
                node[name] = noisy
            count += int(np.sum(np.isfinite(view) & (view != 0)))
        return count
    if isinstance(node, list | tuple):
        return sum(perturb(item, rng, seen) for item in node)
    if isinstance(node, dict):
        return sum(perturb(item, rng, seen) for item in node.values())
    count = 0
    for key, value in getattr(node, "__dict__", {}).items():
        if key in EXACT_STATE:  # category and label sets are data, never computed: no kernel moves them
            seen.update(id(item) for item in [value, *(value if isinstance(value, list) else [])])
            continue
        if isinstance(value, float) and key.endswith("_") and value != 0:
            setattr(node, key, value * (1 + KERNEL_NOISE))
            count += 1
        else:
            count += perturb(value, rng, seen)
    return count


def md5(model) -> str:
    return hashlib.md5(dump_model(model, {"threshold": 0.2})).hexdigest()


def test_fitted_floats_moved_by_kernel_noise_write_the_same_bytes(fitted):  # noqa: F811
    model, _ = fitted
    noisy = copy.deepcopy(model)
    assert perturb(noisy, np.random.default_rng(0)) > 10
    assert md5(noisy) != md5(model)  # the noise is real: without rounding the bytes differ
    assert md5(round_fitted_state(noisy)) == md5(round_fitted_state(model))


def test_rounding_keeps_constructor_params_exact_and_predictions_close(fitted):  # noqa: F811
    model, features = fitted
    before = model.predict_proba(features)
    params = {key: value for key, value in model.get_params(deep=True).items() if isinstance(value, float)}
    round_fitted_state(model)
    after = {key: value for key, value in model.get_params(deep=True).items() if isinstance(value, float)}
    assert after.keys() == params.keys()
    assert all(after[key] == params[key] or np.isnan(params[key]) for key in params)
    np.testing.assert_allclose(model.predict_proba(features), before, rtol=1e-5)


def test_numeric_categories_still_match_after_rounding():
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(handle_unknown="ignore").fit(np.array([[0.1], [0.7]]))
    round_fitted_state(encoder)
    assert encoder.transform(np.array([[0.1], [0.7]])).toarray().tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_round_floats_keeps_24_bits_upward_and_leaves_specials_alone():
    values = np.array([1.0, 5915.0, 0.0, np.inf, -np.inf, 0.1, -0.1, 10.62, np.nan])
    rounded = round_floats(values)
    np.testing.assert_array_equal(rounded[:5], values[:5])  # values the grid holds stay exact
    assert np.isnan(rounded[8])
    assert (rounded[5:8] > values[5:8]).all()  # upward: a split `x <= 10.62` still holds 10.62
    assert (rounded[5:8] / values[5:8] - 1 < 2**-23).all()
    assert (rounded[5:8].view(np.uint64) & np.uint64(2**28 - 1) == 0).all()  # the 28 low mantissa bits are 0
    np.testing.assert_array_equal(round_floats(rounded), rounded)  # idempotent


def test_threshold_is_a_short_decimal_strictly_between_two_probabilities():
    rng = np.random.default_rng(1)
    is_bad = rng.random(500) < 0.15
    p_bad = np.clip(is_bad * 0.2 + rng.random(500) * 0.8, 0, 1)
    threshold = choose_threshold(is_bad, p_bad, 5.0, 1.0)
    assert threshold not in set(p_bad)
    below, above = p_bad[p_bad < threshold].max(), p_bad[p_bad > threshold].min()
    assert len(repr(threshold)) <= len(repr(float(below))) and below < threshold < above
    for noise in (1e-15, -1e-15):  # last-bit noise in the probabilities leaves the threshold as it was
        assert choose_threshold(is_bad, p_bad * (1 + noise), 5.0, 1.0) == threshold


@pytest.mark.parametrize(("low", "high", "expected"), [(0.17276, 0.1728, 0.17278), (0.1, 0.3, 0.2), (0.5, 2.0, 1.0)])
def test_short_between(low, high, expected):
    assert short_between(low, high) == expected


def test_canonical_probabilities_absorb_last_bit_noise():
    p = np.random.default_rng(2).random(10_000)
    noisy = p * (1 + 1e-15 * np.random.default_rng(3).choice([-1.0, 1.0], p.size))
    assert (canonical_probabilities(noisy) == canonical_probabilities(p)).mean() > 0.999
