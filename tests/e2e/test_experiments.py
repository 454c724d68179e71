"""Real experiments in temporary copies of the project: sweep, compare, duplicates, promote, gate, report."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import yaml

from pipeline.versioning.dvc_seam import EXP_LOG_DIR
from tests.conftest import run
from tests.conftest import test_env as env_with
from tests.e2e.data_helpers import CHROMIUM, headless_chromium

pytestmark = pytest.mark.slow

REMOTE = re.compile(r"<(script|img|iframe|link|object|embed)\b|\b(src|href)\s*=|url\(|@import|https?://", re.IGNORECASE)


def exp_refs(repo: Path) -> list[str]:
    return run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], repo).stdout.split()


def set_model(repo: Path, model: str) -> None:
    params = repo / "params.yaml"
    params.write_text(re.sub(r"(?m)^(  model:) \w+", rf"\1 {model}", params.read_text()))


def git_status(repo: Path) -> str:
    return run(["git", "status", "--porcelain"], repo).stdout


def test_a_lock_file_a_failed_git_write_left_refuses_the_next_run_before_dvc_starts(repo):
    """DVC's git library (dulwich) leaves `.git/objects/ab/<rest>.lock` when a write of that object fails (seen on a
    full disk); a later run that wrote the same object failed part-way ("File exists") and left params.yaml changed
    and staged in the workspace."""
    blob = run(["git", "hash-object", "params.yaml"], repo).stdout.strip()
    lock = repo / ".git" / "objects" / blob[:2] / f"{blob[2:]}.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_bytes(b"")
    status, params = git_status(repo), (repo / "params.yaml").read_bytes()

    for command in (["exp", "run", "-S", "train.logreg.C=0.02"], ["exp", "sweep", "train.logreg.C=0.02,0.03"]):
        refused = run(["mlops", *command], repo, check=False)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert f"lock files a failed write left (.git/objects/{blob[:2]}/{blob[2:]}.lock" in refused.stderr
        assert len(refused.stderr.splitlines()) == 2, refused.stderr  # the line and its hint
    assert git_status(repo) == status and (repo / "params.yaml").read_bytes() == params and exp_refs(repo) == []

    run(refused.stderr.split("`")[-2], repo)  # the hint's command
    assert not lock.exists()
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02"], repo)
    assert len(exp_refs(repo)) == 1 and git_status(repo) == status


def test_sweep_compare_duplicates_and_promote(repo):
    status = git_status(repo)
    sweep = run(
        [
            "mlops",
            "exp",
            "sweep",
            "train.model=hgb",
            "train.hgb.max_iter=20,40,60,80",
            "--subset",
            "0.3",
            "--jobs",
            "2",
        ],
        repo,
    )
    assert "4 of 4 run(s) succeeded" in sweep.stdout
    assert len(exp_refs(repo)) == 4

    table = json.loads(run(["mlops", "exp", "compare", "--json"], repo).stdout)
    assert table["changed_params"] == ["data.sample_frac", "train.model", "train.hgb.max_iter"]
    rows = table["rows"]
    assert rows[0]["name"] == "workspace" and len(rows) == 5
    assert {row["params"]["train.hgb.max_iter"] for row in rows[1:]} == {20, 40, 60, 80}
    assert all(set(row["params"]) == set(table["changed_params"]) for row in rows)
    assert all(row["subset"] == 0.3 and "roc_auc" in row["deltas"] for row in rows[1:])

    screen = run(["mlops", "exp", "compare"], repo).stdout
    assert all(len(line) <= 100 for line in screen.splitlines())
    assert (
        run(["mlops", "exp", "compare", "--top", "2", "--csv"], repo).stdout.count("\n") == 4
    )  # header, workspace, best two

    duplicate = run(
        ["mlops", "exp", "run", "-S", "train.model=hgb", "-S", "train.hgb.max_iter=40", "--subset", "0.3"], repo
    )
    assert "Skipped: experiment hgb-max_iter-40-" in duplicate.stdout
    assert len(exp_refs(repo)) == 4

    subset_name = rows[1]["name"]
    head = run(["git", "rev-parse", "HEAD"], repo).stdout
    refused = run(["mlops", "exp", "promote", subset_name], repo, check=False)
    assert refused.returncode == 2 and "subset run" in refused.stderr
    assert run(["git", "rev-parse", "HEAD"], repo).stdout == head
    assert git_status(repo) == status

    ran = run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--name", "wider-c"], repo)
    assert "dvc exp apply" not in ran.stdout + ran.stderr  # DVC's advice; ours is `mlops exp apply/promote`
    readme = (repo / "README.md").read_text()
    (repo / "README.md").write_text(readme + "an edit not yet committed\n")  # DVC's apply would reset it
    for command in ("apply", "promote"):
        refused = run(["mlops", "exp", command, "wider-c"], repo, check=False)
        assert refused.returncode == 2 and "uncommitted changes: README.md" in refused.stderr, refused.stderr
    assert (repo / "README.md").read_text().endswith("an edit not yet committed\n")
    assert run(["git", "rev-parse", "HEAD"], repo).stdout == head
    (repo / "README.md").write_text(readme)
    promoted = run(["mlops", "exp", "promote", "wider-c"], repo)
    assert "Committed: Promote experiment wider-c: roc_auc" in promoted.stdout
    assert "commit with" not in promoted.stdout + promoted.stderr  # no advice to do what it just did
    message = run(["git", "log", "-1", "--format=%B"], repo).stdout
    assert message.startswith("Promote experiment wider-c: roc_auc ")
    assert "C: 0.02" in (repo / "params.yaml").read_text()
    promoted = ("params.yaml", "dvc.lock", "reports/")
    assert not [line for line in git_status(repo).splitlines() if line[3:].startswith(promoted)]
    diff = run(["git", "diff", "--no-color", "-U0", "HEAD~", "HEAD", "--", "params.yaml"], repo).stdout
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-    C: 0.01",
        "+    C: 0.02",
    ]  # every other line as the user wrote it (`drop: [rownames]` stays a flow list)

    head, status = run(["git", "rev-parse", "HEAD"], repo).stdout, git_status(repo)
    again = run(["mlops", "exp", "promote", "wider-c"], repo, check=False)
    assert again.returncode == 2
    assert again.stderr.startswith("error: wider-c has the params and dvc.lock of the workspace: nothing to promote")
    assert run(["git", "rev-parse", "HEAD"], repo).stdout == head and git_status(repo) == status

    applied = run(["mlops", "exp", "apply", subset_name], repo).stdout
    assert f"Applied {subset_name}, a subset run (data.sample_frac = 0.3)" in applied
    assert "mlops exp promote" not in applied and "set data.sample_frac: 1.0 in params.yaml" in applied


def test_promote_of_a_subset_run_names_the_full_run_that_replaces_it(repo):
    """The hint was `mlops exp run -S key=value (without --subset)`: placeholders, which run as typed were refused."""
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--subset", "0.3", "--name", "quick-c"], repo)
    refused = run(["mlops", "exp", "promote", "quick-c"], repo, check=False)
    assert refused.returncode == 2 and refused.stderr.splitlines()[-1] == (
        "  hint: run it on all the data first: `mlops exp run -S train.logreg.C=0.02`, then `mlops exp promote` "
        "that run"
    ), refused.stderr
    full = run(["bash", "-c", refused.stderr.split("`")[1]], repo).stdout
    name = full.split("Ran experiment(s): ", 1)[1].split()[0]
    assert "Committed: Promote experiment" in run(["mlops", "exp", "promote", name], repo).stdout
    assert "C: 0.02" in (repo / "params.yaml").read_text()

    made = run(["mlops", "repro", "--subset", "0.4"], repo).stdout  # 0.3: quick-c's params again, skipped
    subset = made.split("Experiment ", 1)[1].split()[0]
    refused = run(["mlops", "exp", "promote", subset], repo, check=False)
    assert refused.returncode == 2 and "first: `mlops repro` (its other params are the workspace's" in refused.stderr


def test_gate_fails_a_regression_and_passes_an_improvement(repo):
    passed = run(["mlops", "gate", "--against", "HEAD"], repo)
    assert "gate passes" in passed.stdout
    # the same split on both sides: every test loan is unseen by both, and a model against itself is no change
    assert "test loans neither model trained on" in passed.stdout and "left out" not in passed.stdout
    assert "ROC AUC +0.0000, 95% interval +0.0000 to +0.0000: within noise" in passed.stdout

    set_model(repo, "hgb")
    run(["mlops", "repro"], repo)
    failed = run(["mlops", "gate", "--against", "HEAD"], repo, check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "gate FAILS: roc_auc" in failed.stdout

    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", "worse model"], repo)
    set_model(repo, "logreg")
    run(["mlops", "repro"], repo)
    improved = run(["mlops", "gate", "--against", "HEAD", "--tolerance", "0.0"], repo)
    assert "better" in improved.stdout


def test_gate_and_report_against_an_experiment_name_give_its_commit(repo, tmp_path):
    """--against the name of an experiment (not a git revision) said only 'no such revision'."""
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--subset", "0.2", "--name", "wider-c"], repo)
    [ref] = [ref for ref in exp_refs(repo) if ref.endswith("/wider-c")]
    commit = run(["git", "rev-parse", ref], repo).stdout.strip()
    for command in (["gate", "--against", "wider-c"], ["report", "--against", "wider-c", "--out", str(tmp_path / "r")]):
        refused = run(["mlops", *command], repo, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.startswith("error: --against wider-c: no such revision; 'wider-c' is an experiment")
        assert f"--against {commit[:12]}" in refused.stderr, refused.stderr
    gated = run(["mlops", "gate", "--against", commit[:12]], repo, check=False)
    assert "gate" in gated.stdout and gated.returncode in (0, 1), gated.stdout + gated.stderr


def test_against_an_experiment_named_like_a_file_gives_its_commit_and_a_file_alone_is_said_to_be_one(repo):
    """A file's name where a revision goes is said to be a file; an experiment of that name (DVC takes it) is still
    pointed to by its commit, not called a file."""
    refused = run(["mlops", "gate", "--against", "params.yaml"], repo, check=False)
    assert refused.stderr.startswith("error: 'params.yaml' is a file in the work tree, not a revision"), refused.stderr
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--subset", "0.2", "--name", "params.yaml"], repo)
    [ref] = [ref for ref in exp_refs(repo) if ref.endswith("/params.yaml")]
    commit = run(["git", "rev-parse", "--short=12", ref], repo).stdout.strip()
    refused = run(["mlops", "gate", "--against", "params.yaml"], repo, check=False)
    assert refused.returncode == 2 and refused.stderr.startswith(
        "error: --against params.yaml: no such revision; 'params.yaml' is an experiment"
    ), refused.stderr
    assert f"--against {commit}" in refused.stderr, refused.stderr


def test_gate_and_report_refuse_a_name_that_is_both_a_branch_and_a_tag(repo, tmp_path):
    """--against a name that is a tag and, on another commit, a branch took the tag without a word."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    run(["git", "tag", "same"], repo)
    run(["git", "branch", "same", "HEAD~1"], repo)
    for command in (["gate", "--against", "same"], ["report", "--against", "same", "--out", str(tmp_path / "r")]):
        refused = run(["mlops", *command], repo, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.startswith("error: 'same' is both a branch (commit "), refused.stderr
        assert "refs/heads/same or refs/tags/same" in refused.stderr and not (tmp_path / "r").exists()
    assert "gate passes" in run(["mlops", "gate", "--against", "refs/tags/same"], repo).stdout


def test_a_subset_gate_against_other_test_loans_scores_both_models_on_the_loans_neither_trained_on(repo):
    """Each subset run is tested on its own revision's split: against a revision with other data or split params
    the gate set their recorded metrics side by side, measured on other loans, and passed or failed on that."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("test_size: 0.2", "test_size: 0.25"))
    run(["mlops", "repro"], repo)
    run("git add -A && git commit -q --no-verify -m 'a larger test split'", repo)
    gated = run(["mlops", "gate", "--against", "HEAD~1", "--subset", "0.3"], repo, check=False)
    assert gated.returncode in (0, 1), gated.stdout + gated.stderr
    assert "Both models scored on " in gated.stdout and "test loans neither model trained on" in gated.stdout
    assert "95% interval" in gated.stdout, gated.stdout


def test_a_report_on_a_stale_workspace_says_its_page_shows_the_last_runs_metrics(repo, tmp_path):
    """The gate refuses a stale workspace and compare warns; the report silently set the last run's metrics and
    model beside today's params (a changed cost turned its verdicts into `other costs`)."""
    page = tmp_path / "report.html"
    assert run(["mlops", "report", "--against", "HEAD", "--out", str(page)], repo).stderr == ""
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("cost_good_rejected: 1.0", "cost_good_rejected: 2.0"))
    stale = run(["mlops", "report", "--against", "HEAD", "--out", str(page)], repo)
    assert stale.stderr.startswith("The workspace changed since its last run (train, evaluate stale)"), stale.stderr
    assert "Run `mlops repro` first" in stale.stderr and page.is_file()


