"""Pure pieces of serving, telemetry, drift and deployment: routing, request validation, the log, PSI."""

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import UserError
from pipeline.monitoring import drift
from pipeline.serving.app import RequestInvalid, ServiceMetrics, parse_loans, request_model, routes_to_challenger
from pipeline.serving.telemetry import (
    DistinctIds,
    PredictionLog,
    append_outcomes,
    ensure_log_dir,
    join_outcomes,
    log_files,
    normalize_outcomes,
    parse_since,
    read_log,
    read_outcomes,
)
from pipeline.training.sources import read_table

METADATA = {
    "features": {
        "state": {"kind": "categorical", "categories": ["CA", "NY"], "nullable": False},
        "income": {"kind": "numeric", "integer": False, "min": 0.0, "max": None, "nullable": False},
        "util": {"kind": "numeric", "integer": False, "min": 0.0, "max": None, "nullable": True},
    }
}


def test_challenger_share_is_within_tolerance_and_stable_per_id():
    ids = [f"loan-{i}" for i in range(10_000)]
    chosen = [routes_to_challenger(i, 0.1) for i in ids]
    assert abs(sum(chosen) / len(ids) - 0.1) < 0.01
    assert chosen == [routes_to_challenger(i, 0.1) for i in ids]
    assert not any(routes_to_challenger(i, 0.0) for i in ids[:1000])
    assert all(routes_to_challenger(i, 1.0) for i in ids[:1000])


def test_valid_loan_gets_an_id_and_a_batch_keeps_given_ids():
    model = request_model(METADATA)
    loans, batch = parse_loans({"state": "CA", "income": 50000}, model)
    assert not batch and len(loans[0]["id"]) == 32 and loans[0]["util"] is None
    loans, batch = parse_loans([{"state": "NY", "income": 1.5, "id": 7}, {"state": "CA", "income": 2.0}], model)
    assert batch and loans[0]["id"] == "7" and loans[1]["id"] != "7"
    assert parse_loans({"state": "CA", "income": 1.0, "id": "Zoë 7 – ✓"}, model)[0][0]["id"] == "Zoë 7 – ✓"


def test_a_fraction_of_an_integer_feature_is_refused_as_predict_refuses_it():
    spec = {"kind": "numeric", "integer": True, "min": 0.0, "max": None, "nullable": False}
    model = request_model({"features": {**METADATA["features"], "open_lines": spec}})
    assert parse_loans({"state": "CA", "income": 1.0, "open_lines": 3.0}, model)[0][0]["open_lines"] == 3.0
    with pytest.raises(RequestInvalid) as refused:
        parse_loans({"state": "CA", "income": 1.0, "open_lines": 2.5}, model)
    assert refused.value.detail == [
        {
            "loc": ["body", "open_lines"],
            "msg": "open_lines must be a whole number (its schema says integer)",
            "type": "whole_number",
            "input": 2.5,
        }
    ]


@pytest.mark.parametrize(
    "loan_id",
    [True, False, "", 1.5, 1e2, "x" * 257, 10**256, -(10**255), [1], {"a": 1}, "a\udfff", "a\x00b", "x\ny", "\x1b[31m"],
)
def test_an_id_that_is_not_text_or_a_whole_number_as_given_is_one_problem_saying_what_an_id_is(loan_id):
    """pydantic's problems were one per type an id may have, at places no client sent (`["body", "id", "int"]`)."""
    with pytest.raises(RequestInvalid) as refused:
        parse_loans([{"state": "CA", "income": 1.0, "id": loan_id}], request_model(METADATA))
    assert [problem["loc"] for problem in refused.value.detail] == [["body", 0, "id"]], refused.value.detail
    problem = refused.value.detail[0]
    assert problem["type"] == "id"
    assert problem["msg"] == (
        "an id is printable text (no control character such as a newline, a tab or NUL) of 1 to 256 characters, "
        "or a whole number of as many (sign included), as given"
    )


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"state": "CA", "income": "lots"}, ["body", "income"]),
        ({"state": "TX", "income": 1.0}, ["body", "state"]),
        ({"income": 1.0}, ["body", "state"]),
        ({"state": "CA", "income": -1.0}, ["body", "income"]),
        ({"state": "CA", "income": float("inf")}, ["body", "income"]),  # (the JSON reader refuses it first)
        ({"state": "CA", "income": 1.0, "util": float("nan")}, ["body", "util"]),  # missing is null, not NaN
        ({"state": "CA", "income": 1e300}, ["body", "income"]),  # no amount is beyond 2**53: the scaler overflows
        ({"state": "CA", "income": 2**53 + 1}, ["body", "income"]),  # a float of it is 2**53: it passed, changed
        ({"state": "CA", "income": 1.0, "util": -1.7e308}, ["body", "util"]),
        ([{"state": "CA", "income": 1.0}, {"state": "CA", "income": True}], ["body", 1, "income"]),
        ([], ["body"]),
        ("text", ["body"]),
    ],
)
def test_bad_request_names_the_field(body, loc):
    with pytest.raises(RequestInvalid) as invalid:
        parse_loans(body, request_model(METADATA))
    assert invalid.value.detail[0]["loc"] == loc


