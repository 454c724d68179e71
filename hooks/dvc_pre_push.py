"""dvc-pre-push: push to the DVC remote the data referenced by the commits being pushed.

So that collaborators never get a commit whose data or model is missing from the remote. The commits are
the pushed tip and those among the new commits that change `dvc.lock` or a `.dvc` pointer. Every cached object
they name is re-hashed first: a corrupted one is refused by name and never reaches the remote.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence

from hooks import git
from hooks.dvc_post_checkout import INSTALL_DVC, NO_DVC
from hooks.dvc_remotes import workspace_remotes
from hooks.pipeline_state import LOCK_FILE, locked_outs, path_md5, pointer_outs

HOOK_ID = "dvc-pre-push"
ZERO = "0" * 40
# `dvc push` has no --rev option; its Python API does. It runs in a child process: the hook stays light.
PUSH_REVS = "import sys; from hooks.dvc_pre_push import push_revisions; push_revisions(sys.argv[1:])"
NO_DEFAULT_REMOTE = 3  # the status of `push_revisions` when the workspace names no default DVC remote


def pushed_revisions(to_ref: str, remote: str) -> list[str]:
    """The tip plus the new commits (not yet on `remote`) that change what DVC tracks."""
    new = (
        git.git(
            "rev-list",
            to_ref,
            "--not",
            f"--remotes={remote}",
            "--",
            "dvc.lock",
            "*.dvc",
            ":(glob)**/dvc.lock",
            check=False,
        )
        .decode()
        .split()
    )
    return [to_ref, *[rev for rev in new if rev != to_ref]]


def cache_dir() -> str:
    """DVC's local cache folder: `cache.dir` of `.dvc/config.local` or `.dvc/config` (relative to `.dvc/`)."""
    folder = os.path.join(".dvc", "cache")
    for name in ("config", "config.local"):  # the local file wins
        config = configparser.ConfigParser()
        try:
            config.read(os.path.join(".dvc", name))
        except configparser.Error:
            continue
        if config.has_option("cache", "dir"):
            folder = os.path.join(".dvc", config.get("cache", "dir"))
    return folder


def recorded_objects(rev: str) -> Iterator[tuple[str, str]]:
    """(path, md5) of every output `dvc.lock` and the `.dvc` pointers record at `rev`."""
    pointers = [name for name in git.git("ls-tree", "-r", "-z", "--name-only", rev).decode().split("\0") if name]
    for name in pointers:
        if name == LOCK_FILE:
            outs = locked_outs(git.blob_at(rev, name))
        elif name.endswith(".dvc"):
            outs = pointer_outs(git.blob_at(rev, name))
        else:
            continue
        for out in outs:
            if out.get("md5") and out.get("path"):
                yield os.path.join(os.path.dirname(name), out["path"]), out["md5"]


def corrupted_objects(revs: list[str], cache: str) -> list[str]:
    """A line per cached object the revisions name whose bytes no longer hash to its name (missing objects are
    DVC push's to report). A directory's listing and each of its files are checked."""
    problems, checked = [], set()

    def check(path: str, md5: str) -> None:
        if md5 in checked:
            return
        checked.add(md5)
        plain = md5.removesuffix(".dir")
        cached = os.path.join(cache, "files", "md5", plain[:2], plain[2:] + (".dir" if md5.endswith(".dir") else ""))
        if not os.path.isfile(cached):
            return
        if path_md5(cached) != plain:
            problems.append(f"  {path}: cache object {cached} is corrupted (its md5 is not {plain})")
        elif md5.endswith(".dir"):
            with open(cached, encoding="utf-8") as handle:
                for entry in json.load(handle):
                    check(f"{path}/{entry['relpath']}", entry["md5"])

    for rev in revs:
        for path, md5 in recorded_objects(rev):
            check(path, md5)
    return problems


def push_revisions(revs: list[str]) -> None:
    """Push the DVC data `revs` name to the default remote the workspace's config names (see `hooks.dvc_remotes`);
    with none, push nothing and end with NO_DEFAULT_REMOTE: DVC would use the one the pushed commits recorded."""
    from dvc.repo import Repo

    remotes = workspace_remotes()
    if "core" not in remotes:
        sys.exit(NO_DEFAULT_REMOTE)
    Repo(config=remotes).push(revs=revs, workspace=False)


def push_command(revs: list[str]) -> list[str]:
    if importlib.util.find_spec("dvc"):
        return [sys.executable, "-c", PUSH_REVS, *revs]
    return ["dvc", "push"]  # a hook environment without DVC: the workspace's data, through the user's DVC


def main(argv: Sequence[str] | None = None) -> int:
    # pre-commit leaves PRE_COMMIT_TO_REF unset when the push holds the root commit (a first push): the local
    # branch being pushed is then the tip.
    to_ref = os.environ.get("PRE_COMMIT_TO_REF") or os.environ.get("PRE_COMMIT_LOCAL_BRANCH", "")
    remote = os.environ.get("PRE_COMMIT_REMOTE_NAME", "origin")
    if not os.path.isdir(".dvc") or not to_ref or to_ref == ZERO:  # nothing pushed, or a branch deleted
        return 0
    revs = pushed_revisions(to_ref, remote)
    corrupted = corrupted_objects(revs, cache_dir())
    if corrupted:
        print(
            f"{HOOK_ID}: the pushed commits name DVC cache objects that are corrupted; nothing was pushed, so the "
            "remote never receives them:\n" + "\n".join(corrupted) + "\nFix: restore them (`mlops data pull`, "
            "or `mlops repro` for pipeline outputs; `mlops data status --verify` lists them), then push again.\n"
            f"To push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git push --no-verify)"
        )
        return 1
    try:
        status = subprocess.run(push_command(revs)).returncode
    except FileNotFoundError:
        print(
            f"{HOOK_ID}: {NO_DVC}, so the git push stopped: collaborators would get commits whose data is missing. "
            f"Fix: {INSTALL_DVC}; then push again.\nTo push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git "
            "push --no-verify)"
        )
        return 1
    if status == NO_DEFAULT_REMOTE:
        print(
            f"{HOOK_ID}: no default DVC remote here to push the pushed commits' data to, so the git push stopped "
            "(the data would go where those commits' .dvc/config said the remote was). Fix: `mlops remote set "
            "PATH_OR_URL` (the project's own: `mlops remote set ../lending-mlops-dvc-remote`), then push again.\n"
            f"To push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git push --no-verify)"
        )
        return 1
    if status != 0:
        print(
            f"{HOOK_ID}: pushing the DVC data of {len(revs)} commit(s) failed (see above), so the git push "
            "stopped: collaborators would get commits whose data is missing. Fix: check the DVC remote "
            "(`dvc remote list`, credentials in .dvc/config.local), run `dvc push`, then push again.\n"
            f"To push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git push --no-verify)"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
