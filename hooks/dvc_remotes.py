"""The DVC remotes as the workspace resolves them, for DVC's work on other revisions.

DVC reads a revision's `.dvc/config` from its git tree and resolves a relative remote URL (this project's default,
`../../lending-mlops-dvc-remote`) against that tree's root, `/`, not the checkout: pushing the data of pushed
commits or `dvc exp push/pull` would address `/lending-mlops-dvc-remote`. And a revision's config is the one it
committed: a remote pointed elsewhere since (`dvc remote modify local url PATH`, `mlops remote set`) would still be
addressed as it was then. Given to DVC as config overrides, the workspace's remotes (their URLs resolved) and its
default apply to every revision, as `dvc push` in the workspace uses them. Imports DVC when called, never at import.
"""

from __future__ import annotations

from typing import Any


def workspace_remotes() -> dict[str, Any]:
    """`{"remote": {name: options}, "core": {"remote": default}}`: each remote of the workspace's config with its
    options as the workspace reads them (a relative URL made absolute), and its default remote; empty when the config
    cannot be read or names no remote (DVC then says why itself)."""
    from dvc.config import Config
    from dvc.exceptions import DvcException

    try:
        config = Config.from_cwd()
    except DvcException:
        return {}
    remotes = {
        name: {key: str(value) if key == "url" else value for key, value in options.items()}
        for name, options in config["remote"].items()
    }
    overrides: dict[str, Any] = {"remote": remotes} if remotes else {}
    if remotes and config["core"].get("remote"):
        overrides["core"] = {"remote": config["core"]["remote"]}
    return overrides
