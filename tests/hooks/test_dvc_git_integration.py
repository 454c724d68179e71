"""post-checkout brings the branch's data and model; pre-push pushes the pushed commits' DVC data."""

from __future__ import annotations

import hashlib
import shutil

import yaml

from tests.conftest import run, test_env


def model_md5(repo) -> str:
    return hashlib.md5((repo / "models/model.skops").read_bytes()).hexdigest()


def locked_model_md5(repo) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.skops")


def test_branch_switch_brings_the_other_branch_model(hooked):
    main_model = model_md5(hooked)
    run(["git", "checkout", "-q", "-b", "weaker"], hooked)
    params = hooked / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.1", 1))
    run(["mlops", "repro"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-am", "weaker regularisation"], hooked)
    branch_model = model_md5(hooked)
    assert branch_model != main_model
    run(["git", "checkout", "-q", "main"], hooked)
    assert model_md5(hooked) == main_model == locked_model_md5(hooked)
    run(["git", "checkout", "-q", "weaker"], hooked)
    assert model_md5(hooked) == branch_model == locked_model_md5(hooked)
    run(["git", "checkout", "-q", "main", "--", "params.yaml"], hooked)  # a file checkout: no dvc checkout
    assert model_md5(hooked) == branch_model
    run(["git", "checkout", "-q", "weaker", "--", "params.yaml"], hooked)

    model = hooked / "models/model.skops"  # changed by hand, never recorded: DVC keeps it, the hook says why
    model.chmod(0o644)
    model.write_bytes(model.read_bytes() + b"by hand")
    edited = model_md5(hooked)
    switched = run(["git", "checkout", "-q", "main"], hooked, check=False)  # the switch happens; the hook says
    said = switched.stdout + switched.stderr
    assert model_md5(hooked) == edited
    assert "models/model.skops" in said and "dvc checkout --force" in said and "dvc pull" not in said, said


def test_a_new_branch_on_the_same_commit_does_no_dvc_work(hooked):
    """`git switch -c new` runs post-checkout as a branch checkout from HEAD to HEAD: no pointer moved, yet the
    hook ran `dvc checkout` (a second or more). A model deleted by hand now stays deleted: DVC did not run."""
    model = hooked / "models/model.skops"
    model.unlink()
    switched = run(["git", "switch", "-c", "new"], hooked)
    assert "dvc checkout after a branch switch" in switched.stdout + switched.stderr  # the hook ran
    assert not model.exists()


def test_pre_push_pushes_the_dvc_data(hooked, tmp_path):
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "-d", "pushtest", str(remote)], hooked)
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], hooked)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], hooked)
    result = run(["git", "push", "-q", "origin", "main"], hooked)
    assert "dvc" in result.stdout + result.stderr or remote.exists()
    assert any(path.is_file() for path in remote.rglob("*"))
    assert run(["dvc", "status", "--cloud", "--json"], hooked).stdout.strip() in ("{}", "")


def test_pre_push_sends_the_data_to_the_projects_relative_remote(hooked, tmp_path):
    """The committed remote is `../../lending-mlops-dvc-remote`, relative to `.dvc/`: DVC resolves it at a pushed
    revision against that revision's git tree's root (`/`) unless given the workspace's resolved URL."""
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], hooked)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], hooked)
    run(["git", "push", "-q", "origin", "main"], hooked)
    md5 = locked_model_md5(hooked)
    assert (tmp_path / "lending-mlops-dvc-remote" / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    assert run(["dvc", "status", "--cloud", "--json"], hooked).stdout.strip() in ("{}", "")


def test_pre_push_refuses_a_corrupted_cache_object_and_pushes_nothing(hooked, tmp_path):
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "-d", "pushtest", str(remote)], hooked)
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], hooked)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], hooked)
    md5 = locked_model_md5(hooked)
    cached = hooked / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.write_bytes(cached.read_bytes()[:-10] + b"corrupted!")
    result = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "models/model.skops" in output and "corrupted" in output and "nothing was pushed" in output
    assert not any(path.is_file() for path in remote.rglob("*")), "a corrupted object reached the remote"
    assert run(["git", "ls-remote", str(tmp_path / "origin.git")], hooked).stdout == ""


