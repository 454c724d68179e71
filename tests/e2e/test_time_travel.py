"""`mlops checkout REV`: two tagged versions (different data and params) travel back and forth byte-identically."""

from __future__ import annotations

import yaml

from tests.conftest import run
from tests.conftest import test_env as make_env
from tests.e2e.data_helpers import mlops, other_schema_frame, snapshot, tree_hash


def commit(repo, message):
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message, "--no-verify", "--allow-empty"], repo)
    run(["git", "tag", message], repo)


def versions(repo):
    return {name: tree_hash(repo / name) for name in ("data", "models", "params.yaml", "reports/schema.json")}


def test_travel_between_two_versions(repo, tmp_path):
    commit(repo, "v1")
    v1 = versions(repo)
    frame = other_schema_frame().sample(frac=0.6, random_state=1)
    frame.to_csv(tmp_path / "loans.csv", index=False)
    mlops(
        repo,
        "data",
        "add",
        str(tmp_path / "loans.csv"),
        "--target",
        "status",
        "--positive",
        "default",
        "--drop",
        "loan_id",
    )
    params = (repo / "params.yaml").read_text().replace("C: 0.01", "C: 0.1")
    (repo / "params.yaml").write_text(params)
    mlops(repo, "repro")
    commit(repo, "v2")
    v2 = versions(repo)
    assert v1["models"] != v2["models"] and v1["data"] != v2["data"]

    mlops(repo, "checkout", "v1")
    assert versions(repo) == v1
    mlops(repo, "checkout", "v2")
    assert versions(repo) == v2

    (repo / "params.yaml").write_text(params + "\n# edited\n")
    before = snapshot(repo)
    refused = mlops(repo, "checkout", "v1", check=False)
    assert refused.returncode == 2 and "uncommitted changes: params.yaml" in refused.stderr
    assert snapshot(repo) == before
    assert run(["git", "describe", "--tags"], repo).stdout.strip() == "v2"


def at_v1_before_added_data(repo, tmp_path) -> None:
    """Tags v1 and v2, v2 trained on loans added with `mlops data add` (tmp_path/loans.csv), and v1 checked out."""
    commit(repo, "v1")
    other_schema_frame().to_csv(tmp_path / "loans.csv", index=False)
    mlops(repo, "data", "add", str(tmp_path / "loans.csv"), "--target", "status", "--positive", "default")
    mlops(repo, "repro")
    commit(repo, "v2")
    mlops(repo, "checkout", "v1")


def test_a_file_in_the_way_of_the_versions_data_is_never_overwritten(repo, tmp_path):
    """A file where only the version checked out tracks data (loans copied in by hand before `mlops data add`, not
    in git: untracked changes do not block a checkout) was replaced by that version's data without a word: its
    bytes, in no commit and not in the DVC cache, were gone."""
    at_v1_before_added_data(repo, tmp_path)
    mine = repo / "data/external/loans.csv"
    mine.write_text("status,amount\ndefault,1\npaid,2\n")  # the user's own, never added
    before = snapshot(repo)

    refused = mlops(repo, "checkout", "v2", check=False)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "error: data/external/loans.csv: not tracked here, and v2 tracks data there: checking v2 out would overwrite "
        "content that is in no commit and not in the DVC cache; stayed where you were",
        "  hint: move the file out of the way (or `mlops data add` and commit the file), then `mlops checkout v2` "
        "again",
    ], refused.stderr
    assert mine.read_text() == "status,amount\ndefault,1\npaid,2\n" and snapshot(repo) == before
    assert run(["git", "describe", "--tags"], repo).stdout.strip() == "v1"

    mine.rename(tmp_path / "mine.csv")  # the hint, followed
    mlops(repo, "checkout", "v2")
    assert (tmp_path / "mine.csv").read_text() == "status,amount\ndefault,1\npaid,2\n"
    assert run(["git", "describe", "--tags"], repo).stdout.strip() == "v2"
    mlops(repo, "checkout", "v1")
    (tmp_path / "loans.csv").replace(mine)  # the same bytes as v2's data, which its cache holds: nothing to lose
    mlops(repo, "checkout", "v2")


