"""Integrity end to end: every DVC object the workspace uses is re-hashed before it is pushed, after it is
fetched (before it is checked out), and, on request, where the remote keeps it; a remote's corrupted copy is
replaced from a good local one (`mlops data push --heal`). DVC itself trusts the object's name."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from hooks.pipeline_state import path_md5
from pipeline.versioning import dvc_seam
from pipeline.versioning.data_status import object_path
from pipeline.versioning.dvc_command import dvc_repo


@dataclass(frozen=True)
class Problem:
    path: str  # the workspace path that uses the object
    md5: str
    where: str  # "cache" or "remote"
    state: str  # "corrupted" or "missing"

    def line(self) -> str:
        return f"{self.path}: the {self.where}'s copy ({self.md5}) is {self.state.upper()}"


def objects_in_use(commit: str | None = None) -> dict[str, str]:
    """{workspace path: md5} of every file object this version (or `commit`) uses (directory listings expanded)."""
    cache = dvc_seam.cache_files_dir()
    objects = {}
    for path, md5 in dvc_seam.tracked_objects(commit).items():
        if not md5.endswith(".dir"):
            objects[path] = md5
            continue
        listing = object_path(cache, md5)
        if listing.is_file():
            for entry in json.loads(listing.read_text()):
                objects[f"{path}/{entry['relpath']}"] = entry["md5"]
    return objects


def corrupted_in_cache(objects: dict[str, str]) -> list[Problem]:
    """Objects whose cached bytes do not hash to their name (missing ones are DVC's to report)."""
    cache = dvc_seam.cache_files_dir()
    return [
        Problem(path, md5, "cache", "corrupted")
        for path, md5 in sorted(objects.items())
        if object_path(cache, md5).is_file() and path_md5(object_path(cache, md5)) != md5
    ]


def missing_from_cache(objects: dict[str, str]) -> list[Problem]:
    cache = dvc_seam.cache_files_dir()
    return [
        Problem(path, md5, "cache", "missing")
        for path, md5 in sorted(objects.items())
        if not object_path(cache, md5).is_file()
    ]


def drop_from_cache(problems: list[Problem]) -> None:
    """Delete corrupted cache objects, so that nothing checks them out and the next fetch gets them again."""
    cache = dvc_seam.cache_files_dir()
    for problem in problems:
        cached = object_path(cache, problem.md5)
        cached.chmod(0o644)
        cached.unlink(missing_ok=True)


@contextlib.contextmanager
def _remote() -> Iterator[tuple[object, object]]:
    """(file system, object database) of the default remote, through DVC (local folder, S3, ...)."""
    with dvc_repo() as repo:
        odb = repo.cloud.get_remote_odb(None, "mlops data")
        yield odb.fs, odb


def _remote_md5(fs, path: str) -> str:
    digest = hashlib.md5()
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remote_problems(objects: dict[str, str]) -> list[Problem]:
    """Objects whose remote copy is missing or does not hash to its name (reads every copy: contacts the remote)."""
    problems = []
    with _remote() as (fs, odb):
        for path, md5 in sorted(objects.items()):
            remote_path = odb.oid_to_path(md5)
            if not fs.exists(remote_path):
                problems.append(Problem(path, md5, "remote", "missing"))
            elif _remote_md5(fs, remote_path) != md5:
                problems.append(Problem(path, md5, "remote", "corrupted"))
    return problems


def not_on_remote(problems: list[Problem]) -> list[Problem]:
    """Of objects the cache lacks, those the default remote lacks too (asks only whether each exists there): lost
    everywhere, so no pull brings them back. All of them without a default remote."""
    if dvc_seam.default_remote() is None:
        return list(problems)
    with _remote() as (fs, odb):
        return [Problem(p.path, p.md5, "remote", "missing") for p in problems if not fs.exists(odb.oid_to_path(p.md5))]


def heal_remote(problems: list[Problem]) -> list[Problem]:
    """Upload the good local copy over each corrupted remote copy; the ones healed."""
    cache = dvc_seam.cache_files_dir()
    healed = []
    with _remote() as (fs, odb):
        for problem in problems:
            local = object_path(cache, problem.md5)
            if problem.state == "corrupted" and local.is_file() and path_md5(local) == problem.md5:
                fs.put_file(str(local), odb.oid_to_path(problem.md5))
                healed.append(problem)
    return healed


def describe(problems: list[Problem]) -> str:
    return "\n  ".join(problem.line() for problem in problems)
