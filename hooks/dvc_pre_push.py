"""dvc-pre-push: push to the DVC remote the data referenced by the commits being pushed.

So that collaborators never get a commit whose data or model is missing from the remote. The commits are
the pushed tip and those among the new commits that change `dvc.lock` or a `.dvc` pointer. Every cached object
they name is re-hashed first: a corrupted one is refused by name and never reaches the remote.
"""

from __future__ import annotations

import importlib.util
import json
import os
import posixpath
import subprocess
import sys
from collections.abc import Iterator, Sequence

from hooks import git
from hooks.dvc_cache_config import cache_dir
from hooks.dvc_post_checkout import INSTALL_DVC, NO_DVC
from hooks.dvc_remotes import workspace_remotes
from hooks.pipeline_state import cached_outputs, imports_from_a_repository, path_md5, pointer_outs

HOOK_ID = "dvc-pre-push"
ZERO = "0" * 40
# `dvc push` has no --rev option; its Python API does. It runs in a child process: the hook stays light.
PUSH_REVS = "import sys; from hooks.dvc_pre_push import push_revisions; push_revisions(sys.argv[1:])"
NO_DEFAULT_REMOTE = 3  # the status of `push_revisions` when the workspace names no default DVC remote
CORRUPTED = 4  # ... when a cache object the pushed commits name is corrupted (nothing was pushed)
LOST = 5  # ... when one is neither in the cache nor on the remote (the rest was pushed)


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


def recorded_objects(rev: str) -> Iterator[tuple[str, str]]:
    """(path, md5) of every file DVC keeps in its cache at `rev`: the outputs `dvc.lock` records (not those
    `dvc.yaml` keeps in git, which no cache holds) and the files the `.dvc` pointers name."""
    names = [name for name in git.git("ls-tree", "-r", "-z", "--name-only", rev).decode().split("\0") if name]
    objects = cached_outputs(lambda path: git.blob_at(rev, path), [name for name in names if name.endswith(".dvc")])
    return iter(objects.items())


def imported_paths(rev: str) -> set[str]:
    """The paths the `.dvc` pointers at `rev` import from another repository (`dvc import`)."""
    names = [name for name in git.git("ls-tree", "-r", "-z", "--name-only", rev).decode().split("\0") if name]
    imported = set()
    for name in (name for name in names if name.endswith(".dvc")):
        data = git.blob_at(rev, name)
        if imports_from_a_repository(data):
            imported |= {posixpath.join(posixpath.dirname(name), str(out.get("path"))) for out in pointer_outs(data)}
    return imported


def object_file(objects: str, md5: str) -> str:
    """Where DVC's cache folder of md5 objects (`<cache>/files/md5`) keeps the object `md5` (a listing: `.dir`)."""
    plain = md5.removesuffix(".dir")
    return os.path.join(objects, plain[:2], plain[2:] + (".dir" if md5.endswith(".dir") else ""))


def cached_objects(revs: list[str], objects: str) -> tuple[list[str], dict[str, str]]:
    """(a line per cached object the revisions name whose bytes no longer hash to its name, {md5: path} of those
    the first revision, the pushed tip, names and the cache lacks). A directory's listing and each of its files are
    checked, each object once."""
    problems, missing, checked = [], {}, set()

    def check(path: str, md5: str) -> None:
        if md5 in checked or not isinstance(md5, str):  # not DVC's (a hand-edited pointer): DVC names it
            return
        checked.add(md5)
        plain, cached = md5.removesuffix(".dir"), object_file(objects, md5)
        if not os.path.isfile(cached):
            missing[md5] = path
        elif path_md5(cached) != plain:
            problems.append(f"  {path}: cache object {cached} is corrupted (its md5 is not {plain})")
        elif md5.endswith(".dir"):
            with open(cached, encoding="utf-8") as handle:
                for entry in json.load(handle):
                    check(f"{path}/{entry['relpath']}", entry["md5"])

    tip_missing: dict[str, str] = {}
    for index, rev in enumerate(revs):
        for path, md5 in recorded_objects(rev):
            check(path, md5)
        if index == 0:  # the tip comes first: every object it names is checked by now
            tip_missing = dict(missing)
    return problems, tip_missing


