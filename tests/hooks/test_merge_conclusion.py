"""staged-files sets dvc-lock-sync going for the commit that concludes a stopped merge (`hooks.merge_conclusion`),
on a temporary git dir: only then, and with pre-commit as git's hook starts it."""

from __future__ import annotations

import sys
from pathlib import Path

from hooks import merge_conclusion
from hooks.merge_conclusion import concluding_a_merge, pre_commit_command
from tests.hooks.conftest import write


def test_only_a_merge_being_concluded_with_a_lock_counts(staging):
    assert not concluding_a_merge(".git")
    write(Path.cwd(), ".git/MERGE_MSG", "Merge branch 'x'\n")
    assert not concluding_a_merge(".git")  # no MERGE_HEAD: a squash merge's message, or a leftover
    write(Path.cwd(), ".git/MERGE_HEAD", "0" * 40 + "\n")
    assert not concluding_a_merge(".git")  # no dvc.lock: no pipeline to check
    staging("dvc.lock", "schema: '2.0'\n")
    assert concluding_a_merge(".git")


def test_pre_commit_is_started_as_gits_hook_starts_it(staging, monkeypatch):
    write(Path.cwd(), ".git/hooks/pre-commit", f"#!/usr/bin/env bash\nINSTALL_PYTHON={sys.executable}\n")
    assert pre_commit_command() == [sys.executable, "-m", "pre_commit"]
    write(Path.cwd(), ".git/hooks/pre-commit", "#!/usr/bin/env bash\nINSTALL_PYTHON=/no/such/python\n")
    monkeypatch.setenv("PATH", "/nowhere")
    assert pre_commit_command() is None
    assert merge_conclusion.run_lock_sync() == 1