def test_a_worktree_sharing_the_cache_links_its_data_as_the_workspace_is_set_to(repo, monkeypatch):
    """`mlops gate --against REV --subset F` and `mlops monitor retrain` work in a git worktree that shares the
    cache: its config named the cache folder alone, so DVC copied there every data file the user has it link
    (`dvc config --local cache.type symlink`, for big data), and made cache folders that a group sharing the cache
    (`cache.shared group`) could not write to. DVC's own experiment copies keep the workspace's local config."""
    from pipeline.versioning import dvc_seam

    run(["dvc", "config", "--local", "cache.type", "symlink"], repo)
    run(["dvc", "config", "--local", "cache.shared", "group"], repo)
    monkeypatch.chdir(repo)
    with dvc_seam.worktree_sharing_cache("HEAD") as worktree:
        run(["dvc", "checkout", "--quiet"], worktree)
        split = worktree / "data" / "split" / "train.parquet"
        assert split.is_symlink() and split.resolve().is_relative_to((repo / ".dvc" / "cache").resolve())
        assert run(["dvc", "config", "cache.shared"], worktree).stdout.strip() == "group"


def test_gate_refuses_stale_metrics(repo):
    set_model(repo, "hgb")
    stale = run(["mlops", "gate"], repo, check=False)
    assert stale.returncode == 2 and "out of date" in stale.stderr


