"""hooks/git.py, the one module that runs git, on a temporary repository: NUL-safe names, revisions never read
as options, git's own message on failure; and `dvc_seam.git`, which turns a failure into a UserError."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hooks import git
from pipeline.errors import UserError
from pipeline.versioning import dvc_seam
from tests.conftest import GIT_IDENTITY, anonymous_env, run

ODD = 'prêts "2024"\nv1.md'  # a quote, a newline and non-ASCII in one name


def commit_all(message: str = "c") -> None:
    run(["git", "add", "-A"], Path.cwd())
    run(["git", "commit", "-q", "-m", message], Path.cwd())


def test_a_repository_without_a_commit(staging):
    staging("a.txt", "a\n")
    assert git.resolve_commit("HEAD") is None
    assert git.uncommitted_changes() == ["a.txt"]
    assert [change.path for change in git.staged_changes()] == ["a.txt"]


def test_names_survive_whole(staging):
    staging(ODD, "odd\n")
    staging("pointer.dvc", "outs: []\n")
    (Path.cwd() / "untracked.dvc").write_text("outs: []\n")
    assert git.is_tracked(ODD) and not git.is_tracked("untracked.dvc") and not git.is_tracked("*.dvc")
    assert git.ls_files("*.dvc") == ["pointer.dvc"]
    assert sorted(git.ls_files("*.dvc", untracked=True)) == ["pointer.dvc", "untracked.dvc"]
    commit_all()
    Path(ODD).write_text("changed\n")
    assert git.uncommitted_changes() == [ODD] and git.unstaged_changes(()) == [ODD]
    assert git.blob_at("HEAD", ODD) == b"odd\n"


def test_blobs_at_skips_missing_names_and_folders_whatever_their_spaces(staging):
    """git answers a missing `REV:PATH` with its name and `missing`: a name with spaces (`x 1`) split into three
    fields as an object's header does."""
    staging("my file", "a\n")
    staging("d/f", "c\n")
    commit_all()
    asked = ["x 1", "my file", "d", "a blob 12", "d/f"]
    assert git.blobs_at("HEAD", asked) == {"my file": b"a\n", "d/f": b"c\n"}
    assert git.blob_at("HEAD", "x 1") is None and git.blob_at("HEAD", "d") is None


def test_a_revision_is_never_read_as_an_option(staging, tmp_path):
    staging("a.txt", "a\n")
    commit_all()
    head = run(["git", "rev-parse", "HEAD"], Path.cwd()).stdout.strip()
    assert git.resolve_commit("HEAD") == head
    injected = tmp_path / "injected"
    assert git.resolve_commit(f"--output={injected}") is None and not injected.exists()
    with pytest.raises(UserError, match="is not a revision"):
        dvc_seam.read_at(f"--output={injected}", "a.txt")
    with pytest.raises(UserError, match="is not a revision"):
        dvc_seam.resolve_commit("HEAD\nmain")


@pytest.mark.parametrize("rev", ["HEAD..HEAD", "HEAD...HEAD"])
def test_a_range_is_no_commit(staging, rev):
    """git rev-parse prints a range's ends (`HEAD..main` as two lines) before failing --verify: never one id."""
    staging("a.txt", "a\n")
    commit_all()
    assert git.resolve_commit(rev) is None


def test_refs_are_rows_of_the_asked_fields(staging):
    staging("a.txt", "a\n")
    commit_all()
    run(["git", "tag", "-a", "-m", "first", "model@v1.0.0"], Path.cwd())
    [(name, peeled, target)] = git.refs("refs/tags/", "refname:strip=2", "*objectname", "objectname")
    assert name == "model@v1.0.0" and peeled == git.resolve_commit("HEAD") and target != peeled


def test_a_failure_carries_gits_message(staging):
    with pytest.raises(git.GitFailed, match="no-such-rev"):
        git.git("rev-parse", "--verify", "no-such-rev^{commit}")
    with pytest.raises(UserError, match=r"`git checkout -q no-such-branch` failed: .*no-such-branch"):
        dvc_seam.git("checkout", "-q", "no-such-branch")


def test_a_commit_from_another_directory(staging, tmp_path):
    other = tmp_path / "other"
    run(["git", "init", "-q", str(other)], tmp_path)
    (other / "b.txt").write_text("b\n")
    git.git("add", "b.txt", cwd=str(other))
    git.git("commit", "-q", "-F", "-", input=b"from stdin", cwd=str(other))
    assert git.resolve_commit("HEAD", cwd=str(other)) is not None
    assert git.resolve_commit("HEAD") is None  # the working directory's repository is untouched


def test_staged_blobs_read_from_the_work_tree_hold_each_file_up_to_the_limit(staging):
    for name, content in {"big.txt": "x" * 100, "small.txt": "abc", "empty.txt": ""}.items():
        staging(name, content)
    for limit in (10, 8 * 1024 * 1024):
        blobs = {
            blob.path: (blob.size, blob.head) for blob in git.staged_blobs(["big.txt", "small.txt", "empty.txt"], limit)
        }
        assert blobs == {"big.txt": (100, b"x" * min(100, limit)), "small.txt": (3, b"abc"), "empty.txt": (0, b"")}


