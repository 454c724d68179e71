"""Helpers for the hook tests: a temporary git repository for the hooks' `main(argv)` (as pre-commit-hooks' own
tests do), and helpers for the trained copies with the hooks installed (`hooked`, in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run, test_env

MINIMAL_PATH = "/usr/bin:/bin"


@pytest.fixture
def staging(tmp_path, monkeypatch):
    """A fresh git repo as the working directory; returns a function that writes and stages a file."""
    run(["git", "init", "-q"], tmp_path)
    monkeypatch.chdir(tmp_path)

    def stage(path: str, content: bytes | str, force: bool = True) -> str:
        write(tmp_path, path, content)
        run(["git", "add", *(["-f"] if force else []), "--", path], tmp_path)
        return path

    return stage


def write(repo: Path, path: str, content: bytes | str) -> Path:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    target.write_bytes(content)
    return target


def commit(repo: Path, *paths: str, force: bool = False, args: tuple[str, ...] = (), env: dict | None = None):
    """`git add` the paths (if any), then a real `git commit`; the completed process (not checked)."""
    if paths:
        run(["git", "add", *(["-f"] if force else []), "--", *paths], repo)
    return run(["git", "commit", "-m", "change", *args], repo, check=False, env=env)


def use_check_mode(repo: Path) -> None:
    """Switch the project's dvc-lock-sync hook from retraining to refusing, and commit that."""
    config = repo / ".pre-commit-config.yaml"
    config.write_text(config.read_text().replace("hooks.dvc_lock_sync repro", "hooks.dvc_lock_sync check"))
    run(["git", "commit", "-q", "--no-verify", "-m", "check mode", "--", ".pre-commit-config.yaml"], repo)


def output(result) -> str:
    return result.stdout + result.stderr


def head_files(repo: Path) -> set[str]:
    return set(run(["git", "show", "--name-only", "--format=", "-z", "HEAD"], repo).stdout.split("\0")) - {""}


def minimal_path_env() -> dict[str, str]:
    """The environment of a GUI or IDE: the project's venv not on PATH, not activated."""
    env = test_env(PATH=MINIMAL_PATH)
    env.pop("VIRTUAL_ENV", None)
    return env
