"""`mlops hooks install|uninstall|status`: idempotent, keeps a user's hook, works without the venv on PATH."""

from __future__ import annotations

import os
import re
import subprocess

from pipeline.versioning.hook_setup import HOOK_TYPES
from pipeline.versioning.merge_setup import BEGIN
from tests.conftest import run, test_env
from tests.hooks.conftest import commit, minimal_path_env, output, write

USER_HOOK = "#!/bin/sh\necho ran >> user-hook-ran.txt\n"


def test_install_twice_and_status(repo):
    assert run(["mlops", "hooks", "status"], repo, check=False).returncode != 0
    run(["mlops", "hooks", "install"], repo)
    run(["mlops", "hooks", "install"], repo)
    status = run(["mlops", "hooks", "status"], repo).stdout
    assert status.count(" installed") == len(HOOK_TYPES) + 1 and "interpreter" in status  # + reference-transaction
    assert status.count(" registered") == 3  # the merge drivers: generated files, DVC pointers, params.yaml
    assert (repo / ".gitattributes").read_text().count("merge=mlops-generated") >= 2
    assert (repo / ".gitattributes").read_text().count(BEGIN) == 1
    driver = run(["git", "config", "merge.mlops-generated.driver"], repo).stdout
    assert "hooks.merge_driver generated -- %O %A %B %P" in driver
    write(repo, ".gitattributes", "*.png binary\n" + (repo / ".gitattributes").read_text())
    run(["mlops", "hooks", "uninstall"], repo)
    kept = (repo / ".gitattributes").read_text()
    assert kept.startswith("*.png binary\n") and "* text=auto eol=lf\n" in kept and BEGIN not in kept  # others stay
    assert run(["git", "config", "--get-regexp", "^merge\\.mlops"], repo, check=False).stdout == ""
    assert "not registered" in run(["mlops", "hooks", "status"], repo, check=False).stdout
    assert not (repo / ".git/hooks/pre-commit.legacy").exists()


def test_uninstall_says_what_it_removed_and_when_there_was_nothing(repo):
    """`mlops hooks uninstall` printed nothing, where `install` says what it installed: a user could not tell it had
    done anything, nor that a hook of theirs was put back."""
    nothing = run(["mlops", "hooks", "uninstall"], repo)
    assert nothing.stdout == (
        "Nothing to remove: no hooks, merge drivers or interpreter record of `mlops hooks install` here.\n"
    )
    write(repo, ".git/hooks/pre-push", USER_HOOK).chmod(0o755)
    run(["mlops", "hooks", "install"], repo)
    removed = run(["mlops", "hooks", "uninstall"], repo).stdout.splitlines()
    assert [f"{hook_type} uninstalled" for hook_type in HOOK_TYPES] == [
        line for line in removed if line.endswith(" uninstalled") and "reference" not in line
    ]
    assert "reference-transaction uninstalled" in removed
    assert "Restored previous hooks to .git/hooks/pre-push" in removed, removed
    assert (repo / ".git/hooks/pre-push").read_text() == USER_HOOK
    assert "Merge drivers removed from git config: mlops-generated, mlops-dvc, mlops-params." in removed
    assert "Interpreter record removed (.git/mlops-hooks-python)." in removed
    again = run(["mlops", "hooks", "uninstall"], repo).stdout
    assert again.startswith("Nothing to remove"), again