def test_pre_push_refuses_an_object_neither_in_the_cache_nor_on_the_remote(hooked, tmp_path):
    """DVC warns "Missing cache files" by md5 and exits 0; pre-commit hides a passing hook's output: the branch was
    pushed and a teammate got a commit whose model the remote lacked."""
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "-d", "pushtest", str(remote)], hooked)
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], hooked)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], hooked)
    md5 = locked_model_md5(hooked)
    (hooked / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    result = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    assert "neither in the cache nor on the remote" in output and f"  models/model.skops (md5 {md5})" in output
    assert run(["git", "ls-remote", str(tmp_path / "origin.git")], hooked).stdout == ""
    assert any(path.is_file() for path in remote.rglob("*"))  # the rest was pushed


def test_pre_push_checks_the_cache_dvcs_global_config_names(hooked, tmp_path):
    """The hook looked for corrupted objects in .dvc/cache only: with the cache elsewhere by DVC's global config,
    it found nothing to check, and DVC dropped the corrupted model and pushed the rest."""
    shared = tmp_path / "shared-cache"
    shutil.copytree(hooked / ".dvc" / "cache", shared)
    config_dir = tmp_path / "dvc-global"
    config_dir.mkdir()
    (config_dir / "config").write_text(f"[cache]\n    dir = {shared}\n")
    env = test_env(DVC_GLOBAL_CONFIG_DIR=str(config_dir))
    remote = tmp_path / "dvc-remote"
    run(["dvc", "remote", "add", "--local", "-d", "pushtest", str(remote)], hooked)
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], hooked)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], hooked)
    md5 = locked_model_md5(hooked)
    cached = shared / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.write_bytes(cached.read_bytes()[:-10] + b"corrupted!")
    result = run(["git", "push", "-q", "origin", "main"], hooked, check=False, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "models/model.skops" in output and "nothing was pushed" in output, output
    assert not any(path.is_file() for path in remote.rglob("*")), "the push went on"


def test_pre_push_with_no_default_remote_here_refuses_in_one_line_and_sends_nothing(hooked, tmp_path):
    """With no default DVC remote left in the workspace, the hook let DVC push to the remote the pushed commit
    recorded (where the remote used to be; with the project's relative URL, `/lending-mlops-dvc-remote`), as
    `mlops exp push` did before it refused in one line."""
    recorded = tmp_path / "recorded-remote"
    run(["dvc", "remote", "modify", "local", "url", str(recorded)], hooked)
    run("git add -A && git commit -q --no-verify -m 'remote: recorded'", hooked)
    run(["dvc", "remote", "remove", "local"], hooked)  # not committed: the workspace has no remote now
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], hooked)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], hooked)
    result = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output, output
    assert "dvc-pre-push: no default DVC remote here to push the pushed commits' data to" in output, output
    assert "`mlops remote set PATH_OR_URL`" in output, output
    assert not recorded.exists(), "the data went to the remote the commit recorded"
    assert run(["git", "ls-remote", str(tmp_path / "origin.git")], hooked).stdout == ""


def test_a_new_worktree_is_told_how_to_share_the_dvc_cache(hooked, tmp_path):
    """A linked worktree has a DVC cache of its own, empty: the hook says how to share the main checkout's."""
    worktree = tmp_path / "side"
    added = run(["git", "worktree", "add", "-q", str(worktree), "-b", "side"], hooked, check=False)
    advice = added.stdout + added.stderr
    share = f"dvc cache dir --local {hooked / '.dvc' / 'cache'}"
    assert "linked git worktree" in advice and share in advice, advice
    assert not (worktree / "models/model.skops").exists()

    run(share, worktree)
    run(["dvc", "checkout"], worktree)
    assert model_md5(worktree) == locked_model_md5(worktree) == model_md5(hooked)


