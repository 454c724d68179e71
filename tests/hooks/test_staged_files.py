"""The data, secrets and hygiene checks as pure functions and through `main(argv)` on a temporary git repo
(no trained project): each class of mistake in several forms, and the settings that are not mistakes."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import pickle
import random
import resource
import stat
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.orc
import pytest
from sklearn.linear_model import LogisticRegression

from hooks import block_untracked_data, hygiene, staged_files
from hooks import no_secrets_in_dvc_config as no_secrets
from hooks.formats import TABLE_ROWS, data_format, delimited_table, is_text
from tests.conftest import ROOT, run, test_env
from tests.hooks.conftest import commit, output, write

# Fake credentials, built at run time so that this file holds none for the hooks to find.
AWS_KEY_ID = "AKIA" + "Z7QWERTYUIOPASDF"
AWS_SECRET = "q8Lr2" + "x" * 30 + "9Kd/+"
PRIVATE_KEY_LINE = "-----BEGIN {}PRIVATE" + " KEY-----"


def dvc_config(*lines: str) -> str:
    return "[core]\n    remote = storage\n['remote \"storage\"']\n" + "".join(f"    {line}\n" for line in lines)


SECRET_CONFIGS = {
    "plain key": "secret_access_key = abc123",
    "double-quoted key": '"secret_access_key" = abc123',
    "single-quoted key": "'password' = hunter2",
    "quoted value": 'token = "abc"',
    "azure connection string": "connection_string = DefaultEndpointsProtocol=https;AccountName=a",
    "gdrive client secret": "gdrive_client_secret = GOCSPX-abc",
    "oss secret": "oss_key_secret = abc",
    "session token": "session_token = FwoGZXIvYXdzE",
    "customer key": "sse_customer_key = c2VjcmV0",
    "unknown secret-like option": "api_key = abc",
    "s3 url user-info": "url = s3://KEY:SECRET@bucket/path",
    "https url user-info": "url = https://user:pass@dvc.example.com/store",
    "endpoint url user-info": "endpointurl = http://minio:minio123@127.0.0.1:9000",
    "quoted url user-info": 'url = "webdavs://me:pw@host/remote.php"',
    "query-string token": "url = https://example.com/store?token=abc123",
    "presigned url": "url = https://b.s3.amazonaws.com/x?X-Amz-Credential=AK%2F2024&X-Amz-Signature=ab12",
    "azure sas query": "url = https://a.blob.core.windows.net/c?sv=2022-11-02&sig=abcd",
}
SETTINGS_THAT_ARE_NOT_SECRETS = (
    "url = s3://bucket/path",
    "ask_password = true",
    "ask_passphrase = false",
    "sse_kms_key_id = arn:aws:kms:eu-west-1:111122223333:key/abcd",
    "sse_customer_algorithm = AES256",
    "credentialpath = ~/.aws/credentials",
    "profile = default",
    "keyfile = ~/.ssh/id_ed25519",
    "key_path = /etc/ssl/client.key",
    "gdrive_user_credentials_file = ~/.cache/gdrive.json",
    "gdrive_service_account_json_file_path = sa.json",
    "bearer_token_command = vault read -field=token secret/dvc",
    "exclude_shared_token_cache_credential = true",
    "url = ssh://deploy@example.com/srv/dvc",
    "endpointurl = http://127.0.0.1:9000",
    "user = deploy",
    "password =",
)


@pytest.mark.parametrize("line", SECRET_CONFIGS.values(), ids=SECRET_CONFIGS.keys())
def test_credentials_in_dvc_config_are_found(line):
    assert no_secrets.secrets_in_config(dvc_config(line)), line


def test_settings_that_are_not_secrets_pass():
    assert no_secrets.secrets_in_config(dvc_config(*SETTINGS_THAT_ARE_NOT_SECRETS)) == []


KNOWN_KEYS = {
    "an AWS access key id": f"BUCKET = 'b'\nKEY_ID = '{AWS_KEY_ID}'\n",
    "an AWS secret access key": f"[default]\naws_secret_access_key = {AWS_SECRET}\n",
    "a GCP service-account key": json.dumps(
        {"type": "service_" + "account", "project_id": "p", "private_key_id": "0123abcd", "client_email": "x@p.iam"}
    ),
    "an Azure storage account key": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Ab1+" * 22 + "==",
    "a GitHub token": "GITHUB_TOKEN=ghp_" + "a1B2" * 9 + "\n",
    "a Slack token": "hook: xoxb-" + "1234567890-abcdef\n",
    "a private key": PRIVATE_KEY_LINE.format("OPENSSH ") + "\nb3BlbnNzaA==\n",
    "an Azure shared access key": "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=" + "Ab1+" * 10 + "=\n",
    "an Azure SAS token": "https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sig=" + "Ab1%2B" * 5 + "\n",
    "a Google API key": "maps_key = 'AI" + "za" + "Sy0-_aB1" * 4 + "xyz'\n",
    "a GitLab token": "CI_TOKEN=glpat" + "-" + "aB1_c" * 4 + "\n",
    "a Stripe live key": "STRIPE=sk_" + "live_" + "a1B2" * 6 + "\n",
    "a Hugging Face token": "HF_TOKEN=hf" + "_" + "abCD" * 8 + "ef\n",
    "an OpenAI key": "OPENAI_API_KEY=sk-proj-" + "a1B2_" * 4 + "T3Blbk" + "FJ" + "c3D4-" * 4 + "x\n",
    "an Anthropic key": "ANTHROPIC_API_KEY=sk-" + "ant-api03-" + "aB3_-xY9" * 11 + "AA\n",
    "a PyPI token": "[pypi]\n  username = __token__\n  password = pypi-" + "AgEIcHlwaS5vcmc" + "CJDE2ZjA1" * 8 + "\n",
    "an npm token": "//registry.npmjs.org/:_auth" + "Token=npm_" + "a1B2c3D4e5" * 3 + "a1B2c3\n",
    "a MinIO secret key": f"MINIO_SECRET_KEY={AWS_SECRET}\n",
}


def test_every_kind_of_known_key_has_an_example():
    assert set(KNOWN_KEYS) == set(no_secrets.KNOWN_KEYS)


@pytest.mark.parametrize("kind", KNOWN_KEYS)
def test_well_known_keys_are_found_in_any_file(kind):
    assert kind in no_secrets.known_keys(KNOWN_KEYS[kind].encode())


def test_a_key_inside_another_keys_match_is_found_too():
    """All kinds were searched for at once, each search going on after a match: an AWS key id in a
    service-account key's JSON went unnamed."""
    account = {"type": "service_" + "account", "aws_key_id": AWS_KEY_ID, "private_key_id": "0123abcd"}
    found = no_secrets.known_keys(json.dumps(account).encode())
    assert found == ["a GCP service-account key", "an AWS access key id"]