def test_prediction_log_keeps_every_line_under_concurrent_writers_and_rotates(tmp_path):
    log = PredictionLog(tmp_path, max_bytes=20_000)

    def write(thread: int) -> None:
        for i in range(200):
            log.write([json.loads(scoring_line(id=f"{thread}-{i}", pad="x" * 50))])

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    assert len(log_files(tmp_path)) > 1
    lines = [line for path in log_files(tmp_path) for line in path.read_text().splitlines()]
    assert len(lines) == 1600
    assert {json.loads(line)["id"] for line in lines} == {f"{t}-{i}" for t in range(8) for i in range(200)}
    assert len(read_log(tmp_path)) == 1600


def test_outcomes_join_by_id():
    log = pd.DataFrame({"id": ["1", "2", "3"], "p_default": [0.1, 0.2, 0.3]})
    outcomes = pd.DataFrame({"id": ["2", "3", "9"], "is_bad": [True, False, True]})
    joined = join_outcomes(log, outcomes)
    assert joined["is_bad"].tolist()[1:] == [True, False] and pd.isna(joined["is_bad"].iloc[0])


def test_recorded_outcomes_read_back_the_latest_per_loan(tmp_path):
    append_outcomes(tmp_path, pd.DataFrame({"id": ["007", "2"], "is_bad": [True, False]}))
    append_outcomes(tmp_path, pd.DataFrame({"id": ["2"], "is_bad": [True]}))
    assert read_outcomes(tmp_path).to_dict("list") == {"id": ["007", "2"], "is_bad": [True, True]}
    assert read_outcomes(tmp_path / "none").empty


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"id": "3", "is_b', "line 3: not a JSON line"),  # cut short: a killed `mlops monitor outcomes`
        ("[1, 2]", "line 3: not an outcome record"),
        ('{"id": "3"}', "line 3: not an outcome record"),
        ('{"id": "3", "is_bad": "yes"}', "line 3: not an outcome record"),
        ('{"id": 3, "is_bad": true}', "line 3: not an outcome record"),
    ],
)
def test_an_outcome_line_that_is_no_outcome_record_is_refused_by_file_and_line(tmp_path, line, said):
    append_outcomes(tmp_path, pd.DataFrame({"id": ["1", "2"], "is_bad": [True, False]}))
    with open(tmp_path / "outcomes.jsonl", "a") as handle:
        handle.write(line + "\n")
    with pytest.raises(UserError, match=f"{tmp_path / 'outcomes.jsonl'}, {said}"):
        read_outcomes(tmp_path)


def test_outcome_ids_are_read_as_written(tmp_path):
    (tmp_path / "outcomes.csv").write_text("id,Class\n007,bad\n1e3,good\n")
    assert read_table(tmp_path / "outcomes.csv", text_columns=["id"])["id"].tolist() == ["007", "1e3"]


def test_outcomes_take_only_the_targets_labels_and_an_id_on_every_row():
    labels = ["bad", "good"]
    known = normalize_outcomes(
        pd.DataFrame({"id": ["007", "8"], "Class": ["bad", "good"]}), "Class", labels, "bad", "o"
    )
    assert known.to_dict("list") == {"id": ["007", "8"], "is_bad": [True, False]}
    for frame, words in [
        (pd.DataFrame({"id": ["1", "2"], "Class": ["bad", "maybe"]}), "o, row 3: Class 'maybe' is not one of"),
        (pd.DataFrame({"id": ["1", "2"], "Class": ["bad", None]}), "o, row 3: Class '' is not one of"),
        (pd.DataFrame({"id": ["1", None], "Class": ["bad", "good"]}), "o, row 3: no id"),
        (pd.DataFrame({"id": ["1", " "], "Class": ["bad", "good"]}), "o, row 3: no id"),
    ]:
        with pytest.raises(UserError, match=words):
            normalize_outcomes(frame, "Class", labels, "bad", "o")


