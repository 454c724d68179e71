"""no-secrets-in-dvc-config through `main(argv)` on a temporary git repository (the hook needs no project)."""

from __future__ import annotations

import pytest

from hooks.no_secrets_in_dvc_config import LOCAL_ONLY_NAMES, holds_private_key, main, secrets_in_config
from tests.conftest import ROOT, run

DVC_CONFIG = "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/path\n"


def test_credentials_in_dvc_config_are_refused(staging, capsys):
    path = staging(".dvc/config", DVC_CONFIG + "    access_key_id = AKIAEXAMPLE\n    secret_access_key = abc123\n")
    assert main([path]) == 1
    text = capsys.readouterr().out
    assert "secret_access_key" in text and "dvc remote modify --local" in text
    assert "SKIP=no-secrets-in-dvc-config" in text


def test_the_fix_names_the_command_that_sets_the_credential_where_it_belongs(staging, capsys):
    """A DVC Studio token was told to go to `dvc remote modify --local REMOTE token`, which is no remote's."""
    config = DVC_CONFIG + "    secret_access_key = abc123\n[studio]\n    token = isat_abc123\n"
    assert main([staging(".dvc/config", config)]) == 1
    text = capsys.readouterr().out
    assert "set `dvc remote modify --local s3 secret_access_key VALUE`" in text
    assert "set `dvc config --local studio.token VALUE`" in text


def test_a_config_without_credentials_passes(staging, capsys):
    assert main([staging(".dvc/config", DVC_CONFIG)]) == 0
    assert capsys.readouterr().out == ""


def test_private_key_anywhere_is_refused(staging, capsys):
    key = "-----BEGIN OPENSSH PRIVATE" + " KEY-----\nabc\n-----END OPENSSH PRIVATE" + " KEY-----\n"
    assert main([staging("docs/deploy_key", key)]) == 1
    assert "docs/deploy_key: holds a private key" in capsys.readouterr().out


def test_registry_tokens_are_refused_with_their_fix(staging, capsys):
    """A PyPI token in `.pypirc` and an npm token in `.npmrc` were committed."""
    pypirc = "[pypi]\nusername = __token__\npassword = pypi-" + "AgEIcHlwaS5vcmc" + "CJDE2ZjA1" * 8 + "\n"
    npmrc = "//registry.npmjs.org/:_auth" + "Token=npm_" + "a1B2c3D4e5" * 3 + "a1B2c3\n"
    assert main([staging(".pypirc", pypirc), staging("web/.npmrc", npmrc)]) == 1
    text = capsys.readouterr().out
    assert ".pypirc: a local-only file (credentials or machine state) forced into the index" in text
    for name, kind in ((".pypirc", "a PyPI token"), ("web/.npmrc", "an npm token")):
        assert f"{name}: holds {kind}. Fix: remove it (read it from the environment" in text, text


def test_pure_checks():
    assert secrets_in_config("['remote \"s3\"']\n    url = s3://b\n    password = x\n    token=y\n") == [
        "password",
        "token",
    ]
    assert secrets_in_config("['remote \"s3\"']\n    url = s3://b\n    credentialpath = ~/.aws/c\n") == []
    assert holds_private_key(b"-----BEGIN RSA PRIVATE" + b" KEY-----")
    assert not holds_private_key(b"public key")


@pytest.mark.parametrize(
    ("path", "entry"), [(".env", ".env"), ("svc/.netrc", ".netrc"), (".pypirc", ".pypirc"), (".aws/credentials", None)]
)
def test_the_fix_for_a_local_only_file_keeps_it_out_of_git(staging, capsys, tmp_path, path, entry):
    entry = entry or f"/{path}"
    assert main([staging(path, "SECRET=1\n")]) == 1
    fix = f"`git rm --cached {path} && echo {entry} >> .gitignore`, then `git add .gitignore`"
    assert fix in capsys.readouterr().out
    run(f"git rm -q --cached {path} && echo {entry} >> .gitignore && git add -A", tmp_path)
    assert run(["git", "diff", "--cached", "--name-only"], tmp_path).stdout == ".gitignore\n"


def test_a_local_only_file_that_git_ignores_needs_only_to_leave_the_index(staging, capsys):
    staging(".dvc/.gitignore", "/config.local\n")
    assert main([staging(".dvc/config.local", "[core]\n")]) == 1
    assert "Fix: `git rm --cached .dvc/config.local`; it stays on disk, ignored by git" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(LOCAL_ONLY_NAMES) + [".env.local", "services/api/.env.production"])
def test_this_project_ignores_the_local_only_names(name):
    assert run(["git", "check-ignore", "--no-index", "-q", name], ROOT, check=False).returncode == 0, name
    assert run(["git", "check-ignore", "--no-index", "-q", ".env.example"], ROOT, check=False).returncode == 1
