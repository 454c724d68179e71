import hashlib
import subprocess
import sys

import numpy as np
import pytest

from pipeline.errors import UserError
from pipeline.params import load_params
from pipeline.training.data_schema import infer_schema
from pipeline.training.model import build_model
from pipeline.training.model_file import dump_model, load_model, load_model_bytes, save_model
from tests.conftest import ROOT
from tests.unit.test_stage_functions import loans


@pytest.fixture(params=["logreg", "hgb"])
def fitted(request):
    params = load_params(ROOT / "params.yaml")
    params = params.model_copy(update={"train": params.train.model_copy(update={"model": request.param})})
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    model = build_model(params.train, schema, seed=0)
    features = ["amount", "rate", "grade"]
    model.fit(frame[features], frame["status"].eq("bad"))
    return model, frame[features]


def test_model_file_bytes_are_canonical(fitted):
    model, _ = fitted
    first = dump_model(model, {"threshold": 0.2})
    assert dump_model(model, {"threshold": 0.2}) == first


def test_round_trip_predicts_the_same(fitted, tmp_path):
    model, features = fitted
    md5 = save_model(model, {"threshold": 0.2}, tmp_path / "model.skops")
    loaded, metadata = load_model(tmp_path / "model.skops", expected_md5=md5)
    assert metadata == {"threshold": 0.2}
    np.testing.assert_array_equal(loaded.predict_proba(features), model.predict_proba(features))


def test_md5_mismatch_is_refused_with_a_fix_that_works_for_the_file_or_the_cached_copy(fitted):
    """The fix named `dvc checkout --force models`, which DVC refuses (no output is called that)."""
    model, _ = fitted
    data = dump_model(model, {})
    with pytest.raises(UserError, match="does not match .* recorded in dvc.lock") as refused:
        load_model_bytes(data, "models/model.skops", expected_md5=hashlib.md5(b"other").hexdigest())
    assert "`dvc checkout --force models/model.skops`" in refused.value.hint
    with pytest.raises(UserError) as refused:
        load_model_bytes(data, "models/model.skops at v1", hashlib.md5(b"other").hexdigest(), of_a_revision=True)
    assert "`mlops data status --verify`" in refused.value.hint


def test_untrusted_types_are_refused():
    import skops.io

    from pipeline.training.model_file import canonical_bytes

    data = canonical_bytes(skops.io.dumps({"pipeline": np.eye(2), "metadata": {}, "x": hashlib.md5}))
    with pytest.raises(UserError, match="holds types this project never saves"):
        load_model_bytes(data, "evil.skops")


def test_skops_is_imported_without_its_walk_of_every_estimator(tmp_path):
    # In a new process, as a stage or `mlops predict` imports it: scikit-learn modules no model here uses
    # (Gaussian processes) stay unimported, its estimator listing is restored, and a model still saves and loads.
    script = """
import sys
import numpy as np
import sklearn.utils
from sklearn.linear_model import LogisticRegression
from pipeline.training.model_file import load_model, save_model, skops_io
listing = sklearn.utils.all_estimators
skops_io()
assert sklearn.utils.all_estimators is listing
assert "sklearn.gaussian_process" not in sys.modules, "skops listed every estimator"
model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
md5 = save_model(model, {}, sys.argv[1])
loaded, _ = load_model(sys.argv[1], expected_md5=md5)
assert (loaded.predict_proba([[1.5]]) == model.predict_proba([[1.5]])).all()
"""
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "model.skops")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
