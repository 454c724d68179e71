"""The stages' pure functions on small frames built here."""

import itertools
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import UserError
from pipeline.stages.ingest import ingest
from pipeline.stages.split import split
from pipeline.stages.train import read_training_rows, sample_training_rows
from pipeline.stages.validate import validate
from pipeline.training.data_schema import infer_schema, read_schema, validate_frame, write_schema
from pipeline.training.model import choose_threshold, cost_per_loan
from pipeline.training.sources import read_table


def card_metadata(**changes) -> dict:
    """A model file's metadata as the model card reads it, for a model trained on `loans()`."""
    metadata = {
        "features": {"amount": "int"},
        "sample_frac": 1.0,
        "model": "logreg",
        "target": "status",
        "positive_label": "bad",
        "source": "loans",
        "train_rows": 60,
        "params_md5": "0",
    }
    return {**metadata, **changes}


def loans(n: int = 400, bad_every: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.integers(1000, 30000, n),
            "rate": rng.uniform(5, 25, n).round(2),
            "grade": rng.choice(["A", "B", "C"], n),
            "status": np.where(np.arange(n) % bad_every == 0, "bad", "good"),
        }
    )


def test_split_is_disjoint_seeded_and_close_to_its_fractions():
    frame = loans(n=4000)
    train, validation, test = split(frame, "status", 0.2, 0.2, seed=7)
    assert len(train) + len(validation) + len(test) == len(frame)
    for part, fraction in ((train, 0.6), (validation, 0.2), (test, 0.2)):
        assert len(part) / len(frame) == pytest.approx(fraction, abs=0.03)
        assert part["status"].eq("bad").mean() == pytest.approx(0.2, abs=0.03)
    again = split(frame, "status", 0.2, 0.2, seed=7)
    assert all(a.equals(b) for a, b in zip((train, validation, test), again, strict=True))
    other = split(frame, "status", 0.2, 0.2, seed=8)
    assert not test.equals(other[2])


def sides(frame: pd.DataFrame, seed: int = 7) -> dict[tuple, str]:
    parts = split(frame, "status", 0.2, 0.2, seed=seed)
    return {
        tuple(row): name
        for name, part in zip(("train", "validation", "test"), parts, strict=True)
        for row in part[sorted(part.columns)].itertuples(index=False)
    }


def test_appending_rows_never_moves_a_loan_whatever_the_order_columns_or_dtypes():
    first = loans(n=2000)
    before = sides(first)
    batch = loans(n=1500, seed=1)
    batch.loc[3, "amount"] = None  # a missing value turns the amount column into floats
    grown = pd.concat([batch, first], ignore_index=True)[["status", "grade", "rate", "amount"]]
    after = sides(grown)
    assert grown["amount"].dtype == float and first["amount"].dtype != float
    moved = [
        row
        for row, side in before.items()
        if after[tuple(float(v) if k == "amount" else v for k, v in zip(sorted(first.columns), row, strict=True))]
        != side
    ]
    assert moved == []


def test_duplicate_rows_are_one_loan_on_one_side():
    frame = loans(n=1000)
    doubled = pd.concat([frame, frame.iloc[:300]], ignore_index=True)
    parts = split(doubled, "status", 0.2, 0.2, seed=3)
    keys = [set(map(tuple, part.itertuples(index=False))) for part in parts]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert sum(len(part) for part in parts) == len(doubled)


def test_split_refuses_a_class_too_small():
    frame = loans(n=20, bad_every=20)
    with pytest.raises(UserError, match="label 'bad' of 'status' has only 1 rows"):
        split(frame, "status", 0.2, 0.2, seed=0)


def test_subset_sample_is_stratified_and_deterministic():
    frame = loans(1000)
    sample = sample_training_rows(frame, "status", 0.1, seed=3)
    assert len(sample) == 100
    assert sample["status"].eq("bad").sum() == 20
    assert sample.equals(sample_training_rows(frame, "status", 0.1, seed=3))
    assert sample_training_rows(frame, "status", 1.0, seed=3) is frame


def test_subset_sample_holds_the_rows_pandas_stratified_sampling_draws():
    frame = loans(1000).sample(frac=1.0, random_state=0).reset_index(drop=True)  # labels interleaved
    for seed in (0, 3, 42):
        expected = frame.groupby("status", group_keys=False, sort=True).sample(frac=0.25, random_state=seed)
        assert sample_training_rows(frame, "status", 0.25, seed).equals(expected.sort_index())