def test_status_and_uninstall_from_a_subfolder_are_refused_as_install_is(repo):
    """From `docs/`, status read `docs/.gitattributes` and called the merge drivers unregistered (exit 1, "Run `mlops
    hooks install`"), and uninstall removed the git config but looked for their block in `docs/.gitattributes`."""
    write(repo, ".gitattributes", "*.png binary\n")  # not the committed block: uninstall would remove its own
    run(["mlops", "hooks", "install"], repo)
    installed = (repo / ".gitattributes").read_text()
    for command in ("status", "uninstall", "install"):
        refused = run(["mlops", "hooks", command], repo / "docs", check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert refused.stderr.splitlines() == [
            "error: not in the repository's root (in docs/)",
            "  hint: cd to the repository root",
        ], refused.stderr
    assert (repo / ".gitattributes").read_text() == installed
    assert run(["mlops", "hooks", "status"], repo).returncode == 0  # all still installed


def test_a_gitattributes_line_in_another_encoding_is_kept_byte_for_byte(repo):
    """git reads .gitattributes as bytes, so a pattern may name a Latin-1 file; install, status and uninstall failed
    on it with a UnicodeDecodeError traceback."""
    (repo / ".gitattributes").write_bytes(b"*.png binary\nd\xe9j\xe0.txt text\n")
    for command in ("install", "status", "uninstall"):
        done = run(["mlops", "hooks", command], repo, check=False)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
        if command == "install":
            assert (repo / ".gitattributes").read_bytes().startswith(b"*.png binary\nd\xe9j\xe0.txt text\n# >>>")
    assert (repo / ".gitattributes").read_bytes() == b"*.png binary\nd\xe9j\xe0.txt text\n"


def test_install_keeps_and_runs_an_existing_user_hook(repo):
    hook = write(repo, ".git/hooks/pre-commit", USER_HOOK)
    hook.chmod(0o755)
    run(["mlops", "hooks", "install"], repo)
    run(["mlops", "hooks", "install"], repo)
    assert "your own hook" in run(["mlops", "hooks", "status"], repo).stdout
    write(repo, "docs/note.md", "note\n")
    assert commit(repo, "docs/note.md").returncode == 0
    assert (repo / "user-hook-ran.txt").read_text() == "ran\n"
    write(repo, "data/x.csv", "a\n1\n")
    assert commit(repo, "data/x.csv", force=True).returncode != 0  # ours still enforce
    run(["git", "reset", "-q", "--", "data/x.csv"], repo)
    run(["mlops", "hooks", "uninstall"], repo)
    assert (repo / ".git/hooks/pre-commit").read_text() == USER_HOOK


def test_install_keeps_your_reference_transaction_hook_and_runs_it_first(repo):
    """pre-commit does not manage reference-transaction: `install` writes its own script there, keeping a hook of
    yours as `.legacy`, which runs first with the same input and may still refuse a ref update."""
    hook = write(repo, ".git/hooks/reference-transaction", "#!/bin/sh\ncat >> ref-updates.txt\n")
    hook.chmod(0o755)
    run(["mlops", "hooks", "install"], repo)
    run(["mlops", "hooks", "install"], repo)
    assert "your own hook, run first" in run(["mlops", "hooks", "status"], repo).stdout
    run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "empty"], repo)
    assert "refs/heads/main" in (repo / "ref-updates.txt").read_text()
    hook.with_suffix(".legacy").write_text('#!/bin/sh\ncat > /dev/null\n[ "$1" != prepared ]\n')
    refused = run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "refused"], repo, check=False)
    assert refused.returncode != 0
    run(["mlops", "hooks", "uninstall"], repo)
    assert hook.read_text() == '#!/bin/sh\ncat > /dev/null\n[ "$1" != prepared ]\n'


def test_commit_with_only_the_system_directories_on_path(hooked):
    env = minimal_path_env()
    write(hooked, "docs/note.md", "a note\n")
    made = commit(hooked, "docs/note.md", env=env)
    assert made.returncode == 0, output(made)
    write(hooked, "data/x.csv", "a\n1\n")
    refused = commit(hooked, "data/x.csv", force=True, env=env)
    assert refused.returncode != 0 and "data/x.csv" in output(refused)