def png_is_drawn(png: bytes) -> bool:
    """Whether a PNG screenshot has real content: many distinct byte values in its pixel data."""
    pixels, at = b"", 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        if kind == b"IDAT":
            pixels += png[at + 8 : at + 8 + length]
        at += 12 + length
    return len(set(zlib.decompress(pixels))) > 64


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_names_the_revision_by_its_12_character_commit_as_messages_do(repo, tmp_path):
    page = tmp_path / "report.html"
    run(["mlops", "report", "--against", "HEAD", "--out", str(page)], repo)
    commit = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    text = page.read_text()
    assert f"HEAD ({commit[:12]})" in text and f"HEAD ({commit[:8]})" not in text, text[:2_000]


def test_report_renders_in_a_browser_without_requests(repo, tmp_path):
    set_model(repo, "hgb")
    run(["mlops", "repro"], repo)
    page = tmp_path / "report.html"
    run(["mlops", "report", "--against", "HEAD", "--out", str(page)], repo)
    text = page.read_text()
    assert len(text) > 5000 and text.count("<polyline") >= 6 and "Model card" in text
    assert "test loans neither model trained on" in text and "95% interval" in text

    browser = headless_chromium(tmp_path / "profile", "--window-size=1280,1400")
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<svg" in dom.stdout and "Test metrics" in dom.stdout
    assert REMOTE.search(dom.stdout) is None, REMOTE.search(dom.stdout)

    shot = tmp_path / "shot.png"
    subprocess.run([*browser, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert png_is_drawn(shot.read_bytes())


def test_ci_gate_and_report_steps(repo, tmp_path):
    """The pull-request script's gate and report: subset runs of the workspace and of the base revision."""
    out = tmp_path / "ci-out"
    env_extra = {"BASE": "HEAD", "SUBSET": "0.3", "OUT": str(out)}
    result = run([str(repo / ".ci" / "pr-checks"), "gate-report"], repo, env=env_with(**env_extra))
    assert "gate passes" in result.stdout
    assert "running subset experiment" in result.stdout
    assert (out / "report.html").stat().st_size > 5000
    again = run(["mlops", "gate", "--against", "HEAD", "--subset", "0.3"], repo)
    assert again.stdout.count("using subset experiment") == 2  # both runs found, none repeated


def test_the_ci_scripts_default_output_folder_stays_out_of_git(repo):
    """`.ci/pr-checks` run locally as docs/experiments.md shows writes `ci-out/`: git ignores it, so the gate's
    text and the report page are not one `git add -A` from being committed."""
    status = git_status(repo)
    run([str(repo / ".ci" / "pr-checks"), "report"], repo, env=env_with(BASE="HEAD"))
    assert (repo / "ci-out" / "report.html").is_file()
    assert git_status(repo) == status


def test_a_sweep_point_is_the_exp_run_of_the_settings_its_model_reads(repo):
    """A grid point sets only what its model reads: the logreg point of a grid that also lists an hgb setting is the
    `mlops exp run` of its logreg settings, so it is skipped as that experiment (it set train.hgb.max_iter and ran
    the same model again, named after a setting logreg does not read)."""
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.2", "--subset", "0.3", "--name", "c-two"], repo)
    grid = ["train.model=logreg,hgb", "train.logreg.C=0.2", "train.hgb.max_iter=20", "--subset", "0.3"]
    planned = run(["mlops", "exp", "sweep", *grid, "--matrix"], repo)
    assert planned.stderr == (
        "skip train.model=logreg train.logreg.C=0.2 data.sample_frac=0.3: same as experiment c-two\n"
    )
    assert [job["set"] for job in json.loads(planned.stdout)["include"]] == [
        "train.model=hgb train.hgb.max_iter=20 data.sample_frac=0.3"
    ]


def test_a_point_recorded_since_the_sweep_was_planned_is_not_run_again(repo, monkeypatch):
    """A point another command made into an experiment between this sweep's plan and the point's start (another
    sweep of a grid sharing it, which ran it first) was run again: two experiments of the same params."""
    from pipeline.experiments import runs

    monkeypatch.chdir(repo)
    plan = runs.plan_sweep(["train.logreg.C=0.2,0.3"], 0.3)
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.3", "--subset", "0.3", "--name", "c-three"], repo)

    result = runs.run_sweep(plan.todo, 1, lambda progress: None, plan.known)

    (ran, _), (left, _) = plan.todo
    assert list(result.statuses) == [ran] and result.statuses[ran] == 0
    assert result.left_to_others == {left: "same as experiment c-three, recorded since this sweep was planned"}
    assert len(exp_refs(repo)) == 2
    assert not list((repo / runs.POINT_LOCKS).iterdir()), "a point's lock file outlived its run"


def test_a_point_claim_ends_with_its_lock_file_and_the_point_can_be_claimed_again(tmp_path, monkeypatch):
    """Each point's lock file was left for good, one per point ever run."""
    from pipeline.experiments import runs

    monkeypatch.chdir(tmp_path)
    held = runs.claim_point("abc", {"train.logreg.C": 0.2}, "c-first")
    with pytest.raises(runs.PointTaken, match="^c-first$"):
        runs.claim_point("abc", {"train.logreg.C": 0.2}, "c-second")
    other = runs.claim_point("abc", {"train.logreg.C": 0.3}, "c-other")  # another point: its own claim

    runs.release_lock(held)

    assert [path.read_text() for path in (tmp_path / runs.POINT_LOCKS).iterdir()] == ["c-other"]
    runs.release_lock(runs.claim_point("abc", {"train.logreg.C": 0.2}, "c-second"))
    runs.release_lock(other)
    assert not list((tmp_path / runs.POINT_LOCKS).iterdir())


def test_a_claim_whose_lock_file_was_removed_as_it_locked_it_claims_the_file_at_the_path(tmp_path, monkeypatch):
    """A command that opened a point's lock file just before its holder removed it got the lock of a removed file:
    a third command then made a new one, and both held the point."""
    import fcntl

    from pipeline.experiments import runs

    monkeypatch.chdir(tmp_path)
    point = {"train.logreg.C": 0.2}
    first = runs.claim_point("abc", point, "c-first")
    flock = fcntl.flock

    def first_ends_as_it_is_locked(handle, operation):
        if not first.closed:
            runs.release_lock(first)
        return flock(handle, operation)

    monkeypatch.setattr(fcntl, "flock", first_ends_as_it_is_locked)
    second = runs.claim_point("abc", point, "c-second")
    monkeypatch.setattr(fcntl, "flock", flock)

    with pytest.raises(runs.PointTaken, match="^c-second$"):
        runs.claim_point("abc", point, "c-third")
    runs.release_lock(second)


def test_a_failed_run_does_not_stop_the_sweep(repo):
    status = git_status(repo)
    # 0.0005 of the training rows leaves a single class: the train stage refuses it; the 0.3 run goes on.
    sweep = run(
        ["mlops", "exp", "sweep", "train.model=hgb", "train.hgb.max_iter=20", "data.sample_frac=0.0005,0.3"],
        repo,
        check=False,
    )
    assert sweep.returncode == 1
    assert "1 of 2 run(s) succeeded" in sweep.stdout
    log = re.search(r"failed: (\S+) \(log: (\S+)\)", sweep.stdout)
    assert log and "single class" in (repo / log.group(2)).read_text()
    assert len(exp_refs(repo)) == 1
    assert git_status(repo) == status


def test_a_sweep_waits_for_the_repo_lock_another_dvc_command_holds(repo):
    # A run that found DVC's repo lock taken for over 3 s (a concurrent run's, on a busy machine) failed:
    # 'Unable to acquire lock'. Here another command holds it for 8 s as the sweep starts.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, zc.lockfile; lock = zc.lockfile.LockFile('.dvc/tmp/lock'); "
            "print('held', flush=True); time.sleep(8); lock.close()",
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    sweep = run(["mlops", "exp", "sweep", "train.logreg.C=0.3,0.4", "--subset", "0.2"], repo, check=False)
    holder.wait()
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert "2 of 2 run(s) succeeded" in sweep.stdout


def wait_for(condition, process: subprocess.Popen, what: str) -> None:
    for _ in range(6000):
        if condition():
            return
        assert process.poll() is None, f"the command ended before {what}: {process.communicate()}"
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def test_a_name_another_run_is_making_is_refused_not_overwritten(repo):
    """Two runs given one --name at once both said they ran, and DVC kept only the second one's experiment."""
    first = subprocess.Popen(
        ["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--name", "twin"],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: any((repo / ".dvc/tmp/mlops-experiment-names").glob("*")), first, "the first run took its name")
    second = run(["mlops", "exp", "run", "-S", "train.logreg.C=0.03", "--name", "twin"], repo, check=False)
    assert second.returncode == 2, second.stdout + second.stderr
    assert "error: another mlops command is running an experiment called twin" in second.stderr, second.stderr
    assert first.wait(timeout=600) == 0, first.communicate()
    [ref] = [ref for ref in exp_refs(repo) if ref.endswith("/twin")]
    assert "C: 0.02" in run(["git", "show", f"{ref}:params.yaml"], repo).stdout
    again = run(["mlops", "exp", "run", "-S", "train.logreg.C=0.04", "--name", "twin"], repo, check=False)
    assert again.returncode == 2 and "error: an experiment called twin exists" in again.stderr, again.stderr


def test_a_sweep_stops_starting_points_once_head_moves(repo):
    """Each run starts from HEAD: a promotion during a sweep ran its later points on the promoted model, under the
    names the plan gave them for the old one."""
    status = git_status(repo)
    sweep = subprocess.Popen(
        ["mlops", "exp", "sweep", "train.logreg.C=0.02,0.03,0.04", "--subset", "0.3", "--jobs", "1"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: any((repo / EXP_LOG_DIR).glob("*.log")), sweep, "the first point started")  # its log
    run(["git", "commit", "-q", "--allow-empty", "--no-verify", "-m", "moved"], repo)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 2, out + err
    assert f"error: HEAD moved to {head[:12]} while the sweep ran" in err and "2 point(s) were not run" in err, err
    assert len(exp_refs(repo)) == 1  # the point that started from the planned commit
    assert git_status(repo) == status


def queued_experiments(repo: Path) -> list[str]:
    """The messages of the entries on DVC's shared experiment stash (`dvc exp run` queues there, then runs)."""
    listed = run(["git", "log", "-g", "--format=%s", "refs/exps/stash"], repo, check=False)
    return listed.stdout.splitlines() if listed.returncode == 0 else []


def test_each_run_takes_only_the_experiment_it_queued(repo):
    # As a concurrent run leaves the shared stash between its queueing and its start: an entry that is not ours.
    queue_theirs = (
        "from dvc.repo import Repo; "
        "Repo('.').experiments.tempdir_queue.put(params={'params.yaml': ['train.logreg.C=0.5']}, name='theirs')"
    )
    run([sys.executable, "-c", queue_theirs], repo)
    [theirs] = queued_experiments(repo)
    assert theirs.endswith(":theirs")

    run(["mlops", "exp", "run", "--set", "train.logreg.C=0.1", "--subset", "0.3", "--name", "mine"], repo)
    sweep = run(["mlops", "exp", "sweep", "train.logreg.C=0.2", "--subset", "0.3"], repo)
    assert "1 of 1 run(s) succeeded" in sweep.stdout

    names = [ref.rsplit("/", 1)[-1] for ref in exp_refs(repo) if ref != "refs/exps/stash"]
    assert len(names) == 2 and "mine" in names and "theirs" not in names, names
    assert queued_experiments(repo) == [theirs]  # left for the run that queued it


def test_compare_says_when_the_workspace_row_is_from_an_older_run(repo):
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.06"))
    compared = run(["mlops", "exp", "compare"], repo)
    assert "The workspace changed since its last run (train stale)" in compared.stderr
    assert json.loads(run(["mlops", "exp", "compare", "--json"], repo).stdout)["stale_workspace"] == ["train"]


def test_an_experiment_name_git_reads_as_a_revision_is_refused(repo):
    """`mlops exp run --name HEAD` (or a branch's or a tag's name) ran and kept the experiment: `--against HEAD`, git
    and DVC's own commands read the name as git's HEAD, the branch or the tag, never as the experiment."""
    run(["git", "tag", "v1"], repo)
    branch = run(["git", "branch", "--show-current"], repo).stdout.strip()
    commit = run(["git", "rev-parse", "--short=8", "HEAD"], repo).stdout.strip()
    kinds = (("HEAD", "git's HEAD"), (branch, "a branch"), ("v1", "a tag"), (commit, "a commit id"))
    for name, kind in kinds:
        refused = run(["mlops", "exp", "run", "--name", name, "--subset", "0.2"], repo, check=False)
        assert refused.returncode == 2 and refused.stderr.splitlines() == [
            f"error: --name '{name}' is {kind} here: `--against {name}` and git would read it as that, not the "
            "experiment",
            "  hint: choose a name that is no branch, tag or HEAD, e.g. --name lr-0.1",
        ], refused.stdout + refused.stderr
    assert exp_refs(repo) == []


def test_an_experiment_named_like_a_tag_applies_the_experiment(repo):
    """DVC reads `dvc exp apply v1` as the git tag v1 first: the workspace stayed HEAD's, and DVC said the
    experiment was applied."""
    run(["mlops", "exp", "run", "--name", "v1", "--subset", "0.3", "-S", "train.logreg.C=0.05"], repo)
    run(["git", "tag", "v1"], repo)  # after the run, which refuses a tag's name (a teammate's tag may come later)
    run(["mlops", "exp", "apply", "v1"], repo)
    assert "    C: 0.05\n" in (repo / "params.yaml").read_text()
    assert "sample_frac: 0.3" in (repo / "params.yaml").read_text()


def test_an_applied_subset_run_is_kept_as_apply_says(hooked):
    """Apply said "set data.sample_frac: 1.0 in params.yaml and `git commit`": a bare `git commit` had nothing
    staged, and with params.yaml added the hook refused the subset run's dvc.lock and reports as unstaged edits."""
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.05", "--subset", "0.3", "--name", "quick"], hooked)
    applied = run(["mlops", "exp", "apply", "quick"], hooked).stdout
    assert "set data.sample_frac: 1.0 in params.yaml and `git commit -a`" in applied, applied
    params = hooked / "params.yaml"
    params.write_text(re.sub(r"sample_frac: 0\.3\b", "sample_frac: 1.0", params.read_text()))
    first = run(["git", "commit", "-a", "-m", "C 0.05"], hooked, check=False)
    assert first.returncode == 1 and "retrained" in first.stdout + first.stderr, first.stdout + first.stderr
    run(["git", "commit", "-a", "-m", "C 0.05"], hooked)
    assert run(["git", "status", "--porcelain"], hooked).stdout == ""
    assert "C: 0.05" in run(["git", "show", "HEAD:params.yaml"], hooked).stdout
    assert "would run nothing" in run(["mlops", "status"], hooked).stdout


def test_an_applied_experiment_is_promoted_as_apply_says(repo):
    """`mlops exp apply NAME` ends "commit with `mlops exp promote NAME`": promote refused the changes apply made."""
    run(["mlops", "exp", "run", "-S", "train.logreg.C=0.02", "--name", "wider-c"], repo)
    applied = run(["mlops", "exp", "apply", "wider-c"], repo).stdout
    assert "commit with `mlops exp promote wider-c`" in applied
    readme = (repo / "README.md").read_text()
    (repo / "README.md").write_text(readme + "an edit of the user's\n")  # not the experiment's: still refused
    refused = run(["mlops", "exp", "promote", "wider-c"], repo, check=False)
    assert refused.returncode == 2 and "uncommitted changes: README.md" in refused.stderr, refused.stderr
    (repo / "README.md").write_text(readme)
    promoted = run(["mlops", "exp", "promote", "wider-c"], repo, check=False)
    assert promoted.returncode == 0, promoted.stderr
    assert "Committed: Promote experiment wider-c: roc_auc" in promoted.stdout
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], repo).stdout == ""
    assert "C: 0.02" in run(["git", "show", "HEAD:params.yaml"], repo).stdout


def test_an_apply_whose_model_is_in_no_cache_leaves_the_workspace_as_it_was(repo):
    """DVC writes the experiment's params.yaml, dvc.lock and reports, then checks out its model: with the model in
    no cache here that failed, and left them applied beside no model at all."""
    run(["mlops", "exp", "run", "--name", "lost-model", "--subset", "0.3", "-S", "train.logreg.C=0.05"], repo)
    (ref,) = exp_refs(repo)
    lock = yaml.safe_load(run(["git", "show", f"{ref}:dvc.lock"], repo).stdout)
    (model,) = [out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.skops"]
    (repo / ".dvc/cache/files/md5" / model[:2] / model[2:]).unlink()
    shutil.rmtree(repo.parent / "lending-mlops-dvc-remote", ignore_errors=True)  # nor in the remote: nowhere
    before = (repo / "models/model.skops").read_bytes()
    failed = run(["mlops", "exp", "apply", "lost-model"], repo, check=False)
    assert failed.returncode == 2 and "error: could not apply lost-model" in failed.stderr, failed.stderr
    assert "its models/model.skops is in no cache here: `mlops exp pull lost-model` fetches it" in failed.stderr
    assert git_status(repo) == ""
    assert (repo / "models/model.skops").read_bytes() == before
    assert "would run nothing" in run(["mlops", "status"], repo).stdout


def test_compare_lists_an_experiment_that_failed_in_dvcs_queue(repo):
    """A queued experiment whose run failed left no trace in `mlops exp compare` (DVC makes no experiment ref of a
    failed run): it is listed beside the table, with the params it set and the command that shows why."""
    run(["dvc", "exp", "run", "--queue", "-S", "seed=1.5", "--name", "bad-seed"], repo)  # the stages refuse it
    run(["dvc", "exp", "run", "--run-all"], repo)
    assert "Input should be a valid integer" in run(["dvc", "queue", "logs", "bad-seed"], repo).stdout

    failed = (
        "Failed: bad-seed (seed=1.5) has no metrics; see why with `dvc queue logs bad-seed` "
        "(`dvc queue remove bad-seed` drops it).\n"
    )
    screen = run(["mlops", "exp", "compare"], repo)
    assert screen.stderr == failed and "No experiments yet" not in screen.stdout
    compared = run(["mlops", "exp", "compare", "--json"], repo)
    table = json.loads(compared.stdout)
    assert [row["name"] for row in table["rows"]] == ["workspace"] and table["changed_params"] == []
    assert table["failed"] == [
        {
            "name": "bad-seed",
            "params": {"seed": 1.5},
            "logs": "dvc queue logs bad-seed",
            "drop": "dvc queue remove bad-seed",
        }
    ]
    csv = run(["mlops", "exp", "compare", "--csv"], repo)
    assert csv.stdout.count("\n") == 2 and csv.stderr == failed  # the table alone: header and workspace

    run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "a later commit"], repo)
    assert run(["mlops", "exp", "compare"], repo).stderr == ""  # failed from another commit
    assert run(["mlops", "exp", "compare", "--all"], repo).stderr == failed