def test_outcomes_given_both_as_the_target_and_as_is_bad_are_refused():
    both = pd.DataFrame({"id": ["1"], "is_bad": ["1"], "Class": ["good"]})  # is_bad said bad; Class won, silently
    with pytest.raises(UserError, match="o has both a 'Class' column and an `is_bad` column"):
        normalize_outcomes(both, "Class", ["bad", "good"], "bad", "o")


def test_outcomes_count_each_loan_once_and_refuse_one_given_both_outcomes():
    twice = pd.DataFrame({"id": ["1", "2", "1"], "Class": ["bad", "good", "bad"]})
    assert normalize_outcomes(twice, "Class", ["bad", "good"], "bad", "o").to_dict("list") == {
        "id": ["1", "2"],
        "is_bad": [True, False],
    }
    both = pd.DataFrame({"id": ["1", "2", "1"], "Class": ["bad", "good", "good"]})
    with pytest.raises(UserError, match="o, row 2: id '1' is given both outcomes in this file"):
        normalize_outcomes(both, "Class", ["bad", "good"], "bad", "o")


def test_outcomes_take_is_bad_as_0_1_true_false_or_their_float_export_and_name_the_row_of_any_other():
    as_floats = pd.DataFrame({"id": ["1", "2", "3"], "is_bad": [1.0, 0.0, 1.0]})
    assert normalize_outcomes(as_floats, "Class", ["bad", "good"], "bad", "o")["is_bad"].tolist() == [True, False, True]
    words = pd.DataFrame({"id": ["1", "2", "3"], "is_bad": ["TRUE", "false", "0"]})
    assert normalize_outcomes(words, "Class", ["bad", "good"], "bad", "o")["is_bad"].tolist() == [True, False, False]
    for cells, words in [
        ([1.0, 0.0, None], r"o, row 4: is_bad '' is not 1/0 or true/false"),
        ([1.0, 0.5, 0.0], r"o, row 3: is_bad '0.5' is not 1/0 or true/false"),
        (["1", "0", "yes"], r"o, row 4: is_bad 'yes' is not 1/0 or true/false"),
        ([1, 2, 0], r"o, row 3: is_bad '2' is not 1/0 or true/false"),
    ]:
        with pytest.raises(UserError, match=words):
            normalize_outcomes(pd.DataFrame({"id": ["1", "2", "3"], "is_bad": cells}), "Class", [], "bad", "o")


@pytest.mark.parametrize(
    "line",
    [
        "[1, 2]",
        '"text"',
        '{"id": "1", "features": {}}',
        '{"time": 5, "id": "1"}',
        '{"time": "2026-01-01", "features": {}}',
        '{"time": "2026", "id": 1, "features": []}',
    ],
)
def test_a_log_line_that_is_no_scoring_record_is_named(tmp_path, line):
    (tmp_path / "predictions.jsonl").write_text(scoring_line(features={"a": 1}) + "\n" + line + "\n")
    with pytest.raises(UserError, match="predictions.jsonl, line 2: not a scoring record"):
        read_log(tmp_path)


def scoring_line(**fields) -> str:
    """One log line as `mlops serve` writes it, with `fields` changed (a field given as None is left out)."""
    record = {"time": "2026", "id": "1", "role": "champion", "served": True, "model_md5": "m", "rev": "workspace"}
    record |= {"p_default": 0.1, "features": {}}
    return json.dumps({k: v for k, v in (record | fields).items() if v is not None})


@pytest.mark.parametrize("missing", ["served", "role", "model_md5", "rev", "p_default"])
def test_a_log_line_without_a_key_the_readers_use_is_named_with_the_key(tmp_path, missing):
    (tmp_path / "predictions.jsonl").write_text(scoring_line() + "\n" + scoring_line(**{missing: None}) + "\n")
    with pytest.raises(UserError, match=f"predictions.jsonl, line 2: not a scoring record: no '{missing}'"):
        read_log(tmp_path)


