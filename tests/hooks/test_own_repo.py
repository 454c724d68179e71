"""We eat our own cooking: this repository passes all of its own hooks, lock-sync in `check` mode."""

from tests.conftest import run
from tests.hooks.conftest import output


def test_every_file_passes_every_hook(hooked):
    result = run(["pre-commit", "run", "--all-files"], hooked, check=False)
    assert result.returncode == 0, output(result)
    assert run(["python", "-m", "hooks.dvc_lock_sync", "check"], hooked, check=False).returncode == 0
