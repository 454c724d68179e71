"""A corrupted object in the local DVC cache is named by `mlops data status --verify` and refused by
`mlops predict --rev` (md5 check against dvc.lock) rather than used."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import sys

import pytest
import yaml

from tests.conftest import run, test_env
from tests.e2e.data_helpers import lending_frame
from tests.reliability.helpers import Snapshot, assert_clear_error


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


def corrupted_in_place(path) -> bytes:
    """Flip a byte of `path` in place, its mode kept (as root writes past a read-only mode); its bytes before."""
    good, mode = path.read_bytes(), path.stat().st_mode
    path.chmod(0o644)
    with open(path, "r+b") as handle:
        handle.seek(100)
        handle.write(bytes([good[100] ^ 0xFF]))
    path.chmod(mode)
    return good


@pytest.fixture
def hardlinked(repo):
    """The repo with `cache.type hardlink` (each DVC file of the workspace is its cache object) and its data and
    model pushed to the default remote."""
    run(["dvc", "config", "--local", "cache.type", "hardlink"], repo)
    run(["dvc", "checkout", "--relink"], repo)
    run(["mlops", "data", "push"], repo)
    return repo


def test_a_pull_kept_from_checking_out_by_a_changed_file_names_it_and_the_fix(hardlinked):
    """The `--verify` advice followed by hand in a hardlinked workspace: the corrupted cache file deleted, its
    workspace link, the bad bytes, stays, and DVC's checkout keeps it as a change; the error blamed the remote."""
    test_split = hardlinked / "data" / "split" / "test.parquet"
    good = corrupted_in_place(test_split)
    md5 = hashlib.md5(good).hexdigest()
    (hardlinked / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()

    refused = run(["mlops", "data", "pull"], hardlinked, check=False)

    error, hint = refused.stderr.split("hint: ", 1)
    assert refused.returncode == 2 and "data/split/test.parquet" in error, refused.stderr
    assert "reachable" not in hint and "dvc checkout --force data/split/test.parquet" in hint, hint
    run(hint.split("`")[1], hardlinked)
    assert test_split.read_bytes() == good


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


def commit_with_metrics(repo, text: str, path: str = "reports/metrics.json") -> str:
    """A commit on top of HEAD whose reports/metrics.json (or `path`) is `text` (as a hand edit or a bad merge leaves
    it), made with git's plumbing: no hook, no checkout."""
    index = {"GIT_INDEX_FILE": str(repo / ".git" / "scratch-index")}
    run(["git", "read-tree", "HEAD"], repo, env=test_env(**index))
    blob = run(["git", "hash-object", "-w", "--stdin"], repo, input=text).stdout.strip()
    run(["git", "update-index", "--cacheinfo", f"100644,{blob},{path}"], repo, env=test_env(**index))
    tree = run(["git", "write-tree"], repo, env=test_env(**index)).stdout.strip()
    return run(["git", "commit-tree", tree, "-p", "HEAD", "-m", "metrics by hand"], repo).stdout.strip()


def fake_experiment(repo, name: str, metrics_text: str) -> None:
    """An experiment of HEAD (its ref, as `dvc exp run` names it) whose metrics file holds `metrics_text`."""
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    commit = commit_with_metrics(repo, metrics_text)
    run(["git", "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/{name}", commit], repo)


def test_an_experiment_with_a_broken_metrics_file_is_left_out_of_compare_by_name(repo):
    """A NaN was compared as measured (`nan*` the best, `+nan!` beyond noise, `NaN` in --json), a string or a null
    ended in a traceback, and a file that is no JSON object stopped the whole comparison, blamed on the workspace's
    file with a `git checkout` hint."""
    good = (repo / "reports" / "metrics.json").read_text()
    fake_experiment(repo, "fine", good)
    broken = {
        "nan": good.replace('"roc_auc": 0.', '"roc_auc": NaN, "was": 0.', 1),
        "text": '{"roc_auc": "0.7", "pr_auc": 0.1}',
        "null": '{"roc_auc": null}',
        "cut": '{"roc_auc": 0.7',
    }
    for name, text in broken.items():
        fake_experiment(repo, name, text)

    compare = run(["mlops", "exp", "compare"], repo, check=False)
    assert compare.returncode == 0 and "Traceback" not in compare.stderr, compare.stderr
    rows = [line.split()[0] for line in compare.stdout.splitlines() if line.split()]
    assert "fine" in rows and not set(broken) & set(rows), compare.stdout
    assert "nan*" not in compare.stdout and "+nan" not in compare.stdout, compare.stdout
    assert "Left out experiment nan's reports/metrics.json holds roc_auc: NaN, not a finite number." in compare.stderr
    assert 'experiment text\'s reports/metrics.json holds roc_auc: "0.7", not a finite number' in compare.stderr
    assert "experiment null's reports/metrics.json holds roc_auc: null, not a finite number" in compare.stderr
    assert "experiment cut's reports/metrics.json is not a JSON object of metrics" in compare.stderr
    assert "git checkout" not in compare.stderr, compare.stderr

    as_json = run(["mlops", "exp", "compare", "--json"], repo)
    table = json.loads(as_json.stdout, parse_constant=lambda constant: pytest.fail(f"{constant} in --json"))
    assert sorted(table["broken_metrics"]) == sorted(broken)

    apply = run(["mlops", "exp", "apply", "nan"], repo, check=False)
    assert apply.returncode == 2 and "Traceback" not in apply.stderr, apply.stderr
    assert "holds roc_auc: NaN" in apply.stderr and "dvc exp remove nan" in apply.stderr, apply.stderr


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"roc_auc": 0.7', "is not a JSON object of metrics"),
        ('{"roc_auc": NaN, "roc_auc_ci_low": 0.6, "roc_auc_ci_high": 0.8}', "holds roc_auc: NaN, not a finite number"),
        ('{"roc_auc": "x"}', 'holds roc_auc: "x", not a finite number'),
    ],
)
def test_a_revision_with_a_broken_metrics_file_is_named_by_the_report(repo, tmp_path, text, said):
    """The report traced back on a revision's broken file, or drew a NaN as `+nan worse` beside a note that the
    change was within its interval."""
    run(["git", "tag", "hand-edited", commit_with_metrics(repo, text)], repo)
    out = tmp_path / "report.html"
    report = run(["mlops", "report", "--against", "hand-edited", "--out", str(out)], repo, check=False)
    assert report.returncode == 2 and "Traceback" not in report.stderr, report.stderr
    assert f"error: hand-edited's reports/metrics.json {said}" in report.stderr, report.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("reports/plots/roc.json", '{"roc": ['),
        ("reports/plots/roc.json", '{"roc": [{"fpr": "a", "tpr": null}]}'),
        ("reports/plots/calibration.json", "[1]"),
        ("reports/plots/importance.json", '{"importance": [{"feature": ["x"], "importance": 1}]}'),
        ("reports/plots/confusion_matrix.json", '{"confusion_matrix": [{"actual": "bad", "count": "many"}]}'),
    ],
)
def test_a_revision_with_a_broken_plot_file_is_named_by_the_report(repo, tmp_path, path, text):
    """A revision's plot file the charts cannot draw ended the report in a traceback (JSONDecodeError, ValueError,
    AttributeError, TypeError)."""
    run(["git", "tag", "hand-edited", commit_with_metrics(repo, text, path)], repo)
    out = tmp_path / "report.html"
    report = run(["mlops", "report", "--against", "hand-edited", "--out", str(out)], repo, check=False)
    assert report.returncode == 2 and "Traceback" not in report.stderr, report.stderr
    name = path.removeprefix("reports/plots/").removesuffix(".json")
    assert f"error: hand-edited's {path} is not {name} plot data of finite numbers" in report.stderr, report.stderr
    assert not out.exists()