def test_a_subset_read_from_the_split_file_is_the_sample_of_the_whole_split(tmp_path):
    """train reads a subset's rows from Arrow, converting only those: the same rows, values, types and labels."""
    frame = loans(1000).sample(frac=1.0, random_state=1).reset_index(drop=True)
    frame["grade"] = pd.Series(["A", None, "B", "C"] * 250, dtype="str")
    frame.loc[::7, "amount"] = np.nan
    path = tmp_path / "train.parquet"
    frame.to_parquet(path, index=False)
    whole = pd.read_parquet(path)

    for seed in (0, 42):
        sample = read_training_rows(str(path), "status", 0.1, seed)
        pd.testing.assert_frame_equal(sample, sample_training_rows(whole, "status", 0.1, seed))
    pd.testing.assert_frame_equal(read_training_rows(str(path), "status", 1.0, 0), whole)
    with pytest.raises(UserError, match="data.sample_frac = 0.001 leaves a single class"):
        read_training_rows(str(path), "status", 0.001, 0)


def test_threshold_minimises_cost_against_brute_force():
    rng = np.random.default_rng(1)
    is_bad = rng.random(300) < 0.15
    p_bad = np.clip(is_bad * 0.2 + rng.random(300) * 0.8, 0, 1).round(2)  # ties on purpose
    threshold = choose_threshold(is_bad, p_bad, 5.0, 1.0)
    best = min(cost_per_loan(is_bad, p_bad, t, 5.0, 1.0) for t in itertools.chain(np.unique(p_bad), [1.01]))
    assert cost_per_loan(is_bad, p_bad, threshold, 5.0, 1.0) == pytest.approx(best)


def test_threshold_rejects_nothing_when_rejecting_costs_too_much():
    is_bad = np.array([False, False, True, False])
    p_bad = np.array([0.1, 0.2, 0.3, 0.4])
    threshold = choose_threshold(is_bad, p_bad, cost_bad_approved=1.0, cost_good_rejected=100.0)
    assert not (p_bad >= threshold).any()


def test_schema_inference_and_violations():
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    assert schema["columns"]["grade"]["categories"] == ["A", "B", "C"]
    assert schema["columns"]["amount"]["min"] == 0.0
    assert schema["target"]["labels"] == ["bad", "good"]
    validate_frame(frame, schema, "loans.csv")

    broken = frame.copy()
    broken.loc[3, "amount"] = -500
    broken.loc[5, "grade"] = "Z"
    broken.loc[7, "status"] = "maybe"
    with pytest.raises(UserError) as error:
        validate_frame(broken, schema, "loans.csv")
    message = str(error.value)
    assert "column 'amount', rule greater_than_or_equal_to(0.0): 1 failing (rows 5" in message
    assert "column 'grade', rule isin" in message and "'Z'" in message
    assert "column 'status'" in message and "'maybe'" in message


def test_schema_refuses_text_in_numeric_column():
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    frame["rate"] = frame["rate"].astype(object)
    frame.loc[2, "rate"] = "twelve"
    with pytest.raises(UserError, match="column 'rate'"):
        validate_frame(frame, schema, "loans.csv")


@pytest.mark.parametrize("infinite", [np.inf, -np.inf])
def test_infinite_amounts_are_refused_when_inferring_and_when_validating(infinite):
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    frame.loc[3, "rate"] = infinite
    with pytest.raises(UserError, match=f"column 'rate' holds {infinite} in 1 rows"):
        infer_schema(frame, "status", "bad")
    with pytest.raises(UserError, match="column 'rate', rule finite: 1 failing"):
        validate_frame(frame, schema, "loans.csv")


def test_a_fraction_in_an_integer_column_is_refused_whole_floats_pass():
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    assert schema["columns"]["amount"]["integer"] and not schema["columns"]["rate"]["integer"]
    validate_frame(frame.assign(amount=frame["amount"].astype(float)), schema, "loans.csv")  # 16100.0 is whole
    frame["amount"] = frame["amount"].astype(float)
    frame.loc[3, "amount"] = 16100.5
    with pytest.raises(UserError, match=r"column 'amount', rule whole_number: 1 failing \(rows 5; values 16100.5\)"):
        validate_frame(frame, schema, "loans.csv")