@pytest.mark.parametrize("score", ["NaN", "Infinity", "-0.5", "7.5"])
def test_a_logged_score_that_is_no_probability_is_named_with_its_line(tmp_path, score):
    # json reads NaN and Infinity; the live ROC AUC and Brier score of drift and retrain failed with a traceback
    line = scoring_line().replace('"p_default": 0.1', f'"p_default": {score}')
    (tmp_path / "predictions.jsonl").write_text(scoring_line() + "\n" + line + "\n")
    with pytest.raises(UserError, match=f"line 2: not a scoring record: 'p_default' is {score}, not a probability"):
        read_log(tmp_path)


OUTCOME_LINE = '{"id": "1", "is_bad": true}\n'


def read_after_a_second_line(tmp_path, name: str, line: bytes) -> None:
    """Read the log `name` (predictions or outcomes), each holding one good line, once `line` follows in `name`."""
    (tmp_path / "predictions.jsonl").write_text(scoring_line() + "\n")
    (tmp_path / "outcomes.jsonl").write_text(OUTCOME_LINE)
    with open(tmp_path / name, "ab") as log:
        log.write(line)
    read_log(tmp_path) if name == "predictions.jsonl" else read_outcomes(tmp_path)


@pytest.mark.parametrize("name", ["predictions.jsonl", "outcomes.jsonl"])
def test_a_log_line_that_is_not_utf8_is_named_with_its_line(tmp_path, name):
    # a damaged block or a foreign file: drift, retrain and outcomes failed with a UnicodeDecodeError traceback
    good = scoring_line() if name == "predictions.jsonl" else OUTCOME_LINE
    with pytest.raises(UserError, match=f"{name}, line 2: not UTF-8 text"):
        read_after_a_second_line(tmp_path, name, good.encode().replace(b'"1"', b'"\xe9"'))


@pytest.mark.parametrize("name", ["predictions.jsonl", "outcomes.jsonl"])
def test_a_log_line_nested_too_deeply_is_named_with_its_line(tmp_path, name):
    # Python's JSON reader raises RecursionError on 100,000 nested lists: drift, retrain and outcomes showed it
    with pytest.raises(UserError, match=f"{name}, line 2: nested too deeply to read"):
        read_after_a_second_line(tmp_path, name, ('{"id": ' + "[" * 100_000 + "]" * 100_000 + "}\n").encode())


@pytest.mark.parametrize("name", ["predictions.jsonl", "predictions-20261201.jsonl", "outcomes.jsonl"])
def test_a_folder_named_as_a_log_file_is_named_as_a_folder(tmp_path, name):
    # a `mkdir` slip: drift, retrain and outcomes ended in an IsADirectoryError traceback
    (tmp_path / "predictions-1.jsonl").write_text(scoring_line() + "\n")
    (tmp_path / name).mkdir()
    with pytest.raises(UserError, match=f"{tmp_path / name}: is a folder, not a file"):
        read_log(tmp_path) if name.startswith("predictions") else read_outcomes(tmp_path)


@pytest.mark.parametrize("name", ["predictions.jsonl", "outcomes.jsonl"])
def test_a_device_named_as_a_log_file_is_refused_not_read_forever(tmp_path, name):
    """`outcomes.jsonl` linked to /dev/full (endless zero bytes, no line end) was read until the system killed the
    command for its memory."""
    (tmp_path / "predictions-1.jsonl").write_text(scoring_line() + "\n")
    (tmp_path / name).symlink_to("/dev/zero")
    with pytest.raises(UserError, match=f"{tmp_path / name}: is not a regular file"):
        read_log(tmp_path) if name.startswith("predictions") else read_outcomes(tmp_path)


