"""block-untracked-data through real commits: data, models and big blobs stay out of git."""

from __future__ import annotations

import argparse
import os

from hooks import block_untracked_data as hook
from tests.conftest import run
from tests.hooks.conftest import commit, head_files, output, write

KB = 1024


def assert_refused(result, *fragments: str) -> None:
    assert result.returncode != 0, output(result)
    text = output(result)
    for fragment in ("block-untracked-data", "SKIP=block-untracked-data", *fragments):
        assert fragment in text, text


def test_small_csv_under_data_is_refused(hooked):
    write(hooked, "data/loans.csv", "id,amount\n" + "1,2\n" * 500)
    assert_refused(
        commit(hooked, "data/loans.csv", force=True),
        "data/loans.csv",
        "git rm --cached data/loans.csv",
        "mlops data add data/loans.csv",
    )


def test_model_file_under_models_is_refused(hooked):
    write(hooked, "models/other.joblib", b"\x80\x04model")
    assert_refused(commit(hooked, "models/other.joblib", force=True), "models/other.joblib")


def test_big_file_with_a_harmless_name_is_refused(hooked):
    write(hooked, "docs/diagram.bin", os.urandom(3 * KB * KB))
    assert_refused(commit(hooked, "docs/diagram.bin"), "docs/diagram.bin", "above the 1024 KB limit")


def test_tracked_file_that_grows_past_the_limit_is_refused(hooked):
    write(hooked, "docs/server.log", b"small\n")
    assert commit(hooked, "docs/server.log").returncode == 0
    write(hooked, "docs/server.log", os.urandom(2 * KB * KB))
    assert_refused(commit(hooked, "docs/server.log"), "docs/server.log")


def test_force_added_dvc_output_is_refused_as_tracked_twice(hooked):
    assert_refused(commit(hooked, "data/raw.parquet", force=True), "data/raw.parquet", "tracked twice")


def test_fixture_pointer_and_git_kept_outputs_are_allowed(hooked):
    write(hooked, "tests/fixtures/tiny.csv", "a,b\n1,2\n")
    write(hooked, "data/external/more.csv.dvc", "outs:\n- md5: 0123\n  path: more.csv\n")
    metrics = hooked / "reports/metrics.json"
    metrics.write_text(metrics.read_text().replace("{", "{\n", 1))
    result = commit(hooked, "tests/fixtures/tiny.csv", "data/external/more.csv.dvc", "reports/metrics.json")
    assert result.returncode == 0, output(result)
    assert {"tests/fixtures/tiny.csv", "data/external/more.csv.dvc", "reports/metrics.json"} <= head_files(hooked)


def test_names_with_spaces_quotes_and_non_ascii(hooked):
    odd = 'data/prêts "2024" v1.csv'
    write(hooked, odd, "a,b\n1,2\n")
    assert_refused(commit(hooked, odd, force=True), odd)
    run(["git", "reset", "-q", "--", odd], hooked)
    fine = "docs/note été 'x'.md"
    write(hooked, fine, "a note\n")
    assert commit(hooked, fine).returncode == 0
    assert fine in head_files(hooked)


def test_skip_and_no_verify_still_work(hooked):
    write(hooked, "data/a.csv", "a\n1\n")
    result = commit(hooked, "data/a.csv", force=True, env=None)
    assert result.returncode != 0
    skipped = run("SKIP=block-untracked-data git commit -q -m skip", hooked, check=False)
    assert skipped.returncode == 0, output(skipped)
    write(hooked, "data/b.csv", "a\n1\n")
    assert commit(hooked, "data/b.csv", force=True, args=("--no-verify",)).returncode == 0


def options(**overrides) -> argparse.Namespace:
    args = hook.parse_args([])
    vars(args).update(overrides)
    return args


def test_pure_check_rules():
    outputs = {"reports/metrics.json": False, "reports/plots": False, "data/raw.parquet": True}
    allowed = [
        "dvc.lock",
        "data/raw.parquet.dvc",
        "data/README.md",
        "reports/metrics.json",
        "reports/plots/roc.json",
        "tests/fixtures/x.csv",
        "pipeline/train.py",
    ]
    for path in allowed:
        assert hook.reasons_for(path, 10 * KB, options(), outputs) == [], path
    assert hook.reasons_for("tests/fixtures/x.csv", 200 * KB, options(), outputs)
    assert hook.reasons_for("data/raw.parquet", 10, options(), outputs)
    assert hook.reasons_for("notes/a.PKL", 10, options(), outputs)
    assert hook.reasons_for("notes/a.txt", 2 * KB * KB, options(), outputs)
    assert hook.reasons_for("notes/a.txt", 2 * KB * KB, options(max_kb=4096), outputs) == []


def test_oversized_stage_output_kept_in_git_names_the_stage_not_data_add(hooked):
    write(hooked, "reports/plots/roc.json", '{"roc": [' + ",".join(['{"fpr": 0.5, "tpr": 0.5}'] * 50_000) + "]}")
    result = commit(hooked, "reports/plots/roc.json")
    assert_refused(result, "reports/plots/roc.json", "stage `evaluate` writes it", "`reports/plots`", "cache: false")
    assert "mlops data add" not in output(result)
