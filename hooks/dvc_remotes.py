"""The DVC remotes as the workspace resolves them, for DVC's work on other revisions.

DVC reads a revision's `.dvc/config` from its git tree and resolves a relative remote URL (this project's default,
`../../lending-mlops-dvc-remote`) against that tree's root, `/`, not the checkout: pushing the data of pushed
commits or `dvc exp push/pull` would address `/lending-mlops-dvc-remote`. Given to DVC as config overrides, the
workspace's resolved URLs apply to every revision, as `dvc push` in the workspace uses them. Imports DVC when
called, never at import.
"""

from __future__ import annotations

from typing import Any


def workspace_remotes() -> dict[str, Any]:
    """`{"remote": {name: {"url": absolute URL}}}` for each remote whose URL is a relative path (others are the
    same from any revision); empty when the config cannot be read (DVC then says why itself)."""
    from dvc.config import Config
    from dvc.config_schema import RelPath
    from dvc.exceptions import DvcException

    try:
        remotes = Config.from_cwd()["remote"]
    except DvcException:
        return {}
    relative = {
        name: {"url": str(remote["url"])} for name, remote in remotes.items() if isinstance(remote.get("url"), RelPath)
    }
    return {"remote": relative} if relative else {}
