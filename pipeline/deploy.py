"""Which revision `mlops serve` treats as champion: `deploy/champion.json`, tracked in git, so that every
promotion and rollback is a commit. Pure functions build the file's content; `commit_champion` writes and commits.

    {"rev": "<commit>", "model_md5": "<md5>", "reason": "...", "history": [{"rev": ..., "model_md5": ...}, ...]}

`history` holds the earlier champions, most recent last: a rollback makes the last of them champion again.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from pipeline.errors import UserError

CHAMPION_FILE = "deploy/champion.json"


def read_champion(path: Path | str = CHAMPION_FILE) -> dict[str, Any] | None:
    """The champion file's content, or None when there is none."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        content = None
    if not isinstance(content, dict) or not isinstance(content.get("rev"), str):
        raise UserError(f"{path} is not a champion file", hint=f"restore it from git: `git checkout -- {path}`")
    return content


def champion_rev(path: Path | str = CHAMPION_FILE) -> str | None:
    content = read_champion(path)
    return content["rev"] if content else None


def promoted(current: dict[str, Any] | None, rev: str, model_md5: str, reason: str) -> dict[str, Any]:
    """The champion file after promoting `rev` (the current champion moves to the history)."""
    history = list(current.get("history", [])) if current else []
    if current:
        history.append({"rev": current["rev"], "model_md5": current.get("model_md5")})
    return {"rev": rev, "model_md5": model_md5, "reason": reason, "history": history}


def rolled_back(current: dict[str, Any] | None) -> dict[str, Any]:
    """The champion file after a rollback: the previous champion again."""
    if not current or not current.get("history"):
        raise UserError("there is no earlier champion to roll back to", hint="see `git log -- deploy/champion.json`")
    *rest, previous = current["history"]
    return {**previous, "reason": f"rollback from {current['rev'][:12]}", "history": rest}


def commit_champion(content: dict[str, Any], message: str, path: Path | str = CHAMPION_FILE) -> str:
    """Write the champion file and commit it (that file only); the new commit id. On failure the file is restored."""
    path = Path(path)
    before = path.read_bytes() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    add = subprocess.run(["git", "add", "--", str(path)], capture_output=True, text=True)
    commit = subprocess.run(["git", "commit", "-q", "-m", message, "--", str(path)], capture_output=True, text=True)
    if add.returncode != 0 or commit.returncode != 0:
        if before is None:
            subprocess.run(["git", "rm", "-q", "--cached", "--", str(path)], capture_output=True)
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)
            subprocess.run(["git", "add", "--", str(path)], capture_output=True)
        raise UserError(
            f"could not commit {path}: {(add.stderr + commit.stderr + commit.stdout).strip()}",
            hint="is git's user.name/user.email set, and do the commit hooks pass?",
        )
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
