"""`mlops repro`'s per-stage summary says what DVC did, as DVC's own output (in the same stdout) says it."""

import re

from tests.conftest import run

DVC_SAYS = {
    r"Running stage '(\w+)':": "ran",
    r"Stage '(\w+)' is cached - skipping run": "restored from the run cache",
    r"Stage '(\w+)' didn't change, skipping": "skipped (up to date)",
}
UPSTREAM_SKIPPED = dict.fromkeys(("ingest", "validate", "split"), "skipped (up to date)")
SUMMARY = re.compile(r"^  (\w+)\s+(ran|restored from the run cache|skipped \(up to date\))$", re.MULTILINE)


def repro(repo) -> tuple[dict[str, str], dict[str, str]]:
    """(what DVC's own messages say per stage, what the summary says per stage)."""
    out = run(["mlops", "repro"], repo).stdout
    assert "auto staging" not in out and "dvc push" not in out  # DVC's advice that contradicts ours is dropped
    dvc = {stage: outcome for pattern, outcome in DVC_SAYS.items() for stage in re.findall(pattern, out)}
    return dvc, dict(SUMMARY.findall(out))


def test_summary_agrees_with_dvc_for_a_rerun_with_identical_outputs_and_a_run_cache_restore(repo):
    train = repo / "pipeline" / "stages" / "train.py"
    original = train.read_text()
    train.write_text(original + "# a comment: the stage re-runs and writes the same model\n")
    dvc, summary = repro(repo)
    assert dvc == {**UPSTREAM_SKIPPED, "train": "ran", "evaluate": "skipped (up to date)"}
    assert summary == dvc

    train.write_text(original)  # back to a state DVC has run before: its run cache holds the outputs
    dvc, summary = repro(repo)
    assert dvc == {**UPSTREAM_SKIPPED, "train": "restored from the run cache", "evaluate": "skipped (up to date)"}
    assert summary == dvc