def test_exp_run_gives_no_verdict_on_a_run_measured_apart_from_the_workspace(repo):
    """`mlops exp run -S seed=7` called its change against the workspace `better` (+0.046 ROC AUC) though it was
    scored on other test loans, and `-S decision.cost_bad_approved=8` its expected cost `worse`, while
    `mlops exp compare` rightly gave both no verdict."""
    words = {}
    for setting in ("seed=7", "decision.cost_bad_approved=8"):
        shown = run(["mlops", "exp", "run", "-S", setting], repo).stdout
        words[setting] = dict(re.findall(r"│ (\w+) +│[^│]+│[^│]+│ ([a-z ]+?) +│", shown))
    key_metrics = ["roc_auc", "pr_auc", "brier", "log_loss", "expected_cost"]
    assert words["seed=7"] == dict.fromkeys(key_metrics, "other test loans"), words
    assert words["decision.cost_bad_approved=8"]["expected_cost"] == "other costs"
    assert words["decision.cost_bad_approved=8"]["roc_auc"] == "unchanged"  # the same model: costs pick the threshold


def test_the_report_gives_no_verdict_on_recorded_metrics_measured_on_other_test_loans(repo, tmp_path):
    """Against a revision with another seed, the report's metric table called each recorded change better or worse
    (red "worse" rows in the pull request's report) and said the ROC AUC change was beyond the interval, though the
    two were scored on other test loans; `mlops exp compare` says `other test loans` of the same pair."""
    run(["mlops", "exp", "run", "-S", "seed=7", "--name", "seed-7"], repo)
    commit = next(ref for ref in exp_refs(repo) if ref.endswith("/seed-7"))
    out = tmp_path / "report.html"
    run(["mlops", "report", "--against", commit, "--out", str(out)], repo)
    page = out.read_text()
    table = page[page.index('<table class="metrics">') : page.index("</table>", page.index('<table class="metrics">'))]
    words = re.findall(r"<td>([a-z ]+)</td></tr>", table)
    assert words and set(words) == {"other test loans"}, table
    assert "No verdict on the recorded metrics: other test loans" in page
    assert "DeLong interval [" not in page


