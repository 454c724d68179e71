"""Adding a model kind: one registered builder plus its settings' schema, and the pipeline trains, rounds, saves and
loads it like a shipped kind. The kind here lives in a temporary module, as a user's own would."""

import importlib.util
import sys

import numpy as np
import pytest

from pipeline.params import ModelKind, load_params
from pipeline.training import model as models
from pipeline.training.canonical import round_fitted_state
from pipeline.training.data_schema import infer_schema
from pipeline.training.model_file import dump_model, load_model_bytes
from tests.conftest import ROOT
from tests.unit.test_stage_functions import loans

TREE_KIND = """
from pydantic import Field

from pipeline.params import Strict, TrainParams
from pipeline.training.model import model_kind


class TreeParams(Strict):
    max_depth: int = Field(ge=1, le=64)


class TrainParamsWithTree(TrainParams):
    model: str
    tree: TreeParams


@model_kind("tree")
def decision_tree(settings, numeric, categorical, seed):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    encode = ColumnTransformer(
        [
            ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
            ("numeric", "passthrough", numeric),
        ]
    )
    return encode, DecisionTreeClassifier(max_depth=settings.max_depth, random_state=seed)
"""


@pytest.fixture
def tree_kind(tmp_path):
    path = tmp_path / "tree_kind.py"
    path.write_text(TREE_KIND)
    spec = importlib.util.spec_from_file_location("tree_kind", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["tree_kind"] = module
    spec.loader.exec_module(module)
    yield module
    models.KINDS.pop("tree", None)
    sys.modules.pop("tree_kind", None)


def test_a_registered_kind_trains_saves_and_loads(tree_kind):
    params = load_params(ROOT / "params.yaml")
    train = tree_kind.TrainParamsWithTree.model_validate(
        {**params.train.model_dump(mode="json"), "model": "tree", "tree": {"max_depth": 3}}
    )
    frame = loans()
    features = frame[["amount", "rate", "grade"]]
    model = models.build_model(train, infer_schema(frame, "status", "bad"), seed=0)
    assert type(model.named_steps["classify"]).__name__ == "DecisionTreeClassifier"
    assert model.named_steps["classify"].max_depth == 3

    round_fitted_state(model.fit(features, frame["status"].eq("bad")))
    loaded, metadata = load_model_bytes(dump_model(model, {"kind": "tree"}), "models/model.skops")
    assert metadata == {"kind": "tree"}
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_every_kind_the_schema_accepts_has_a_builder():
    assert {kind.value for kind in ModelKind} <= set(models.KINDS)


@pytest.mark.parametrize("kind", ["logreg", "hgb"])
def test_predictions_in_row_chunks_on_several_cores_are_the_bits_of_one_call(kind, monkeypatch):
    params = load_params(ROOT / "params.yaml")
    frame = loans(n=3000)
    frame.loc[::7, "rate"] = np.nan  # imputed (logreg) or a missing value of its own (hgb)
    train = params.train.model_copy(update={"model": ModelKind(kind)})
    schema = infer_schema(frame, "status", "bad")
    features = frame[["amount", "rate", "grade"]]
    model = round_fitted_state(models.build_model(train, schema, seed=0).fit(features, frame["status"].eq("bad")))
    scored = features.assign(grade=np.where(np.arange(len(features)) % 11 == 0, "Z", features["grade"]))  # unseen
    whole = model.predict_proba(scored)[:, 1]

    chunks = []
    one_call = model.predict_proba
    monkeypatch.setattr(model, "predict_proba", lambda rows: chunks.append(len(rows)) or one_call(rows))
    monkeypatch.setattr(models, "ROWS_PER_THREAD", 100)
    monkeypatch.setattr(models, "_usable_cores", lambda: 3)
    chunked = models.predict_bad(model, scored)

    assert chunks == [1000, 1000, 1000]
    assert chunked.tobytes() == whole.tobytes()
    monkeypatch.setattr(models, "_usable_cores", lambda: 1)  # one core: one call
    chunks.clear()
    assert models.predict_bad(model, scored).tobytes() == whole.tobytes() and chunks == [3000]