def test_added_data_in_no_cache_here_is_named_with_a_push_that_sends_it(repo, tmp_path):
    """Data added with `mlops data add`, in neither this cache nor on the remote: the hint said to run `mlops data push`
    from a clone whose cache has it, but a push sends the checked-out version's data only, so run there at another
    version it pushed none of it, said "Pushed.", and the checkout here was refused again."""
    at_v1_before_added_data(repo, tmp_path)
    md5 = yaml.safe_load(run(["git", "show", "v2:data/external/loans.csv.dvc"], repo).stdout)["outs"][0]["md5"]
    cached = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    kept = tmp_path / "kept"
    kept.write_bytes(cached.read_bytes())  # a teammate's cache still has it
    cached.chmod(0o644)
    cached.unlink()

    refused = mlops(repo, "checkout", "v2", check=False)
    assert refused.returncode == 2 and refused.stderr.splitlines()[1] == (
        "  hint: data/external/loans.csv is data added with `mlops data add`, which no command rebuilds: in a clone "
        "whose DVC cache still has it, run `mlops checkout v2 && mlops data push` (a push sends the checked-out "
        "version's data only), then here `mlops data pull --rev v2 && mlops checkout v2`"
    ), refused.stderr

    # The hint, followed where the cache has it (this clone with its cache object back) at v1, as a teammate may be.
    cached.write_bytes(kept.read_bytes())
    run("mlops checkout v2 && mlops data push", repo)
    mlops(repo, "checkout", "v1")
    cached.chmod(0o644)
    cached.unlink()
    run("mlops data pull --rev v2 && mlops checkout v2", repo)
    assert (repo / "data/external/loans.csv").read_bytes() == kept.read_bytes()


def test_checkout_refuses_unknown_revision(repo):
    result = mlops(repo, "checkout", "no-such-tag", check=False)
    assert result.returncode == 2 and "not a commit, tag or branch" in result.stderr


