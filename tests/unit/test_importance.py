"""Permutation importance on loans encoded once gives scikit-learn's numbers exactly, for this project's models and
for a model whose encoder it does not know (scikit-learn's own computation then)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pipeline.params import load_params
from pipeline.stages.evaluate import _roc_auc_of_canonical_probabilities as score
from pipeline.training.data_schema import feature_columns, infer_schema
from pipeline.training.importance import mean_drops, output_blocks
from pipeline.training.model import build_model
from tests.e2e.data_helpers import lending_frame

REPEATS, SEED = 3, 11


@pytest.fixture(scope="module")
def loans():
    frame = lending_frame().drop(columns=["rownames"])
    frame.loc[frame.index[::7], "annual_inc"] = np.nan  # missing values go through the imputer too
    train, test = frame.iloc[:6000], frame.iloc[6000:7500]
    schema = infer_schema(frame, "Class", "bad")
    return train, test, schema


def sklearns(model, frame, is_bad) -> np.ndarray:
    return permutation_importance(
        model, frame, is_bad, scoring=score, n_repeats=REPEATS, random_state=SEED
    ).importances_mean


@pytest.mark.parametrize("kind", ["logreg", "hgb"])
def test_the_projects_models_get_scikit_learns_numbers(loans, kind):
    train, test, schema = loans
    params = load_params()
    model = build_model(params.train.model_copy(update={"model": kind}), schema, params.seed)
    features = [column for columns in feature_columns(schema) for column in columns]
    model.fit(train[features], train["Class"] == "bad")
    frame, is_bad = test[features], (test["Class"] == "bad").to_numpy()

    assert None not in output_blocks(model, features)  # encoded once: the fast way
    drops = mean_drops(model, frame, is_bad, REPEATS, SEED, score)
    assert np.array_equal(drops, sklearns(model, frame, is_bad))
    assert np.count_nonzero(drops) > len(features) // 2  # shuffling changed the scores


def test_an_encoder_that_mixes_drops_or_repeats_columns_gets_scikit_learns_own_computation(loans):
    train, test, _ = loans
    numeric = ["annual_inc", "int_rate", "funded_amnt", "revol_util"]
    is_bad = (test["Class"] == "bad").to_numpy()
    mixing = Pipeline([("scale", StandardScaler()), ("mix", PCA(n_components=2, random_state=0))])
    for encoder, features in (
        (ColumnTransformer([("numeric", Pipeline([("impute", SimpleImputer()), ("mix", mixing)]), numeric)]), numeric),
        (ColumnTransformer([("numeric", SimpleImputer(add_indicator=True), numeric)]), numeric),
        (
            ColumnTransformer([("term", OneHotEncoder(drop="first"), ["term"]), ("numeric", SimpleImputer(), numeric)]),
            [*numeric, "term"],
        ),
        (
            ColumnTransformer([("numeric", SimpleImputer(), numeric), ("again", StandardScaler(), ["int_rate"])]),
            numeric,
        ),
    ):
        model = Pipeline([("encode", encoder), ("classify", LogisticRegression(max_iter=1000))])
        model.fit(train[features], train["Class"] == "bad")
        assert output_blocks(model, features) is None
        drops = mean_drops(model, test[features], is_bad, REPEATS, SEED, score)
        assert np.array_equal(drops, sklearns(model, test[features], is_bad))


def test_a_feature_the_model_does_not_read_has_no_importance(loans):
    train, test, _ = loans
    numeric = ["annual_inc", "int_rate"]
    model = Pipeline(
        [
            ("encode", ColumnTransformer([("numeric", SimpleImputer(), numeric)], remainder="drop")),
            ("classify", LogisticRegression()),
        ]
    ).fit(train[[*numeric, "funded_amnt"]], train["Class"] == "bad")
    is_bad = (test["Class"] == "bad").to_numpy()
    drops = mean_drops(model, test[[*numeric, "funded_amnt"]], is_bad, REPEATS, SEED, score)
    assert drops[2] == 0.0 and np.array_equal(drops, sklearns(model, test[[*numeric, "funded_amnt"]], is_bad))