def test_a_path_outside_the_work_tree_is_in_no_index(staging):
    staging("a.txt", "a\n")
    assert list(git.index_entries(["../outside.json", "/etc/hostname", "a.txt"])) == ["a.txt"]
    assert git.staged_blob("../outside.json") is None and git.staged_blob("a.txt") == b"a\n"


def test_a_user_revision_that_is_both_a_branch_and_a_tag_is_refused_where_it_is_resolved(staging):
    """Every command resolves a user's revision through `dvc_seam.resolve_commit`; git would take the tag."""
    staging("a.txt", "a\n")
    commit_all("first")
    run(["git", "branch", "same"], Path.cwd())
    staging("a.txt", "b\n")
    commit_all("second")
    run(["git", "tag", "-a", "-m", "annotated", "same"], Path.cwd())
    run(["git", "tag", "both"], Path.cwd())
    run(["git", "branch", "both"], Path.cwd())  # the same commit: no ambiguity
    for rev in ("same", "same~1", "same^{commit}"):
        with pytest.raises(
            UserError, match=r"^'same' is both a branch \(commit \w{12}\) and a tag \(commit \w{12}\)"
        ) as refused:
            dvc_seam.resolve_commit(rev)
        assert refused.value.hint == "name the one you mean: refs/heads/same or refs/tags/same"
    branch, tag = git.resolve_commit("refs/heads/same"), git.resolve_commit("refs/tags/same")
    assert branch != tag and dvc_seam.resolve_commit("refs/heads/same") == branch
    assert dvc_seam.resolve_commit("refs/tags/same") == tag == dvc_seam.resolve_commit("HEAD")
    assert dvc_seam.resolve_commit("both") == tag and dvc_seam.resolve_commit("no-such-rev") is None


def test_a_user_revision_naming_a_file_or_a_folder_is_refused_for_what_it_is(staging):
    """A tag on a file or a folder (`git tag blobtag HEAD:a.txt`) was "not a commit, tag or branch here"."""
    staging("a.txt", "a\n")
    commit_all("first")
    run(["git", "tag", "blobtag", "HEAD:a.txt"], Path.cwd())
    run(["git", "tag", "treetag", "HEAD^{tree}"], Path.cwd())
    run(["git", "tag", "-a", "-m", "annotated", "annotated-blobtag", "HEAD:a.txt"], Path.cwd())
    named = {
        "blobtag": "a file (blob)",
        "annotated-blobtag": "a file (blob)",
        "HEAD:a.txt": "a file (blob)",
        "treetag": "a folder (tree)",
        "HEAD^{tree}": "a folder (tree)",
    }
    for rev, kind in named.items():
        with pytest.raises(UserError, match=rf"^'{re.escape(rev)}' names {re.escape(kind)}, not a commit") as refused:
            dvc_seam.resolve_commit(rev)
        assert "git tag NAME COMMIT" in refused.value.hint
    assert git.object_type("blobtag") == "blob" and git.object_type("HEAD") == "commit"
    assert dvc_seam.resolve_commit("HEAD:no-such-file") is None and dvc_seam.resolve_commit("no-such-rev") is None


def test_knows_identity_as_git_commit_decides_and_config_value_reads_what_git_reads(staging, tmp_path, monkeypatch):
    """No identity anywhere (as on a fresh machine), then a name alone, then both: `git commit` fails, fails,
    then succeeds, and `knows_identity` says so beforehand; the values are read from the repository's config."""
    staging("a.txt", "a\n")
    for variable, value in anonymous_env(tmp_path / "home").items():
        monkeypatch.setenv(variable, value)
    for variable in GIT_IDENTITY:
        monkeypatch.delenv(variable, raising=False)
    assert not git.knows_identity() and git.config_value("user.name") is None
    assert not git.succeeds("commit", "-q", "-m", "anonymous")

    git.git("config", "user.name", "A Name")
    assert not git.knows_identity() and git.config_value("user.name") == "A Name"
    assert git.config_value("user.email") is None

    git.git("config", "user.email", "a@example.invalid")
    assert git.knows_identity() and git.config_value("user.email") == "a@example.invalid"
    assert git.succeeds("commit", "-q", "-m", "named")


@pytest.mark.parametrize(
    ("arguments", "amending"),
    [
        (["commit", "--amend", "--no-edit"], True),
        (["commit", "-a", "--amen"], True),  # git takes an unambiguous prefix
        (["-C", "repo", "commit", "--amend"], True),
        (["commit", "-m", "", "--amend"], True),  # an empty message is a value too
        (["commit", "-m", "--amend"], False),  # the message is `--amend`
        (["commit", "-am", "--amend"], False),
        (["commit", "--message", "--amend"], False),
        (["commit", "--mess", "--amend"], False),
        (["commit", "-mtext", "--amend"], True),  # the value was attached
        (["commit", "--message=x", "--amend"], True),
        (["commit", "-F", "--amend"], False),
        (["-c", "--amend", "commit"], False),
        (["commit", "--", "--amend"], False),  # a path
        (["commit", "--all", "--no-edit"], False),
    ],
)
def test_amending_is_read_from_gits_arguments_as_git_parses_them(arguments, amending):
    assert git.amends(arguments) is amending