def notebook(*lines: str) -> bytes:
    """A Jupyter notebook whose one code cell holds `lines`: its JSON escapes their quotes."""
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": list(lines)}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1).encode()


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("an AWS secret access key", f's3 = boto3.client("s3", aws_secret_access_key="{AWS_SECRET}")\n'),
        ("an AWS secret access key", f"creds = {{'aws_secret_access_key': '{AWS_SECRET}'}}\n"),
        ("a GCP service-account key", KNOWN_KEYS["a GCP service-account key"]),
    ],
)
def test_well_known_keys_are_found_in_a_notebook(kind, line):
    assert kind in no_secrets.known_keys(notebook(line)), notebook(line)


@pytest.mark.parametrize(
    "text",
    [
        f'os.environ["AWS_SECRET_ACCESS_KEY"] = "{AWS_SECRET}"\n',
        f'os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "{AWS_SECRET}")\n',
        f"env:\n  - name: AWS_SECRET_ACCESS_KEY\n    value: {AWS_SECRET}\n",  # a Kubernetes container's env
        f'- name: AWS_SECRET_ACCESS_KEY\n  value: "{AWS_SECRET}"\n',
        f"aws configure set aws_secret_access_key {AWS_SECRET}\n",
        f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n",
        f'aws_secret_key = "{AWS_SECRET}"\n',  # the name after `aws_secret` went on into `_key`: it passed
        f"AWS_SECRET_KEY={AWS_SECRET}\n",
    ],
    ids=[
        *("environ item", "setdefault", "kubernetes env", "quoted value", "aws configure", "export"),
        *("aws_secret_key", "AWS_SECRET_KEY"),
    ],
)
def test_an_aws_secret_key_is_found_after_its_name_however_it_is_set(text):
    assert no_secrets.known_keys(text.encode()) == ["an AWS secret access key"], text
    assert no_secrets.known_keys(notebook(text)) == ["an AWS secret access key"], text


@pytest.mark.parametrize(
    "text",
    [
        "AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n",  # a CI workflow reading it from its store
        "- name: AWS_SECRET_ACCESS_KEY\n  valueFrom:\n    secretKeyRef: {name: aws, key: secret}\n",
        f'aws_secret_access_key = os.environ.get("KEY")\n\nchecksum = "{AWS_SECRET}"\n',  # another line's value
    ],
)
def test_an_aws_secret_key_name_without_a_key_after_it_passes(text):
    assert no_secrets.known_keys(text.encode()) == []


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("an npm token", "//registry.npmjs.org/:_auth" + "Token=0f3c4b6e-1a2b-4c3d-9e8f-0a1b2c3d4e5f\n"),  # older form
        ("an npm token", "registry=https://npm.example.com/\n_au" + "th=dXNlcjpwYXNzd29yZDEyMzQ=\n"),
        ("an npm token", 'NPM_TOKEN: "npm_' + "a1B2c3D4e5" * 3 + 'a1B2c3"\n'),
        ("a MinIO secret key", f"environment:\n  MINIO_ROOT_PASSWORD: {AWS_SECRET}\n"),
    ],
    ids=["npm uuid", "npm _auth", "npm token in yaml", "minio root password"],
)
def test_npm_and_minio_credentials_are_found_however_they_are_written(kind, text):
    """`.npmrc`'s `_auth` and `_authToken` values are npm's in that file only (`_auth = settings.X` in Python)."""
    found = no_secrets.problems_for(".npmrc", text.encode())
    assert [line.split(": holds ")[1].split(". Fix:")[0] for line in found] == [kind], text
    if "npm_" not in text and "MINIO" not in text:
        assert no_secrets.known_keys(text.encode()) == [], text


@pytest.mark.parametrize(
    "text",
    [
        "//registry.npmjs.org/:_auth" + "Token=${NPM_TOKEN}\n",  # .npmrc reading the token from the environment
        "self._auth = requests.auth.HTTPBasicAuth(user, password)\n",
        "_auth = os.environ['NPM_AUTH']\n",
        "MINIO_SECRET_KEY=minioadmin\nMINIO_ROOT_PASSWORD=minio123\n",  # MinIO's defaults, in every example
        "MINIO_SECRET_KEY: ${{ secrets.MINIO_SECRET_KEY }}\n",
        "Keys start with sk-ant- or pypi-, tokens with npm_; see the docs.\n",
        "_auth = settings.DEFAULT_AUTH_BACKEND\n",
        "npm config set //r.example/:_auth" + "Token=YOUR_TOKEN_HERE_PLEASE\n",
    ],
    ids=[
        "npm from env",
        "python _auth",
        "python _auth env",
        "minio defaults",
        "minio from ci",
        "prose",
        "setting",
        "docs",
    ],
)
def test_names_and_prefixes_of_keys_without_a_key_pass(text):
    assert no_secrets.known_keys(text.encode()) == [], text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_keys_are_found_in_text_of_any_unicode_encoding_with_its_byte_order_mark(encoding):
    """Windows PowerShell's `>` writes UTF-16: its bytes held no key as UTF-8 bytes, and the file passed."""
    text = f"aws_access_key_id = {AWS_KEY_ID}\r\naws_secret_access_key = {AWS_SECRET}\r\n"
    assert no_secrets.known_keys(text.encode(encoding)) == ["an AWS access key id", "an AWS secret access key"]
    key = PRIVATE_KEY_LINE.format("OPENSSH ") + "\nb3BlbnNzaA==\n"
    assert no_secrets.holds_private_key(key.encode(encoding))


@pytest.mark.parametrize("prefix", ["", "RSA ", "EC ", "DSA ", "ENCRYPTED ", "OPENSSH "])
def test_private_keys_of_every_kind(prefix):
    assert no_secrets.holds_private_key(PRIVATE_KEY_LINE.format(prefix).encode())