def test_text_in_a_numeric_feature_is_named_with_its_line(tmp_path):
    lines = [scoring_line(features={"annual_inc": 5.0}), scoring_line(features={"annual_inc": "abc"})]
    (tmp_path / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    assert len(read_log(tmp_path)) == 2  # a reader that needs no numbers takes it
    with pytest.raises(UserError, match="line 2: not a scoring record: feature 'annual_inc' is \"abc\", not a number"):
        read_log(tmp_path, numeric=["annual_inc"])


def test_since_accepts_durations_and_dates():
    assert parse_since("24h") < parse_since("1h")
    assert parse_since("2025-01-31").year == 2025
    assert parse_since("99999999999d") == datetime.min.replace(tzinfo=UTC)  # before any date: all the traffic
    for text in ("yesterday", "²d"):  # a digit to str.isdigit, not to int()
        with pytest.raises(UserError, match="not a duration or a date"):
            parse_since(text)


def test_since_compares_moments_not_text_whatever_the_offset(tmp_path):
    (tmp_path / "predictions.jsonl").write_text(scoring_line(time="2026-12-01T16:25:00.000+00:00") + "\n")
    for since, kept in [
        ("2026-12-01T17:30:00Z", 0),
        ("2026-12-01T12:30:00-05:00", 0),  # 17:30 UTC, though later as text
        ("2026-12-01T17:00:00+01:00", 1),  # 16:00 UTC, though earlier as text
        ("2026-12-01T16:00:00", 1),  # no zone: UTC
        ("2026-12-01T17:00:00", 0),
    ]:
        assert len(read_log(tmp_path, parse_since(since))) == kept, since


def test_a_log_time_that_is_no_date_is_named_when_a_window_is_asked(tmp_path):
    (tmp_path / "predictions.jsonl").write_text(scoring_line(time="soon") + "\n")
    with pytest.raises(UserError, match="predictions.jsonl, line 1: time 'soon' is not an ISO date and time"):
        read_log(tmp_path, parse_since("7d"))


def test_a_log_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "dvc.lock").write_text("a file\n")
    for folder, said in [
        (tmp_path / "dvc.lock", f"{tmp_path / 'dvc.lock'} is a file, not a folder"),
        (tmp_path / "dvc.lock" / "logs", f"{tmp_path / 'dvc.lock'} is a file, not a folder"),
        (Path("/proc/logs"), "cannot make the log folder there"),
    ]:
        with pytest.raises(UserError, match=f"--log-dir {folder}: {said}"):
            ensure_log_dir(folder)
    assert (tmp_path / "dvc.lock").read_text() == "a file\n"


def test_a_log_folder_that_is_not_there_is_named(tmp_path):
    for missing in (tmp_path / "nope", tmp_path / "--x"):
        with pytest.raises(UserError, match=f"--log-dir {missing}: no such folder"):
            read_log(missing)


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    train = pd.Series(rng.normal(0, 1, 20_000))
    assert drift.column_psi(train, pd.Series(rng.normal(0, 1, 5_000)), "numeric") < 0.02
    assert drift.column_psi(train, pd.Series(rng.normal(1, 1, 5_000)), "numeric") > 0.5


def test_unseen_categories_and_missing_values_are_their_own_bins():
    train = pd.Series(["a", "b"] * 500)
    live = pd.Series(["a", "c", None, "b"] * 250)
    row = drift.feature_drift("x", "categorical", train, live, ["a", "b"])
    assert row.unseen_share == 0.25 and row.missing_live == 0.25
    findings = drift.drift_findings([row], None, None, None, drift.Thresholds(0.2, 0.01, 0.05))
    assert any("unseen" in f for f in findings) and any("PSI" in f for f in findings)


def test_minimum_window_is_the_smallest_size_below_the_threshold():
    noise = {200: {"a": [0.5] * 20}, 500: {"a": [0.15] * 20}, 1000: {"a": [0.05] * 20}}
    assert drift.minimum_window(noise, 0.2) == 500
    assert drift.minimum_window(noise, 0.1) == 1000


def test_metrics_are_prometheus_text_labelled_by_route():
    from prometheus_client.parser import text_string_to_metric_families

    metrics = ServiceMetrics()
    metrics.observe_request("/predict", 200, 0.02)
    metrics.observe_request("unmatched", 404, 0.001)
    metrics.count_decisions([{"role": "champion", "model_md5": "m", "rev": "r", "decision": "approve"}])
    families = {family.name: family for family in text_string_to_metric_families(metrics.render().decode())}
    assert families["mlops_request_seconds"].type == "histogram"
    requests = {(s.labels["route"], s.labels["status"]): s.value for s in families["mlops_requests"].samples}
    assert requests[("/predict", "200")] == 1 and requests[("unmatched", "404")] == 1
    buckets = {s.labels["le"]: s.value for s in families["mlops_request_seconds"].samples if s.name.endswith("_bucket")}
    assert buckets["0.025"] == 1 and buckets["0.01"] == 1  # the 404 only
    (decision,) = [s for s in families["mlops_decisions"].samples if s.name == "mlops_decisions_total"]
    assert decision.labels["decision"] == "approve" and decision.value == 1


