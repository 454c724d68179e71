"""A hook's command line as pre-commit builds it: the hook's options (its `args:`), then the staged paths as they
are, so a file named like an option (`--x`, `-h`) would be read as one: refused, or worse, `-h` printing the help
and passing the commit unchecked."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence


def with_paths_last(argv: Sequence[str] | None) -> list[str]:
    """`argv` (default: this process's) with every argument that names an existing file and starts with `-` moved
    behind `--`, where argparse takes it as a path."""
    argv = list(sys.argv[1:] if argv is None else argv)
    dashed = [arg for arg in argv if arg.startswith("-") and os.path.lexists(arg)]
    if not dashed or "--" in argv:
        return argv
    return [*(arg for arg in argv if arg not in dashed), "--", *dashed]


def shell_word(path: str) -> str:
    """`path` as one word of a command the user copies: quoted for the shell, and `./--x` for a path that would be
    read as an option."""
    return shlex.quote(f"./{path}" if path.startswith("-") else path)


def shown(path: str) -> str:
    """`path` as a report prints it: as it is, or quoted with its control characters escaped (a newline would split
    the report's line, an escape sequence rewrite the terminal's lines)."""
    return path if path.isprintable() else repr(path)


def from_the_root() -> str:
    """A line for a report whose commands name paths from the repository's root, when the commit was made in a
    subfolder: git runs hooks at the root and tells them the user's folder in GIT_PREFIX (`docs/notes/`)."""
    prefix = os.environ.get("GIT_PREFIX", "").strip("/")
    if not prefix:
        return ""
    up = "/".join(os.pardir for _ in prefix.split("/"))
    return f"\nPaths are from the repository's root, not {prefix}/: run these commands there: `cd {up}` first."
