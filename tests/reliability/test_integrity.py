"""Integrity end to end, against a local folder remote and an S3 server on 127.0.0.1: a corrupted cache object is
refused by `mlops data push` and never reaches the remote; a remote already holding a corrupted copy is named by
`mlops data status --verify`, refused by `mlops data pull` in another clone, and healed by `mlops data push --heal`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import clone_repo, run
from tests.conftest import test_env as make_env
from tests.e2e.test_data_remote import BUCKET, KEYS, s3_server  # noqa: F401  (the S3 server fixture)
from tests.reliability.helpers import assert_clear_error

MODEL = "models/model.skops"


def model_md5(repo: Path) -> str:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == MODEL)


def model_lost_here(repo: Path) -> str:
    """Delete the workspace's model and its cache object (neither is here any more); its md5."""
    md5 = model_md5(repo)
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.unlink()
    (repo / MODEL).unlink()
    return md5


def flip_a_byte(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    return bytes(damaged)


def corrupt_cache_object(repo: Path, md5: str) -> None:
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.write_bytes(flip_a_byte(cached.read_bytes()))


class LocalRemote:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = make_env()
        self.args = [str(folder)]

    def path(self, md5: str) -> Path:
        return self.folder / "files" / "md5" / md5[:2] / md5[2:]

    def holds(self, md5: str) -> bool:
        return self.path(md5).is_file()

    def read(self, md5: str) -> bytes:
        return self.path(md5).read_bytes()

    def write(self, md5: str, data: bytes) -> None:
        self.path(md5).chmod(0o644)
        self.path(md5).write_bytes(data)


class S3Remote:
    def __init__(self, server) -> None:
        self.server = server
        self.env = make_env(**KEYS)
        self.args = [f"s3://{BUCKET}/store", "--endpoint-url", server.url]

    def key(self, md5: str) -> str:
        return f"store/files/md5/{md5[:2]}/{md5[2:]}"

    def holds(self, md5: str) -> bool:
        return self.key(md5) in self.server.object_keys()

    def read(self, md5: str) -> bytes:
        return self.server.client().get_object(Bucket=BUCKET, Key=self.key(md5))["Body"].read()

    def write(self, md5: str, data: bytes) -> None:
        self.server.client().put_object(Bucket=BUCKET, Key=self.key(md5), Body=data)


@pytest.fixture(params=["local", "s3"])
def remote(request, tmp_path):
    if request.param == "local":
        return LocalRemote(tmp_path / "store")
    return S3Remote(request.getfixturevalue("s3_server"))


def mlops(repo: Path, remote, *args: str, check: bool = True):
    return run(["mlops", *args], repo, check=check, env=remote.env)


def test_a_corrupted_cache_object_never_reaches_the_remote(repo, remote):
    mlops(repo, remote, "remote", "set", *remote.args)
    md5 = model_md5(repo)
    corrupt_cache_object(repo, md5)

    refused = mlops(repo, remote, "data", "push", check=False)

    assert refused.returncode == 2
    assert_clear_error(refused, MODEL, "corrupted", "not pushed")
    assert not remote.holds(md5)


def test_a_corrupted_remote_copy_is_detected_refused_and_healed(repo, remote, tmp_path):
    mlops(repo, remote, "remote", "set", *remote.args)
    mlops(repo, remote, "data", "push")
    md5 = model_md5(repo)
    good = remote.read(md5)
    remote.write(md5, flip_a_byte(good))

    verify = mlops(repo, remote, "data", "status", "--verify", check=False)
    assert_clear_error(verify, MODEL, "CORRUPTED", "remote", "--heal")

    other = clone_repo(repo, tmp_path / "other")
    cached = other / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.chmod(0o644)
    cached.unlink()
    (other / MODEL).unlink()
    pulled = mlops(other, remote, "data", "pull", check=False)
    said = assert_clear_error(pulled, MODEL, "corrupted", "--heal")
    assert "1 object(s) came from the remote" in said and said.count(f"{MODEL}: the ") == 1, said  # named once
    assert not (other / MODEL).exists() and not cached.exists(), "the corrupted model reached the clone"

    mlops(repo, remote, "data", "push", "--heal")
    assert remote.read(md5) == good
    mlops(repo, remote, "data", "status", "--verify")

    mlops(other, remote, "data", "pull")
    assert hashlib.md5((other / MODEL).read_bytes()).hexdigest() == md5
    mlops(other, remote, "data", "status", "--verify")


def test_a_cache_object_corrupted_in_place_is_fetched_again_by_the_first_pull(repo, remote):
    """Its bytes changed, its name, size, mode and time not (a failing disk): DVC's fetch skipped it, the cache holding
    its name, and the pull dropped it saying the remote's copy was corrupted; a second pull fetched it."""
    mlops(repo, remote, "remote", "set", *remote.args)
    mlops(repo, remote, "data", "push")
    md5 = model_md5(repo)
    cached = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    written = cached.stat()
    corrupt_cache_object(repo, md5)
    cached.chmod(written.st_mode)  # read-only, as DVC keeps it: DVC trusts such an object by its state
    os.utime(cached, ns=(written.st_atime_ns, written.st_mtime_ns))
    (repo / MODEL).unlink()

    pulled = mlops(repo, remote, "data", "pull")

    assert f"{MODEL}: the cache's copy ({md5}) was corrupted; replaced with the remote's\n" in pulled.stdout
    assert pulled.stdout.endswith("Pulled.\n"), pulled.stdout
    assert hashlib.md5(cached.read_bytes()).hexdigest() == md5
    assert hashlib.md5((repo / MODEL).read_bytes()).hexdigest() == md5


def test_verify_of_an_object_this_cache_lacks_and_the_remote_holds_corrupted_says_what_restores_it(repo, remote):
    """The hint said `mlops data pull`, which fetches the same bad copy (and refuses it)."""
    mlops(repo, remote, "remote", "set", *remote.args)
    mlops(repo, remote, "data", "push")
    md5 = model_md5(repo)
    remote.write(md5, flip_a_byte(remote.read(md5)))
    model_lost_here(repo)

    verify = mlops(repo, remote, "data", "status", "--verify", check=False)
    said = assert_clear_error(verify, f"{MODEL}: the remote's copy ({md5}) is CORRUPTED", "mlops data push --heal")
    assert "fetch with `mlops data pull`" not in said and "fetches it from the remote" not in said, said
    assert f"{MODEL} │ not in the local cache, nor good on the remote" in said, said
    assert "error: 1 object(s) in use are missing from the cache, and the remote holds no good copy of 1" in said
    assert "`mlops repro` rebuilds" in said and "a good copy from elsewhere" in said, said

    mlops(repo, remote, "repro")
    mlops(repo, remote, "data", "push", "--heal")
    mlops(repo, remote, "data", "status", "--verify")


def test_a_pull_of_an_object_the_remote_never_had_names_it_in_one_error(repo, tmp_path):
    """DVC warned "Some of the cache files do not exist neither locally nor on remote" with md5s, then said
    "Everything is up to date." on standard output, before mlops' error; the model is also the pipeline's to
    rebuild."""
    remote = LocalRemote(tmp_path / "store")  # nothing pushed to it
    mlops(repo, remote, "remote", "set", *remote.args)
    md5 = model_lost_here(repo)
    pulled = mlops(repo, remote, "data", "pull", check=False)
    assert pulled.returncode == 2 and pulled.stdout == "", pulled.stdout
    assert pulled.stderr.splitlines() == [
        "error: not checked out: 1 object(s) came from the remote corrupted, or not at all (the workspace is "
        "unchanged):",
        f"  {MODEL}: the cache's copy ({md5}) is MISSING",
        "  hint: the remote holds bad or no copies: from a clone with good ones run `mlops data push --heal`, then "
        "pull again (or `mlops repro` rebuilds this version's model and reports)",
    ], pulled.stderr
    # of a revision: the push named sends the checked-out version's objects only, so that version is checked out
    run(["git", "tag", "v1"], repo)
    pulled = mlops(repo, remote, "data", "pull", "--rev", "v1", check=False)
    assert pulled.returncode == 2 and "error: not fetched: 1 object(s)" in pulled.stderr, pulled.stderr
    assert "with good ones run `mlops checkout v1 && mlops data push --heal`, then pull again" in pulled.stderr
    # a revision read otherwise in another clone (HEAD~0 there is its own HEAD) is named by its commit
    pulled = mlops(repo, remote, "data", "pull", "--rev", "HEAD~0", check=False)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    assert f"run `mlops checkout {head[:12]} && mlops data push --heal`" in pulled.stderr, pulled.stderr
    mlops(repo, remote, "repro")
    mlops(repo, remote, "data", "push")
    mlops(repo, remote, "data", "pull")


def test_a_push_of_an_object_in_use_that_is_nowhere_fails_naming_it(repo, tmp_path):
    """The model deleted with its cache object: DVC warned of an md5 that did not exist "neither locally nor on
    remote", said "Everything is up to date.", and mlops said "Pushed.", exit 0."""
    remote = LocalRemote(tmp_path / "store")
    mlops(repo, remote, "remote", "set", *remote.args)
    md5 = model_lost_here(repo)
    pushed = mlops(repo, remote, "data", "push", check=False)
    assert pushed.returncode == 2 and "Pushed." not in pushed.stdout and "up to date" not in pushed.stdout
    assert pushed.stderr.splitlines() == [
        "error: not pushed: 1 object(s) in use are neither in the cache nor on the remote (the rest was pushed):",
        f"  {MODEL}: the remote's copy ({md5}) is MISSING",
        "  hint: `mlops repro` rebuilds this version's model and reports (a data file: `mlops data add` it again), "
        "then `mlops data push`",
    ], pushed.stderr
    mlops(repo, remote, "repro")
    mlops(repo, remote, "data", "push")
    assert remote.holds(md5)