@pytest.mark.parametrize(
    ("body", "key"),
    [('{"id": "a", "income": 1, "id": "b"}', "id"), ('[{"state": "CA"}, {"state": "CA", "state": "NY"}]', "state")],
)
def test_an_object_with_a_key_twice_is_refused_not_read_as_its_last_value(body, key):
    """The last value was taken silently: which one counts is up to each reader (a proxy or a log may keep the
    first), so the loan scored and the loan another reader saw could differ."""
    from pipeline.serving.app import parse_json

    with pytest.raises(RequestInvalid) as refused:
        parse_json(body.encode())
    assert refused.value.detail == [
        {"loc": ["body"], "msg": f'the key "{key}" appears twice in one object: send each field once', "type": "json"}
    ]


def test_a_422_echoes_at_most_80_characters_of_any_offending_value():
    for huge in ("x" * 4000, int("9" * 4000), -int("9" * 4000)):
        with pytest.raises(RequestInvalid) as invalid:
            parse_loans({"state": "CA", "income": huge}, request_model(METADATA))
        echoed = invalid.value.detail[0]["input"]
        assert echoed == f"{str(huge)[:80]}... ({len(str(huge))} characters)", echoed
    with pytest.raises(RequestInvalid) as invalid:
        parse_loans({"state": "CA", "income": -12}, request_model(METADATA))
    assert invalid.value.detail[0]["input"] == -12  # a short value as sent


def test_a_422_lists_the_first_problems_and_counts_the_rest_yet_keeps_every_unseen_category_for_drift():
    body = [{"state": "TX", "income": 1.0, "id": str(i)} for i in range(250)]
    with pytest.raises(RequestInvalid) as invalid:
        parse_loans(body, request_model(METADATA))
    detail = invalid.value.detail
    assert len(detail) == 101 and detail[99]["loc"] == ["body", 99, "state"]
    assert detail[100] == {
        "loc": ["body"],
        "msg": "and 150 more problems, not listed: fix the first 100 and send the loans again",
        "type": "too_many_problems",
    }
    assert [loan["id"] for loan in invalid.value.unseen] == [str(i) for i in range(250)]


def test_a_request_is_checked_for_every_feature_a_model_of_the_deployment_reads():
    from pipeline.serving.app import Deployment, ServedModel

    age = {"kind": "numeric", "integer": True, "min": 0.0, "max": None, "nullable": False}
    narrower = dict(METADATA["features"], state={"kind": "categorical", "categories": ["CA"], "nullable": False})
    champion = ServedModel(None, METADATA, "c" * 32, "workspace")
    challenger = ServedModel(None, {"features": {**narrower, "age": age}}, "d" * 32, "workspace")
    deployment = Deployment(champion, challenger=challenger, share=0.5)
    loan_model = deployment.request_model()
    loans, _ = parse_loans({"state": "NY", "income": 1.0, "age": 30}, loan_model)
    assert loans[0]["age"] == 30 and loans[0]["state"] == "NY"  # the champion's rule for what it reads
    with pytest.raises(RequestInvalid) as invalid:
        parse_loans({"state": "NY", "income": 1.0}, loan_model)
    assert [problem["loc"] for problem in invalid.value.detail] == [["body", "age"]]
    assert deployment.checked_by_request(champion)
    assert not deployment.checked_by_request(challenger)  # its own rule for state: its schema check runs
    assert deployment.request_model() is loan_model


NARROWER = {
    "features": dict(METADATA["features"], state={"kind": "categorical", "categories": ["CA"], "nullable": False})
}