@pytest.mark.parametrize("huge", [1e300, -1.7e308, 2.0**53 + 2])
def test_amounts_beyond_2_to_the_53_are_refused_when_inferring_and_when_validating(huge):
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    at_bound = frame.copy()
    at_bound.loc[3, "rate"] = 2.0**53
    validate_frame(at_bound, schema, "loans.csv")  # the bound itself is a number
    frame.loc[3, "rate"] = huge
    with pytest.raises(UserError, match=re.escape(f"column 'rate' holds {huge} in 1 rows")) as refused:
        infer_schema(frame, "status", "bad")
    assert "2**53" in refused.value.hint
    with pytest.raises(UserError, match=r"column 'rate', rule at_most_2\*\*53_in_size: 1 failing \(rows 5;"):
        validate_frame(frame, schema, "loans.csv")


@pytest.mark.parametrize("huge", [2**53 + 1, -(2**53) - 1, 2**63 - 1])
def test_whole_amounts_beyond_2_to_the_53_are_refused_as_they_are_not_as_floats(huge):
    """As a float, 2**53 + 1 is 2**53: it passed both checks (and was scored as another amount) where 2**53 + 2 was
    refused."""
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    frame.loc[3, "amount"] = huge
    assert frame["amount"].dtype == "int64"
    with pytest.raises(UserError, match=re.escape(f"column 'amount' holds {huge} in 1 rows")):
        infer_schema(frame, "status", "bad")
    with pytest.raises(
        UserError, match=rf"column 'amount', rule at_most_2\*\*53_in_size: 1 failing \(rows 5; values {huge}\)"
    ):
        validate_frame(frame, schema, "loans.csv")
    frame.loc[3, "amount"] = 2**53  # the bound itself is a number
    validate_frame(frame, schema, "loans.csv")


def test_a_failure_line_keeps_its_rows_and_values_with_200_categories_and_a_long_value():
    """The rule listed every category, so the bounded error line was cut before the rows and values it names."""
    categories = [f"category-{i:04d}" for i in range(200)]
    schema = {"columns": {"c": {"kind": "categorical", "categories": categories, "nullable": False}}}
    frame = pd.DataFrame({"c": ["category-0001", "ZZ", "q" * 5000]})
    with pytest.raises(UserError) as refused:
        validate_frame(frame, schema, "x.csv", with_target=False)
    line = str(refused.value).splitlines()[1]
    assert line.startswith("  column 'c', rule isin(200 categories of the schema): 2 failing (rows 3, 4; values 'ZZ', ")
    assert "(5,002 characters)" in line and len(line) < 300


def test_infer_schema_refuses_bad_targets():
    frame = loans()
    with pytest.raises(UserError, match="target column 'outcome' is not in the data"):
        infer_schema(frame, "outcome", "bad")
    with pytest.raises(UserError, match="exactly two labels"):
        infer_schema(frame.assign(status="good"), "status", "bad")
    with pytest.raises(UserError, match="exactly two labels"):
        infer_schema(frame, "status", "default")


