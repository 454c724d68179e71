"""Remotes: `mlops remote set`, `mlops data push/pull` to a local folder and to S3 (moto's server on loopback)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.versioning import dvc_seam
from pipeline.versioning.dvc_command import DvcFailed
from tests.conftest import run
from tests.conftest import test_env as make_env
from tests.e2e.data_helpers import mlops, tree_hash

KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "mlops-test-bucket"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """moto's standalone S3 server on 127.0.0.1, started and stopped by the test (state is in memory)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=make_env(**KEYS),
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        self.client().create_bucket(Bucket=BUCKET)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def object_keys(self) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=BUCKET)
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def s3_server():
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def tracked_hashes(repo: Path) -> dict[str, str]:
    return {name: tree_hash(repo / name) for name in ("data", "models")}


def wipe_cache_and_outputs(repo: Path) -> None:
    shutil.rmtree(repo / ".dvc" / "cache")
    for folder in ("data", "models"):
        for item in (repo / folder).rglob("*"):
            if item.is_file() and not item.name.endswith((".dvc", ".gitignore", "README.md")):
                item.unlink()


def test_remote_set_refuses_bad_urls_without_touching_config(repo):
    (repo / "loop").symlink_to("loop")
    config = (repo / ".dvc/config").read_text()
    for args, message in [
        (["gs://bucket/x"], "not supported"),
        (["s3://key:secret@bucket/x"], "credentials"),
        (["s3://bucket/x", "--endpoint-url", "http://key:secret@127.0.0.1:9000"], "credentials"),
        (["s3://bucket/x", "--endpoint-url", "--"], "is not an http(s) server URL"),  # DVC wrote the remote first
        (["s3://bucket/x", "--endpoint-url", "not a url"], "is not an http(s) server URL"),
        (["s3://bucket/x", "--endpoint-url", ""], "is not an http(s) server URL"),
        (["s3://bucket/x", "--endpoint-url", "http://127.0.0.1:port"], "is not an http(s) server URL"),
        ([""], "is empty"),
        (["../folder", "--endpoint-url", "http://x"], "s3:// remotes only"),
        (["s3://"], "names no bucket"),
        (["dvc.lock"], "is a file, not a folder"),
        (["store"], "inside this repository"),
        ([str(repo / "data" / ".." / "store")], "inside this repository"),
        (["."], "inside this repository"),
        (["loop/store"], "loop of symbolic links"),
    ]:
        result = mlops(repo, "remote", "set", *args, check=False)
        assert result.returncode == 2 and message in result.stderr
    assert (repo / ".dvc/config").read_text() == config


def test_a_remote_dvc_cannot_write_is_refused_and_a_failed_write_leaves_the_config_as_it_was(repo, monkeypatch):
    """DVC empties .dvc/config before it writes it: a URL it could not encode left the file empty, every remote
    and setting gone."""
    config = (repo / ".dvc/config").read_bytes()
    result = mlops(repo, "remote", "set", "../rémote", check=False)
    assert result.returncode == 2 and "is not ASCII" in result.stderr, result.stderr
    assert (repo / ".dvc/config").read_bytes() == config
    monkeypatch.chdir(repo)  # DVC itself, asked to write it: it fails, and the file is put back
    with pytest.raises(DvcFailed, match="remote add"):
        dvc_seam.set_default_remote("local", "../rémote", None)
    assert (repo / ".dvc/config").read_bytes() == config


def test_pull_and_push_without_a_default_remote_say_so_with_the_fix(repo):
    """`mlops data pull --rev` said the remote held bad copies of what it could not fetch, with no remote set."""
    run(["dvc", "remote", "default", "--unset"], repo)
    for command in (("data", "pull"), ("data", "pull", "--rev", "HEAD"), ("data", "push")):
        result = mlops(repo, *command, check=False)
        assert result.returncode == 2 and "error: no default DVC remote here to " in result.stderr, result.stderr
        assert "mlops remote set" in result.stderr


