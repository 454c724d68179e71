"""This repository's git hooks: pre-commit's scripts for every git stage the hooks use (`.pre-commit-config.yaml`),
the interpreter they run with (`hooks/venv-python` reads it), and the merge drivers (`merge_setup`). What it writes
in the scripts, and whether those installed are still that, is `hooks.installed_hooks`'s (the hooks ask it too)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hooks import git
from hooks.installed_hooks import (
    GUARDS,
    HOOK_TYPES,
    INSTALLED,
    MLOPS_MARKER,
    PYTHON_RECORD,
    REFERENCE_TRANSACTION,
    REFERENCE_TRANSACTION_SCRIPT,
    script_states,
)
from pipeline.errors import UserError
from pipeline.versioning import merge_setup

CONFIG = Path(".pre-commit-config.yaml")


@dataclass(frozen=True)
class Installed:
    pre_commit_output: str
    interpreter_record: Path
    attributes: Path


@dataclass(frozen=True)
class HookScript:
    hook_type: str
    state: str  # installed, not installed, or out of date (an older install's)
    legacy: Path | None  # a hook of the user's, run first


@dataclass(frozen=True)
class HooksStatus:
    scripts: list[HookScript]
    drivers: dict[str, str]  # merge driver -> registered, not registered, or out of date
    interpreter: str | None  # as recorded
    interpreter_exists: bool

    @property
    def complete(self) -> bool:
        return (
            all(script.state == INSTALLED for script in self.scripts)
            and all(state == merge_setup.REGISTERED for state in self.drivers.values())
            and self.interpreter_exists
        )


def _git_dir_path(*args: str) -> Path:
    try:
        return Path(git.git("rev-parse", *args).decode("utf-8", "surrogateescape").strip())
    except git.GitFailed:
        raise UserError("not inside a git repository", hint="run from the project's root (a git clone)") from None


def _require_root() -> None:
    """Refuse a subfolder of the repository: `.gitattributes` and `dvc.yaml` are read and written where the command
    runs, so from `docs/` status called the merge drivers unregistered and uninstall left their block in place."""
    prefix = git.git("rev-parse", "--show-prefix", check=False).decode("utf-8", "surrogateescape").strip()
    if prefix:
        raise UserError(f"not in the repository's root (in {prefix})", hint="cd to the repository root")


def _interpreter_record() -> Path:
    return _git_dir_path("--git-common-dir") / PYTHON_RECORD


def _pre_commit(*args: str) -> str:
    types = [arg for hook_type in HOOK_TYPES for arg in ("--hook-type", hook_type)]
    result = subprocess.run([sys.executable, "-m", "pre_commit", *args, *types], capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(
            f"`pre-commit {args[0]}` failed: {(result.stdout + result.stderr).strip()}", hint=_hooks_path_hint()
        )
    return result.stdout.strip()


def _require_pre_commit_home() -> None:
    """pre-commit keeps its store where PRE_COMMIT_HOME says, else in XDG_CACHE_HOME's (or ~/.cache's) `pre-commit`
    folder, and fails with two tracebacks, at install and at every commit, where that cannot be written."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = Path(os.environ.get("PRE_COMMIT_HOME") or os.path.join(cache, "pre-commit"))
    try:
        home.mkdir(parents=True, exist_ok=True)
        writable = os.access(home, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise UserError(
            f"pre-commit keeps its hook environments in {home}, which cannot be written; nothing was installed",
            hint="`export PRE_COMMIT_HOME=A_WRITABLE_FOLDER` (in your shell's profile too: every commit runs "
            "pre-commit), then run `mlops hooks install` again",
        )


def _hooks_path_hint() -> str:
    """Where git's core.hooksPath, which pre-commit refuses to install under, is set, and how to unset it there
    (often the global config, where `git config --unset` alone does not reach)."""
    scope = git.git("config", "--show-scope", "--get", "core.hooksPath", check=False).decode().partition("\t")[0]
    if scope in ("local", "global", "system", "worktree"):
        return f"git's core.hooksPath is set in its {scope} config: `git config --{scope} --unset-all core.hooksPath`"
    if scope:
        return "git's core.hooksPath is set on git's command line or in the environment (GIT_CONFIG_*): unset it there"
    return "pre-commit says why above"


def install() -> Installed:
    """Install the hooks for every git stage they use, record this interpreter for them, register the merge
    drivers (idempotent; a hook the user already had is kept as `<hook>.legacy` and still runs first)."""
    _require_root()
    if not CONFIG.is_file():
        raise UserError(f"no {CONFIG} here", hint="run from the project's root")
    _require_pre_commit_home()
    record = _interpreter_record()
    record.write_text(sys.executable + "\n")
    output = _pre_commit("install")
    hooks_dir = _git_dir_path("--git-path", "hooks")
    for hook_type, guards in GUARDS.items():
        _add_guards(hooks_dir / hook_type, guards)
    _install_reference_transaction(hooks_dir / REFERENCE_TRANSACTION)
    merge_setup.install()
    return Installed(output, record, merge_setup.ATTRIBUTES)


def _add_guards(script: Path, guards: tuple[str, ...]) -> None:
    """Put the guards (blocks of whole lines) missing from pre-commit's script right after its header."""
    text = script.read_text()
    missing = [guard for guard in guards if guard not in text]
    if not missing:
        return
    lines = text.splitlines(keepends=True)
    after_header = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ID: ")), 1)
    script.write_text("".join(lines[:after_header] + missing + lines[after_header:]))


def _install_reference_transaction(script: Path) -> None:
    """Write the script (a hook of the user's there is kept as `.legacy`, which the script runs first)."""
    if script.is_file() and not _written_by_mlops(script):
        script.replace(f"{script}.legacy")
    script.write_text(REFERENCE_TRANSACTION_SCRIPT)
    script.chmod(0o755)


def _written_by_mlops(script: Path) -> bool:
    return script.is_file() and MLOPS_MARKER in script.read_text(errors="replace")


def _uninstall_reference_transaction(script: Path) -> list[str]:
    """Remove the script `install` wrote (putting back a hook of the user's it kept); what was done, in pre-commit's
    words for its own scripts."""
    if not _written_by_mlops(script):
        return []
    script.unlink()
    done = [f"{REFERENCE_TRANSACTION} uninstalled"]
    legacy = Path(f"{script}.legacy")
    if legacy.exists():
        legacy.replace(script)
        done.append(f"Restored previous hooks to {script}")
    return done


@dataclass(frozen=True)
class Uninstalled:
    scripts: list[str]  # what was done to the hook scripts: `<hook> uninstalled`, `Restored previous hooks to PATH`
    merge: merge_setup.Unregistered
    interpreter_record: Path | None  # removed; None when there was none

    @property
    def nothing(self) -> bool:
        changed = self.merge.attributes in ("removed", "deleted")  # a committed block is left as it is
        return not (self.scripts or self.merge.drivers or changed or self.interpreter_record)


def uninstall() -> Uninstalled:
    """Remove the hooks and merge drivers (a hook the user had before `install` is put back); what was removed."""
    _require_root()
    scripts = _pre_commit("uninstall").splitlines()
    scripts += _uninstall_reference_transaction(_git_dir_path("--git-path", "hooks") / REFERENCE_TRANSACTION)
    merge = merge_setup.uninstall()
    record = _interpreter_record()
    removed = record if record.exists() else None
    record.unlink(missing_ok=True)
    return Uninstalled([line for line in scripts if line.strip()], merge, removed)


def status() -> HooksStatus:
    _require_root()
    hooks_dir = _git_dir_path("--git-path", "hooks")
    scripts = []
    for hook_type, state in script_states(hooks_dir).items():
        legacy = hooks_dir / f"{hook_type}.legacy"
        scripts.append(HookScript(hook_type, state, legacy if legacy.exists() else None))
    record = _interpreter_record()
    python = record.read_text().strip() if record.is_file() else None
    return HooksStatus(scripts, merge_setup.driver_states(), python, bool(python) and Path(python).exists())
