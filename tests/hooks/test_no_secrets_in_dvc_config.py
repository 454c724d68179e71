"""no-secrets-in-dvc-config through `main(argv)` on a temporary git repository (the hook needs no project)."""

from __future__ import annotations

from hooks.no_secrets_in_dvc_config import holds_private_key, main, secrets_in_config

DVC_CONFIG = "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/path\n"


def test_credentials_in_dvc_config_are_refused(staging, capsys):
    path = staging(".dvc/config", DVC_CONFIG + "    access_key_id = AKIAEXAMPLE\n    secret_access_key = abc123\n")
    assert main([path]) == 1
    text = capsys.readouterr().out
    assert "secret_access_key" in text and "dvc remote modify --local" in text
    assert "SKIP=no-secrets-in-dvc-config" in text


def test_a_config_without_credentials_passes(staging, capsys):
    assert main([staging(".dvc/config", DVC_CONFIG)]) == 0
    assert capsys.readouterr().out == ""


def test_private_key_anywhere_is_refused(staging, capsys):
    key = "-----BEGIN OPENSSH PRIVATE" + " KEY-----\nabc\n-----END OPENSSH PRIVATE" + " KEY-----\n"
    assert main([staging("docs/deploy_key", key)]) == 1
    assert "docs/deploy_key: holds a private key" in capsys.readouterr().out


def test_pure_checks():
    assert secrets_in_config("['remote \"s3\"']\n    url = s3://b\n    password = x\n    token=y\n") == [
        "password",
        "token",
    ]
    assert secrets_in_config("['remote \"s3\"']\n    url = s3://b\n    credentialpath = ~/.aws/c\n") == []
    assert holds_private_key(b"-----BEGIN RSA PRIVATE" + b" KEY-----")
    assert not holds_private_key(b"public key")
