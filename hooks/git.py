"""The one place the hooks ask git anything: NUL-safe plumbing, no porcelain parsing, no shell.

Paths go to git as arguments after `--` with `--literal-pathspecs` (no globbing) and come back `-z`
separated, so names with spaces, quotes, newlines or non-ASCII survive. Blob sizes are read from the index
with one `git cat-file --batch-check` call on object ids (never on path names, which may hold newlines).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EMPTY_SHA = "0" * 40


@dataclass(frozen=True)
class StagedFile:
    path: str
    status: str  # A, M, R, C, T (D is never listed)
    sha: str
    source: str | None = None  # the old name of a rename or copy


def git(*args: str, input: bytes | None = None, check: bool = True) -> bytes:
    result = subprocess.run(["git", *args], input=input, capture_output=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _split_z(output: bytes) -> list[str]:
    return [part for part in output.decode("utf-8", "surrogateescape").split("\0") if part]


def staged_changes() -> list[StagedFile]:
    """Files added, modified, renamed or copied in the index against HEAD (deletions left out)."""
    has_head = git("rev-parse", "--verify", "-q", "HEAD", check=False).strip() != b""
    base = "HEAD" if has_head else git("hash-object", "-t", "tree", "/dev/null").decode().strip()
    # --raw rather than --name-status: the same statuses plus each new blob's id, for the size lookup.
    fields = _split_z(git("diff", "--cached", "-z", "--raw", "--no-abbrev", "-M", "-C", base))
    changes = []
    index = 0
    while index < len(fields):
        meta = fields[index].split()
        status, sha = meta[4][0], meta[3]
        if status in "RC":
            changes.append(StagedFile(fields[index + 2], status, sha, source=fields[index + 1]))
            index += 3
        else:
            if status != "D":
                changes.append(StagedFile(fields[index + 1], status, sha))
            index += 2
    return changes


def index_entries(paths: Iterable[str]) -> dict[str, str]:
    """path -> blob id in the index, for the given paths that git tracks (`git ls-files -z -s`)."""
    paths = list(paths)
    if not paths:
        return {}
    entries = {}
    for record in _split_z(git("--literal-pathspecs", "ls-files", "-z", "-s", "--", *paths)):
        meta, _, path = record.partition("\t")
        entries[path] = meta.split()[1]
    return entries


def blob_sizes(shas: Iterable[str]) -> dict[str, int]:
    """blob id -> size in bytes, in one `git cat-file --batch-check` call."""
    unique = sorted(set(shas) - {EMPTY_SHA})
    if not unique:
        return {}
    output = git("cat-file", "--batch-check=%(objectname) %(objectsize)", input="\n".join(unique).encode() + b"\n")
    sizes = {}
    for line in output.decode().splitlines():
        sha, _, size = line.partition(" ")
        if size.isdigit():
            sizes[sha] = int(size)
    return sizes


def staged_blob(path: str) -> bytes | None:
    """The content of `path` in the index, or None when the index does not hold it."""
    sha = index_entries([path]).get(path)
    if sha is None:
        return None
    return git("cat-file", "blob", sha)


def tracked_files(paths: Sequence[str] = ()) -> list[str]:
    """Every path git tracks (under `paths`, when given), from `git ls-files -z`."""
    return _split_z(git("--literal-pathspecs", "ls-files", "-z", "--", *paths))


def unstaged_changes(paths: Sequence[str]) -> list[str]:
    """Tracked files under `paths` whose working-tree content differs from the index."""
    return _split_z(git("--literal-pathspecs", "diff", "-z", "--name-only", "--", *paths))


def show(rev: str, path: str) -> bytes | None:
    result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True)
    return result.stdout if result.returncode == 0 else None


def git_path(name: str) -> str:
    """A file in this worktree's git directory (`git rev-parse --git-path`)."""
    return git("rev-parse", "--git-path", name).decode().strip()


def ref_exists(name: str) -> bool:
    """Whether a ref or pseudo-ref (`MERGE_HEAD`, `CHERRY_PICK_HEAD`, ...) resolves."""
    return git("rev-parse", "--verify", "-q", name, check=False).strip() != b""


def write_tree() -> str:
    """The object id of the index as a tree: equal ids mean an unchanged index."""
    return git("write-tree").decode().strip()


def merge_heads() -> dict[str, str]:
    """The commits being merged into HEAD -> a label: from MERGE_HEAD once git wrote it (the `git commit` that
    concludes a merge), or from the `GITHEAD_<id>=<name>` variables `git merge` sets for its own hooks
    (`pre-merge-commit` runs before MERGE_HEAD exists)."""
    heads = {name[len("GITHEAD_") :]: label for name, label in os.environ.items() if name.startswith("GITHEAD_")}
    if heads:
        return heads
    try:
        with open(git_path("MERGE_HEAD"), encoding="ascii") as handle:
            return {line.strip(): "MERGE_HEAD" for line in handle if line.strip()}
    except FileNotFoundError:
        return {}


def blob_at(rev: str, path: str) -> bytes | None:
    """The content of a file at a revision, or None when it is absent there or not a file (a directory)."""
    output = git("cat-file", "--batch", input=f"{rev}:{path}\n".encode("utf-8", "surrogateescape"))
    header, _, content = output.partition(b"\n")
    fields = header.split()
    if len(fields) != 3 or fields[1] != b"blob":
        return None
    return content[: int(fields[2])]
