"""What git keeps stays small at any data size: a run on a million loans writes every file under reports/
below 256 KB, and its commit passes all of the project's own hooks."""

import pytest

from benchmarks.generate import generate
from benchmarks.workspaces import set_data_source
from tests.conftest import run

LOANS = 1_000_000
LIMIT = 256 * 1024


@pytest.mark.slow
def test_a_million_loan_run_keeps_reports_small_and_its_commit_passes_the_hooks(fresh_repo):
    source = "data/external/loans-1m.parquet"
    generate(LOANS, fresh_repo / source)
    set_data_source(fresh_repo, source)
    params = fresh_repo / "params.yaml"  # fewer bootstrap resamples: the files' sizes do not depend on them
    params.write_text(params.read_text().replace("bootstrap_samples: 1000", "bootstrap_samples: 20", 1))
    run(["dvc", "add", "--quiet", source], fresh_repo)
    run(["mlops", "repro"], fresh_repo, timeout=1200)

    sizes = {p.relative_to(fresh_repo).as_posix(): p.stat().st_size for p in (fresh_repo / "reports").rglob("*")}
    assert len([p for p in sizes if p.endswith(".json")]) >= 7
    assert all(size < LIMIT for size in sizes.values()), sizes

    run(["mlops", "hooks", "install"], fresh_repo)
    run(["git", "add", "-A"], fresh_repo)
    committed = run(["git", "commit", "-m", "a run on a million loans"], fresh_repo, check=False, timeout=600)
    assert committed.returncode == 0, committed.stdout + committed.stderr