def test_setting_the_remote_it_already_is_writes_nothing(repo):
    """DVC rewrote .dvc/config with its sections reordered: `git status` showed a change that meant nothing."""
    config = (repo / ".dvc/config").read_text()
    assert "url = ../../lending-mlops-dvc-remote" in config  # the committed default, relative to .dvc/
    result = mlops(repo, "remote", "set", "../lending-mlops-dvc-remote")
    assert result.stdout.startswith("Default remote is already 'local': ../lending-mlops-dvc-remote\n")
    assert (repo / ".dvc/config").read_text() == config
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    assert "is now 'local'" in mlops(repo, "remote", "set", "../elsewhere").stdout


def test_local_remote_round_trip(repo, tmp_path):
    mlops(repo, "remote", "set", str(tmp_path / "store"))
    assert "not yet pushed" in mlops(repo, "data", "status").stdout
    before = tracked_hashes(repo)
    mlops(repo, "data", "push")
    assert "not yet pushed" not in mlops(repo, "data", "status").stdout
    wipe_cache_and_outputs(repo)
    mlops(repo, "data", "pull")
    assert tracked_hashes(repo) == before


def test_data_status_says_pushed_only_when_the_remote_said_so(repo):
    """Nothing pushed yet: a status that did not ask the remote (`--no-remote`, or a server that does not answer)
    said "recorded, cached and pushed"."""
    env = make_env(**KEYS)
    mlops(repo, "remote", "set", "s3://bucket/x", "--endpoint-url", f"http://127.0.0.1:{free_port()}", env=env)
    local = mlops(repo, "data", "status", "--no-remote", env=env).stdout
    unreachable = mlops(repo, "data", "status", env=make_env(**KEYS, AWS_MAX_ATTEMPTS="1")).stdout
    for said in (local, unreachable):
        assert "pushed" not in said.replace("pushed or not", "") and "the remote was not asked" in said, said
    assert "could not ask the remote" in unreachable


def test_s3_round_trip_and_interrupted_push(repo, s3_server):
    env = make_env(**KEYS)
    mlops(repo, "remote", "set", f"s3://{BUCKET}/store", "--endpoint-url", s3_server.url, env=env)
    config = (repo / ".dvc/config").read_text()
    assert "endpointurl" in config and "testing" not in config  # no credentials in the git-kept config
    before = tracked_hashes(repo)

    s3_server.stop()  # the server goes away: the push fails clearly, no traceback
    failed = mlops(repo, "data", "push", check=False, env=env)
    assert failed.returncode == 2
    assert "push to the remote failed" in failed.stderr and "Traceback" not in failed.stderr

    s3_server.start()  # back (empty, as moto keeps state in memory): the re-run completes
    mlops(repo, "data", "push", env=env)
    assert any(key.startswith("store/files/md5/") for key in s3_server.object_keys())
    wipe_cache_and_outputs(repo)
    mlops(repo, "data", "pull", env=env)
    assert tracked_hashes(repo) == before
    assert run(["dvc", "status", "--json"], repo).stdout.strip() == "{}"


def test_a_missing_bucket_is_named_with_the_fix(repo, s3_server):
    """DVC says a missing bucket as an unexpected error (NoSuchBucket) once the transfer has started, and asks
    for a bug report; the generic hint asked about reachability and credentials."""
    env = make_env(**KEYS)
    mlops(repo, "remote", "set", "s3://no-such-bucket/lending", "--endpoint-url", s3_server.url, env=env)
    said = (
        f"error: remote 's3' (s3://no-such-bucket/lending): bucket 'no-such-bucket' does not exist on {s3_server.url}\n"
        f"  hint: create it (`aws s3 mb s3://no-such-bucket --endpoint-url {s3_server.url}`), or point the remote at "
        f"a bucket that exists: `mlops remote set s3://BUCKET/lending --endpoint-url {s3_server.url}`\n"
    )
    for command in (["push"], ["pull"], ["pull", "--rev", "HEAD"], ["status", "--verify"]):
        result = mlops(repo, "data", *command, check=False, env=env)
        assert result.returncode == 2 and result.stderr == said, (command, result.stderr)
        assert "Remote verified" not in result.stdout
    status = mlops(repo, "data", "status", env=env)
    assert "bucket 'no-such-bucket' does not exist" in status.stdout and "the remote was not asked" in status.stdout
    run(["git", "init", "-q", "--bare", "-b", "main", str(repo.parent / "team.git")], repo)
    run(["git", "remote", "add", "origin", str(repo.parent / "team.git")], repo)
    name = mlops(repo, "repro", "--subset", "0.2").stdout.split("Experiment ", 1)[1].split()[0]
    for command in (["push"], ["push", "--all", name], ["pull"]):  # `dvc exp push` failed as DVC says NoSuchBucket
        result = mlops(repo, "exp", *command, check=False, env=env)
        assert result.returncode == 2 and result.stderr == said, (command, result.stderr)
    assert run(["git", "ls-remote", str(repo.parent / "team.git")], repo).stdout == ""  # nothing half-pushed
    assert [bucket["Name"] for bucket in s3_server.client().list_buckets()["Buckets"]] == [BUCKET]