def test_documentation_placeholders_and_ordinary_text_pass():
    documented = b"aws_access_key_id = AKIAIOSFODNN7" + b"EXAMPLE\n"
    assert no_secrets.known_keys(documented) == []
    assert no_secrets.known_keys(b"We rotate the access key every 90 days; see the secret store.\n") == []
    assert not no_secrets.holds_private_key(b"ssh-ed25519 AAAAC3Nza public key")
    escaped = notebook(
        'client = boto3.client("s3", aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])\n',
        f'checksum = "{"0" * 32}"  # md5; secret_access_key="${{{{ secrets.AWS_SECRET }}}}"\n',
        "Enter the password when asked.\n",
    )
    assert no_secrets.known_keys(escaped) == []


@pytest.mark.parametrize(
    ("path", "local"),
    [
        (".dvc/config.local", True),
        (".env", True),
        ("services/api/.env.production", True),
        (".netrc", True),
        (".pypirc", True),
        ("release/.pypirc", True),
        (".npmrc", False),  # a registry's address, often kept in git (its token is a key: found by content)
        (".dvc/tmp/lock", True),
        ("deploy/client.p12", True),
        (".env.example", False),
        ("docs/env.md", False),
        (".dvc/config", False),
    ],
)
def test_local_only_files(path, local):
    assert no_secrets.is_local_only(path) is local


def real_formats() -> dict[str, bytes]:
    """Files written by the libraries that write them (and the two formats made by hand to their spec)."""
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    parquet, orc, npy, npz = io.BytesIO(), io.BytesIO(), io.BytesIO(), io.BytesIO()
    frame.to_parquet(parquet)
    pyarrow.orc.write_table(pa.Table.from_pandas(frame), orc)
    np.save(npy, np.arange(5))
    np.savez(npz, a=np.arange(5))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("loans.csv", "a,b\n1,2\n")
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    model, joblib_lzma, arrow_stream = LogisticRegression(C=0.5), io.BytesIO(), io.BytesIO()
    joblib.dump(model, joblib_lzma, compress="lzma")
    with pa.ipc.new_stream(arrow_stream, pa.Table.from_pandas(frame).schema) as stream:
        stream.write_table(pa.Table.from_pandas(frame))
    return {
        "parquet": parquet.getvalue(),
        "orc": orc.getvalue(),
        "numpy .npy": npy.getvalue(),
        "npz": npz.getvalue(),
        "zip": archive.getvalue(),
        "gzip": gzip.compress(b"a,b\n1,2\n"),
        "bzip2": bz2.compress(b"a,b\n1,2\n"),
        "zlib": zlib.compress(pickle.dumps(frame.to_dict(), protocol=4), 3),  # joblib.dump(..., compress=3)
        "pickle": pickle.dumps(frame.to_dict(), protocol=4),
        "pickle protocol 2": pickle.dumps({"a": [1, 2]}, protocol=2),
        "pickle protocol 5": pickle.dumps({"a": [1, 2]}, protocol=5),
        "pickle protocol 0": pickle.dumps(model, protocol=0),  # ASCII text: no header, no NUL byte
        "pickle protocol 1": pickle.dumps(model, protocol=1),
        "pickle protocol 0 of a dict": pickle.dumps({"a": [1, 2]}, protocol=0),
        "pickle protocol 1 of a list": pickle.dumps([1, 2], protocol=1),
        "lzma": joblib_lzma.getvalue(),  # joblib.dump(model, "model.out", compress="lzma")
        "lzma alone": lzma.compress(b"a,b\n1,2\n", format=lzma.FORMAT_ALONE),
        "arrow IPC stream": arrow_stream.getvalue(),
        "hdf5": b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00" + bytes(100),
        "safetensors": struct.pack("<Q", len(header)) + header + bytes(4),
        "gguf": b"GGUF\x03\x00\x00\x00" + bytes(32),
        "sqlite": b"SQLite format 3\x00" + bytes(84),
        "onnx": b"\x08\x08\x12\x07pytorch\x1a\x052.1.0:\x0c\n\x05graph",  # ir_version, producer, graph
        "raw deflate of a CSV": raw_deflate(frame.sample(500, replace=True, random_state=0).to_csv().encode()),
        "raw deflate of a pickle": raw_deflate(pickle.dumps(frame.to_dict(), protocol=4)),
    }


