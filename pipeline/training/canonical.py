"""Canonical floating-point results: what a stage writes must not depend on the processor, its BLAS kernel or
thread counts, which move the last bits of a fitted model (about 1e-14 relative between x86 kernels).

- `round_fitted_state` rounds every fitted float of a model (any scikit-learn estimator, and the objects it
  holds, such as a gradient-boosting tree's node table) to `KEPT_BITS` bits of mantissa, in place.
  Constructor params (`get_params(deep=False)`) and fitted label or category sets (`EXACT_STATE`) stay
  exact. Train rounds before it predicts anything, so the model in memory is the model written, and
  evaluate scores that file.
- `canonical_probabilities` puts predicted probabilities on a fixed grid, so last-bit noise in a prediction
  neither changes a printed metric nor makes or breaks a tie.
- `short_between` picks the shortest decimal strictly between two numbers: a decision threshold that is not
  itself one of the (noisy) probabilities it separates.

See docs/determinism.md for the precision chosen and the chance that a value sits on a rounding boundary.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

KEPT_BITS = 24  # of float64's 52 mantissa bits: 6e-8 relative, far above kernel noise, far below model error
SNAP_BITS = 40  # a value less than 2**-40 relative above a kept value is that value (absorbs kernel noise)
_DROPPED = 52 - KEPT_BITS
_STEP = np.uint64(1 << _DROPPED)
_SNAP = np.uint64(1 << (52 - SNAP_BITS))
_MASK = ~(_STEP - np.uint64(1))
_SIGN = np.uint64(1 << 63)
_EXPONENT = np.uint64(0x7FF << 52)
PROBABILITY_DECIMALS = 10
# Fitted label and category sets are data values matched by equality, never computed: they stay exact.
EXACT_STATE = frozenset({"classes_", "categories_", "known_categories"})
_NOT_STATE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def round_floats(values: np.ndarray) -> np.ndarray:
    """float64 values on a grid of `KEPT_BITS` mantissa bits: the lowest grid value at or above value - delta,
    delta being 2**-SNAP_BITS relative. Upward, so that a split `x <= threshold` learnt at a data value keeps
    that value on its side; zeros, subnormals, inf and nan unchanged."""
    values = np.asarray(values, dtype=np.float64)
    bits = np.ascontiguousarray(values).reshape(-1).view(np.uint64)
    exponent = bits & _EXPONENT
    normal = (exponent != 0) & (exponent != _EXPONENT)
    negative = (bits & _SIGN) != 0
    with np.errstate(over="ignore"):
        up = (bits - _SNAP + _STEP - np.uint64(1)) & _MASK  # positive: ceil of the magnitude
        down = (bits + _SNAP) & _MASK  # negative: floor of the magnitude (the sign bit is untouched)
    rounded = np.where(normal, np.where(negative, down, up), bits)
    return rounded.view(np.float64).reshape(values.shape)


def _round_array(array: np.ndarray) -> None:
    if array.dtype == np.float64:
        array[...] = round_floats(array)
    elif array.dtype.names:  # a structured array: round its float64 fields
        for name in array.dtype.names:
            if array.dtype.fields[name][0] == np.float64:
                array[name] = round_floats(array[name])


def _canonical(node: Any, seen: set[int], exact: bool) -> Any:
    """`node` with its fitted floats rounded: arrays in place, Python floats, tuples and read-only arrays as new
    objects. With `exact` (a constructor param), only the objects found inside have their own state rounded."""
    if isinstance(node, float):
        return node if exact or not np.isfinite(node) else type(node)(round_floats(np.float64(node)))
    if isinstance(node, (str, bytes, int, type(None), *_NOT_STATE)) or id(node) in seen:
        return node
    seen.add(id(node))
    if isinstance(node, np.ndarray):
        if exact:
            return node
        array = node if node.flags.writeable else node.copy()  # a loaded model's arrays may be read-only
        _round_array(array)
        return array
    if isinstance(node, list):
        node[:] = [_canonical(item, seen, exact) for item in node]
        return node
    if isinstance(node, tuple):
        items = [_canonical(item, seen, exact) for item in node]
        if all(a is b for a, b in zip(items, node, strict=True)):
            return node
        return type(node)(*items) if hasattr(node, "_fields") else type(node)(items)  # a namedtuple, or not
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _canonical(value, seen, exact)
        return node
    if hasattr(node, "__dict__"):
        params = set(node.get_params(deep=False)) if hasattr(node, "get_params") else set()
        for key, value in vars(node).items():
            new = _canonical(value, seen, key in params or key in EXACT_STATE)
            if new is not value:
                object.__setattr__(node, key, new)
    return node


def round_fitted_state(model: Any) -> Any:
    """Round, in place, every fitted float of `model` and of the objects it holds; return the model."""
    return _canonical(model, set(), exact=False)


def canonical_probabilities(p: np.ndarray) -> np.ndarray:
    """Probabilities on a grid of 1e-10: last-bit noise (~1e-16) lands on the same grid point."""
    return np.round(np.asarray(p, dtype=np.float64), PROBABILITY_DECIMALS)


def short_between(low: float, high: float) -> float:
    """The decimal with the fewest digits strictly between `low` and `high` (low < high)."""
    middle = (low + high) / 2
    for digits in range(18):
        candidate = round(middle, digits)
        if low < candidate < high:
            return candidate
    return middle
