"""Register this repository's git merge drivers (`hooks.merge_driver`): `merge.<name>.*` in the local git config
and one managed block in `.gitattributes` that names the generated files `dvc.yaml` declares and the `.dvc`
pointers. Idempotent; `uninstall` removes both and leaves the rest of `.gitattributes` as it was (a block git
tracks, as committed, stays: git merges as text when the config names no driver)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hooks import git
from hooks.merge_driver import DRIVERS, driver_command, driver_commands, gitattributes_lines, looks_like_dir
from hooks.pipeline_state import read_declared_outputs, read_worktree

ATTRIBUTES = Path(".gitattributes")
BEGIN = "# >>> mlops merge drivers (written by `mlops hooks install`; generated files never merge as text)"
END = "# <<< mlops merge drivers"


def _git_config(*args: str) -> str:
    """`git config --local ARGS`: its output, "" when the key or section is absent."""
    return git.git("config", "--local", *args, check=False).decode("utf-8", "surrogateescape")


def attributes_block() -> str:
    lines = gitattributes_lines(read_declared_outputs(read_worktree()), looks_like_dir)
    return "\n".join([BEGIN, *lines, END]) + "\n"


def _without_block(text: str) -> str:
    if BEGIN not in text:
        return text
    before, _, rest = text.partition(BEGIN)
    _, _, after = rest.partition(END + "\n") if END + "\n" in rest else rest.partition(END)
    return before + after


# git reads .gitattributes as bytes: a pattern may name a file in another encoding (`d\xe9j\xe0.txt`), kept as it is
def _read_attributes() -> str:
    return ATTRIBUTES.read_text(encoding="utf-8", errors="surrogateescape") if ATTRIBUTES.exists() else ""


def _write_attributes(text: str) -> None:
    ATTRIBUTES.write_text(text, encoding="utf-8", errors="surrogateescape")


def install() -> None:
    for name, (_, description) in DRIVERS.items():
        _git_config(f"merge.{name}.name", description)
        _git_config(f"merge.{name}.driver", driver_command(name))
    current = _read_attributes()
    kept = _without_block(current)
    updated = kept + ("" if not kept or kept.endswith("\n") else "\n") + attributes_block()
    if updated != current:
        _write_attributes(updated)


@dataclass(frozen=True)
class Unregistered:
    drivers: list[str]  # the drivers whose git config section was removed
    attributes: str | None  # what became of the block: "removed", "deleted" (the file held only it), "committed"
    # (kept: git tracks it as it is), or None (there was none)


def uninstall() -> Unregistered:
    registered = [name for name in DRIVERS if _git_config("--get-regexp", rf"^merge\.{re.escape(name)}\.")]
    for name in registered:
        _git_config("--remove-section", f"merge.{name}")
    return Unregistered(registered, _uninstall_attributes())


def _uninstall_attributes() -> str | None:
    if not ATTRIBUTES.exists():
        return None
    current = ATTRIBUTES.read_bytes()
    if BEGIN.encode() not in current:
        return None
    if git.staged_blob(str(ATTRIBUTES)) == current:
        # The block is committed (this project's own .gitattributes): removing it would leave a tracked file
        # deleted or changed. Without the git config a named driver is undefined, so git merges as text.
        return "committed"
    kept = _without_block(current.decode("utf-8", "surrogateescape"))
    if kept.strip():
        _write_attributes(kept)
        return "removed"
    ATTRIBUTES.unlink()
    return "deleted"


REGISTERED, NOT_REGISTERED, OUT_OF_DATE = "registered", "not registered", "out of date"


def driver_states() -> dict[str, str]:
    """Each driver -> REGISTERED (git config and `.gitattributes` name it as `install` writes it now),
    NOT_REGISTERED (either lacks it), or OUT_OF_DATE (an older install's command or block)."""
    attributes = _read_attributes()
    block_current = attributes_block() in attributes
    commands = driver_commands()
    states = {}
    for name in DRIVERS:
        if name not in commands or BEGIN not in attributes:
            states[name] = NOT_REGISTERED
        else:
            states[name] = REGISTERED if block_current and commands[name] == driver_command(name) else OUT_OF_DATE
    return states