def raw_deflate(content: bytes, level: int = 6) -> bytes:
    """`zlib.compressobj(wbits=-15)`: deflate without zlib's or gzip's header."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(content) + compressor.flush()


def test_raw_deflate_is_data_only_when_what_it_inflates_to_is():
    """Raw deflate has no header: a file is taken for one only when it inflates to a data format or a table."""
    for level in (0, 1, 9):
        assert data_format(raw_deflate(loans_table("\t").encode(), level)) == "raw deflate holding TSV", level
    assert data_format(raw_deflate((ROOT / "README.md").read_bytes())) is None  # text, not a table
    noise = random.Random(3)
    assert [data_format(noise.randbytes(4096)) for _ in range(300)] == [None] * 300


@pytest.mark.parametrize("name", list(real_formats()))
def test_data_is_recognised_by_content(name):
    content = real_formats()[name]
    assert data_format(content) is not None, name
    assert not is_text(content)


def test_text_is_text():
    for content in (b"", b"a,b\n1,2\n", "prêts à taux fixe\n".encode(), b"PAR is a word\n", b"{}\n"):
        assert is_text(content) and data_format(content) is None, content


TEXT_THAT_STARTS_LIKE_A_SIGNATURE = {
    "s/settings.py": 'ORCHESTRATOR = "airflow"\n',
    "s/c.yaml": "ORC_TABLES: [a]\n",
    "s/a.md": "ORCID ids below.\n",
    "s/g.md": "GGUF files are not kept here.\n",
    "s/p.md": "PAR1 is the parquet magic.\n",
    "s/b.txt": "BZh, then a block size.\n",
    "s/t.txt": "x" * 257 + "ustar is tar's magic\n",
    "s/x.md": "x^2 + y^2 = r^2\n",  # `x^` is a zlib header
    "s/l.md": "] closes the list; LZMA's first byte is `]` too.\n",
    "s/w.txt": "cat\ndog\np1\n",  # `c`, a name, a name: a protocol-0 pickle's start, but no `p0` after it
    "s/o.txt": "(d) the fourth point\n(l) the twelfth\n",
}


def test_text_that_starts_like_a_signature_is_text(staging, capsys):
    for content in TEXT_THAT_STARTS_LIKE_A_SIGNATURE.values():
        assert is_text(content.encode()) and data_format(content.encode()) is None, content
    paths = [staging(path, content) for path, content in TEXT_THAT_STARTS_LIKE_A_SIGNATURE.items()]
    assert block_untracked_data.main(paths) == 0, capsys.readouterr().out


def test_data_by_content_and_model_names_are_refused(staging, capsys):
    contents = real_formats()
    paths = [staging(f"docs/renamed-{name.replace(' ', '_')}.txt", content) for name, content in contents.items()]
    paths += [staging(f"src/weights/model.{ext}", b"\x00\x01weights") for ext in ("bin", "gguf", "onnx", "pt")]
    assert block_untracked_data.main(paths) == 1
    printed = capsys.readouterr().out
    for path in paths:
        assert f"  {path}\n" in printed, path
    assert "by its content (parquet)" in printed and "by its extension" in printed


def loans_table(delimiter: str, rows: int = 2000) -> str:
    header = delimiter.join(["id", "amount", "grade", "note", "status"])
    body = "".join(
        delimiter.join([str(i), f"{1000 + i * 7}.5", "ABCDEFG"[i % 7], '"late, then repaid"', "good"]) + "\n"
        for i in range(rows)
    )
    return header + "\n" + body


def test_a_table_saved_as_text_is_refused_by_its_content(staging, capsys):
    """A CSV written to `scores.txt` or `export.dat` carries no signature: 60 KB of loans went into git."""
    tables = {
        "docs/scores.txt": loans_table(","),
        "out/export.dat": loans_table("\t"),
        "n/eu.txt": loans_table(";"),
        "n/pipes.txt": loans_table("|"),
    }
    paths = [staging(path, content) for path, content in tables.items()]
    assert block_untracked_data.main(paths) == 1
    printed = capsys.readouterr().out
    for path in paths:
        assert f"  {path}\n" in printed, printed
    assert "by its content (CSV)" in printed and "by its content (TSV)" in printed
    assert "by its content (pipe-delimited)" in printed


TEXT_WITH_COMMAS = {
    "docs/notes.md": "# Notes\n\n" + "".join(f"Loan {i}, paid late, then repaid.\n" for i in range(40)),
    "src/code.py": "".join(f"def f{i}(a, b):\n    return a, b\n\n" for i in range(40)),
    "requirements.txt": "".join(f"package{i}==1.{i}\n" for i in range(40)),
    "docs/short.txt": loans_table(",", rows=5),  # a few lines: an example, not a data set
    "docs/log.txt": "".join(f"{i:02d}:00 started, step {i}{', retried' * (i % 3)}\n" for i in range(40)),
    "docs/list.txt": "".join(f"\titem {i} of an indented list\n" for i in range(40)),  # one tab per line
    "src/values.c": "".join(f"int value{i} = {i};\n" for i in range(40)),  # one semicolon per line
    "docs/table.md": "| loan | rate |\n|---|---|\n" + "".join(f"| {i} | {i / 10} |\n" for i in range(40)),
    "docs/shell.md": "".join(f"cat log{i}.txt | grep -c late\n" for i in range(40)),
}


def loans_export(rows: int = 200) -> list[list[str]]:
    """Loans as a program exports them; one borrower's description runs over three lines, as Lending Club's do."""
    table = [["id", "amount", "grade", "desc", "status"]]
    for i in range(rows):
        desc = "Borrower added on 12/31/09 >\nneed money\nto pay off cards" if i == 7 else "car"
        table.append([str(i), f"{1000 + i * 7}.5", "ABCDEFG"[i % 7], desc, "good"])
    return table


def as_csv(table: list[list[str]]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(table)
    return text.getvalue()


def loans_frame(rows: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1000 + i * 37.25 for i in range(rows)],
            "grade": ["ABCDEFG"[i % 7] for i in range(rows)],
            "purpose": ["debt consolidation" if i % 3 else "car" for i in range(rows)],
            "status": ["bad" if i % 11 == 0 else "good" for i in range(rows)],
        }
    )


def with_missing_values() -> pd.DataFrame:
    """Numbers with a value missing in every fourth row: `to_csv(sep=" ")` writes it as nothing, a space more."""
    values = numbers(60, 3)
    values[::4, 1] = np.nan
    return pd.DataFrame(values, columns=list("abc"))


def numbers(rows: int, columns: int) -> np.ndarray:
    return np.arange(rows * columns).reshape(rows, columns) / 7


def saved_text(**savetxt) -> str:
    text = io.StringIO()
    np.savetxt(text, numbers(60, 4), **savetxt)
    return text.getvalue()


# Tables that passed as text: every line had to have the same number of fields, and split at each newline.
TABLES_UNDER_ANY_NAME = {
    "docs/loans.txt": as_csv(loans_export()),  # a quoted field over three lines
    "out/footer.dat": as_csv(loans_export()) + "total rows: 3000\n",
    "out/commented": "# export of the loans table, 2024-06-30\n" + as_csv(loans_export()),
    "out/spaced.txt": "".join(", ".join(row[:3] + row[4:]) + "\n" for row in loans_export()),  # `a, b`
    "out/savetxt.txt": saved_text(),  # numbers separated by a space
    "out/aligned.txt": saved_text(fmt="%10.4f", header="a b c d"),
    "out/spaces.txt": pd.DataFrame(numbers(60, 3), columns=list("abc")).to_csv(sep=" "),
    # Words and numbers with one space between, columns unaligned (quoted where a field holds a space).
    "out/loans-spaces.txt": loans_frame().to_csv(sep=" ", index=False),
    "out/loans-index.dat": loans_frame().to_csv(sep=" "),
    "out/no-header": loans_frame().to_csv(sep=" ", index=False, header=False),
    # Without a header, a value every row shares (a subset of one home ownership) read as a log's or code's word.
    "out/renters": loans_frame().assign(home="RENT").to_csv(sep=" ", header=False),
    "out/renters.txt": loans_frame().assign(home="RENT").to_csv(sep=" ", index=False, header=False),
    # Numbers whose rows differ in length: a missing value written as nothing, ragged rows.
    "out/missing.txt": with_missing_values().to_csv(sep=" "),
    "out/ragged.dat": "".join(
        " ".join(f"{value:g}" for value in row[: 2 + i % 3]) + "\n" for i, row in enumerate(numbers(60, 5))
    ),
    # Sparse rows (svmlight / libsvm: `dump_svmlight_file`), a label then ascending index:value pairs.
    "out/train.svm": "".join(
        f"{i % 2} " + " ".join(f"{3 * j + i % 3}:{(i + j) / 7:g}" for j in range(1, 2 + i % 4)) + "\n"
        for i in range(40)
    ),
    "out/libsvm": "# dumped by sklearn\n"
    + "".join(f"{'+1' if i % 3 else '-1'} qid:{i // 10} 3:{i}.25 {10 + i}:-1e-3 # loan {i}\n" for i in range(40)),
}


@pytest.mark.parametrize("path", TABLES_UNDER_ANY_NAME)
def test_a_table_is_recognised_with_its_comments_footer_and_multi_line_fields(path):
    assert delimited_table(TABLES_UNDER_ANY_NAME[path].encode()) is not None


def test_tables_under_names_without_a_data_extension_are_refused(staging, capsys):
    paths = [staging(path, content) for path, content in TABLES_UNDER_ANY_NAME.items()]
    assert block_untracked_data.main(paths) == 1
    printed = capsys.readouterr().out
    for path in paths:
        assert f"  {path}\n" in printed, path
    assert "by its content (space-delimited numbers)" in printed
    assert "by its content (space-delimited table)" in printed
    assert "by its content (sparse rows, svmlight/libsvm)" in printed


def test_a_wide_table_is_refused_by_block_untracked_data_alone(staging, capsys):
    """Used alone (from another repository), the hook read 8 KB of each file: fewer lines of a 60-column table
    than a table needs, and `wide.txt` (350 KB) passed, while staged-files refused it."""
    wide = pd.DataFrame(numbers(600, 60) + 1000).to_csv(index=False, float_format="%.4f")
    assert wide.count("\n", 0, 8192) < TABLE_ROWS
    path = staging("docs/wide.txt", wide)
    assert block_untracked_data.main([path]) == 1
    assert "docs/wide.txt" in capsys.readouterr().out
    assert staged_files.main([path]) == 1


def test_text_with_commas_is_not_a_table(staging, capsys):
    paths = [staging(path, content) for path, content in TEXT_WITH_COMMAS.items()]
    assert block_untracked_data.main(paths) == 0, capsys.readouterr().out


# Text that a tolerant reading of tables must not take for one: rows of one width but words, a column of
# numbers in code, a logged time's comma, numbers beside words.
TEXT_IN_ROWS = {
    "src/data.py": "ROWS = [\n" + "".join(f"    [{i}, {i / 2}, {i * 2}],\n" for i in range(40)) + "]\n",
    "src/calls.py": "".join(f"plot({i}, {i + 1})\nassert f({i}, 2) == {i + 2}\n" for i in range(40)),
    "conf/settings.yaml": "# ranges\n" + "".join(f"feature_{i}: [{i}, {i + 1}]\n" for i in range(40)),
    "conf/points.yaml": "".join(f"- [{i}, {i / 2}]\n" for i in range(40)),
    "logs/app.log": "".join(f"2024-06-30 12:00:{i:02d},{i:03d} INFO worker {i} started\n" for i in range(40)),
    "logs/steps.log": "".join(f"2024-06-30 12:00:{i:02d} step {i} took {i / 10} s\n" for i in range(40)),
    "constraints.txt": "# pinned by pip-compile\n" + "".join(f"package{i}==1.{i}.0\n    # via x\n" for i in range(40)),
    "docs/pip-list.txt": "Package  Version\n-------- -------\n" + "".join(f"pkg{i}  1.{i}.0\n" for i in range(40)),
    "docs/rates.md": "# Rates\n\nBy grade:\n\ngrade | rate\n---|---\n"
    + "".join(f"{i} | {i / 10}\n" for i in range(40)),
    "docs/names.txt": "".join(f"Smith{i}, John\n" for i in range(40)),
    "docs/paid.md": "".join(f"Loan {i}, paid late, then repaid in {i} days.\n" for i in range(40)),
    "sql/seed.sql": "CREATE TABLE loans (id INT, amount REAL, grade TEXT);\n"
    + "".join(f"INSERT INTO loans VALUES ({i}, {1000 + i}.50, 'A');\n" for i in range(25)),
    "src/pairs.py": "PAIRS = [\n" + "".join(f"    ({i}, {i / 2}),\n" for i in range(40)) + "]\n",
    # Words and numbers one space apart that are no table: code, config, logs, listings.
    "src/constants.py": "".join(f"LIMIT_{i} = {i * 10}\n" for i in range(40)),
    "conf/flat.yaml": "".join(f"threshold_{i}: {i / 4}\n" for i in range(40)),
    "conf/flat.toml": "".join(f"retries_{i} = {i}\n" for i in range(40)),
    "logs/train.log": "".join(f"INFO epoch {i} loss {1 / (i + 1):.4f}\n" for i in range(40)),
    "logs/levels.log": "".join(
        f"{'WARNING' if i % 4 else 'INFO'} epoch {i} loss {1 / (i + 1):.4f}\n" for i in range(40)
    ),
    "logs/splits.log": "".join(f"epoch {i} split {'eval' if i % 2 else 'train'} loss {i / 7:.4f}\n" for i in range(40)),
    "go.sum": "".join(f"github.com/x/y{i} v1.{i}.0 h1:abc{i}=\n" for i in range(40)),
    "web/site.css": "".join(f".c{i} {{ margin: {i}px; }}\n" for i in range(40)),
    "docs/steps.md": "".join(f"{i}. Run step {i}\n" for i in range(40)),
    "docs/list.md": "".join(f"- item {i}\n" for i in range(40)),
    "docs/indented.txt": "".join(f"    value {i}\n" for i in range(40)),
    "scripts/wait.sh": "".join(f"sleep {i}\n" for i in range(40)),
    # Numbers and colons that are no sparse rows: times, scripture's verses.
    "docs/times.txt": "".join(f"{i} 10:{i:02d} 09:15\n" for i in range(40)),
    "docs/verses.txt": "".join(f"{i} 3:{i} And it was so.\n" for i in range(40)),
}


@pytest.mark.parametrize("path", TEXT_IN_ROWS)
def test_text_in_rows_is_not_a_table(path):
    assert delimited_table(TEXT_IN_ROWS[path].encode()) is None


def test_this_repositorys_own_files_are_not_tables():
    listed = [path for path in run(["git", "ls-files", "-z"], ROOT).stdout.split("\0") if (ROOT / path).is_file()]
    assert [path for path in listed if delimited_table((ROOT / path).read_bytes())] == []


def test_a_table_and_a_model_under_ordinary_names_are_refused_by_a_commit(hooked):
    """Both were committed (rc 0) through the hooks, and hygiene added a newline to the pickle's end."""
    model = pickle.dumps(LogisticRegression(C=0.5), protocol=0)
    write(hooked, "docs/loans.txt", as_csv(loans_export()))
    write(hooked, "docs/model.out", model)
    refused = commit(hooked, "docs/loans.txt", "docs/model.out")
    text = output(refused)
    assert refused.returncode == 1, text
    assert "docs/loans.txt\n      - a data or model file by its content (CSV)" in text
    assert "docs/model.out\n      - a data or model file by its content (pickle)" in text
    assert (hooked / "docs/model.out").read_bytes() == model


