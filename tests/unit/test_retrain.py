"""Pure pieces of `mlops monitor retrain`: which logged loans become the batch, and its columns."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from pipeline.errors import UserError
from pipeline.monitoring.retrain import batch_frame, branch_name, labelled_traffic, other_label


def test_branch_name_is_a_utc_stamp():
    assert branch_name(datetime(2025, 1, 31, 12, 0, 5, tzinfo=UTC)) == "retrain/20250131T120005Z"


def test_labelled_traffic_keeps_served_loans_with_outcomes_latest_per_id():
    log = pd.DataFrame(
        {
            "id": ["a", "a", "b", "c", "a"],
            "served": [True, True, True, True, False],
            "amount": [1.0, 2.0, 3.0, 4.0, 9.0],
            "time": ["t1", "t2", "t3", "t4", "t5"],
        }
    )
    outcomes = pd.DataFrame({"id": ["a", "c"], "is_bad": [True, False]})
    traffic = labelled_traffic(log, outcomes)
    assert traffic[["id", "amount"]].values.tolist() == [["a", 2.0], ["c", 4.0]]
    assert labelled_traffic(pd.DataFrame(), outcomes).empty


def test_batch_has_the_dataset_columns_labels_and_ids():
    current = pd.DataFrame(
        {"rownames": [1, 2], "loan_ref": ["x", "y"], "amount": [100, 200], "state": ["CA", "NY"], "Class": ["good"] * 2}
    )
    traffic = pd.DataFrame(
        {"id": ["L1", "L2"], "amount": [300.0, 400.0], "state": ["NY", None], "is_bad": [True, False], "extra": [1, 2]}
    )
    batch = batch_frame(traffic, current, "Class", ("bad", "good"), ["rownames", "loan_ref"])
    assert list(batch.columns) == list(current.columns)
    assert batch["Class"].tolist() == ["bad", "good"]
    assert batch["loan_ref"].tolist() == ["L1", "L2"] and batch["rownames"].isna().all()
    assert batch["amount"].dtype == current["amount"].dtype and batch["amount"].tolist() == [300, 400]
    assert batch["state"].tolist()[0] == "NY" and pd.isna(batch["state"].tolist()[1])


def test_other_label():
    assert other_label(["bad", "good"], "bad") == "good"
    with pytest.raises(UserError):
        other_label(["bad"], "bad")


def test_a_loan_logged_with_its_id_as_a_number_and_as_text_is_one_row_of_the_batch(tmp_path):
    """Both joined the outcome of id "7", so the retrain batch held the loan twice."""
    import json

    from pipeline.serving.telemetry import read_log

    line = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "w"}
    line |= {"p_default": 0.1, "features": {"amount": 1.0}}
    (tmp_path / "predictions.jsonl").write_text(
        json.dumps(line | {"id": 7}) + "\n" + json.dumps(line | {"id": "7", "features": {"amount": 2.0}}) + "\n"
    )
    traffic = labelled_traffic(read_log(tmp_path), pd.DataFrame({"id": ["7"], "is_bad": [True]}))
    assert traffic[["id", "amount"]].values.tolist() == [["7", 2.0]]
