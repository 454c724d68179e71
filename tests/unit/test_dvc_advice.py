"""DVC's advice that contradicts the project's (auto staging, `dvc push`, `dvc exp apply`) is dropped from what
DVC prints when it runs in our process; the rest of DVC's output stays."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run, test_env

PIPELINE = """stages:
  hello:
    cmd: echo hello > out.txt
    outs:
      - out.txt
"""
REPRO = """
import contextlib, sys
from pipeline.experiments.dvc_outcomes import contradicting_advice_dropped
from pipeline.versioning import dvc_seam
with contradicting_advice_dropped() if sys.argv[1] == "filtered" else contextlib.nullcontext():
    sys.exit(dvc_seam.dvc("repro"))
"""


@pytest.fixture
def tiny_project(tmp_path) -> Path:
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    (tmp_path / "dvc.yaml").write_text(PIPELINE)
    return tmp_path


def dvc_repro(project: Path, how: str) -> subprocess.CompletedProcess:
    """`dvc repro` run in-process by a Python that has (or has not) the filter on."""
    return subprocess.run(
        [sys.executable, "-c", REPRO, how], cwd=project, env=test_env(), capture_output=True, text=True, timeout=120
    )


def test_the_advice_is_dropped_and_the_rest_kept(tiny_project):
    filtered = dvc_repro(tiny_project, "filtered")
    shown = filtered.stdout + filtered.stderr
    assert filtered.returncode == 0, shown
    assert "Running stage 'hello'" in shown and "git add" in shown  # DVC's own progress and its true advice
    assert "auto staging" not in shown and "dvc push" not in shown

    (tiny_project / "dvc.yaml").write_text(PIPELINE.replace("hello >", "again >"))
    unfiltered = dvc_repro(tiny_project, "unfiltered")  # without the filter DVC says it all: the test can tell
    assert "Use `dvc push` to send your updates to remote storage." in unfiltered.stdout + unfiltered.stderr


def test_dvc_errors_still_reach_the_user(tiny_project):
    (tiny_project / "dvc.yaml").write_text(PIPELINE.replace("echo hello", "exit 3;"))
    failed = dvc_repro(tiny_project, "filtered")
    assert failed.returncode != 0 and "failed to reproduce 'hello'" in failed.stdout + failed.stderr


def test_a_failed_dvc_command_on_a_nearly_full_disk_is_hinted_so(monkeypatch, tmp_path):
    """DVC says a full disk in its own ways ("disk I/O error" from its databases, "'NoneType' object is not
    subscriptable" from a bug a failed write led it into), and ours said only "read DVC's message above". The free
    space is the system's to give: a nearly full disk cannot be made here without mounting one."""
    from collections import namedtuple

    from pipeline import errors

    monkeypatch.chdir(tmp_path)
    assert errors.read_dvc_message("fix that") == "read DVC's message above; fix that"  # this disk has room
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(errors.shutil, "disk_usage", lambda path: usage(80 << 20, (80 << 20) - 98_304, 98_304))
    assert errors.read_dvc_message("fix that") == (
        "the disk holding the project has only 96 KB free: free some space, then run it again"
    )