def test_hygiene_leaves_a_protocol_0_pickle_as_it_is(staging, tmp_path):
    """A protocol-0 pickle is ASCII: hygiene took it for text and gave it a final newline."""
    model = pickle.dumps(LogisticRegression(C=0.5), protocol=0)
    staging("docs/model.out", model)
    assert hygiene.main(["docs/model.out"]) == 0
    assert (tmp_path / "docs/model.out").read_bytes() == model


def test_names_under_data_must_be_what_they_claim(staging, capsys):
    parquet = real_formats()["parquet"]
    refused = [
        staging("data/README_dump.bin", parquet),
        staging("data/extra.dvc", parquet),
        staging("data/notes.dvc", "just some text\n"),
        staging("models/README.md", "x" * 100_000),
        staging("models/.gitignore", os.urandom(64)),
    ]
    allowed = [
        staging("data/loans.csv.dvc", "outs:\n- md5: 0123abcd\n  size: 10\n  path: loans.csv\n"),
        staging("data/README.md", "# The data\n\nDVC keeps it.\n"),
        staging("data/.gitignore", "/loans.csv\n"),
    ]
    assert block_untracked_data.main(refused + allowed) == 1
    printed = capsys.readouterr().out
    for path in refused:
        assert f"  {path}\n" in printed, path
    for path in allowed:
        assert f"  {path}\n" not in printed, path
    assert block_untracked_data.main(allowed) == 0


