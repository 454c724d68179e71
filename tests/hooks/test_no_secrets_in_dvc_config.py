"""no-secrets-in-dvc-config through real commits."""

from __future__ import annotations

from hooks.no_secrets_in_dvc_config import holds_private_key, secrets_in_config
from tests.hooks.conftest import commit, output, write


def test_credentials_in_dvc_config_are_refused(hooked):
    config = hooked / ".dvc/config"
    config.write_text(config.read_text() + "    access_key_id = AKIAEXAMPLE\n    secret_access_key = abc123\n")
    result = commit(hooked, ".dvc/config")
    assert result.returncode != 0
    text = output(result)
    assert "secret_access_key" in text and "dvc remote modify --local" in text
    assert "SKIP=no-secrets-in-dvc-config" in text


def test_private_key_anywhere_is_refused(hooked):
    key = "-----BEGIN OPENSSH PRIVATE" + " KEY-----\nabc\n-----END OPENSSH PRIVATE" + " KEY-----\n"
    write(hooked, "docs/deploy_key", key)
    result = commit(hooked, "docs/deploy_key")
    assert result.returncode != 0 and "docs/deploy_key: holds a private key" in output(result)


def test_pure_checks():
    assert secrets_in_config("['remote \"s3\"']\n    url = s3://b\n    password = x\n    token=y\n") == [
        "password",
        "token",
    ]
    assert secrets_in_config("['remote \"s3\"']\n    url = s3://b\n    credentialpath = ~/.aws/c\n") == []
    assert holds_private_key(b"-----BEGIN RSA PRIVATE" + b" KEY-----")
    assert not holds_private_key(b"public key")