def test_a_data_add_stopped_by_a_full_disk_leaves_no_partial_copy(repo, tmp_path):
    """The copy into data/external/ goes through FILE.partial, which a full disk left behind: DVC then called the
    ingest stage's data changed, though nothing had been added."""
    loans = tmp_path / "loans.csv"
    lending_frame().to_csv(loans, index=False)  # about 1 MB
    external = sorted(path.name for path in (repo / "data" / "external").iterdir())
    snapshot = Snapshot(repo)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # the journal's copies fit, the loans do not

    refused = run(["mlops", "data", "add", str(loans)], repo, check=False, preexec_fn=small_files)
    assert_clear_error(refused, os.strerror(errno.EFBIG), "free some disk space")
    assert sorted(path.name for path in (repo / "data" / "external").iterdir()) == external
    snapshot.assert_unchanged()
    assert run(["dvc", "status", "--json"], repo).stdout.strip() == "{}"


# `dvc add` as `mlops data add` runs it, reported as the command line reports what a command raises.
ADD = """
import sys
from pipeline.errors import report_user_error
from pipeline.versioning import dvc_seam
from pipeline.versioning.pipeline_status import explained_failure
try:
    dvc_seam.add(sys.argv[1])
except Exception as error:
    report_user_error(explained_failure(error) or error)
"""


@pytest.fixture
def dvc_repo_with_loans(tmp_path):
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "data").mkdir()
    lending_frame().to_csv(tmp_path / "data" / "loans.csv", index=False)  # about 1 MB
    return tmp_path


def small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # the loans do not fit


def test_dvc_add_stopped_by_a_full_disk_is_said_in_one_line(dvc_repo_with_loans):
    """Its copy into the cache stopped: `dvc add --quiet` failed without a word (and DVC's own output is three
    lines, the last a confirmation it asks for), so `mlops data add` could only say "DVC's message above"."""
    repo = dvc_repo_with_loans
    refused = run([sys.executable, "-c", ADD, "data/loans.csv"], repo, check=False, preexec_fn=small_files)
    output = assert_clear_error(refused, "dvc add -- data/loans.csv", os.strerror(errno.EFBIG), "free some disk space")
    assert len(output.strip().splitlines()) == 2, output  # the error and its hint
    assert (repo / "data" / "loans.csv").is_file()


def test_dvc_add_that_took_the_file_and_could_not_put_it_back_is_a_failure(dvc_repo_with_loans):
    """With the object already cached, DVC removes the file to link it back from the cache; when the disk is full
    it cannot, warns, and exits 0 with the file gone from the workspace (`mlops data add` then went on)."""
    repo = dvc_repo_with_loans
    run(["dvc", "add", "-q", "data/loans.csv"], repo)
    (repo / "data" / "loans.csv.dvc").unlink()  # untracked again, its object still in the cache
    refused = run([sys.executable, "-c", ADD, "data/loans.csv"], repo, check=False, preexec_fn=small_files)
    output = assert_clear_error(refused, "could not put it back", "free some disk space")
    assert len(output.strip().splitlines()) == 2, output
    assert not (repo / "data" / "loans.csv").exists()  # DVC's doing: the journal of `mlops data add` restores it