def test_fixers_leave_binary_fixtures_and_symlinks_alone(staging, tmp_path):
    parquet = real_formats()["parquet"] + b"  \n"  # trailing spaces and no final newline would tempt a fixer
    staging("docs/table.txt", parquet)
    staging("tests/fixtures/padded.csv", "a , b  \n1,2   ")
    staging("docs/note.md", "fix me   \nplease")
    (tmp_path / "outside.txt").write_text("target   ")
    os.symlink(tmp_path / "outside.txt", tmp_path / "docs" / "link.txt")
    run(["git", "add", "docs/link.txt"], tmp_path)
    files = ["docs/table.txt", "tests/fixtures/padded.csv", "docs/note.md", "docs/link.txt"]
    assert hygiene.main(files) == 1
    assert (tmp_path / "docs/table.txt").read_bytes() == parquet
    assert (tmp_path / "tests/fixtures/padded.csv").read_text() == "a , b  \n1,2   "
    assert (tmp_path / "outside.txt").read_text() == "target   "
    assert (tmp_path / "docs/note.md").read_text() == "fix me\nplease\n"
    assert hygiene.main(["docs/note.md"]) == 0


def test_fixers_leave_every_output_dvc_yaml_declares_alone(staging, tmp_path):
    """In another repository a stage's `cache: false` metrics (json.dump writes no final newline) was fixed, no
    longer matched dvc.lock, and the retrain that wrote it again was fixed again: no commit could pass."""
    staging(
        "dvc.yaml",
        "stages:\n  train:\n    cmd: python train.py\n    metrics:\n    - out/metrics.json:\n        cache: false\n",
    )
    staging("out/metrics.json", '{"auc": 0.7}')
    staging("docs/metrics.json", '{"auc": 0.7}')
    assert staged_files.main(["out/metrics.json", "docs/metrics.json"]) == 1
    assert (tmp_path / "out/metrics.json").read_text() == '{"auc": 0.7}'
    assert (tmp_path / "docs/metrics.json").read_text() == '{"auc": 0.7}\n'
    assert staged_files.main(["out/metrics.json", "docs/metrics.json"]) == 0


def test_fixers_leave_the_outputs_of_templated_and_wdir_stages_alone(staging, tmp_path):
    """dvc.yaml holds a `foreach` stage's outputs only as a template (`f_${item}.json`) and a `wdir` stage's relative
    to its folder: hygiene fixed them, and no commit of that repository could pass. dvc.lock names them."""
    staging(
        "dvc.yaml",
        "stages:\n  f:\n    foreach: [a, b]\n    do:\n      cmd: x\n      metrics:\n      - f_${item}.json:\n"
        "          cache: false\n  w:\n    wdir: src\n    cmd: x\n    metrics:\n    - w.json:\n        cache: false\n",
    )
    staging(
        "dvc.lock",
        "schema: '2.0'\nstages:\n"
        + "".join(
            f"  {name}:\n    cmd: x\n    outs:\n    - path: {out}\n      md5: {'f' * 32}\n"
            for name, out in (("f@a", "f_a.json"), ("f@b", "f_b.json"), ("w", "w.json"))
        ),
    )
    outputs = ["f_a.json", "f_b.json", "src/w.json"]
    for path in outputs:
        staging(path, '{"auc": 0.7}')
    assert staged_files.main(outputs) == 0
    assert all((tmp_path / path).read_text() == '{"auc": 0.7}' for path in outputs)


@pytest.mark.parametrize("replay", ["merge", "squash merge", "cherry-pick", "revert"])
def test_conflict_markers_are_refused_when_concluding_a_replay(staging, capsys, tmp_path, replay):
    staging("docs/note.md", "base\n")
    run(["git", "commit", "-q", "-m", "base"], tmp_path)
    run(["git", "switch", "-q", "-c", "other"], tmp_path)
    staging("docs/note.md", "base\nother\n")
    run(["git", "commit", "-q", "-m", "other"], tmp_path)
    run(["git", "switch", "-q", "-"], tmp_path)
    staging("docs/note.md", "base\nours\n")
    run(["git", "commit", "-q", "-m", "ours"], tmp_path)
    if replay == "revert":  # reverting our commit's parent change conflicts with our later edit
        staging("docs/note.md", "base\nours\nmore\n")
        run(["git", "commit", "-q", "-m", "more"], tmp_path)
    command = {
        "merge": ["merge", "other"],
        "squash merge": ["merge", "--squash", "other"],  # no MERGE_HEAD: MERGE_MSG beside SQUASH_MSG
        "cherry-pick": ["cherry-pick", "other"],
        "revert": ["revert", "HEAD~1"],
    }
    assert run(["git", *command[replay]], tmp_path, check=False).returncode != 0  # stopped on the conflict
    assert b"<<<<<<< " in Path("docs/note.md").read_bytes()
    run(["git", "add", "docs/note.md"], tmp_path)
    assert staged_files.main(["docs/note.md"]) == 1
    assert "docs/note.md:2: merge conflict marker" in capsys.readouterr().out


