"""Secrets and data that used to slip past the installed hooks, and settings they used to refuse: each form
committed through `git commit` with the hooks installed, as a user would."""

from __future__ import annotations

import io
import os
import pickle
import struct

import numpy as np
import pandas as pd

from tests.conftest import run
from tests.hooks.conftest import commit, head_files, output, write

AWS_KEY_ID = "AKIA" + "Z7QWERTYUIOPASDF"  # built at run time: this file holds no key for the hooks to find
AWS_SECRET = "q8Lr2" + "x" * 30 + "9Kd/+"


def head(repo) -> str:
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def assert_refused(repo, *paths: str, names: tuple[str, ...] = (), force: bool = False) -> str:
    """Commit `paths`: refused, nothing committed, the message names each of `names`; then unstage them."""
    before = head(repo)
    result = commit(repo, *paths, force=force)
    text = output(result)
    assert result.returncode != 0, f"committed {paths}:\n{text}"
    assert head(repo) == before
    assert "Traceback" not in text, text
    for name in names:
        assert name in text, f"{name!r} not in:\n{text}"
    run(["git", "reset", "-q", "--", *paths], repo)
    return text


def set_remote_option(repo, line: str) -> None:
    config = repo / ".dvc" / "config"
    run(["git", "checkout", "-q", "HEAD", "--", ".dvc/config"], repo)
    config.write_text(config.read_text() + "['remote \"team\"']\n    url = s3://lending-team/dvc\n" + f"    {line}\n")


def test_credentials_in_dvc_config_are_refused_in_every_form(hooked):
    for line in (
        "url = s3://AKIDKEY:S3CR3T@lending-team/dvc",
        "url = https://analyst:hunter2@dvc.example.com/store",
        "endpointurl = http://minio:minio123@127.0.0.1:9000",
        '"secret_access_key" = abc123',
        "'password' = hunter2",
        "url = https://dvc.example.com/store?access_token=abc123",
        "url = https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig=abcd%2Bef",
        "connection_string = DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc",
    ):
        set_remote_option(hooked, line)
        option = line.split("=")[0].strip().strip("\"'")
        text = assert_refused(hooked, ".dvc/config", names=(".dvc/config", f"`{option}`", "--local"))
        assert "hunter2" not in text and "S3CR3T" not in text  # the message never repeats the secret

    # What `mlops remote set` writes for an endpoint URL with user-info goes no further than the index.
    run(["git", "checkout", "-q", "HEAD", "--", ".dvc/config"], hooked)
    set_remote = run(
        ["mlops", "remote", "set", "s3://lending-team/dvc", "--endpoint-url", "http://minio:minio123@127.0.0.1:9000"],
        hooked,
        check=False,
    )
    if set_remote.returncode == 0:
        assert_refused(hooked, ".dvc/config", names=("endpointurl",))


def test_settings_that_are_not_secrets_are_committed(hooked):
    set_remote_option(
        hooked,
        "ask_password = true\n    sse_kms_key_id = arn:aws:kms:eu-west-1:111122223333:key/abcd\n"
        "    credentialpath = ~/.aws/credentials\n    endpointurl = http://127.0.0.1:9000\n    profile = team",
    )
    write(hooked, "docs/aws.md", "Set `aws_access_key_id` as in AWS's docs: AKIAIOSFODNN7" + "EXAMPLE.\n")
    write(hooked, ".env.example", "AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=\n")
    result = commit(hooked, ".dvc/config", "docs/aws.md", ".env.example")
    assert result.returncode == 0, output(result)
    assert {".dvc/config", "docs/aws.md", ".env.example"} <= head_files(hooked)


