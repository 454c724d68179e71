"""Permutation importance: how much the test ROC AUC drops when one feature's values are shuffled among the loans.

The numbers are scikit-learn's `permutation_importance` (the same shuffles from the same seed, the same score), but
the loans are encoded once. This project's encoders turn each feature into output columns of its own, loan by
loan, so shuffling a feature's values shuffles the rows of its output columns: only the classifier runs per
shuffle (re-encoding every loan for each of the features × repeats shuffles was most of evaluate's time). An
encoder not known to work that way gets scikit-learn's own computation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

Score = Callable[[Any, Any, np.ndarray], float]  # (estimator, its input, is_bad) -> score


def mean_drops(model, frame: pd.DataFrame, is_bad: np.ndarray, repeats: int, seed: int, score: Score) -> np.ndarray:
    """Each column of `frame`'s mean drop in `score` of `model` over `repeats` shuffles."""
    blocks = output_blocks(model, list(frame.columns))
    encoded = model[:-1].transform(frame) if blocks is not None else None
    if blocks is None or not _rows_can_be_taken(encoded):
        from sklearn.inspection import permutation_importance

        result = permutation_importance(model, frame, is_bad, scoring=score, n_repeats=repeats, random_state=seed)
        return result.importances_mean
    classifier = model[-1]
    baseline = score(classifier, encoded, is_bad)
    feature_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)  # as scikit-learn draws it
    drops = []
    for block in blocks:
        if block is None:  # a feature the model does not read: shuffling it changes nothing
            drops.append(0.0)
            continue
        shuffles, shuffle, order = np.random.RandomState(feature_seed), np.arange(len(frame)), np.arange(len(frame))
        scores = []
        for _ in range(repeats):
            shuffles.shuffle(shuffle)
            order = order[shuffle]  # scikit-learn shuffles the already shuffled column again
            scores.append(score(classifier, with_rows(encoded, block, order), is_bad))
        drops.append(np.mean(baseline - np.array(scores)))
    return np.array(drops)


def _rows_can_be_taken(encoded) -> bool:
    """A dense array, or a CSR matrix in canonical order (as scikit-learn's encoders write it)."""
    if isinstance(encoded, np.ndarray):
        return True
    return getattr(encoded, "format", None) == "csr" and encoded.has_sorted_indices


def with_rows(encoded, block: slice, order: np.ndarray):
    """`encoded` with the columns of `block` taken from rows `order`: what encoding the loans with one feature's
    values so shuffled gives, entry for entry (a sparse matrix keeps its canonical order, so sums run alike)."""
    if not isinstance(encoded, np.ndarray):
        from scipy import sparse

        shuffled = encoded[order]
        pieces = [encoded[:, : block.start], shuffled[:, block], encoded[:, block.stop :]]
        result = sparse.hstack(pieces, format="csr")
        result.sort_indices()
        return result
    result = encoded.copy()
    result[:, block] = encoded[order, block]
    return result


def output_blocks(model, features: list[str]) -> list[slice | None] | None:
    """For a Pipeline(ColumnTransformer, classifier) whose encoders work feature by feature and loan by loan: each
    feature's output columns (None: unread). None when the model is not known to be of that kind."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model) != 2 or not isinstance(model[0], ColumnTransformer):
        return None
    encode = model[0]
    blocks: dict[str, slice] = {}
    for name, transformer, columns in encode.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        widths = _widths(transformer, list(columns)) if all(isinstance(c, str) for c in columns) else None
        output = encode.output_indices_[name]
        if widths is None or sum(widths) != output.stop - output.start or blocks.keys() & set(columns):
            return None  # (a feature encoded twice has two blocks: shuffled together, as scikit-learn would)
        start = output.start
        for column, width in zip(columns, widths, strict=True):
            blocks[column], start = slice(start, start + width), start + width
    return [blocks.get(feature) for feature in features]


def _widths(transformer, columns: list[str]) -> list[int] | None:
    """How many output columns each input column becomes, for a transformer that maps each input column on its own,
    row by row (None: not known to)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        MaxAbsScaler,
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    def one_to_one(step) -> bool:
        if isinstance(step, FunctionTransformer):
            return step.func is None  # how a ColumnTransformer holds "passthrough" once fitted
        return isinstance(step, (SimpleImputer, StandardScaler, MinMaxScaler, MaxAbsScaler, OrdinalEncoder))

    if isinstance(transformer, str):
        return [1] * len(columns) if transformer == "passthrough" else None
    if isinstance(transformer, OneHotEncoder):
        plain = transformer.drop is None and transformer.max_categories is None and transformer.min_frequency is None
        return [len(categories) for categories in transformer.categories_] if plain else None
    steps = [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    if all(one_to_one(step) for step in steps):
        names = list(transformer.get_feature_names_out(columns))
        return [1] * len(columns) if names == columns else None  # e.g. an imputer dropping an empty column
    return None