def test_names_with_control_characters_are_shown_escaped(staging, capsys):
    """A name with a newline printed raw split its line in two ("Fixing new" / "line.md ..."); one with an escape
    sequence could rewrite the terminal's lines above it (the refusal's own)."""
    paths = [staging("new\nline.md", "text   \n"), staging("\x1b[1A\x1b[2Kkeys.py", f'KEY = "{AWS_KEY_ID}"\n')]
    assert staged_files.main(paths) == 1
    printed = capsys.readouterr().out
    assert "Fixing 'new\\nline.md' (trailing whitespace" in printed, printed
    assert "'\\x1b[1A\\x1b[2Kkeys.py': holds an AWS access key id" in printed, printed
    assert "\x1b" not in printed


HYGIENE_MEMORY = 64 << 20  # address space for the whole hook process: far below the file, far above a line
BIG_LINE = b"x" * 65_533 + b" \t\r\n"  # trailing whitespace on every line, CRLF kept


def test_a_file_far_bigger_than_the_hooks_memory_is_fixed_line_by_line(staging, tmp_path):
    """hygiene read each file whole and made copies of it (with SKIP=block-untracked-data a 400 MB text file took
    it to 1.7 GB): it now reads a line at a time, and writes the fixed file beside it, then renames it over."""
    big = tmp_path / "docs/big.log"
    big.parent.mkdir()
    with open(big, "wb") as handle:
        for _ in range(2_500):  # 160 MB
            handle.write(BIG_LINE)
        handle.write(b"\r\n\r\n")
    big.chmod(0o755)

    def limited_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (HYGIENE_MEMORY, HYGIENE_MEMORY))

    env = test_env(PYTHONPATH=str(ROOT))
    hook = [sys.executable, "-S", "-m", "hooks.hygiene", "docs/big.log"]
    fixed = run(hook, tmp_path, check=False, env=env, preexec_fn=limited_memory)
    assert fixed.returncode == 1 and "Fixing docs/big.log (trailing whitespace" in fixed.stdout, fixed.stderr[-500:]
    assert big.stat().st_size == 2_500 * (len(BIG_LINE) - 2)
    with open(big, "rb") as handle:
        assert handle.read(len(BIG_LINE) - 2) == b"x" * 65_533 + b"\r\n"
        handle.seek(-4, os.SEEK_END)
        assert handle.read() == b"xx\r\n"
    assert stat.S_IMODE(big.stat().st_mode) == 0o755 and os.listdir(big.parent) == ["big.log"]
    assert run(hook, tmp_path, env=env, preexec_fn=limited_memory).stdout == ""  # nothing left to fix


def test_a_file_that_is_not_text_after_its_head_is_left_as_it_is(staging, tmp_path):
    """Text is decided by the first block (`is_text`) and every line after it: a NUL byte or bytes that are not
    UTF-8 further on leave the whole file unfixed, as when it was read whole."""
    head = b"text line   \n" * 1_000  # 13 KB, past the first block
    for name, tail in {"nul.log": b"a\0b  \n", "latin1.log": b"caf\xe9  \n"}.items():
        staging(f"docs/{name}", head + tail)
        assert hygiene.main([f"docs/{name}"]) == 0
        assert (tmp_path / "docs" / name).read_bytes() == head + tail
    staging("docs/cut.log", head + b"\xe2\x82")  # a character cut at the end: text, as is_text has it
    assert hygiene.main(["docs/cut.log"]) == 1
    assert (tmp_path / "docs/cut.log").read_bytes() == b"text line\n" * 1_000 + b"\xe2\x82\n"


def test_fixers_keep_crlf_and_empty_files():
    assert hygiene.fixed(b"a  \r\nb\t\r\n\r\n\r\n") == b"a\r\nb\r\n"
    assert hygiene.fixed(b"") == b""
    assert hygiene.fixed(b"\n\n") == b""
    assert hygiene.fixed(b"last") == b"last\n"


def test_one_pass_finds_every_class_and_skip_skips_one(staging, capsys, monkeypatch):
    paths = [
        staging("docs/table.txt", real_formats()["parquet"]),
        staging(".dvc/config", dvc_config("url = s3://KEY:SECRET@bucket")),
        staging(".dvc/config.local", dvc_config("secret_access_key = abc")),
        staging("src/settings.py", f"KEY = '{AWS_KEY_ID}'\n"),
        staging("docs/note.md", "trailing   \n"),
    ]
    assert staged_files.main([]) == 1  # no names: every staged change
    printed = capsys.readouterr().out
    for fragment in (
        "docs/table.txt",
        ".dvc/config: sets `url` (a URL with a user and password)",
        ".dvc/config.local: a local-only file",
        "src/settings.py: holds an AWS access key id",
        "Fixing docs/note.md",
    ):
        assert fragment in printed, fragment
    assert Path("docs/note.md").read_text() == "trailing\n"

    monkeypatch.setenv("SKIP", "ruff-check, block-untracked-data,hygiene")
    Path("docs/note.md").write_text("trailing   \n")
    assert staged_files.main(paths) == 1
    printed = capsys.readouterr().out
    assert "block-untracked-data" not in printed and "Fixing" not in printed and "no-secrets" in printed


def test_an_ordinary_commit_passes(staging, capsys):
    paths = [
        staging("docs/note.md", "# Note\n\nAn ordinary change.\n"),
        staging(".dvc/config", dvc_config(*SETTINGS_THAT_ARE_NOT_SECRETS)),
        staging("docs/aws.md", "Use `aws_access_key_id = AKIAIOSFODNN7" + "EXAMPLE` as in AWS's docs.\n"),
        staging("tests/fixtures/tiny.parquet", real_formats()["parquet"]),
        staging(".env.example", "AWS_ACCESS_KEY_ID=\n"),
    ]
    assert staged_files.main(paths) == 0, capsys.readouterr().out


