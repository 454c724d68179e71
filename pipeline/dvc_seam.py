"""The one place the project talks to DVC: how a repro, an experiment, a push, a pull or a checkout is run.

DVC runs in this process (`dvc.cli.main`), so its own output and progress reach the user unchanged and no
second interpreter starts. Reading the pipeline's state without DVC (the fast path) is `hooks.pipeline_state`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from pipeline import paths
from pipeline.errors import UserError

LOCK_FILE = "dvc.lock"


def _stage_environment() -> None:
    """Stages run `python -m ...` through the shell: make that the interpreter running this command, even when
    the project's virtual environment is not activated (an IDE, a GUI git client, a git hook)."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + path
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def dvc(*args: str) -> int:
    """Run one DVC command in this process; its exit status."""
    from dvc.cli import main as dvc_main

    _stage_environment()
    return dvc_main(list(args))


def require_repo() -> None:
    if not Path("dvc.yaml").is_file() or not Path(".dvc").is_dir():
        raise UserError("not in the project's root (no dvc.yaml and .dvc/ here)", hint="cd to the repository root")


def read_lock() -> dict:
    try:
        return (yaml.safe_load(Path(LOCK_FILE).read_text()) or {}).get("stages") or {}
    except FileNotFoundError:
        return {}


def git_kept_outputs() -> list[Path]:
    """Outputs DVC writes but git keeps (`cache: false`): files under reports/ that stages produce."""
    return [p for p in Path(paths.REPORTS).rglob("*") if p.is_file()] if Path(paths.REPORTS).is_dir() else []


@contextlib.contextmanager
def preserving_workspace() -> Iterator[None]:
    """On failure (or Ctrl-C), put `dvc.lock`, `reports/` and the DVC outputs back as they were.

    DVC updates `dvc.lock` stage by stage and deletes a stage's outputs before running it, so a run that fails
    half-way would otherwise leave a lock and a model from two different states.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-snapshot-") as snapshot:
        saved = Path(snapshot)
        if Path(LOCK_FILE).exists():
            shutil.copy2(LOCK_FILE, saved / LOCK_FILE)
        if Path(paths.REPORTS).is_dir():
            shutil.copytree(paths.REPORTS, saved / paths.REPORTS)
        try:
            yield
        except BaseException:
            _restore(saved)
            raise


def _restore(saved: Path) -> None:
    if (saved / LOCK_FILE).exists():
        shutil.copy2(saved / LOCK_FILE, LOCK_FILE)
    else:
        Path(LOCK_FILE).unlink(missing_ok=True)
    if (saved / paths.REPORTS).is_dir():
        shutil.rmtree(paths.REPORTS, ignore_errors=True)
        shutil.copytree(saved / paths.REPORTS, paths.REPORTS)
    if (saved / LOCK_FILE).exists():
        dvc("checkout", "--force", "--quiet")


class DvcFailed(Exception):
    """A DVC command failed; DVC has already printed why."""

    def __init__(self, command: str, status: int) -> None:
        super().__init__(f"`dvc {command}` failed (exit {status})")
        self.status = status


def checked(*args: str) -> None:
    status = dvc(*args)
    if status != 0:
        raise DvcFailed(" ".join(args), status)


def repro(*targets: str, force: bool = False) -> None:
    """`dvc repro`, all or nothing: a failed run leaves the workspace as it was."""
    with preserving_workspace():
        checked("repro", *(["--force"] if force else []), *targets)


def exp_run_temp(name: str, overrides: dict[str, str]) -> None:
    """A DVC experiment in a temporary copy of the workspace: the workspace itself stays untouched."""
    if subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], capture_output=True).returncode != 0:
        raise UserError("experiments need a git commit to start from", hint="commit the project first")
    settings = [arg for key, value in overrides.items() for arg in ("-S", f"{key}={value}")]
    checked("exp", "run", "--temp", "--name", name, *settings)


def exp_ref(name: str) -> str | None:
    """The git ref of the experiment called `name`, if any."""
    refs = subprocess.run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"],
                          capture_output=True, text=True).stdout.split()
    return next((ref for ref in refs if ref.rsplit("/", 1)[-1] == name), None)


def read_at(rev: str, path: str) -> bytes | None:
    """A git-kept file as it is at `rev` (a commit or an experiment ref)."""
    result = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True)
    return result.stdout if result.returncode == 0 else None