def test_local_only_files_and_keys_in_any_file_are_refused(hooked):
    write(hooked, ".dvc/config.local", "['remote \"storage\"']\n    secret_access_key = abc123\n")
    assert_refused(hooked, ".dvc/config.local", force=True, names=(".dvc/config.local", "local-only"))
    write(hooked, ".env", "DB_PASSWORD=x\n")
    assert_refused(hooked, ".env", force=True, names=(".env",))

    write(hooked, "src/aws_settings.py", f'ACCESS_KEY_ID = "{AWS_KEY_ID}"\n')
    assert_refused(hooked, "src/aws_settings.py", names=("an AWS access key id",))
    write(hooked, "deploy/credentials.ini", f"[default]\naws_secret_access_key = {AWS_SECRET}\n")
    assert_refused(hooked, "deploy/credentials.ini", names=("an AWS secret access key",))
    service_account = '{"type": "service_' + 'account", "project_id": "p", "private_key_id": "ab12", "private_key": ""}'
    write(hooked, "deploy/gcp.json", service_account + "\n")
    assert_refused(hooked, "deploy/gcp.json", names=("a GCP service-account key",))
    write(hooked, "docs/azure.txt", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + "Zx9+" * 22 + "==\n")
    assert_refused(hooked, "docs/azure.txt", names=("an Azure storage account key",))
    write(hooked, "docs/id_ecdsa", "-----BEGIN EC PRIVATE" + " KEY-----\nMHcCAQEE\n-----END EC PRIVATE" + " KEY-----\n")
    assert_refused(hooked, "docs/id_ecdsa", names=("a private key",))


def parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    pd.DataFrame({"loan_id": [1, 2], "amount": [1000.0, 2500.0]}).to_parquet(buffer)
    return buffer.getvalue()


def test_data_by_content_and_model_files_anywhere_are_refused(hooked):
    npy = io.BytesIO()
    np.save(npy, np.arange(10))
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    for path, content in (
        ("docs/export.txt", parquet_bytes()),
        ("notebooks/scores.dat", npy.getvalue()),
        ("notebooks/cache.out", pickle.dumps({"scores": [0.1, 0.2]}, protocol=5)),
        ("pipeline/weights", struct.pack("<Q", len(header)) + header + bytes(4)),
        ("llm/adapter.bin", os.urandom(256)),
        ("llm/tiny.gguf", b"GGUF" + os.urandom(64)),
        ("serving/model.onnx", os.urandom(128)),
        ("serving/model.pt", os.urandom(128)),
    ):
        write(hooked, path, content)
        assert_refused(hooked, path, names=(path, "block-untracked-data"))


def test_names_under_data_must_be_what_they_claim(hooked):
    write(hooked, "data/README_dump.bin", parquet_bytes())
    assert_refused(hooked, "data/README_dump.bin", force=True, names=("data/README_dump.bin",))
    write(hooked, "data/extra.dvc", parquet_bytes())
    assert_refused(hooked, "data/extra.dvc", force=True, names=("data/extra.dvc", "named like"))
    write(hooked, "data/broken.dvc", "not a pointer\n")
    assert_refused(hooked, "data/broken.dvc", force=True, names=("not one (no `outs:`)",))
    write(hooked, "data/README.md", "# Loans\n" + "row,row,row\n" * 20_000)
    assert_refused(hooked, "data/README.md", names=("data/README.md", "named like a small text file"))
    for name in ("README_dump.bin", "extra.dvc", "broken.dvc"):
        (hooked / "data" / name).unlink()
    assert "up to date" in run(["dvc", "status"], hooked).stdout.lower()


def test_fixers_never_touch_binary_files_or_fixtures(hooked):
    parquet = parquet_bytes()
    write(hooked, "docs/table.txt", parquet)
    assert_refused(hooked, "docs/table.txt")
    assert (hooked / "docs/table.txt").read_bytes() == parquet  # refused, and not rewritten either
    fixture = "id,term ,amount  \n1,36 months  ,1000   \n2,60 months,2500"  # spaces and no final newline on purpose
    write(hooked, "tests/fixtures/padded.csv", fixture)
    write(hooked, "docs/note.md", "a note   \n")
    result = commit(hooked, "tests/fixtures/padded.csv", "docs/note.md")
    assert result.returncode != 0 and "Fixing docs/note.md" in output(result)  # the fixer still fixes text
    assert (hooked / "tests/fixtures/padded.csv").read_text() == fixture
    result = commit(hooked, "docs/note.md")
    assert result.returncode == 0, output(result)
    committed = run(["git", "show", "HEAD:tests/fixtures/padded.csv"], hooked).stdout
    assert committed == fixture and (hooked / "docs/note.md").read_text() == "a note\n"