def test_a_loan_a_challenger_refuses_by_a_rule_of_its_own_is_named_by_its_place_in_the_batch():
    """Its pandera check named the first loan `rows 2`, a CSV file's line, meaningless in a request."""
    from pipeline.serving.app import Deployment, ServedModel

    champion = ServedModel(None, METADATA, "c" * 32, "workspace")
    challenger = ServedModel(None, NARROWER, "d" * 32, "workspace", request_model(NARROWER))
    deployment = Deployment(champion, challenger=challenger, share=1.0)
    batch = [{"state": "CA", "income": 1.0}, {"state": "NY", "income": 2.0, "id": "loan-7"}]
    loans, _ = parse_loans(batch, deployment.request_model())
    with pytest.raises(RequestInvalid) as refused:
        deployment.score(loans, batch=True)
    assert refused.value.detail == [
        {
            "loc": ["body", 1, "state"],
            "msg": "Input should be 'CA' (by the challenger model that scores this loan)",
            "type": "literal_error",
            "input": "NY",
        }
    ]
    loans, _ = parse_loans(batch[1], deployment.request_model())
    with pytest.raises(RequestInvalid) as refused:
        deployment.score(loans, batch=False)
    assert refused.value.detail[0]["loc"] == ["body", "state"]


def fitted_model(features: dict) -> object:
    """A real scikit-learn pipeline over these features, fitted on four loans."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    categorical = [name for name, spec in features.items() if spec["kind"] == "categorical"]
    numeric = [name for name in features if name not in categorical]
    frame = pd.DataFrame({"state": ["CA", "NY", "CA", "NY"], "income": [1.0, 2.0, 3.0, 4.0], "util": [0.1] * 4})
    columns = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), categorical), (SimpleImputer(), numeric))
    return make_pipeline(columns, LogisticRegression()).fit(frame[list(features)], [0, 1, 0, 1])


def test_a_loan_the_shadow_refuses_by_a_rule_of_its_own_is_answered_by_the_champion_not_refused():
    """A shadow is never returned, yet a loan with a category only the champion saw got a 422 while it served."""
    from pipeline.serving.app import Deployment, ServedModel

    metadata = dict(METADATA, threshold=0.5)
    champion = ServedModel(fitted_model(METADATA["features"]), metadata, "c" * 32, "workspace")
    narrower = dict(NARROWER, threshold=0.5)
    shadow = ServedModel(fitted_model(NARROWER["features"]), narrower, "d" * 32, "workspace", request_model(NARROWER))
    deployment = Deployment(champion, shadow=shadow)
    batch = [{"state": "CA", "income": 1.0, "id": "a"}, {"state": "NY", "income": 2.0, "id": "b"}]
    responses, records = deployment.score(parse_loans(batch, deployment.request_model())[0], batch=True)
    assert [(answer["id"], answer["version"]["md5"]) for answer in responses] == [("a", "c" * 32), ("b", "c" * 32)]
    assert sorted((record["role"], record["id"]) for record in records) == [
        ("champion", "a"),
        ("champion", "b"),
        ("shadow", "a"),
    ]


def test_scoring_from_many_threads_at_once_leaves_the_warning_filters_whole(capfd):
    """scikit-learn's ColumnTransformer and pandas swap the process's warning filters in and out as they work:
    worker threads scoring at once emptied them for good, and every request after printed a warning on stderr
    (which stalled the server once its pipe was full). Threads switch every microsecond here, to make the race
    likely."""
    import sys
    import warnings

    from pipeline.serving.app import ServedModel, score_loans

    served = ServedModel(fitted_model(METADATA["features"]), dict(METADATA, threshold=0.5), "c" * 32, "workspace")
    loan = {"state": "CA", "income": 1.0, "util": 0.2}
    filters = len(warnings.filters)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [
            threading.Thread(target=lambda: [score_loans(served, [dict(loan, id=str(i))]) for i in range(60)])
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(warnings.filters) == filters
    assert "should be used with" not in capfd.readouterr().err


def test_loans_refused_only_for_unseen_categories_are_kept_for_the_drift_report():
    body = [
        {"state": "TX", "income": 1.0, "id": "a"},  # only an unseen category: drift evidence
        {"state": "TX", "income": "lots", "id": "b"},  # also a broken value: a client bug, not drift
        {"state": "CA", "income": 2.0, "id": "c"},  # valid
        {"state": {"x": [1] * 1000}, "income": 1.0, "id": "d"},  # no category at all: not logged with its nesting
        {"state": 7, "income": 1.0, "id": "e"},
    ]
    with pytest.raises(RequestInvalid) as invalid:
        parse_loans(body, request_model(METADATA))
    assert invalid.value.unseen == [
        {"id": "a", "features": {"state": "TX", "income": 1.0, "util": None}, "unseen": ["state"], "missing": []}
    ]


def test_a_null_category_is_logged_as_a_missing_value_not_as_an_unseen_category():
    with pytest.raises(RequestInvalid) as invalid:
        parse_loans({"state": None, "income": 1.0, "id": "n"}, request_model(METADATA))
    assert invalid.value.unseen == [
        {"id": "n", "features": {"state": None, "income": 1.0, "util": None}, "unseen": [], "missing": ["state"]}
    ]


def test_drift_counts_a_refusal_for_a_null_category_as_missing_not_unseen():
    from pipeline.monitoring.drift_check import refused_counts

    refused = pd.DataFrame({"unseen": [["state"], [], ["state"]], "missing": [[], ["state"], []]})
    assert refused_counts(refused) == (2, 1)


def test_the_start_line_names_each_model_and_its_share():
    from pipeline.serving.app import Deployment, ServedModel
    from pipeline.serving.server import start_line

    def served(md5: str) -> ServedModel:
        return ServedModel(None, {}, md5, "workspace")

    shadowed = Deployment(champion=served("c" * 32), challenger=None, share=0.1, shadow=served("s" * 32))
    line = start_line(shadowed, follow=True, champion_commit=None)
    assert line == (
        f"champion: the workspace's model, model {'c' * 32} (no model in stage prod yet; following promotions), "
        f"100% of loans; shadow: the workspace's model, model {'s' * 32}, scores 100% of loans, never returned"
    )
    split = Deployment(champion=served("c" * 32), challenger=served("n" * 32), share=0.1, shadow=None)
    line = start_line(split, follow=False, champion_commit=None)
    assert line.endswith(
        f"not following promotions), 90% of loans; challenger: the workspace's model, model {'n' * 32}, 10% of loans"
    )
    itself = Deployment(champion=served("c" * 32), challenger=served("c" * 32), share=0.1, shadow=None)
    line = start_line(itself, follow=False, champion_commit=None)
    assert line.endswith(
        f"challenger: the workspace's model, model {'c' * 32} (the champion's own model: nothing is "
        "compared), 10% of loans"
    )


def test_text_in_a_logged_numeric_feature_is_named_not_a_traceback():
    """The server logs only numbers there; an edited or foreign log line may not."""
    train = pd.DataFrame({"annual_inc": [10.0, 20.0, 30.0]})
    features = {"annual_inc": {"kind": "numeric"}}
    assert drift.features_drift(train, pd.DataFrame({"annual_inc": [10, "20", None]}), features)[0].missing_live > 0
    with pytest.raises(UserError, match="numeric feature 'annual_inc' that are not numbers \\(first: 'lots'\\)"):
        drift.features_drift(train, pd.DataFrame({"annual_inc": [10.0, "lots", None]}), features)


def test_a_share_of_minus_zero_is_zero_not_minus_zero_percent():
    from pipeline.serving.server import check_rollout

    assert f"{check_rollout('challenger', -0.0, None):.0%}" == "0%"


def test_an_id_column_read_in_chunks_is_refused_at_its_first_repeated_or_missing_id():
    """An id of an earlier chunk, or a missing one, named by its row from the file's start."""
    ids = DistinctIds("loans.csv", "loan_id")
    ids.add(pd.Series(["a", "b"], index=[0, 1]))
    ids.add(pd.Series(["01", "1"], index=[2, 3]))  # ids as written: `01` is not `1`
    with pytest.raises(UserError, match=r"^loans.csv, row 7, column 'loan_id': 'b' is the id of an earlier row too\n"):
        ids.add(pd.Series(["c", "b"], index=[4, 5]))
    with pytest.raises(UserError, match=r"^loans.csv, row 8, column 'loan_id': no id\n"):
        DistinctIds("loans.csv", "loan_id").add(pd.Series(["c", None], index=[5, 6]))
    integers = DistinctIds("loans.parquet", "id")
    integers.add(pd.Series([1, 2], dtype="Int64"))
    with pytest.raises(UserError, match=r"row 5, column 'id': 2 is the id of an earlier row too"):
        integers.add(pd.Series([3, 2], index=[2, 3], dtype="Int64").iloc[1:])