def test_a_branch_only_a_git_remote_has_is_named_with_the_command_that_makes_it_one_here(repo, tmp_path):
    """In a fresh clone, a teammate's branch is `origin/NAME` only: `git checkout NAME` makes it a local branch, and
    `mlops checkout NAME` said "see `git log --oneline` and `git tag`", where it is in neither."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty && git branch feature", repo)
    run(["git", "remote", "add", "team", str(tmp_path / "team.git")], repo)
    run("git update-ref refs/remotes/team/feature refs/heads/feature && git branch -q -D feature", repo)
    hint = "  hint: it is a branch of a git remote only (team/feature): `git branch --track feature team/feature` "
    for command in (["checkout", "feature"], ["data", "pull", "--rev", "feature"]):
        refused = mlops(repo, *command, check=False)
        assert refused.returncode == 2 and refused.stderr.splitlines()[-1].startswith(hint), refused.stderr
    run(["bash", "-c", refused.stderr.split("`")[1]], repo)
    assert "At feature:" in mlops(repo, "checkout", "feature").stdout


def test_a_version_missing_from_the_cache_stays_where_it_was_and_names_the_fix(hooked):
    """With the hooks installed, git's post-checkout hook failed the `git checkout` half-way, and its advice
    (`dvc pull`, then `dvc checkout`) would have fetched the version `mlops checkout` had gone back to."""
    commit(hooked, "v1")
    params = (hooked / "params.yaml").read_text()
    (hooked / "params.yaml").write_text(params.replace("C: 0.01", "C: 0.1"))
    mlops(hooked, "repro")
    commit(hooked, "v2")
    mlops(hooked, "data", "push")  # the team's remote has v2; this clone's cache will not
    v2 = versions(hooked)
    model = yaml.safe_load((hooked / "dvc.lock").read_text())["stages"]["train"]["outs"][0]["md5"]
    mlops(hooked, "checkout", "v1")
    cached = hooked / ".dvc" / "cache" / "files" / "md5" / model[:2] / model[2:]
    cached.chmod(0o644)
    cached.unlink()
    before = versions(hooked)
    result = mlops(hooked, "checkout", "v2", check=False)
    assert result.returncode == 2
    assert "error: some of v2's data or models are not in the cache; stayed where you were" in result.stderr
    assert "dvc-post-checkout" not in result.stdout + result.stderr
    assert run(["git", "describe", "--tags"], hooked).stdout.strip() == "v1" and versions(hooked) == before

    # the hint, followed as printed, brings v2 without leaving v1 first
    hint = result.stderr.split("hint: ", 1)[1]
    assert hint.startswith("fetch them with `mlops data pull --rev v2`, then run `mlops checkout v2` again")
    for command in hint.split("`")[1::2]:
        assert run(command, hooked).returncode == 0
        if command.startswith("mlops data pull"):
            assert run(["git", "describe", "--tags"], hooked).stdout.strip() == "v1" and versions(hooked) == before
    assert run(["git", "describe", "--tags"], hooked).stdout.strip() == "v2" and versions(hooked) == v2


def test_a_version_from_before_the_hooks_is_reached_with_the_hooks_installed(hooked):
    """pre-commit's post-checkout hook fails where the revision has no .pre-commit-config.yaml: that failed the
    `git checkout` inside `mlops checkout`, which then went back."""
    run(["git", "rm", "-q", ".pre-commit-config.yaml"], hooked)
    run(["git", "commit", "-qm", "before the hooks", "--no-verify"], hooked)
    run(["git", "tag", "before-hooks"], hooked)
    run(["git", "checkout", "-q", "HEAD~1"], hooked, env=make_env(PRE_COMMIT_ALLOW_NO_CONFIG="1"))
    result = mlops(hooked, "checkout", "before-hooks", check=False)
    assert result.returncode == 0, result.stderr
    assert run(["git", "describe", "--tags"], hooked).stdout.strip() == "before-hooks"


def test_a_deleted_model_is_named_as_deleted_with_fixes_that_work_without_the_cache(repo):
    """It said 'changed since they were recorded', with `dvc checkout --force` as the fix: that fails when the cache
    lacks the model too."""
    commit(repo, "v1")
    model = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"][0]["md5"]
    (repo / "models/model.skops").unlink()
    cached = repo / ".dvc/cache/files/md5" / model[:2] / model[2:]
    cached.chmod(0o644)
    cached.unlink()
    refused = mlops(repo, "checkout", "v1", check=False)
    assert refused.returncode == 2 and refused.stderr.splitlines()[0] == (
        "error: DVC-tracked files deleted since they were recorded: models/model.skops"
    ), refused.stderr
    assert "`mlops repro` (rebuilds the model), then `mlops checkout v1` again" in refused.stderr
    mlops(repo, "repro")
    mlops(repo, "checkout", "v1")
    assert cached.is_file() and (repo / "models/model.skops").is_file()


def test_a_version_whose_model_is_lost_everywhere_names_it_where_looked_and_the_rebuild(hooked):
    """A model in no cache and on no remote: `mlops checkout` printed DVC's error block, then said to fetch it with
    `mlops data pull --rev`, which fails for the same reason."""
    commit(hooked, "v1")
    run(["git", "branch", "old"], hooked)
    params = (hooked / "params.yaml").read_text()
    (hooked / "params.yaml").write_text(params.replace("C: 0.01", "C: 0.1"))
    mlops(hooked, "repro")
    commit(hooked, "v2")  # on main
    model = yaml.safe_load((hooked / "dvc.lock").read_text())["stages"]["train"]["outs"][0]["md5"]
    mlops(hooked, "checkout", "old")
    cached = hooked / ".dvc" / "cache" / "files" / "md5" / model[:2] / model[2:]
    cached.chmod(0o644)
    cached.unlink()  # never pushed: the remote has not got it either
    before, lock = versions(hooked), (hooked / "dvc.lock").read_bytes()

    result = mlops(hooked, "checkout", "main", check=False)
    assert result.returncode == 2
    remote = hooked.parent / "lending-mlops-dvc-remote"
    assert result.stderr.splitlines() == [
        f"error: cannot check out main: models/model.skops (md5 {model}) is neither in the DVC cache (.dvc/cache) "
        f"nor on DVC remote 'local' ({remote}); stayed where you were",
        "  hint: rebuild it at main: `git checkout main` (its post-checkout hook says the output is missing), then "
        "`mlops repro`: the same params, code and data give the same bytes; `mlops data push` keeps them",
    ], result.stderr
    assert run(["git", "symbolic-ref", "HEAD"], hooked).stdout.strip() == "refs/heads/old"
    assert versions(hooked) == before and (hooked / "dvc.lock").read_bytes() == lock
    assert run(["git", "status", "--porcelain"], hooked).stdout == ""

    # the hint, followed as printed, brings main's model back, byte-identical
    run(["git", "checkout", "-q", "main"], hooked, check=False)  # its hook fails: the model is missing
    mlops(hooked, "repro")
    assert cached.is_file() and run(["git", "status", "--porcelain"], hooked).stdout == ""
    mlops(hooked, "checkout", "old")
    mlops(hooked, "checkout", "main")
    assert versions(hooked)["models"] != before["models"]


def test_a_version_never_trained_is_reached_without_another_versions_model(repo):
    """A commit whose dvc.lock records no outputs (made before its first `mlops repro`, or with dvc.lock removed):
    `dvc checkout` failed on the outputs it has no md5 for, and `mlops checkout` went back, saying they were not in
    the cache and to fetch them with `mlops data pull --rev`, which has nothing to fetch."""
    commit(repo, "v1")
    v1 = versions(repo)
    run(["git", "checkout", "-q", "-b", "untrained"], repo)
    run(["git", "rm", "-q", "dvc.lock"], repo)
    commit(repo, "never-trained")
    run(["git", "checkout", "-q", "main"], repo)

    result = mlops(repo, "checkout", "untrained", check=False)
    assert result.returncode == 0, result.stderr
    assert "It was never trained: its dvc.lock records no data/raw.parquet, data/split/test.parquet" in result.stdout
    assert "models/model.skops; `mlops repro` builds them." in result.stdout
    assert run(["git", "symbolic-ref", "HEAD"], repo).stdout.strip() == "refs/heads/untrained"
    assert not (repo / "models/model.skops").exists()  # no other version's model passes for this one's
    assert run(["git", "status", "--porcelain"], repo).stdout == ""

    mlops(repo, "checkout", "v1")
    assert versions(repo) == v1