def push_revisions(revs: list[str]) -> None:
    """Push the DVC data `revs` name to the default remote the workspace's config names (see `hooks.dvc_remotes`);
    with none, push nothing and end with NO_DEFAULT_REMOTE: DVC would use the one the pushed commits recorded. A
    corrupted cache object ends it with CORRUPTED before anything is pushed (DVC would drop it and push the rest),
    and an object of the pushed tip neither in the cache nor on the remote with LOST after the push (DVC warns of
    it, by md5 alone, and succeeds; data imported from another repository aside, which DVC never pushes). The
    cache is where DVC's config, at any level, puts it."""
    from dvc.repo import Repo

    remotes = workspace_remotes()
    if "core" not in remotes:
        sys.exit(NO_DEFAULT_REMOTE)
    repo = Repo(config=remotes)
    # Lost objects are judged by the tip's, what a teammate checks out: an older commit's may be long gone.
    corrupted, missing = cached_objects(revs, repo.cache.local.path)
    if corrupted:
        print("\n".join(corrupted))
        sys.exit(CORRUPTED)
    repo.push(revs=revs, workspace=False)
    imported = imported_paths(revs[0])
    remote = repo.cloud.get_remote_odb()
    lost = [
        f"  {path} (md5 {md5})"
        for md5, path in missing.items()
        if not any(path == folder or path.startswith(folder + "/") for folder in imported) and not remote.exists(md5)
    ]
    if lost:
        print("\n".join(lost))
        sys.exit(LOST)


def push_command(revs: list[str]) -> list[str]:
    if importlib.util.find_spec("dvc"):
        return [sys.executable, "-c", PUSH_REVS, *revs]
    return ["dvc", "push"]  # a hook environment without DVC: the workspace's data, through the user's DVC


SKIP_HINT = f"To push anyway on purpose: SKIP={HOOK_ID} git push ...  (or git push --no-verify)"


def main(argv: Sequence[str] | None = None) -> int:
    # pre-commit leaves PRE_COMMIT_TO_REF unset when the push holds the root commit (a first push): the local
    # branch being pushed is then the tip.
    to_ref = os.environ.get("PRE_COMMIT_TO_REF") or os.environ.get("PRE_COMMIT_LOCAL_BRANCH", "")
    remote = os.environ.get("PRE_COMMIT_REMOTE_NAME", "origin")
    if not os.path.isdir(".dvc") or not to_ref or to_ref == ZERO:  # nothing pushed, or a branch deleted
        return 0
    revs = pushed_revisions(to_ref, remote)
    command = push_command(revs)
    if command[0] != sys.executable:  # the user's DVC pushes: the cache is checked here, where its config puts it
        corrupted, _missing = cached_objects(revs, os.path.join(cache_dir(), "files", "md5"))
        if corrupted:
            return refuse_corrupted(corrupted)
    try:
        ran = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        print(
            f"{HOOK_ID}: {NO_DVC}, so the git push stopped: collaborators would get commits whose data is missing. "
            f"Fix: {INSTALL_DVC}; then push again.\n{SKIP_HINT}"
        )
        return 1
    return said_of(ran.returncode, ran.stdout, len(revs))


def refuse_corrupted(lines: list[str]) -> int:
    print(
        f"{HOOK_ID}: the pushed commits name DVC cache objects that are corrupted; nothing was pushed, so the "
        "remote never receives them:\n" + "\n".join(lines) + "\nFix: restore them (`mlops data pull`, or "
        "`mlops repro` for pipeline outputs; `mlops data status --verify` lists them), then push again.\n" + SKIP_HINT
    )
    return 1


def said_of(status: int, output: str, commits: int) -> int:
    """The hook's word and exit status for the push's (`push_revisions` names objects on its stdout)."""
    lines = [line for line in output.splitlines() if line.startswith("  ")]
    if status == CORRUPTED:
        return refuse_corrupted(lines)
    if status == LOST:
        print(
            f"{HOOK_ID}: the pushed tip names DVC objects that are neither in the cache nor on the remote, so "
            "the git push stopped: collaborators would get commits whose data is missing (the rest was pushed):\n"
            + "\n".join(lines)
            + "\nFix: push from a clone that has them (`mlops data push`), or, with the pushed commit checked out, "
            "`mlops repro` rebuilds its model and reports (a data file: `mlops data add` it again); then push again.\n"
            + SKIP_HINT
        )
        return 1
    print(output, end="")  # DVC's own words
    if status == NO_DEFAULT_REMOTE:
        print(
            f"{HOOK_ID}: no default DVC remote here to push the pushed commits' data to, so the git push stopped "
            "(the data would go where those commits' .dvc/config said the remote was). Fix: `mlops remote set "
            f"PATH_OR_URL` (the project's own: `mlops remote set ../lending-mlops-dvc-remote`), then push again.\n"
            f"{SKIP_HINT}"
        )
        return 1
    if status != 0:
        print(
            f"{HOOK_ID}: pushing the DVC data of {commits} commit(s) failed (see above), so the git push "
            "stopped: collaborators would get commits whose data is missing. Fix: check the DVC remote "
            "(`dvc remote list`, credentials in .dvc/config.local), run `dvc push`, then push again.\n"
            f"{SKIP_HINT}"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
