"""`mlops data status` in words, and `--verify`: re-hash the cached objects in use (DVC does not notice a
corrupted cache object on checkout). Pure functions over DVC's status dict and the cache folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hooks.block_untracked_data import is_table
from hooks.pipeline_state import path_md5
from pipeline.errors import UserError

WORDS = [
    (("committed", "added"), "new, not yet committed to git"),
    (("committed", "modified"), "modified, not yet committed to git"),
    (("committed", "deleted"), "deleted, not yet committed to git"),
    (("uncommitted", "added"), "new, not yet recorded by DVC (run `mlops repro` or `mlops data add`)"),
    (("uncommitted", "modified"), "modified since DVC recorded it (run `mlops repro` or `mlops data add`)"),
    (("uncommitted", "deleted"), "deleted from the workspace (restore with `dvc checkout`)"),
    (("not_in_cache",), "not in the local cache (fetch with `mlops data pull`)"),
    (("not_in_remote",), "not yet pushed (run `mlops data push`)"),
    # Most such files are a command's output (scores, a report): `mlops data add` would make one the training data.
    (("untracked",), "untracked (training data: `mlops data add` it; else delete it or list it in .gitignore)"),
]
# What `dvc add` (or `dvc import`) writes for git: the pointer and the .gitignore that keeps the data out of git. They
# are no training data to add again: the data is tracked, only git does not have its pointer yet.
UNTRACKED_POINTER = "DVC's pointer, not yet in git (`git add` it, then commit)"
UNTRACKED_GITIGNORE = "not yet in git (`git add` it, then commit)"
# Any other file (a report, notes): `mlops data add` reads tables only, and refused it.
UNTRACKED_OTHER = "untracked (`git add` it if it is code or docs; else delete it or list it in .gitignore)"


def _untracked_words(path: str, words: str) -> str:
    if path.endswith(".dvc"):
        return UNTRACKED_POINTER
    if path.rsplit("/", 1)[-1] == ".gitignore":
        return UNTRACKED_GITIGNORE
    return words if is_table(path) else UNTRACKED_OTHER


def _entries(state: dict, keys: tuple[str, ...]) -> list[str]:
    node = state
    for key in keys:
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return sorted(node) if node else []


ALL_CLEAR = "Everything DVC tracks is recorded, cached and pushed."
ALL_CLEAR_LOCALLY = "Everything DVC tracks is recorded and cached (pushed or not: the remote was not asked)."


def all_clear(remote_asked: bool) -> str:
    """The line for no row at all: "pushed" only when the remote said so."""
    return ALL_CLEAR if remote_asked else ALL_CLEAR_LOCALLY


def status_rows(state: dict) -> list[tuple[str, str]]:
    """(file, its state in words) for every file and state, e.g. `data/external/loans.csv`, `not yet pushed (...)`;
    empty when everything is recorded, cached and pushed."""
    rows = []
    not_cached = set(_entries(state, ("not_in_cache",)))
    for keys, words in WORDS:
        for path in _entries(state, keys):
            if path.endswith((".partial",)):
                continue
            if keys == ("uncommitted", "deleted") and path in not_cached:
                continue  # `dvc checkout` has nothing to restore it from: its not-in-cache row says to pull it
            rows.append((path, _untracked_words(path, words) if keys == ("untracked",) else words))
    return rows


def object_path(cache_files: Path, md5: str) -> Path:
    return cache_files / md5[:2] / md5[2:]


def kept_elsewhere(path: Path, cache_files: Path, *recorded: str | None) -> bool:
    """Whether the bytes of the file `path` exist besides it: they hash to one of `recorded` (md5s a commit records,
    or another file's) or are an object of the DVC cache. Overwriting a file for which this is false loses them."""
    md5 = path_md5(path)
    return md5 in recorded or object_path(cache_files, md5).is_file()


@dataclass(frozen=True)
class CacheProblem:
    line: str  # the workspace path, the cache object and what is wrong with it
    missing: bool  # else corrupted


def corrupted_objects(tracked: dict[str, str], cache_files: Path) -> list[CacheProblem]:
    """A problem per cached object in use whose bytes no longer hash to its name, or that is missing."""
    problems = []
    for workspace_path, md5 in sorted(tracked.items()):
        if md5.endswith(".dir"):
            continue  # directory listings: their files are checked through their own entries
        cached = object_path(cache_files, md5)
        if not cached.is_file():
            problems.append(CacheProblem(f"{workspace_path}: cache object {cached} is missing", missing=True))
        elif path_md5(cached) != md5:
            line = f"{workspace_path}: cache object {cached} is CORRUPTED (its md5 is not {md5})"
            problems.append(CacheProblem(line, missing=False))
    return problems


FETCH = "`mlops data pull` fetches it from the remote (a pipeline output: `mlops repro` rebuilds it)"
# A pull would fetch the remote's bad copy again (and refuse it): only a good copy, or a rebuild, helps.
NO_GOOD_COPY = (
    "the remote's copy is bad or missing too, so `mlops data pull` cannot restore it: from a clone whose cache holds "
    "a good copy run `mlops data push --heal`; or `mlops repro` rebuilds a pipeline output here, then `mlops data "
    "push --heal` replaces the remote's copy (a data file no stage makes needs a good copy from elsewhere: "
    "`mlops data add` it, then `mlops data push --heal`)"
)
UNFETCHABLE = "not in the local cache, nor good on the remote"


def unfetchable_rows(rows: list[tuple[str, str]], remote_paths: set[str]) -> list[tuple[str, str]]:
    """The rows, with a file (or folder) the remote holds no good copy of no longer told to be pulled."""
    cached = dict(WORDS)[("not_in_cache",)]

    def bad(path: str) -> bool:
        return any(bad_path == path or bad_path.startswith(f"{path}/") for bad_path in remote_paths)

    return [(path, UNFETCHABLE if words == cached and bad(path) else words) for path, words in rows]


def cache_failure(problems: list[CacheProblem], unfetchable: int = 0) -> UserError:
    """The error `--verify` ends with: a corrupted object is deleted and fetched or rebuilt again; a missing one
    only needs fetching (or rebuilding), and nothing in the cache is to be deleted for it; a missing one the remote
    holds no good copy of (`unfetchable` of them) needs a good copy from elsewhere, or rebuilding."""
    missing = sum(problem.missing for problem in problems)
    corrupted = len(problems) - missing
    fetch = _missing_hint(missing, unfetchable)
    also = f", and the remote holds no good copy of {unfetchable}" if unfetchable else ""
    if not missing:
        return UserError(
            f"{corrupted} cached object(s) in use are corrupted",
            hint="delete each named cache file, then `mlops data pull` (or `mlops repro --force`)",
        )
    if not corrupted:
        return UserError(f"{missing} object(s) in use are missing from the cache{also}", hint=fetch)
    return UserError(
        f"{corrupted} cached object(s) in use are corrupted and {missing} missing{also}",
        hint=f"delete each cache file named CORRUPTED, then `mlops data pull` (or `mlops repro --force`); a missing "
        f"one: {fetch}",
    )


def _missing_hint(missing: int, unfetchable: int) -> str:
    if not unfetchable:
        return FETCH
    if unfetchable == missing:
        return NO_GOOD_COPY
    return f"{FETCH}; one whose remote copy is named as bad: {NO_GOOD_COPY}"
