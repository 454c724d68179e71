"""The hooks' reader of DVC's cache settings against DVC's own answer (`dvc cache dir`, `dvc config`), with the
cache set at each level DVC reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hooks.dvc_cache_config import cache_dir, cache_settings
from tests.conftest import run, test_env


@pytest.fixture
def dvc_repo(tmp_path, monkeypatch) -> Path:
    """A git and DVC repo as the working directory, with its own system and user config folders."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for level, variable in (("system", "DVC_SYSTEM_CONFIG_DIR"), ("user", "DVC_GLOBAL_CONFIG_DIR")):
        (tmp_path / level).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / level))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo, env=test_env())
    monkeypatch.chdir(repo)
    return repo


LEVELS = {"system": "../system/config", "user": "../user/config", "repo": ".dvc/config", "local": ".dvc/config.local"}


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"user": "dir = ../shared-cache"},
        {"system": "dir = /srv/dvc-cache", "user": "dir = '~/dvc-cache'"},
        {"user": "dir = ../user-cache", "repo": "dir = ../repo-cache"},
        {"repo": "dir = ../repo-cache", "local": 'dir = "../local cache"'},
    ],
    ids=["default", "user-relative", "user-home-quoted", "repo-over-user", "local-over-repo"],
)
def test_the_cache_folder_is_the_one_dvc_uses(dvc_repo, settings):
    for level, option in settings.items():
        config = dvc_repo / LEVELS[level]
        with config.open("a") as file:
            file.write(f"[cache]\n    {option}\n")

    dvc_says = run(["dvc", "cache", "dir"], dvc_repo, env=test_env()).stdout.strip()

    assert os.path.abspath(cache_dir()) == dvc_says


def test_a_later_level_wins_option_by_option(dvc_repo):
    (dvc_repo.parent / "user" / "config").write_text("[cache]\n    type = symlink\n    shared = group\n")
    (dvc_repo / ".dvc" / "config.local").write_text("[cache]\n    type = hardlink\n")

    settings = cache_settings()

    assert settings == {"type": "hardlink", "shared": "group"}
    for key, value in settings.items():
        assert run(["dvc", "config", f"cache.{key}"], dvc_repo, env=test_env()).stdout.strip() == value


def test_an_unreadable_config_is_skipped(dvc_repo):
    (dvc_repo.parent / "user" / "config").write_text("[cache\n    dir = /nowhere\n")
    (dvc_repo / ".dvc" / "config").write_text("[cache]\n    dir = ../repo-cache\n")

    assert cache_dir() == "repo-cache"  # `.dvc/../repo-cache`