@pytest.mark.parametrize("folder", ["jos\u00e9", "a#b"])
def test_experiments_where_dvc_cannot_run_them_are_refused_naming_the_path(trained_template, tmp_path, folder):
    """DVC's experiments fail under a path with a non-ASCII character or a `#`, with "'ascii' codec can't encode"
    or "No git repository was found at /tmp/a", and our hint said to read that and fix it."""
    from tests.conftest import clone_repo

    repo = clone_repo(trained_template, tmp_path / folder / "repo")
    before = git_status(repo)
    for command in (["exp", "run", "-S", "train.logreg.C=0.02"], ["exp", "sweep", "train.logreg.C=0.02,0.03"]):
        refused = run(["mlops", *command], repo, check=False)
        said = refused.stdout + refused.stderr
        assert refused.returncode == 2 and f"error: DVC's experiments cannot run in {repo}: its path holds" in said
        assert "clone or move the project to a path without them" in said and "Traceback" not in said, said
    assert exp_refs(repo) == [] and git_status(repo) == before


def test_lock_files_no_process_holds_go_at_the_next_claim(tmp_path, monkeypatch):
    """A point's lock file whose holder was killed outright (SIGKILL: the lock went with its process, the file stayed)
    was left until that same point was claimed again, and each --name's lock file stayed for good. The next claim
    removes the files no process holds; a file a live command holds stays."""
    from pipeline.experiments import runs

    monkeypatch.chdir(tmp_path)
    run(["git", "init", "-q"], tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_POINT_UNTIL_KILLED], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        live = runs.claim_point("abc", {"train.logreg.C": 0.3}, "c-live")
        assert sorted(path.read_text() for path in (tmp_path / runs.POINT_LOCKS).iterdir()) == ["c-killed", "c-live"]
    finally:
        holder.kill()
        holder.wait()
    runs.release_lock(runs.claim_point("abc", {"train.logreg.C": 0.4}, "c-next"))

    assert [path.read_text() for path in (tmp_path / runs.POINT_LOCKS).iterdir()] == ["c-live"]
    runs.release_lock(live)
    (tmp_path / runs.NAME_LOCKS).mkdir(parents=True)
    (tmp_path / runs.NAME_LOCKS / ("0" * 64)).write_text("")  # a name's file from a run killed, or from before
    with runs.name_held("lr-0.1"):
        assert len(list((tmp_path / runs.NAME_LOCKS).iterdir())) == 1
    assert not list((tmp_path / runs.NAME_LOCKS).iterdir())


HOLD_A_POINT_UNTIL_KILLED = """
import time
from pipeline.experiments import runs
held = runs.claim_point("abc", {"train.logreg.C": 0.2}, "c-killed")
print("held", flush=True)
time.sleep(600)
"""