def test_a_new_worktree_is_told_where_the_main_checkouts_cache_is_when_it_was_moved(hooked, tmp_path):
    """A cache moved out of the repository (`dvc cache dir --local`, to another disk for big data): the advice
    named `MAIN/.dvc/cache`, which holds nothing, so the `dvc checkout` it led to failed again."""
    elsewhere = tmp_path / "big-disk" / "dvc-cache"
    elsewhere.parent.mkdir()
    shutil.move(hooked / ".dvc" / "cache", elsewhere)
    run(["dvc", "cache", "dir", "--local", str(elsewhere)], hooked)
    worktree = tmp_path / "side"
    added = run(["git", "worktree", "add", "-q", str(worktree), "-b", "side"], hooked, check=False)
    advice = added.stdout + added.stderr
    share = f"dvc cache dir --local {elsewhere}"
    assert "linked git worktree" in advice and share in advice, advice

    run(share, worktree)
    run(["dvc", "checkout"], worktree)
    assert model_md5(worktree) == locked_model_md5(worktree) == model_md5(hooked)


def test_a_switch_to_data_missing_from_the_cache_names_the_projects_pull(hooked, tmp_path):
    """A branch whose model this clone never had (a teammate's, not yet pulled): the hook's fix is the pull that
    checks every object (`mlops data pull`), which also checks the files out; it said `dvc pull`, then a needless
    `dvc checkout`. The fix, run as printed, brings the model."""
    run(["dvc", "remote", "modify", "local", "url", str(tmp_path / "remote")], hooked)
    run(["mlops", "data", "push"], hooked)
    work = run(["git", "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "teammate's work"], hooked).stdout.strip()
    run(["git", "branch", "teammate", work], hooked)  # another commit: a switch to the same one runs no DVC
    model = locked_model_md5(hooked)
    cached = hooked / ".dvc" / "cache" / "files" / "md5" / model[:2] / model[2:]
    for path in (cached, hooked / "models/model.skops"):
        path.chmod(0o644)
        path.unlink()
    switched = run(["git", "checkout", "-q", "teammate"], hooked, check=False)
    said = switched.stdout + switched.stderr
    assert "Fix: `mlops data pull` (fetches what the cache lacks from the DVC remote, then checks it out)" in said, said
    run(["mlops", "data", "pull"], hooked)
    assert model_md5(hooked) == model
    run(["git", "checkout", "--", ".dvc/config"], hooked)


def test_a_checkout_whose_model_left_the_cache_names_mlops_pull_and_repro(hooked):
    """After `dvc gc -w` an older commit's model is in no cache: the hook's fix names `mlops data pull` and, for
    what the remote lacks too, `mlops repro`, which brings the workspace back in step with that commit."""
    run(["git", "checkout", "-q", "-b", "weaker"], hooked)
    params = hooked / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.1", 1))
    run(["mlops", "repro"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-am", "weaker regularisation"], hooked)
    run(["git", "checkout", "-q", "main"], hooked)
    run(["dvc", "gc", "--workspace", "--force"], hooked)
    switched = run(["git", "checkout", "weaker"], hooked, check=False)
    advice = switched.stdout + switched.stderr
    assert "Fix: `mlops data pull`" in advice and "`mlops repro` rebuilds" in advice, advice
    run(["mlops", "repro"], hooked)
    assert model_md5(hooked) == locked_model_md5(hooked)
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")


def test_a_switch_to_a_commit_never_trained_passes_and_leaves_no_other_model(hooked):
    """A commit whose dvc.lock records no outputs (made before its first repro): `dvc checkout` fails on the outputs
    it has no md5 for, and the hook failed the checkout with `mlops data pull` as the fix, which has nothing to
    fetch. Nothing is missing that the commit has: the hook passes, no other commit's model is left, and
    `mlops status` names what `mlops repro` builds."""
    run(["git", "checkout", "-q", "-b", "untrained"], hooked)
    run(["git", "rm", "-q", "dvc.lock"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-m", "params before the first repro"], hooked)
    run(["git", "checkout", "-q", "main"], hooked)
    switched = run(["git", "checkout", "untrained"], hooked, check=False)
    said = switched.stdout + switched.stderr
    assert switched.returncode == 0 and "mlops data pull" not in said, said
    assert not (hooked / "models/model.skops").exists()
    assert "train: stale\n    never run (no entry in dvc.lock)" in run(["mlops", "status"], hooked).stdout
    run(["git", "checkout", "-q", "main"], hooked)
    assert model_md5(hooked) == locked_model_md5(hooked)


def leak_commit(repo) -> None:
    """A commit made with --no-verify that adds a loans table and a file holding AWS keys."""
    from tests.hooks.test_staged_files import AWS_KEY_ID, AWS_SECRET

    (repo / "loans_export.csv").write_text("id,amount\n" + "".join(f"{i},{i * 100}\n" for i in range(200)))
    (repo / "deploy.env").write_text(f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")
    run(["git", "add", "loans_export.csv", "deploy.env"], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", "leak"], repo)


def test_pre_push_refuses_data_and_secrets_a_no_verify_commit_holds_and_the_fix_works(hooked, tmp_path):
    """A commit made with --no-verify went to the remote unchecked: the push checks the commits no remote has."""
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], hooked)
    run(["git", "remote", "add", "origin", str(origin)], hooked)
    run(["git", "push", "-q", "origin", "main"], hooked)  # the project's own files pass
    pushed = run(["git", "rev-parse", "main"], origin).stdout
    leak_commit(hooked)
    refused = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "pushed-files: the pushed commits hold files" in said, said
    assert "loans_export.csv (commit " in said and "deploy.env (commit " in said and "AWS" in said, said
    assert run(["git", "rev-parse", "main"], origin).stdout == pushed  # nothing reached the remote
    run(["git", "rm", "-q", "--cached", "loans_export.csv", "deploy.env"], hooked)  # the fix, at the `edit` stop
    run(["git", "commit", "-q", "--amend", "--no-edit", "--allow-empty", "--no-verify"], hooked)
    sent = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert (hooked / "loans_export.csv").exists()


def test_a_first_push_with_no_remote_known_checks_the_pushed_files(hooked, tmp_path):
    """With no remote-tracking ref (a remote just added), the tip's files are checked, not the whole history:
    a history cloned from elsewhere was checked where it was made."""
    leak_commit(hooked)
    run(["git", "init", "-q", "--bare", str(tmp_path / "new.git")], hooked)
    run(["git", "remote", "add", "new", str(tmp_path / "new.git")], hooked)
    refused = run(["git", "push", "-q", "new", "main"], hooked, check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "loans_export.csv (commit " in said, said
    assert run(["git", "rev-parse", "-q", "--verify", "main"], tmp_path / "new.git", check=False).returncode != 0


def with_bare_origin(repo, tmp_path):
    """A local DVC remote and an empty bare git remote `origin` for `repo`."""
    run(["dvc", "remote", "add", "--local", "-d", "pushtest", str(tmp_path / "dvc-remote")], repo)
    run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], repo)
    run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], repo)


def test_a_push_of_params_committed_without_the_retrain_is_refused_with_the_fix(hooked, tmp_path):
    """`git commit --no-verify` of a params change left dvc.lock stale, and `git push` sent it to every clone: the
    pre-push hook now compares the pushed tip's params with those its dvc.lock records, read from git."""
    with_bare_origin(hooked, tmp_path)
    run(["git", "push", "-q", "origin", "main"], hooked)
    pushed = run(["git", "rev-parse", "main"], tmp_path / "origin.git").stdout
    params = hooked / "params.yaml"
    params.write_text(params.read_text().replace("    C: 0.01", "    C: 0.1"))
    run(["git", "commit", "-q", "--no-verify", "-am", "C, not retrained"], hooked)
    stale = run(["git", "rev-parse", "HEAD"], hooked).stdout.strip()
    refused = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and f"pushed-lock: the pushed commit {stale[:12]} records params" in said, said
    assert "  train: param train.logreg.C changed (0.01 -> 0.1)\n" in said, said
    assert "`mlops repro`, then `git add dvc.lock reports && git commit`; then push again" in said, said
    assert run(["git", "rev-parse", "main"], tmp_path / "origin.git").stdout == pushed
    run(["git", "init", "-q", "--bare", str(tmp_path / "empty.git")], hooked)
    first = run(["git", "push", "-q", str(tmp_path / "empty.git"), "HEAD:main"], hooked, check=False)
    said = first.stdout + first.stderr  # a push to an empty remote: pre-commit names the local ref, `HEAD`
    assert first.returncode != 0 and f"pushed-lock: the pushed commit {stale[:12]} records params" in said, said
    run(["mlops", "repro"], hooked)
    run(["git", "add", "dvc.lock", "reports"], hooked)
    run(["git", "commit", "-q", "-m", "retrain"], hooked)
    sent = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    assert sent.returncode == 0, sent.stdout + sent.stderr


def test_a_first_push_passes_though_an_older_commits_objects_are_gone(hooked, tmp_path):
    """Pushing a clone's history to a new remote named every object of every commit that changed dvc.lock: those of
    long-gone versions are in no cache, and the push was refused with a fix (`mlops repro`) that rebuilds only
    the checked-out version's."""
    lock = (hooked / "dvc.lock").read_text()
    (hooked / "dvc.lock").write_text(lock.replace(locked_model_md5(hooked), "f" * 32))
    run(["git", "commit", "-q", "--no-verify", "-am", "a version whose model is gone"], hooked)
    (hooked / "dvc.lock").write_text(lock)
    run(["git", "commit", "-q", "--no-verify", "-am", "the version here"], hooked)
    with_bare_origin(hooked, tmp_path)
    pushed = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr


def test_a_push_passes_with_data_imported_from_another_repository_in_no_cache(hooked, tmp_path):
    """DVC never pushes a `dvc import`: each clone gets it from its repository. A push whose tip held one not in
    the cache was refused as data the teammates would miss."""
    pointer = (
        "md5: 5c0d3a1e2b3c4d5e6f708192a3b4c5d6\nfrozen: true\ndeps:\n- path: lookup.bin\n  repo:\n"
        f"    url: {tmp_path / 'registry'}\n    rev_lock: {'a' * 40}\nouts:\n- md5: {'e' * 32}\n  size: 4\n"
        "  hash: md5\n  path: lookup.bin\n"
    )
    (hooked / "imported").mkdir()
    (hooked / "imported/lookup.bin.dvc").write_text(pointer)
    run(["git", "add", "imported/lookup.bin.dvc"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-m", "an import"], hooked)
    with_bare_origin(hooked, tmp_path)
    pushed = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr


def test_a_file_already_on_the_remote_is_not_refused_again_at_a_merge_or_a_push(hooked, tmp_path):
    """A teammate's table committed and pushed on purpose (`SKIP=`) was refused at every merge that brought it,
    with advice to rebase it out of a branch already pushed, then again at the push of that merge."""
    with_bare_origin(hooked, tmp_path)
    run(["git", "push", "-q", "origin", "main"], hooked)
    run(["git", "checkout", "-q", "-b", "teammate"], hooked)
    (hooked / "docs/grades.csv").write_text("grade,rate\n" + "".join(f"{g},{g / 10}\n" for g in range(30)))
    run(["git", "add", "docs/grades.csv"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-m", "grades, on purpose"], hooked)
    run(["git", "push", "-q", "--no-verify", "origin", "teammate"], hooked)
    run(["git", "checkout", "-q", "main"], hooked)
    (hooked / "docs/note.md").write_text("A note.\n")
    run(["git", "add", "docs/note.md"], hooked)
    run(["git", "commit", "-q", "-m", "a note"], hooked)
    merged = run(["git", "merge", "--no-ff", "--no-edit", "origin/teammate"], hooked, check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    pushed = run(["git", "push", "-q", "origin", "main"], hooked, check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