def test_setting_unstaged_changes_aside_does_not_start_python_for_post_checkout(hooked):
    """pre-commit checks files out to set unstaged changes aside during a commit; the post-checkout script sees
    pre-commit's marker and exits before any Python starts (PYTHONVERBOSE would show its imports)."""
    script = str(hooked / ".git/hooks/post-checkout")
    head = run(["git", "rev-parse", "HEAD"], hooked).stdout.strip()
    during_stash = test_env(PYTHONVERBOSE="1", _PRE_COMMIT_SKIP_POST_CHECKOUT="1")
    skipped = run(["bash", script, head, head, "0"], hooked, env=during_stash)
    assert skipped.returncode == 0 and skipped.stderr == "", skipped.stderr[-500:]
    ordinary = run(["bash", script, head, head, "1"], hooked, env=test_env(PYTHONVERBOSE="1"))
    assert ordinary.returncode == 0 and "import" in ordinary.stderr

    readme = hooked / "README.md"
    unstaged = readme.read_text() + "\nwork in progress\n"
    readme.write_text(unstaged)
    write(hooked, "docs/note.md", "a note\n")
    made = commit(hooked, "docs/note.md")
    assert made.returncode == 0, output(made)
    assert readme.read_text() == unstaged  # set aside and put back


def test_a_file_checkout_starts_nothing_after_git_checks_the_file_out(hooked, tmp_path):
    """`git checkout -- FILE` runs post-checkout with 0 as its third argument. pre-commit started for it (Python,
    nine git commands, then the hook's own process) only for dvc-post-checkout to return at once; the script now
    ends first. GIT_TRACE lists every git command, PYTHONVERBOSE would show any Python starting."""
    readme = hooked / "README.md"
    committed = readme.read_text()
    readme.write_text(committed + "\nwork in progress\n")
    trace = tmp_path / "git-trace.log"
    checked_out = run(
        ["git", "checkout", "--", "README.md"], hooked, env=test_env(GIT_TRACE=str(trace), PYTHONVERBOSE="1")
    )
    assert readme.read_text() == committed
    traced = trace.read_text()
    assert "run_command: .git/hooks/post-checkout" in traced  # git ran the hook script
    assert re.findall(r"trace: built-in: (.*)", traced) == ["git checkout -- README.md"], traced
    assert "import " not in checked_out.stderr, checked_out.stderr[-500:]


def test_uninstall_leaves_the_committed_gitattributes_as_git_tracks_it(repo):
    """The project commits its merge-driver block: uninstall deleted the tracked `.gitattributes`, a change that
    made `mlops checkout` and `mlops exp apply` refuse. Without the git config the drivers are undefined, and git
    merges those files as text, as in a clone that never installed."""
    run(["mlops", "hooks", "install"], repo)
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    run(["mlops", "hooks", "uninstall"], repo)
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    assert run(["git", "config", "--get-regexp", "^merge\\.mlops"], repo, check=False).stdout == ""
    status = run(["mlops", "hooks", "status"], repo, check=False).stdout
    assert re.search(r"merge driver +mlops-generated not registered", status), status


def test_a_staged_name_that_is_not_utf8_is_named_with_its_fix(hooked):
    """pre-commit reads the staged names as UTF-8 before any hook runs: it ended in 'An unexpected error has
    occurred: UnicodeDecodeError', naming neither the file nor a fix. Its script now names them when it fails, and
    an ordinary commit starts no Python for that (PYTHONVERBOSE would show the module's code being read)."""
    write(hooked, "docs/note.md", "a note\n")
    ordinary = commit(hooked, "docs/note.md", env=test_env(PYTHONVERBOSE="1"))
    assert ordinary.returncode == 0 and "staged_names" not in output(ordinary), output(ordinary)[-500:]

    weird = hooked / os.fsdecode(b"docs/we\x80ird.md")
    weird.write_bytes(b"weird\n")
    line = "the staged file 'docs/we\\x80ird.md' (it is not UTF-8: the error above): rename it, e.g. `git mv -- "
    fix = "$'docs/we\\x80ird.md' NEW_NAME`, then commit again"
    refused = commit(hooked, "docs")
    assert refused.returncode != 0 and line + fix in output(refused), output(refused)
    assert staged_names(hooked) == [b"docs/we\x80ird.md"] and weird.read_bytes() == b"weird\n"  # nothing lost

    from_subfolder = run(["git", "commit", "-m", "change"], hooked / "docs", check=False)
    assert "'docs/we\\x80ird.md'" in output(from_subfolder)
    assert "not docs/: run these commands there: `cd ..` first." in output(from_subfolder), output(from_subfolder)

    run(["bash", "-c", "git mv -- " + fix.replace(" NEW_NAME`, then commit again", " docs/weird.md")], hooked)
    assert commit(hooked).returncode == 0

    run(["git", "mv", "docs/weird.md", os.fsdecode(b"docs/we\x80ird.md")], hooked)  # committed as it is
    run(["git", "commit", "-q", "--no-verify", "-m", "not UTF-8"], hooked)
    weird.write_bytes(b"weird, edited\n")
    all_changes = commit(hooked, args=("-a",))  # git commit -a: the name is staged in a copy of the index
    assert all_changes.returncode != 0 and line + fix in output(all_changes), output(all_changes)
    assert weird.read_bytes() == b"weird, edited\n"