def test_read_table_refusals(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,status\n")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("name,status\nJos\xe9,good\n".encode("latin-1"))
    truncated = tmp_path / "cut.parquet"
    loans().to_parquet(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    for path, expected in [
        (empty, "is empty"),
        (header_only, "no data rows"),
        (latin1, "not UTF-8"),
        (truncated, "cannot be read as a table"),
        (tmp_path / "nope.csv", "no such file"),
    ]:
        with pytest.raises(UserError, match=expected):
            read_table(path)


def test_a_ragged_row_is_one_line_naming_its_line_for_training_and_for_scoring(tmp_path):
    """pandas' message ends in a newline: the error showed a blank line before its hint."""
    from pipeline.serving.predict import read_chunks

    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,status\n1,2,good\n1,2,bad,4\n")
    with pytest.raises(UserError) as training:
        read_table(ragged)
    with pytest.raises(UserError) as scoring:
        list(read_chunks(ragged, {"features": {}}))
    for refused in (training, scoring):
        assert refused.value.message.endswith("Expected 3 fields in line 3, saw 4"), refused.value.message


def test_ingest_drops_named_columns_and_refuses_unknown_ones():
    frame = loans().assign(rownames=range(400))
    assert "rownames" not in ingest(frame, ["rownames"], "src").columns
    with pytest.raises(UserError, match=r"data.drop names columns that src does not have: \['id'\]"):
        ingest(frame, ["id"], "src")


def test_evaluate_interval_is_delong_and_subset_runs_skip_permutation_importance():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from pipeline.params import load_params
    from pipeline.stages.evaluate import importance_rows, model_card, permutation_importance_table, score_metrics
    from pipeline.training.auc import auc_interval

    params = load_params()
    frame = loans(600)
    is_bad = (frame["status"] == "bad").to_numpy()
    model = LogisticRegression().fit(frame[["amount", "rate"]], is_bad)
    p_bad = model.predict_proba(frame[["amount", "rate"]])[:, 1]
    metrics = score_metrics(is_bad, p_bad, 0.5, params)
    low, high = auc_interval(is_bad, p_bad)
    assert metrics["roc_auc"] == round(roc_auc_score(is_bad, p_bad), 6)
    assert (metrics["roc_auc_ci_low"], metrics["roc_auc_ci_high"]) == (round(low, 6), round(high, 6))

    assert importance_rows(1.0, params) == params.evaluate.importance_rows
    assert importance_rows(0.1, params) == 0
    assert permutation_importance_table(model, frame, ["amount", "rate"], is_bad, params, rows=0) == []
    table = permutation_importance_table(model, frame, ["amount", "rate"], is_bad, params, rows=100)
    assert sorted(row["feature"] for row in table) == ["amount", "rate"]

    metadata = card_metadata(features={"amount": "int", "rate": "float"}, sample_frac=0.1)
    card = model_card(metadata, {**metrics, "importance_rows": 0}, params)
    assert "(a 10% subset run)" in card and "Permutation importance was skipped" in card
    assert "95% interval (DeLong)" in card
    full_card = model_card({**metadata, "sample_frac": 1.0}, {**metrics, "importance_rows": 2000}, params)
    assert "Permutation importance on 2000 test loans" in full_card


def test_a_declared_feature_missing_from_the_data_is_named_with_the_drop_param():
    frame = loans()
    schema = infer_schema(frame, "status", "bad")
    with pytest.raises(UserError) as error:
        validate(frame.drop(columns=["grade"]), schema, "status", "bad")
    assert "lacks 1 feature column(s) the schema declares: grade" in str(error.value)
    assert "`drop:`" in error.value.hint
    assert validate(frame, schema, "status", "bad")["rows"] == len(frame)


SCHEMA_EDITS = {
    "kind misspelt": (
        lambda s: s["columns"]["grade"].update(kind="categoricl"),
        "columns.grade: Input tag 'categoricl'",
    ),
    "min as text": (lambda s: s["columns"]["rate"].update(min="0"), "columns.rate.min: Input should be a valid number"),
    "min above max": (
        lambda s: s["columns"]["rate"].update(min=5.0, max=1.0),
        "columns.rate: min 5.0 is above max 1.0",
    ),
    "one label": (lambda s: s["target"].update(labels=["bad"]), "target.labels: List should have at least 2 items"),
    "positive not a label": (lambda s: s["target"].update(positive="ugly"), "target: positive 'ugly' must be one of"),
    "unknown key": (lambda s: s["columns"]["grade"].update(levels=["A"]), "columns.grade.levels: Extra inputs"),
    "no columns": (lambda s: s.update(columns={}), "columns: Dictionary should have at least 1 item"),
}


@pytest.mark.parametrize("case", list(SCHEMA_EDITS))
def test_a_hand_edited_schema_that_breaks_its_shape_is_named_by_key(tmp_path, case):
    edit, named = SCHEMA_EDITS[case]
    schema = infer_schema(loans(), "status", "bad")
    path = tmp_path / "schema.json"
    write_schema(schema, path)
    assert read_schema(path) == schema
    edit(schema)
    write_schema(schema, path)
    with pytest.raises(UserError, match=re.escape(f"schema file {path}: {named}")):
        read_schema(path)


def test_the_projects_own_schema_has_the_declared_shape():
    assert read_schema(Path(__file__).parents[2] / "reports/schema.json")["target"]["positive"] == "bad"


@pytest.mark.parametrize("name", ["Unnamed: 24", "--x"])
def test_a_hint_names_a_column_as_the_shell_reads_it_back(name):
    frame = loans()
    frame[name] = np.nan
    with pytest.raises(UserError) as refused:
        infer_schema(frame, "status", "bad")
    assert refused.value.hint.endswith(f"--drop={shlex.quote(name)}")  # pasted, one argument, not an option


def test_a_schema_path_naming_a_folder_is_one_line(tmp_path):
    with pytest.raises(UserError, match=re.escape(f"schema file {tmp_path} cannot be read: Is a directory")):
        read_schema(tmp_path)
