"""Branches that both retrained merge, rebase and cherry-pick through real git with the hooks and merge drivers
installed: no conflict markers in generated files, one retrain, a lock that a fresh `dvc repro` agrees with."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from hooks.arguments import shell_word
from hooks.dvc_post_rewrite import FINISH, FINISH_AROUND_AUTOSTASH
from hooks.merge_driver import (
    GENERATED,
    STALE_RECORD,
    driver_command,
    gitattributes_lines,
    placeholders,
    pointer_conflict,
)
from pipeline.versioning import merge_setup
from tests.conftest import ROOT, clone_repo, run, run_wide, test_env
from tests.hooks.conftest import commit, output, use_check_mode, write
from tests.hooks.test_dvc_git_integration import locked_model_md5, model_md5
from tests.hooks.test_dvc_lock_sync import set_param

TRAIN_PARAM = ("    C: 0.01", "    C: 0.02")  # train + evaluate re-run
DECISION = ("cost_good_rejected: 1.0", "cost_good_rejected: 2.0")  # train (the threshold) and evaluate
REPEATS = ("importance_repeats: 5", "importance_repeats: 3")  # evaluate only: cheap
OTHER_DECISION = ("cost_good_rejected: 1.0", "cost_good_rejected: 3.0")  # conflicts with DECISION
ITERATIONS = ("    max_iter: 2000", "    max_iter: 1500")  # the line after TRAIN_PARAM's: a conflict as text
BRANCHES = {"c": TRAIN_PARAM, "boot": DECISION, "repeats": REPEATS, "three": OTHER_DECISION}
MARKER = "<<<<<<<"


def retrained_branch(repo, name: str, change: tuple[str, str]) -> None:
    """A branch from main whose one commit changes a param and carries its retrained lock and reports."""
    run(["git", "checkout", "-q", "-b", name, "main"], repo)
    set_param(repo, *change)
    first = commit(repo, "params.yaml")
    assert first.returncode != 0 and "retrained" in output(first), output(first)
    second = commit(repo)
    assert second.returncode == 0, output(second)


@pytest.fixture(scope="session")
def retrained(tmp_path_factory, hooked_template):
    """A function giving a test its own hooked copy holding the named retrained branches (of BRANCHES), on main.
    Each branch is retrained through the real hooks once per run, when a test first asks for it."""

    def copy_with(target, *names: str):
        with run_wide(tmp_path_factory, "retrained") as directory:
            template = directory / "repo"
            if not template.exists():
                clone_repo(hooked_template, template)
            for name in names:
                if run(["git", "rev-parse", "--verify", "-q", name], template, check=False).returncode != 0:
                    try:
                        retrained_branch(template, name, BRANCHES[name])
                        run(["git", "checkout", "-q", "main"], template)
                    except BaseException:
                        shutil.rmtree(template)  # the next test starts over rather than from a half-made branch
                        raise
            return clone_repo(template, target)

    return copy_with


def files_with_markers(repo) -> list[str]:
    """Tracked files (conflicted ones included) with a line that opens a conflict."""
    tracked = sorted(set(run(["git", "ls-files", "-z"], repo).stdout.split("\0")) - {""})
    return [path for path in tracked if re.search(f"^{MARKER}( |$)", (repo / path).read_text(errors="replace"), re.M)]


def assert_clean(repo) -> None:
    """git and DVC agree: nothing to commit, nothing for `dvc repro` to run."""
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], repo).stdout == ""
    assert run(["dvc", "status", "--json"], repo).stdout.strip() in ("{}", "")


def assert_fresh_repro_gives_the_same_metrics(repo) -> None:
    """Training and evaluating afresh on the committed params (a forced `dvc repro` of train and what follows it)
    writes the committed metrics (model bytes may differ with the BLAS kernel; the metrics may not)."""
    run(["dvc", "repro", "--force", "--downstream", "train"], repo)
    assert run(["git", "diff", "--stat", "--", "reports/metrics.json", "reports/train_metrics.json"], repo).stdout == ""


def merge(repo, branch: str):
    return run(["git", "merge", "--no-edit", branch], repo, check=False)


def conclude(repo):
    return run(["git", "commit", "--no-edit"], repo, check=False)


@pytest.mark.slow
def test_two_retrained_branches_merge_into_one_retrained_merge_commit(retrained, tmp_path):
    hooked = retrained(tmp_path / "repo", "c", "boot")
    fast_forward = merge(hooked, "c")
    assert fast_forward.returncode == 0 and "Fast-forward" in fast_forward.stdout
    assert model_md5(hooked) == locked_model_md5(hooked)  # dvc-post-merge checked out c's model
    merged = merge(hooked, "boot")
    text = output(merged)
    assert merged.returncode != 0 and "retrained" in text, text
    assert "CONFLICT" not in text and files_with_markers(hooked) == []
    assert "vs HEAD:" in text and "vs boot (" in text  # the metric change against both parents
    assert "git commit` to conclude the merge" in text
    concluded = conclude(hooked)
    assert concluded.returncode == 0, output(concluded)
    parents = run(["git", "rev-list", "--parents", "-n", "1", "HEAD"], hooked).stdout.split()
    assert len(parents) == 3
    params = (hooked / "params.yaml").read_text()
    assert TRAIN_PARAM[1] in params and DECISION[1] in params
    assert_clean(hooked)
    assert_fresh_repro_gives_the_same_metrics(hooked)


@pytest.mark.slow
def test_a_squash_merge_of_two_retrained_branches_retrains_before_its_commit(retrained, tmp_path):
    """`git merge --squash` stages the merge with no MERGE_HEAD: the reports only `c` changed came from it, beside
    the kept dvc.lock of `repeats`, and the commit was refused as a hand edit of generated files."""
    hooked = retrained(tmp_path / "repo", "c", "repeats")
    run(["git", "checkout", "-q", "repeats"], hooked)
    squashed = run(["git", "merge", "--squash", "c"], hooked, check=False)
    assert squashed.returncode == 0 and files_with_markers(hooked) == [], output(squashed)
    retrain = conclude(hooked)
    text = output(retrain)
    assert retrain.returncode != 0 and "retrained" in text and "hand edit" not in text, text
    concluded = conclude(hooked)
    assert concluded.returncode == 0, output(concluded)
    params = (hooked / "params.yaml").read_text()
    assert TRAIN_PARAM[1] in params and REPEATS[1] in params
    assert run(["git", "rev-list", "--count", "main..HEAD"], hooked).stdout.strip() == "2"  # squashed: one parent
    assert_clean(hooked)
    assert_fresh_repro_gives_the_same_metrics(hooked)


@pytest.mark.slow
@pytest.mark.parametrize("how", [["merge", "--no-edit", "side"], ["merge", "--squash", "c"]])
def test_a_merge_concluded_by_git_commit_checks_out_the_model_its_lock_records(retrained, tmp_path, how):
    """A merge that stopped on a conflict in a file outside the pipeline, or a squash merge, taking the other side's
    retrained lock whole: nothing retrains, and git runs no post-merge hook for the `git commit` that concludes it,
    so our side's model stayed beside the commit's lock and `mlops status` called it modified."""
    hooked = retrained(tmp_path / "repo", "c")
    run(["git", "checkout", "-q", "-b", "side", "c"], hooked)
    write(hooked, "docs/note.md", "a note from c\n")
    assert commit(hooked, "docs/note.md").returncode == 0
    run(["git", "checkout", "-q", "main"], hooked)
    write(hooked, "docs/note.md", "a note from main\n")
    assert commit(hooked, "docs/note.md").returncode == 0
    ours = model_md5(hooked)
    run(["git", *how], hooked, check=False)
    if (hooked / ".git" / "MERGE_HEAD").exists():
        assert files_with_markers(hooked) == ["docs/note.md"]
        write(hooked, "docs/note.md", "a note from both\n")
        run(["git", "add", "docs/note.md"], hooked)
    concluded = conclude(hooked)
    assert concluded.returncode == 0, output(concluded)
    assert model_md5(hooked) == locked_model_md5(hooked) != ours
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")
    assert_clean(hooked)


@pytest.mark.slow
def test_same_param_conflict_stays_real_then_the_retrain_applies(retrained, tmp_path):
    hooked = retrained(tmp_path / "repo", "boot", "three")
    run(["git", "checkout", "-q", "three"], hooked)
    merged = merge(hooked, "boot")
    assert merged.returncode != 0
    assert "CONFLICT (content): Merge conflict in params.yaml" in merged.stdout
    assert files_with_markers(hooked) == ["params.yaml"]  # never in dvc.lock or reports
    params = (hooked / "params.yaml").read_text()
    resolved = params.split(MARKER)[0] + "  cost_good_rejected: 2.0\n" + params.split(">>>>>>> boot\n")[1]
    write(hooked, "params.yaml", resolved)
    retrain = commit(hooked, "params.yaml", args=("--no-edit",))
    assert retrain.returncode != 0 and "retrained" in output(retrain), output(retrain)
    concluded = conclude(hooked)
    assert concluded.returncode == 0, output(concluded)
    assert "cost_good_rejected: 2.0" in run(["git", "show", "HEAD:dvc.lock"], hooked).stdout
    assert_clean(hooked)


@pytest.mark.slow
def test_docs_only_merge_runs_no_stage(retrained, tmp_path):
    hooked = retrained(tmp_path / "repo", "boot")
    run(["git", "checkout", "-q", "-b", "docs"], hooked)
    write(hooked, "docs/note.md", "a note\n")
    assert commit(hooked, "docs/note.md").returncode == 0
    run(["git", "checkout", "-q", "boot"], hooked)
    lock = (hooked / "dvc.lock").read_text()
    merged = merge(hooked, "docs")
    assert merged.returncode == 0, output(merged)
    assert "Running stage" not in output(merged) and "Reproducing" not in output(merged)
    assert (hooked / "dvc.lock").read_text() == lock
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")


def hand_locked_branch(repo, name: str, change: tuple[str, str]) -> None:
    """A branch whose commit changes a param in params.yaml and dvc.lock alike (no training: enough for git)."""
    run(["git", "checkout", "-q", "-f", "-b", name, "main"], repo)
    set_param(repo, *change)
    lock = repo / "dvc.lock"
    lock.write_text(lock.read_text().replace(change[0].strip(), change[1].strip(), 1))
    run(["git", "commit", "-q", "--no-verify", "-am", name], repo)


def test_check_mode_refuses_the_merge_commit_with_the_command(hooked):
    use_check_mode(hooked)
    hand_locked_branch(hooked, "boot", DECISION)
    hand_locked_branch(hooked, "repeats", REPEATS)
    merged = merge(hooked, "boot")
    assert merged.returncode != 0 and files_with_markers(hooked) == []
    text = output(merged)
    assert "kept one side of generated files: dvc.lock" in text
    assert "param decision.cost_good_rejected changed (1.0 -> 2.0)" in text
    assert "dvc checkout --allow-missing && mlops repro" in text and "Running stage" not in text
    assert len(run(["git", "rev-list", "--parents", "-n", "1", "HEAD"], hooked).stdout.split()) == 2  # no merge


def merge_without_commit(repo, branch: str):
    """The merge as far as git merges files: no merge commit, so no pre-merge-commit retrain."""
    return run(["git", "merge", "--no-commit", "--no-edit", branch], repo, check=False)


def test_params_changed_on_neighbouring_lines_merge_key_by_key(hooked):
    hand_locked_branch(hooked, "c", TRAIN_PARAM)
    hand_locked_branch(hooked, "iterations", ITERATIONS)
    merged = merge_without_commit(hooked, "c")
    text = output(merged)
    assert "CONFLICT" not in text and "params.yaml: merged key by key (train.logreg.C from c)" in text, text
    assert run(["git", "diff", "--name-only", "--diff-filter=U"], hooked).stdout == ""
    ours = run(["git", "show", "iterations:params.yaml"], hooked).stdout
    assert (hooked / "params.yaml").read_text() == ours.replace(TRAIN_PARAM[0], TRAIN_PARAM[1], 1)  # comments kept


def test_a_param_both_sides_changed_stays_a_conflict_named_by_its_key(hooked):
    hand_locked_branch(hooked, "three", OTHER_DECISION)
    hand_locked_branch(hooked, "boot", DECISION)
    merged = merge_without_commit(hooked, "three")
    assert "CONFLICT (content): Merge conflict in params.yaml" in merged.stdout
    assert "params.yaml: both sides changed decision.cost_good_rejected: keep one value of each" in output(merged)
    params = (hooked / "params.yaml").read_text()
    assert "<<<<<<< HEAD\n  cost_good_rejected: 2.0" in params and "cost_good_rejected: 3.0" in params
    assert "\n>>>>>>> three\n" in params  # labelled as git labels its own markers
    assert files_with_markers(hooked) == ["params.yaml"]


def test_a_clone_without_the_merge_drivers_is_told_how_to_finish_the_merge(repo):
    """`mlops hooks install` never ran: git merges dvc.lock as text. Every command names the conflict and the way
    out (not "not valid YAML ... `git diff` shows what changed"), and following it concludes the merge."""
    hand_locked_branch(repo, "three", OTHER_DECISION)
    hand_locked_branch(repo, "boot", DECISION)
    merged = merge(repo, "three")
    assert "CONFLICT (content): Merge conflict in dvc.lock" in merged.stdout, output(merged)
    for command in (["status"], ["repro"], ["data", "status"]):
        result = run(["mlops", *command], repo, check=False)
        assert result.returncode == 2, output(result)
        assert result.stderr.startswith("error: dvc.lock holds unresolved merge conflict markers (line ")
        assert "`git checkout --ours -- dvc.lock reports`, `mlops repro`" in result.stderr
        assert "mlops hooks install" in result.stderr and "not valid YAML" not in result.stderr
    run(["git", "checkout", "--ours", "--", "dvc.lock", "reports"], repo)
    result = run(["mlops", "status"], repo, check=False)
    assert result.returncode == 2 and "params.yaml holds unresolved merge conflict markers (line " in result.stderr
    assert "resolve the conflict in params.yaml (keep one value of each key), `git add params.yaml`" in result.stderr
    params = (repo / "params.yaml").read_text()
    write(
        repo,
        "params.yaml",
        params.split(MARKER)[0] + "  cost_good_rejected: 3.0\n" + params.split(">>>>>>> three\n")[1],
    )
    run(["git", "add", "params.yaml"], repo)
    run(["mlops", "repro"], repo)
    run(["git", "add", "dvc.lock", "reports"], repo)
    run(["git", "commit", "-q", "--no-edit"], repo)
    assert "cost_good_rejected: 3.0" in run(["git", "show", "HEAD:dvc.lock"], repo).stdout
    assert_clean(repo)


def test_an_aborted_merge_rebase_or_cherry_pick_leaves_no_placeholder_behind(hooked):
    """git runs no hook on `--abort`: the record of the sides the driver kept must not outlive the operation (it
    sent `mlops status` on asking for a retrain and a commit of a workspace that is HEAD's, clean)."""
    hand_locked_branch(hooked, "three", OTHER_DECISION)
    hand_locked_branch(hooked, "repeats", REPEATS)
    hand_locked_branch(hooked, "boot", DECISION)
    before = run(["mlops", "status"], hooked).stdout
    for start, abort in [
        (["merge", "--no-commit", "repeats"], ["merge", "--abort"]),
        (["rebase", "three"], ["rebase", "--abort"]),
        (["cherry-pick", "three"], ["cherry-pick", "--abort"]),
    ]:
        run(["git", *start], hooked, check=False)
        assert "dvc.lock" in (hooked / ".git" / STALE_RECORD).read_text(), start  # the driver kept a side
        run(["git", *abort], hooked)
        assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""
        assert run(["mlops", "status"], hooked).stdout == before, abort
    run(["git", "merge", "--no-commit", "repeats"], hooked)
    run(["git", "commit", "-q", "--no-verify", "--no-edit"], hooked)  # concluded without the retrain: still owed
    assert "kept one side of dvc.lock" in run(["mlops", "status"], hooked, check=False).stdout


@pytest.mark.slow
def test_an_abort_then_an_ordinary_commit_brings_no_placeholder_back(retrained, tmp_path):
    """git runs no hook on `git merge --abort`, `git cherry-pick --abort` or `git am --abort`: the record of the
    sides the driver kept outlived them, and once the next commit moved HEAD past the commit they started from,
    `mlops status` asked for a retrain of a workspace that needs none. Their reset sets HEAD back to that commit, and
    the reference-transaction script drops the record then. A pick that concluded still owes its retrain after the
    next commit."""
    hooked = retrained(tmp_path / "repo", "boot", "three", "repeats")
    run(["git", "checkout", "-q", "boot"], hooked)
    patch = tmp_path / "three.patch"  # `git am -3` of a mailed patch: three-way, so the driver keeps a side
    mail = ["git", "-c", "diff.noprefix=false", "format-patch", "--no-color", "-1", "--stdout", "three"]  # as mailed
    patch.write_text(run(mail, hooked).stdout)
    for number, (start, abort) in enumerate(
        [
            (["merge", "--no-commit", "repeats"], ["merge", "--abort"]),
            (["cherry-pick", "three"], ["cherry-pick", "--abort"]),
            (["cherry-pick", "repeats", "three"], ["cherry-pick", "--abort"]),  # repeats picked, then a conflict
            (["am", "-3", str(patch)], ["am", "--abort"]),
        ]
    ):
        run(["git", *start], hooked, check=False)
        assert "dvc.lock" in (hooked / ".git" / STALE_RECORD).read_text(), start  # the driver kept a side
        run(["git", *abort], hooked)
        write(hooked, f"docs/note-{number}.md", "a note\n")
        assert commit(hooked, f"docs/note-{number}.md").returncode == 0
        assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date"), start
    run(["git", "cherry-pick", "repeats"], hooked)  # no conflict: concluded at once, on boot's lock
    write(hooked, "docs/note.md", "a note\n")
    assert commit(hooked, "docs/note.md").returncode == 0
    assert "kept one side of dvc.lock" in run(["mlops", "status"], hooked, check=False).stdout


def pointer(repo, branch: str, start: str, rows: str, data: str = "data/external/loans.csv") -> str:
    """A branch from `start` whose commit points `data` at new content (`dvc add`)."""
    run(["git", "checkout", "-q", "-f", "-b", branch, start], repo)
    write(repo, data, "a,b\n" + rows)
    run(["dvc", "add", "-q", "--", data], repo)
    ignore = str(Path(data).parent / ".gitignore")
    run(["git", "add", "--", f"{data}.dvc", ignore], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", f"data on {branch}"], repo)
    return (repo / f"{data}.dvc").read_text()


@pytest.mark.parametrize("data", ["data/external/loans.csv", "-loans.csv"])  # the second: %P read as an option
def test_divergent_pointers_of_one_data_file_stop_with_the_versions_and_the_fix(hooked, data):
    base = pointer(hooked, "with-data", "main", "1,2\n", data)
    theirs = pointer(hooked, "theirs", "with-data", "1,2\n5,6\n", data)
    ours = pointer(hooked, "ours", "with-data", "1,2\n3,4\n", data)
    merged = merge(hooked, "theirs")
    assert merged.returncode != 0
    text = output(merged)
    assert f"both sides changed the data file {data}" in text
    for version in (base, ours, theirs):
        md5 = next(line.split()[-1] for line in version.splitlines() if "md5:" in line)
        assert md5 in text
    assert f"git add {shell_word(data + '.dvc')} && mlops data add --append" in text
    assert (hooked / f"{data}.dvc").read_text() == ours  # ours whole, no markers
    assert files_with_markers(hooked) == []


def test_merged_data_missing_from_the_cache_is_named_with_the_fix(hooked):
    """`git pull` of a teammate's new data (on the DVC remote, not in this cache) into a retrained branch: the
    hook's `dvc checkout --quiet` said nothing of what was missing ("see above" pointed at nothing)."""
    hand_locked_branch(hooked, "boot", DECISION)
    pointer(hooked, "with-data", "boot", "1,2\n")
    data = yaml.safe_load((hooked / "data/external/loans.csv.dvc").read_text())["outs"][0]["md5"]
    cached = hooked / ".dvc" / "cache" / "files" / "md5" / data[:2] / data[2:]
    cached.chmod(0o644)
    cached.unlink()
    hand_locked_branch(hooked, "repeats", REPEATS)
    merged = merge(hooked, "with-data")
    text = output(merged)
    assert merged.returncode != 0 and "data/external/loans.csv" in text.split("`dvc checkout` of the merged data")[0]
    assert "Fix: `mlops data pull` (or `dvc pull`), then `git commit`." in text and "Running stage" not in text


def test_a_generated_file_named_like_an_option_is_recorded_for_the_retrain(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(["git", "init", "-q"], tmp_path)
    for name in ("base", "ours", "theirs"):
        write(tmp_path, name, f"{name}\n")
    command = driver_command(GENERATED).replace("hooks/venv-python", sys.executable)
    words = command.replace("%O", "base").replace("%A", "ours").replace("%B", "theirs").replace("%P", "--help")
    result = run(words, tmp_path, env=test_env(PYTHONPATH=str(ROOT)), check=False)
    assert result.returncode == 0 and "usage" not in result.stdout, output(result)
    assert placeholders() == ["--help"]  # the merge commit will retrain
    assert (tmp_path / "ours").read_text() == "ours\n"


def folder_branch(repo, branch: str, start: str, batch: str) -> None:
    """A branch from `start` that adds one batch file to the DVC-tracked folder `data/external/batches`."""
    run(["git", "checkout", "-q", "-f", "-b", branch, start], repo)
    write(repo, f"data/external/batches/{batch}.csv", f"a,b\n{len(batch)},1\n")
    run(["dvc", "add", "-q", "data/external/batches"], repo)
    run(["git", "add", "data/external/batches.dvc", "data/external/.gitignore"], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", f"batch {batch}"], repo)


def test_append_only_folders_merge_through_dvcs_own_driver(hooked):
    """Two branches each append a batch to a DVC-tracked folder (committed without the hooks): DVC's driver merges
    the pointers into the union, and the merge commit is retrained on it (the data changed since dvc.lock), so the
    merged commit's lock holds the union's data."""
    folder_branch(hooked, "first", "main", "2026-01")
    folder_branch(hooked, "jan-feb", "first", "2026-02")
    folder_branch(hooked, "jan-mar", "first", "2026-03")
    merged = merge(hooked, "jan-feb")
    assert merged.returncode != 0 and "data changed: data/external" in output(merged), output(merged)
    assert "retrained" in output(merged)
    assert files_with_markers(hooked) == []
    batches = sorted(path.name for path in (hooked / "data/external/batches").iterdir())
    assert batches == ["2026-01.csv", "2026-02.csv", "2026-03.csv"]  # the union, checked out to train on
    concluded = conclude(hooked)
    assert concluded.returncode == 0, output(concluded)
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")


@pytest.mark.slow
def test_rebase_and_cherry_pick_name_the_command_that_finishes_them(retrained, tmp_path):
    hooked = retrained(tmp_path / "repo", "boot", "repeats")
    run(["git", "checkout", "-q", "repeats"], hooked)
    original = run(["git", "rev-parse", "repeats"], hooked).stdout.strip()
    rebased = run(["git", "rebase", "boot"], hooked, check=False)
    assert rebased.returncode == 0, output(rebased)
    assert FINISH in output(rebased) and files_with_markers(hooked) == []
    assert "param evaluate.importance_repeats changed" in output(rebased) and "data changed" not in output(rebased)
    status = run(["mlops", "status"], hooked).stdout
    assert "kept one side of dvc.lock" in status and "param evaluate.importance_repeats changed" in status
    run(FINISH, hooked)
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")
    assert_clean(hooked)

    run(["git", "checkout", "-q", "-b", "picked", "boot"], hooked)
    picked = run(["git", "cherry-pick", original], hooked)  # retrained on main: meets boot's retrained lock
    assert files_with_markers(hooked) == [], output(picked)
    status = run(["mlops", "status"], hooked).stdout
    assert "kept one side of dvc.lock" in status and "param evaluate.importance_repeats changed" in status
    assert "dvc checkout --allow-missing && mlops repro" in status


@pytest.mark.slow
def test_a_cherry_pick_or_revert_checks_out_the_model_its_lock_records(retrained, tmp_path):
    """git runs no post-merge or checkout hook for `git cherry-pick` or `git revert`: after a clean one of a retrained
    commit, dvc.lock recorded the other model while models/ kept the one before, and `mlops status` asked for a
    retrain. The reference-transaction script runs dvc-post-merge for their commit; for `git cherry-pick A B`,
    once, after the last, against where the picks started (the last one here moves no pointer)."""
    hooked = retrained(tmp_path / "repo", "c")
    main_model = model_md5(hooked)
    run(["git", "checkout", "-q", "-b", "c-note", "c"], hooked)
    write(hooked, "docs/note.md", "a note\n")
    assert commit(hooked, "docs/note.md").returncode == 0
    run(["git", "checkout", "-q", "main"], hooked)
    for command, model in [
        (["cherry-pick", "c"], "picked"),
        (["revert", "--no-edit", "HEAD"], "main"),
        (["cherry-pick", "c", "c-note"], "picked"),
    ]:
        done = run(["git", *command], hooked, check=False)
        assert done.returncode == 0, output(done)
        assert model_md5(hooked) == locked_model_md5(hooked), command
        assert (model_md5(hooked) == main_model) == (model == "main"), command
        assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date"), command
    assert_clean(hooked)


@pytest.mark.slow
def test_a_rebase_with_autostash_names_the_command_that_finishes_it_without_the_stashed_changes(retrained, tmp_path):
    """`git pull --rebase --autostash` (or rebase.autoStash) with a param edit not committed: git puts the edit back
    after the post-rewrite hook, so the command it named retrained on the edit, and that command's commit of dvc.lock
    and reports alone was refused as stale."""
    hooked = retrained(tmp_path / "repo", "boot", "repeats")
    run(["git", "checkout", "-q", "repeats"], hooked)
    set_param(hooked, *ITERATIONS)  # work in progress
    rebased = run(["git", "rebase", "--autostash", "boot"], hooked, check=False)
    assert rebased.returncode == 0 and FINISH_AROUND_AUTOSTASH in output(rebased), output(rebased)
    finished = run(FINISH_AROUND_AUTOSTASH, hooked, check=False)
    assert finished.returncode == 0, output(finished)
    assert ITERATIONS[1] in (hooked / "params.yaml").read_text()  # the work in progress, back
    assert run(["git", "diff", "--name-only"], hooked).stdout.split() == ["params.yaml"]
    run(["git", "stash", "-q"], hooked)
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")
    assert_clean(hooked)


@pytest.mark.slow
def test_an_aborted_rebase_brings_back_the_branch_model(retrained, tmp_path):
    """A rebase checks out the other side first (post-checkout brings its model); stopped on a conflict, then
    `git rebase --abort`: git puts the branch and its files back but runs no post-checkout hook, so the other side's
    model stayed and `mlops status` called train stale. The reference-transaction script now checks the branch's
    data and model out again."""
    hooked = retrained(tmp_path / "repo", "boot", "three")
    run(["git", "checkout", "-q", "three"], hooked)
    ours = model_md5(hooked)
    stopped = run(["git", "rebase", "boot"], hooked, check=False)
    assert stopped.returncode != 0 and "CONFLICT" in output(stopped), output(stopped)
    assert model_md5(hooked) != ours  # boot's model
    aborted = run(["git", "rebase", "--abort"], hooked)
    assert model_md5(hooked) == ours == locked_model_md5(hooked)
    assert "put three back at its commit" in output(aborted)
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")
    write(hooked, "docs/note.md", "a note\n")
    assert commit(hooked, "docs/note.md").returncode == 0  # HEAD moves on: the rebase's record must not come back
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")


@pytest.mark.slow
def test_an_aborted_merge_or_squash_merge_brings_back_the_branch_model(retrained, tmp_path):
    """The pre-merge-commit hook retrains the merge and stops it; then `git merge --abort`: git puts the files back
    and runs no hook, so the model retrained for the merge, which no commit records, stayed and `mlops status` called
    train stale. Likewise a `git reset --hard` after `git merge --squash` and its retrain."""
    hooked = retrained(tmp_path / "repo", "c", "boot")
    run(["git", "checkout", "-q", "c"], hooked)
    ours = model_md5(hooked)
    merged = merge(hooked, "boot")
    assert merged.returncode != 0 and "retrained" in output(merged), output(merged)
    assert model_md5(hooked) != ours  # the merge's model
    aborted = run(["git", "merge", "--abort"], hooked)
    assert "the merge was undone: dvc checkout" in output(aborted)
    assert model_md5(hooked) == ours == locked_model_md5(hooked)
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")

    run(["git", "merge", "--squash", "boot"], hooked)
    retrain = conclude(hooked)
    assert retrain.returncode != 0 and "retrained" in output(retrain), output(retrain)
    assert model_md5(hooked) != ours
    reset = run(["git", "reset", "--hard"], hooked)
    assert "the squash merge was undone" in output(reset)
    assert model_md5(hooked) == ours
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")
    assert_clean(hooked)


@pytest.mark.slow
def test_a_rebase_onto_a_retrain_whose_model_is_not_in_this_cache_finishes_with_the_command(retrained, tmp_path):
    """`git pull --rebase` onto a teammate's retrain: their model is on the DVC remote, not in this cache. The
    command the hook names retrains it (a plain `dvc checkout` first stopped it there)."""
    hooked = retrained(tmp_path / "repo", "c", "repeats")
    model = yaml.safe_load(run(["git", "show", "c:dvc.lock"], hooked).stdout)["stages"]["train"]["outs"][0]["md5"]
    cached = hooked / ".dvc" / "cache" / "files" / "md5" / model[:2] / model[2:]
    cached.chmod(0o644)
    cached.unlink()
    run(["git", "checkout", "-q", "repeats"], hooked)
    rebased = run(["git", "rebase", "c"], hooked, check=False)
    assert FINISH in output(rebased)
    finished = run(FINISH, hooked, check=False)
    assert finished.returncode == 0, output(finished)
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")
    assert run(["git", "show", "HEAD:dvc.lock"], hooked).stdout.count(model) == 2  # c's model, made again
    assert_clean(hooked)


def dvc_pointer(md5: str, size: int) -> bytes:
    return f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: loans.csv\n".encode()


def test_pointer_conflict_is_none_when_both_sides_name_the_same_data():
    base, ours = dvc_pointer("a" * 32, 10), dvc_pointer("b" * 32, 20)
    assert pointer_conflict("data/external/loans.csv.dvc", base, ours, ours) is None
    message = pointer_conflict("data/external/loans.csv.dvc", base, ours, dvc_pointer("c" * 32, 1234))
    assert "ours    md5 " + "b" * 32 + ", 20 bytes" in message and "1,234 bytes" in message
    assert "git add data/external/loans.csv.dvc && mlops data add --append" in message


def test_gitattributes_name_params_the_git_kept_outputs_and_dvc_lock_only():
    outputs = {"data/raw.parquet": True, "reports/metrics.json": False, "reports/plots": False}
    lines = gitattributes_lines(outputs, is_dir=lambda path: path == "reports/plots")
    assert lines == [
        "/params.yaml merge=mlops-params",
        "/dvc.lock merge=mlops-generated",
        "/reports/metrics.json merge=mlops-generated",
        "/reports/plots/** merge=mlops-generated",
        "*.dvc merge=mlops-dvc",
    ]


def test_committed_gitattributes_match_what_install_writes(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert merge_setup.attributes_block() in (ROOT / ".gitattributes").read_text()


def test_the_drivers_take_the_projects_own_files_not_their_namesakes_in_folders():
    """A bare `dvc.lock` pattern matched `sub/dvc.lock` too: another pipeline's lock (or a `sub/params.yaml`) kept one
    side, and the other side's edits were lost without a conflict."""
    paths = [
        "dvc.lock",
        "params.yaml",
        "reports/metrics.json",
        "sub/dvc.lock",
        "sub/params.yaml",
        "sub/reports/metrics.json",
    ]
    shown = run(["git", "check-attr", "merge", "--", *paths], ROOT).stdout.splitlines()
    assert shown == [
        "dvc.lock: merge: mlops-generated",
        "params.yaml: merge: mlops-params",
        "reports/metrics.json: merge: mlops-generated",
        "sub/dvc.lock: merge: unspecified",
        "sub/params.yaml: merge: unspecified",
        "sub/reports/metrics.json: merge: unspecified",
    ]


@pytest.mark.slow
def test_concluding_a_stopped_merge_of_params_and_code_retrains_it(retrained, tmp_path):
    """`git merge --no-commit` (or a conflict anywhere) then `git commit`: pre-commit hands hooks only the files that
    differ from both parents, and with params from one side and code from the other that was none of dvc-lock-sync's
    files. The merge commit was recorded with a dvc.lock trained on neither."""
    hooked = retrained(tmp_path / "repo", "c")
    run(["git", "checkout", "-q", "-b", "code", "main"], hooked)
    with (hooked / "pipeline/stages/evaluate.py").open("a") as stage:
        stage.write("# A code change evaluate's lock entry records.\n")
    assert commit(hooked, "pipeline/stages/evaluate.py").returncode != 0  # retrained
    assert commit(hooked).returncode == 0
    run(["git", "checkout", "-q", "c"], hooked)
    run(["git", "merge", "--no-commit", "code"], hooked)
    first = conclude(hooked)
    assert first.returncode != 0 and "retrained" in output(first), output(first)
    second = conclude(hooked)
    assert second.returncode == 0, output(second)
    assert len(run(["git", "rev-list", "--parents", "-n", "1", "HEAD"], hooked).stdout.split()) == 3
    assert_clean(hooked)


def branch_with_leaks(repo, name: str) -> None:
    """A branch from main whose commit, made with --no-verify, adds a loans table and a file holding AWS keys."""
    from tests.hooks.test_staged_files import AWS_KEY_ID, AWS_SECRET

    run(["git", "checkout", "-q", "-b", name, "main"], repo)
    (repo / "loans_export.csv").write_text("id,amount\n" + "".join(f"{i},{i * 100}\n" for i in range(200)))
    (repo / "deploy.env").write_text(f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")
    run(["git", "add", "loans_export.csv", "deploy.env"], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", "leak"], repo)
    run(["git", "checkout", "-q", "main"], repo)


def test_a_merge_is_refused_for_the_data_and_secrets_it_brings_and_the_fix_works(hooked):
    """pre-commit names to a merge's hooks only the files that differ from both parents: a data file and a key
    committed on a branch with --no-verify were merged with every hook passed."""
    branch_with_leaks(hooked, "leaky")
    write(hooked, "docs/note.md", "A note on main.\n")
    assert commit(hooked, "docs/note.md").returncode == 0
    refused = run(["git", "merge", "--no-ff", "--no-edit", "leaky"], hooked, check=False)
    text = output(refused)
    assert refused.returncode != 0 and "loans_export.csv" in text and "deploy.env" in text, text
    assert "`git merge --abort`; on that branch, take it out of the commit that added it" in text
    assert "loans_export.csv" not in run(["git", "ls-tree", "-r", "--name-only", "HEAD"], hooked).stdout
    run(["git", "merge", "--abort"], hooked)
    run(["git", "checkout", "-q", "leaky"], hooked)
    run(["git", "rm", "-q", "--cached", "loans_export.csv", "deploy.env"], hooked)
    run(["git", "commit", "-q", "--amend", "--no-verify", "--allow-empty", "-m", "no leak"], hooked)
    run(["git", "checkout", "-q", "main"], hooked)
    merged = run(["git", "merge", "--no-ff", "--no-edit", "leaky"], hooked, check=False)
    assert merged.returncode == 0, output(merged)
    assert (hooked / "loans_export.csv").exists()  # the user's file, out of git, still there


def test_the_commit_that_concludes_a_stopped_merge_checks_all_it_brings(hooked):
    """After a conflict, pre-commit checks the conflicted files only; the branch's data file came with them."""
    branch_with_leaks(hooked, "leaky")
    run(["git", "checkout", "-q", "leaky"], hooked)
    write(hooked, "docs/note.md", "The branch's note.\n")
    run(["git", "add", "docs/note.md"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-m", "note"], hooked)
    run(["git", "checkout", "-q", "main"], hooked)
    write(hooked, "docs/note.md", "Main's note.\n")
    assert commit(hooked, "docs/note.md").returncode == 0
    stopped = run(["git", "merge", "--no-edit", "leaky"], hooked, check=False)
    assert stopped.returncode != 0 and "CONFLICT" in output(stopped), output(stopped)
    write(hooked, "docs/note.md", "Both notes.\n")
    run(["git", "add", "docs/note.md"], hooked)
    refused = conclude(hooked)
    assert refused.returncode != 0 and "loans_export.csv" in output(refused), output(refused)
    assert run(["git", "rev-parse", "-q", "--verify", "MERGE_HEAD"], hooked, check=False).returncode == 0