def test_a_name_that_is_not_utf8_marked_to_be_added_is_named_with_its_fix(hooked):
    """pre-commit lists the files `git add -N` marked too (to set them aside while hooks run): such a name ended a
    commit of other files in its UnicodeDecodeError, and no staged name explained it."""
    weird = hooked / os.fsdecode(b"docs/we\x80ird.md")
    weird.write_bytes(b"weird\n")
    run(["git", "add", "-N", "--", os.fsdecode(b"docs/we\x80ird.md")], hooked)
    write(hooked, "docs/note.md", "a note\n")
    refused = commit(hooked, "docs/note.md")
    line = "the file 'docs/we\\x80ird.md' marked to be added (`git add -N`) (it is not UTF-8: the error above)"
    fix = "`git mv -- $'docs/we\\x80ird.md' NEW_NAME`, then commit again"
    assert refused.returncode != 0 and line in output(refused) and fix in output(refused), output(refused)
    assert weird.read_bytes() == b"weird\n"

    run(["git", "mv", "--", os.fsdecode(b"docs/we\x80ird.md"), "docs/weird.md"], hooked)
    assert commit(hooked).returncode == 0


def test_a_merge_that_brings_a_name_that_is_not_utf8_names_it_with_the_fix(hooked):
    """pre-merge-commit's script ran pre-commit as the pre-commit script did: a merged name that is not UTF-8 ended
    `git merge` in pre-commit's UnicodeDecodeError. It now names the file, with the fix that concludes the merge.
    The `git commit` that concludes it has pre-commit read only the names both sides changed: when that fails for
    another reason, the name brought by one side is not blamed."""
    run(["git", "checkout", "-q", "-b", "side"], hooked)
    write(hooked, os.fsdecode(b"docs/we\x80ird.md"), "weird\n")
    run(["git", "add", "docs"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-m", "not UTF-8"], hooked)
    run(["git", "checkout", "-q", "-"], hooked)
    write(hooked, "docs/note.md", "a note\n")
    run(["git", "add", "docs"], hooked)
    run(["git", "commit", "-q", "--no-verify", "-m", "a note"], hooked)  # so that the merge makes a commit

    line = "the staged file 'docs/we\\x80ird.md' (it is not UTF-8: the error above): rename it, e.g. `git mv -- "
    fix = "$'docs/we\\x80ird.md' NEW_NAME`, then `git commit` to conclude the merge"
    merged = run(["git", "merge", "--no-edit", "side"], hooked, check=False)
    assert merged.returncode != 0 and line + fix in output(merged), output(merged)
    assert staged_names(hooked) == [b"docs/we\x80ird.md"]  # the merge is still under way, nothing lost

    write(hooked, "docs/note.md", "a note with trailing spaces  \n")
    run(["git", "add", "docs/note.md"], hooked)
    whitespace = run(["git", "commit", "--no-edit"], hooked, check=False)
    assert whitespace.returncode != 0 and "cannot read the name" not in output(whitespace), output(whitespace)

    rename = "git mv -- " + fix.replace(" NEW_NAME`, then `git commit` to conclude the merge", " docs/weird.md")
    run(["bash", "-c", rename], hooked)
    run(["git", "add", "docs/note.md"], hooked)  # as the hook fixed it
    concluded = run(["git", "commit", "--no-edit"], hooked, check=False)
    assert concluded.returncode == 0, output(concluded)
    assert len(run(["git", "rev-list", "--parents", "-n", "1", "HEAD"], hooked).stdout.split()) == 3  # a merge
    assert run(["git", "show", "HEAD:docs/weird.md"], hooked).stdout == "weird\n"


def staged_names(repo) -> list[bytes]:
    names = subprocess.run(["git", "diff", "--cached", "--name-only", "-z"], cwd=repo, capture_output=True).stdout
    return [name for name in names.split(b"\0") if name]


def test_a_hooks_path_set_in_the_global_config_is_named_with_the_unset_that_reaches_it(repo, tmp_path):
    """pre-commit refuses to install under git's core.hooksPath, often set in the global config, where the hint
    given (`git config --unset core.hooksPath`, the repository's config) changed nothing."""
    home = tmp_path / "home"
    home.mkdir()
    env = test_env(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    run(["git", "config", "--global", "core.hooksPath", str(tmp_path / "company-hooks")], repo, env=env)

    refused = run(["mlops", "hooks", "install"], repo, check=False, env=env)
    assert refused.returncode == 2 and "Cowardly refusing" in refused.stderr, output(refused)
    assert "set in its global config: `git config --global --unset-all core.hooksPath`" in refused.stderr
    assert not (repo / ".git/hooks/pre-commit").exists()

    run(["git", "config", "--global", "--unset-all", "core.hooksPath"], repo, env=env)
    run(["mlops", "hooks", "install"], repo, env=env)  # the hint's command is the whole fix
    assert (repo / ".git/hooks/pre-commit").exists()


def test_a_clone_with_core_autocrlf_checks_out_the_committed_bytes(tmp_path):
    """With `core.autocrlf=true` (a Windows habit, set globally), git wrote CRLF: hooks/venv-python's shebang named
    `/bin/sh\\r` (every hook failed, exit 127) and DVC's md5s of the stage code changed (a fresh clone was stale)."""
    from tests.conftest import ROOT

    source = tmp_path / "source"
    source.mkdir()
    files = [".gitattributes", "hooks/venv-python", "pipeline/stages/train.py", "params.yaml"]
    for path in files:
        write(source, path, (ROOT / path).read_bytes())
    run(["git", "init", "-q"], source)
    run(["git", "add", "."], source)
    run(["git", "commit", "-q", "--no-verify", "-m", "files"], source)
    clone = tmp_path / "clone"
    run(
        ["git", "-c", "core.autocrlf=true", "clone", "-q", "--config", "core.autocrlf=true", str(source), str(clone)],
        tmp_path,
    )
    for path in files:
        assert (clone / path).read_bytes() == (ROOT / path).read_bytes(), path


def test_install_where_pre_commit_cannot_keep_its_store_says_so_in_one_line(repo, tmp_path):
    """pre-commit's store under an unwritable cache folder: `mlops hooks install` printed pre-commit's two
    tracebacks and "pre-commit says why above"."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be\n")
    env = test_env(XDG_CACHE_HOME=str(blocker))
    env.pop("PRE_COMMIT_HOME", None)
    refused = run(["mlops", "hooks", "install"], repo, check=False, env=env)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 2 and "Traceback" not in said, said
    assert f"pre-commit keeps its hook environments in {blocker}/pre-commit, which cannot be written" in said
    assert not (repo / ".git/hooks/pre-commit").exists()
    env["PRE_COMMIT_HOME"] = str(tmp_path / "store")  # the fix, followed
    assert run(["mlops", "hooks", "install"], repo, check=False, env=env).returncode == 0
