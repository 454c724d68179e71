"""What git keeps stays small at any data size: a run on a million loans writes every file under reports/
below 256 KB, and its commit passes all of the project's own hooks."""

import sys

import pytest

from benchmarks.generate import generate
from benchmarks.workspaces import set_data_source
from tests.conftest import ROOT, run

LOANS = 1_000_000
LIMIT = 256 * 1024


@pytest.mark.slow
def test_a_million_loan_run_keeps_reports_small_and_its_commit_passes_the_hooks(fresh_repo):
    source = "data/external/loans-1m.parquet"
    generate(LOANS, fresh_repo / source)
    set_data_source(fresh_repo, source)
    run(["dvc", "add", "--quiet", source], fresh_repo)
    run(["mlops", "repro"], fresh_repo, timeout=1200)

    sizes = {p.relative_to(fresh_repo).as_posix(): p.stat().st_size for p in (fresh_repo / "reports").rglob("*")}
    assert len([p for p in sizes if p.endswith(".json")]) >= 7
    assert all(size < LIMIT for size in sizes.values()), sizes

    run(["mlops", "hooks", "install"], fresh_repo)
    run(["git", "add", "-A"], fresh_repo)
    committed = run(["git", "commit", "-m", "a run on a million loans"], fresh_repo, check=False, timeout=600)
    assert committed.returncode == 0, committed.stdout + committed.stderr


def test_generated_loans_are_written_in_the_format_their_name_says_and_add_as_data(repo, tmp_path):
    """`python -m benchmarks.generate ROWS loans.csv` wrote parquet bytes under the .csv name: `mlops data add` then
    refused it as not UTF-8 text. Another suffix is refused rather than given parquet bytes."""
    generate_command = [sys.executable, "-m", "benchmarks.generate", "300"]
    table = tmp_path / "loans.csv"
    run([*generate_command, str(table)], ROOT)
    assert table.read_text().startswith("rownames,")
    added = run(["mlops", "data", "add", str(table), "--drop", "rownames"], repo)
    assert "Added data/external/loans.csv (300 rows" in added.stdout, added.stdout
    refused = run([*generate_command, str(tmp_path / "loans.txt")], ROOT, check=False)
    assert refused.returncode == 2 and "name a .parquet or .csv file" in refused.stderr
    assert not (tmp_path / "loans.txt").exists()
