"""Which columns look like ids (dropped by `mlops data add`), and which id column `mlops predict` keeps."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.errors import UserError
from pipeline.serving.predict import choose_id_column, times_and_flags
from pipeline.versioning.datasets import id_like_columns, target_copies


def names(frame: pd.DataFrame, target: str = "Class") -> list[str]:
    return [column.name for column in id_like_columns(frame, target)]


def test_columns_named_like_ids_are_found_whatever_their_values():
    frame = pd.DataFrame(
        {
            "loan_id": [1, 1, 2],
            "customerId": ["a", "a", "b"],
            "Unnamed: 0": [0, 1, 2],
            "paid": [1, 0, 1],
            "grid": ["x", "x", "y"],
            "Class": ["bad", "good", "good"],
        }
    )
    assert names(frame) == ["loan_id", "customerId", "Unnamed: 0"]


def test_text_and_whole_numbers_unique_per_row_are_ids_floats_are_not():
    frame = pd.DataFrame(
        {
            "reference": ["r1", "r2", "r3", "r4"],
            "number": [10, 11, 12, 13],
            "rate": [0.1, 0.2, 0.3, 0.4],  # a measurement: unique values are normal
            "term": ["36", "60", "36", "60"],
            "with_gap": ["a", None, "b", "c"],  # missing values: not an identifier
            "Class": ["bad", "good", "good", "bad"],  # the target is never dropped, even if unique
        }
    )
    assert names(frame) == ["reference", "number"]
    assert id_like_columns(frame, "Class")[0].reason == "unique in each of the 4 rows"


def test_the_target_is_never_taken_for_an_id():
    frame = pd.DataFrame({"outcome_id": ["bad", "good"], "x": [1.0, 2.0]})
    assert names(frame, target="outcome_id") == []


def test_a_column_matching_the_targets_labels_one_to_one_is_a_copy_whatever_its_name_or_coding():
    frame = pd.DataFrame(
        {
            "class": ["bad", "good", "good", "bad"],  # the target under another name
            "went_bad": [1, 0, 0, 1],  # coded
            "joint": [True, False, True, False],  # two values, not the target's
            "grade": ["A", "B", "B", "C"],
            "Class": ["bad", "good", "good", "bad"],
        }
    )
    assert target_copies(frame, "Class") == ["class", "went_bad"]
    assert target_copies(frame.assign(Class=["bad", None, "good", "bad"]), "Class") == []  # refused for its gap


def test_predict_keeps_the_asked_or_the_first_known_id_column():
    columns = ["rownames", "loan_id", "int_rate"]
    assert choose_id_column(columns, "loan_id", ["rownames", "id"], "in.csv") == "loan_id"
    assert choose_id_column(columns, None, ["loan_id", "rownames", "id"], "in.csv") == "loan_id"
    assert choose_id_column(["int_rate"], None, ["rownames", "id"], "in.csv") is None
    with pytest.raises(UserError, match=r"in.csv: --id-column nope: no such column") as refused:
        choose_id_column(columns, "nope", ["id"], "in.csv")
    assert "rownames, loan_id, int_rate" in refused.value.hint
    for given, said in [("", "''"), ("Unnamed: 0", "'Unnamed: 0'"), ("--x", "--x")]:
        with pytest.raises(UserError, match=f"in.csv: --id-column {said}: no such column"):
            choose_id_column(columns, given, ["id"], "in.csv")


def test_predict_never_takes_a_score_column_for_the_id():
    with pytest.raises(UserError, match=r"in.csv: id column 'decision' has the name of a column the output writes"):
        choose_id_column(["decision", "int_rate"], None, ["decision", "id"], "in.csv")
    with pytest.raises(UserError, match=r"id column 'p_default'"):
        choose_id_column(["p_default", "int_rate"], "p_default", ["id"], "in.csv")


def test_predict_never_takes_a_model_feature_for_the_asked_id():
    with pytest.raises(UserError, match=r"in.csv: --id-column int_rate: 'int_rate' is a feature the model scores"):
        choose_id_column(["loan_id", "int_rate"], "int_rate", ["id"], "in.csv", ["int_rate", "grade"])
    assert choose_id_column(["loan_id", "int_rate"], "loan_id", ["id"], "in.csv", ["int_rate"]) == "loan_id"


def test_predict_never_takes_the_target_for_the_asked_id():
    """Labelled loans scored again: their labels were copied out as the loans' ids."""
    columns = ["loan_id", "int_rate", "Class"]
    with pytest.raises(UserError, match=r"in.csv: --id-column Class: 'Class' is the target the model predicts"):
        choose_id_column(columns, "Class", ["id"], "in.csv", ["int_rate"], "Class")
    assert choose_id_column(columns, "loan_id", ["id"], "in.csv", ["int_rate"], "Class") == "loan_id"


def test_a_known_id_column_the_model_reads_as_a_feature_is_not_taken_for_the_ids():
    """`data.drop` here may list a column another revision's model reads (`predict --model main` on a branch that
    dropped addr_state): its values (OH, TX) were written as the loans' ids."""
    columns = ["addr_state", "int_rate", "id"]
    known = ["rownames", "addr_state", "id"]
    assert choose_id_column(columns, None, known, "in.csv", ["addr_state", "int_rate"]) == "id"
    assert choose_id_column(columns[:2], None, known, "in.csv", ["addr_state", "int_rate"]) is None


def test_predict_passes_over_known_id_columns_of_dates_and_flags_not_of_floats():
    frame = pd.DataFrame(
        {
            "applied_at": pd.date_range("2020-01-01", periods=2, freq="h"),
            "approved": [True, False],
            "loan_id": [1.0, 2.0],  # an id stored wrong: refused with its fix, not passed over
            "number": ["a", "b"],
        }
    )
    passed_over = times_and_flags(frame)
    assert set(passed_over) == {"applied_at", "approved"} and passed_over["approved"] == "bool"
    known = ["applied_at", "approved", "loan_id"]
    assert choose_id_column(list(frame.columns), None, known, "f", not_ids=passed_over) == "loan_id"
    assert choose_id_column(list(frame.columns), None, known[:2], "f", not_ids=passed_over) is None
    assert choose_id_column(list(frame.columns), "applied_at", known, "f", not_ids=passed_over) == "applied_at"