def test_a_remote_of_a_kind_whose_plugin_is_not_installed_is_named_with_the_fix(repo):
    """`dvc remote add -d az azure://...` (mlops remote set refuses it): mlops data status showed an ImportError
    traceback, DVC's "azure is supported, but requires 'dvc-azure' to be installed" at its end."""
    run(["dvc", "remote", "add", "-d", "az", "azure://container/lending"], repo)
    for args in ([], ["--no-remote"]):
        result = mlops(repo, "data", "status", *args, check=False)
        assert result.returncode == 2 and result.stderr.splitlines() == [
            "error: DVC: azure is supported, but requires 'dvc-azure' to be installed",
            "  hint: install it (`python -m pip install dvc-azure`), or make the default remote a folder or an s3:// "
            "URL (`mlops remote set URL`)",
        ], result.stderr


def test_data_status_after_dvc_add_says_to_git_add_the_pointer(repo):
    """`dvc add` of a file under data/external/ leaves its pointer and .gitignore untracked by git: those are to be
    `git add`ed, not `mlops data add`ed as training data (the file itself is already tracked by DVC)."""
    shutil.copy(repo / "reports" / "schema.json", repo / "data" / "external" / "mine.json")
    run([sys.executable, "-m", "dvc", "add", "data/external/mine.json"], repo)
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in mlops(repo, "data", "status", "--no-remote").stdout.splitlines()
        if line.count("│") == 3
    }
    assert rows["data/external/mine.json.dvc"].startswith("DVC's pointer, not yet in git (`git add` it"), rows
    assert rows["data/external/.gitignore"].startswith("not yet in git (`git add` it"), rows
    assert "mlops data add" not in "".join(value for path, value in rows.items() if path != "data/external/mine.json")


def test_credentials_for_a_remote_the_config_lacks_are_named_and_the_fixes_work(repo):
    """Credentials in `.dvc/config.local` for a remote `.dvc/config` does not define (not committed yet, or a
    version from before it) make DVC refuse its whole config: `mlops remote set` failed on it and named itself as
    the fix, and `mlops checkout` of an older version said its data was not in the cache, and to pull it (a loop)."""
    run(["git", "tag", "before-s3"], repo)
    local = repo / ".dvc" / "config.local"
    local.write_text("['remote \"s3\"']\n    access_key_id = testing\n    secret_access_key = testing\n")
    status = mlops(repo, "data", "status", check=False)
    assert status.returncode == 2 and "`.dvc/config.local` sets options (credentials) of the DVC remote 's3'" in (
        status.stderr
    ), status.stderr
    assert mlops(repo, "remote", "set", "s3://team/lending", "--endpoint-url", "http://127.0.0.1:9").returncode == 0
    run(["git", "commit", "-q", "--no-verify", "-m", "team remote", "--", ".dvc/config"], repo)
    back = mlops(repo, "checkout", "before-s3", check=False)
    assert back.returncode == 2 and "error: DVC refuses before-s3's config" in back.stderr, back.stderr
    assert "not in the cache" not in back.stderr and "`dvc remote remove --local s3`" in back.stderr
    assert run(["git", "rev-parse", "HEAD"], repo).stdout == run(["git", "rev-parse", "main"], repo).stdout
    run(["dvc", "remote", "remove", "--local", "s3"], repo)
    assert mlops(repo, "checkout", "before-s3").returncode == 0
    mlops(repo, "checkout", "main")
    local.write_text("['remote \"s3\"']\n    access_key_id = testing\n")  # the secret forgotten: botocore refuses
    partial = mlops(repo, "data", "status", check=False)
    assert "Traceback" not in partial.stderr and "missing: aws_secret_access_key" in partial.stdout + partial.stderr
