"""Concluding a stopped merge, on a temporary git dir: staged-files sets dvc-lock-sync going
(`hooks.merge_conclusion`) only then, with pre-commit as git's hook starts it; and markers in dvc.lock get the fix
for how they came."""

from __future__ import annotations

import sys
from pathlib import Path

from hooks import merge_conclusion
from hooks.merge_conclusion import concluding_a_merge, pre_commit_command
from hooks.merge_driver import GENERATED, conflict_fix
from tests.conftest import run
from tests.hooks.conftest import write


def test_only_a_merge_being_concluded_with_a_lock_counts(staging):
    assert not concluding_a_merge(".git")
    write(Path.cwd(), ".git/MERGE_MSG", "Merge branch 'x'\n")
    assert not concluding_a_merge(".git")  # no MERGE_HEAD: a squash merge's message, or a leftover
    write(Path.cwd(), ".git/MERGE_HEAD", "0" * 40 + "\n")
    assert not concluding_a_merge(".git")  # no dvc.lock: no pipeline to check
    staging("dvc.lock", "schema: '2.0'\n")
    assert not concluding_a_merge(".git")  # another repository's hooks: staged-files without dvc-lock-sync
    staging(".pre-commit-config.yaml", "repos:\n- repo: x\n  hooks:\n  - id: staged-files\n  - id: dvc-lock-syncs\n")
    assert not concluding_a_merge(".git")
    staging(".pre-commit-config.yaml", "repos:\n- repo: x\n  hooks:\n  - id: staged-files\n  - id: dvc-lock-sync\n")
    assert concluding_a_merge(".git")


def test_pre_commit_is_started_as_gits_hook_starts_it(staging, monkeypatch):
    write(Path.cwd(), ".git/hooks/pre-commit", f"#!/usr/bin/env bash\nINSTALL_PYTHON={sys.executable}\n")
    assert pre_commit_command() == [sys.executable, "-m", "pre_commit"]
    write(Path.cwd(), ".git/hooks/pre-commit", "#!/usr/bin/env bash\nINSTALL_PYTHON=/no/such/python\n")
    monkeypatch.setenv("PATH", "/nowhere")
    assert pre_commit_command() is None
    assert merge_conclusion.run_lock_sync() == 1


def test_markers_in_dvc_lock_get_the_fix_for_how_they_came(staging):
    """An octopus merge runs no merge driver and left markers in dvc.lock; the fix then said `mlops hooks install`
    makes every later merge do this itself, where the hooks were installed."""
    assert "`mlops hooks install` makes every later merge" in conflict_fix("dvc.lock")  # no driver registered
    run(["git", "config", f"merge.{GENERATED}.driver", "hooks/venv-python -m hooks.merge_driver"], Path.cwd())
    fix = conflict_fix("dvc.lock")
    assert fix.startswith("dvc.lock is generated") and "hooks install" not in fix
    write(Path.cwd(), ".git/MERGE_HEAD", "a" * 40 + "\n" + "b" * 40 + "\n")
    assert conflict_fix("dvc.lock").startswith("an octopus merge (several branches at once) runs no merge driver")