def test_deleting_dvc_config_is_refused_unless_the_whole_dvc_folder_goes(staging, capsys, monkeypatch):
    """pre-commit names no deleted file: `git rm .dvc/config` dropped the project's remote for every clone."""
    staging(".dvc/config", dvc_config(*SETTINGS_THAT_ARE_NOT_SECRETS))
    staging(".dvc/.gitignore", "/config.local\n/tmp\n/cache\n")
    assert staged_files.main([]) == 0, capsys.readouterr().out  # never committed: HEAD has no config to lose
    run(["git", "commit", "-q", "--no-verify", "-m", "dvc init"], Path.cwd())
    run(["git", "rm", "-q", ".dvc/config"], Path.cwd())
    assert staged_files.main([]) == 1
    printed = capsys.readouterr().out
    assert "no-secrets-in-dvc-config: this commit deletes .dvc/config while .dvc/ stays" in printed
    assert "Fix: `git restore --staged --worktree .dvc/config`" in printed
    assert staged_files.main([]) == 1 and "SKIP=no-secrets-in-dvc-config" in capsys.readouterr().out
    monkeypatch.setenv("SKIP", "no-secrets-in-dvc-config")
    assert staged_files.main([]) == 0, capsys.readouterr().out
    monkeypatch.delenv("SKIP")
    run(["git", "rm", "-q", "-r", ".dvc"], Path.cwd())
    assert staged_files.main([]) == 0, capsys.readouterr().out  # `dvc destroy`: no DVC project left


def test_a_commit_that_deletes_dvc_config_is_refused_with_the_fix(hooked):
    run(["git", "rm", "-q", ".dvc/config"], hooked)
    refused = commit(hooked)
    assert refused.returncode != 0, output(refused)
    assert "this commit deletes .dvc/config while .dvc/ stays" in output(refused)
    run(["git", "restore", "--staged", "--worktree", ".dvc/config"], hooked)
    run(["git", "rm", "-q", "-r", ".dvc"], hooked)  # the whole folder, as `dvc destroy` takes it
    assert commit(hooked).returncode == 0


def test_a_commit_that_untracks_dvc_config_keeping_the_file_is_refused_unless_dvc_goes(hooked):
    """`git rm --cached .dvc/config` left the file on disk, so the check (the file gone from the work tree)
    passed, and every clone lost the project's remote; `dvc destroy` still passes."""
    run(["git", "rm", "-q", "--cached", ".dvc/config"], hooked)
    refused = commit(hooked)
    assert refused.returncode != 0, output(refused)
    assert "no-secrets-in-dvc-config: this commit takes .dvc/config out of git (`git rm --cached`" in output(refused)
    assert "Fix: `git reset -q -- .dvc/config` (HEAD's) or `git add .dvc/config`" in output(refused)
    run(["git", "reset", "-q", "--", ".dvc/config"], hooked)
    assert run(["git", "status", "--porcelain"], hooked).stdout == ""
    run(["dvc", "destroy", "-f"], hooked)
    run(["git", "add", "-A"], hooked)
    passed = commit(hooked)
    assert passed.returncode == 0, output(passed)
    tracked = run(["git", "ls-tree", "-r", "--name-only", "HEAD"], hooked).stdout.split()
    assert ".dvc/config" not in tracked and "dvc.lock" not in tracked


def test_a_staged_file_the_work_tree_lacks_is_read_from_the_index(staging, capsys):
    """A skip-worktree entry (a sparse checkout's) staged by `git update-index --cacheinfo`: pre-commit names it,
    the work tree does not hold it, and it was skipped unread."""
    table = "id,amount\n" + "".join(f"{i},{i * 7}\n" for i in range(100))
    sha = run(["git", "hash-object", "-w", "--stdin"], Path.cwd(), input=table).stdout.strip()
    run(["git", "update-index", "--add", "--cacheinfo", f"100644,{sha},loans.txt"], Path.cwd())
    run(["git", "update-index", "--skip-worktree", "loans.txt"], Path.cwd())
    assert not Path("loans.txt").exists()
    assert staged_files.main(["loans.txt"]) == 1
    assert "loans.txt" in capsys.readouterr().out


def test_files_named_like_options_are_checked_as_files(staging, capsys):
    """pre-commit passes staged paths after the hook's options as they are: `-h` must not print the help and pass."""
    paths = [
        staging("-h", "help?\n"),
        staging("--x", real_formats()["parquet"]),
        staging("docs/note.md", "an ordinary note\n"),
    ]
    for check in (staged_files.main, block_untracked_data.main):
        assert check(["--max-kb", "2048", *paths]) == 1
        printed = capsys.readouterr().out
        assert "  --x\n" in printed and "by its content (parquet)" in printed and "usage:" not in printed
        assert "git rm --cached ./--x" in printed  # the fix printed works as typed
    paths.append(staging(".dvc/config", dvc_config("password = hunter2")))
    assert no_secrets.main(paths) == 1
    assert ".dvc/config: sets `password`" in capsys.readouterr().out


@pytest.mark.parametrize("broken", ["dvc.yaml", "params.yaml"])
def test_a_pipeline_file_that_is_not_yaml_fails_the_data_check_in_one_line(staging, capsys, broken):
    staging("dvc.yaml", "stages:\n  train:\n    cmd: python train.py\n    outs:\n      - models/model.pkl\n")
    staging("params.yaml", "seed: 42\n")
    paths = [staging(broken, "stages: [\n"), staging("docs/note.md", "an ordinary note\n")]
    for check in (staged_files.main, block_untracked_data.main):
        assert check(paths) == 1
        printed = capsys.readouterr().out
        assert f"block-untracked-data: {broken} is not valid YAML at line 2, column 1" in printed
        assert "Traceback" not in printed and len(printed.splitlines()) == 1, printed


@pytest.mark.parametrize("scalar", ["C: 1e-2", "seed: 042"])
def test_params_that_yaml_1_1_and_1_2_read_differently_fail_the_data_check_in_one_line(staging, capsys, scalar):
    staging("dvc.yaml", "stages:\n  train:\n    cmd: python train.py\n    outs:\n      - models/model.pkl\n")
    paths = [staging("params.yaml", f"{scalar}\n"), staging("docs/note.md", "an ordinary note\n")]
    for check in (staged_files.main, block_untracked_data.main):
        assert check(paths) == 1
        printed = capsys.readouterr().out
        assert f"block-untracked-data: params.yaml, line 1: {scalar.replace(':', ' =')} is " in printed, printed
        assert "Traceback" not in printed and len(printed.splitlines()) == 1, printed
