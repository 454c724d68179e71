"""A hook's command line as pre-commit builds it: the hook's options (its `args:`), then the staged paths as they
are, so a file named like an option (`--x`, `-h`) would be read as one: refused, or worse, `-h` printing the help
and passing the commit unchecked."""

from __future__ import annotations

import os
import re
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
    read as an option; a name with control characters or bytes that are not UTF-8 as `$'...'` (bash, zsh) with
    them escaped, so the command stays on its line and names the file byte for byte."""
    word = f"./{path}" if path.startswith("-") else path
    if word.isprintable():
        return shlex.quote(word)
    return "$'" + "".join(_ansi_c(character) for character in word) + "'"


def _ansi_c(character: str) -> str:
    if character in "\\'":
        return "\\" + character
    if character.isprintable():
        return character
    return "".join(f"\\x{byte:02x}" for byte in character.encode("utf-8", "surrogateescape"))


# In a repr: an escaped backslash, or a byte that is not UTF-8 (read with surrogateescape: U+DC80 to U+DCFF).
_REPR_BACKSLASH_OR_BYTE = re.compile(r"\\\\|\\udc([89a-f][0-9a-f])")


def shown(path: str) -> str:
    """`path` as a report prints it: as it is, or quoted with its control characters escaped (a newline would split
    the report's line, an escape sequence rewrite the terminal's lines), a byte that is not UTF-8 as `\\x80`."""
    if path.isprintable():
        return path
    return _REPR_BACKSLASH_OR_BYTE.sub(lambda match: f"\\x{match[1]}" if match[1] else match[0], repr(path))


def from_the_root() -> str:
    """A line for a report whose commands name paths from the repository's root, when the commit was made in a
    subfolder: git runs hooks at the root and tells them the user's folder in GIT_PREFIX (`docs/notes/`)."""
    prefix = os.environ.get("GIT_PREFIX", "").strip("/")
    if not prefix:
        return ""
    up = "/".join(os.pardir for _ in prefix.split("/"))
    return f"\nPaths are from the repository's root, not {prefix}/: run these commands there: `cd {up}` first."
