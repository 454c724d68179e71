"""A corrupted object in the local DVC cache is named by `mlops data status --verify` and refused by
`mlops predict --rev` (md5 check against dvc.lock) rather than used."""

from __future__ import annotations

import yaml

from tests.conftest import run
from tests.e2e.data_helpers import lending_frame


def model_md5(repo) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.skops")


def test_corrupted_cache_object_is_reported_and_refused(repo, tmp_path):
    clean = run(["mlops", "data", "status", "--verify", "--no-remote"], repo)
    assert "CORRUPTED" not in clean.stdout

    md5 = model_md5(repo)
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the model
    cached.write_bytes(bytes(data))

    verify = run(["mlops", "data", "status", "--verify", "--no-remote"], repo, check=False)
    assert verify.returncode != 0
    assert "models/model.skops" in verify.stdout + verify.stderr and "CORRUPTED" in verify.stdout + verify.stderr
    assert "delete each named cache file" in verify.stderr and "mlops repro --force" in verify.stderr, verify.stderr

    loans = tmp_path / "loans.csv"
    lending_frame().drop(columns=["Class"]).head(50).to_csv(loans, index=False)
    out = tmp_path / "scores.csv"
    refused = run(["mlops", "predict", str(loans), "--out", str(out), "--rev", "HEAD"], repo, check=False)
    assert refused.returncode == 2 and "does not match" in refused.stderr and "Traceback" not in refused.stderr
    assert not out.exists()
    # The workspace copy is intact: scoring with it still works.
    run(["mlops", "predict", str(loans), "--out", str(out)], repo)
    assert out.read_text().startswith("rownames,p_default,decision,model_md5")  # the data's own id column


def test_a_missing_cache_object_is_told_to_be_fetched_or_rebuilt_not_deleted(repo):
    """A missing object was told to "delete each named cache file" and `mlops repro --force` (retraining all)."""
    md5 = model_md5(repo)
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.unlink()
    verify = run(["mlops", "data", "status", "--verify", "--no-remote"], repo, check=False)
    assert verify.returncode == 2 and "Traceback" not in verify.stderr, verify.stderr
    assert "models/model.skops: cache object" in verify.stdout and f"{md5[2:]} is missing" in verify.stdout
    error, hint = verify.stderr.split("hint: ", 1)
    assert error.strip() == "error: 1 object(s) in use are missing from the cache", verify.stderr
    assert "`mlops data pull` fetches it" in hint and "`mlops repro` rebuilds" in hint, hint
    assert "delete" not in hint and "--force" not in hint, hint


def test_a_broken_metrics_file_is_named_by_compare_and_written_anew_by_repro(repo):
    metrics = repo / "reports" / "metrics.json"
    good = metrics.read_bytes()
    for broken in ('{"roc_auc": 0.7', "[1, 2]"):
        metrics.write_text(broken)
        compare = run(["mlops", "exp", "compare"], repo, check=False)
        assert compare.returncode == 2 and "Traceback" not in compare.stderr, compare.stderr
        assert "reports/metrics.json is not a JSON object of metrics" in compare.stderr
        repro = run(["mlops", "repro"], repo, check=False)
        assert repro.returncode == 0 and "Traceback" not in repro.stderr, repro.stderr
        assert metrics.read_bytes() == good  # evaluate wrote it anew, the same bytes
