"""What every reliability case checks: a clear error, and nothing lost."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tests.conftest import run

KEPT = ("dvc.lock", "models", "reports")


def file_hashes(repo: Path, names: tuple[str, ...] = KEPT) -> dict[str, str]:
    """md5 of dvc.lock and every file under models/ and reports/."""
    hashes = {}
    for name in names:
        path = repo / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            hashes[str(file.relative_to(repo))] = hashlib.md5(file.read_bytes()).hexdigest()
    return hashes


def cache_objects(repo: Path) -> dict[str, str]:
    """Every object in the DVC cache with the md5 of its bytes."""
    cache = repo / ".dvc" / "cache"
    return {str(p.relative_to(cache)): hashlib.md5(p.read_bytes()).hexdigest() for p in cache.rglob("*") if p.is_file()}


class Snapshot:
    """The state a failed command must leave as it was."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.files = file_hashes(repo)
        self.cache = cache_objects(repo)

    def assert_unchanged(self) -> None:
        now = file_hashes(self.repo)
        changed = sorted(name for name in now.keys() | self.files.keys() if now.get(name) != self.files.get(name))
        assert not changed, f"dvc.lock, models/ or reports/ changed: {changed}"
        cache_now = cache_objects(self.repo)
        # Objects may be added (a stage that succeeded before the failing one is cached); none lost or altered.
        lost = sorted(name for name in self.cache if cache_now.get(name) != self.cache[name])
        assert not lost, f"DVC cache objects lost or altered: {lost}"

    def assert_as_before_or_after_a_whole_run(self) -> None:
        """As before, or as a complete run leaves it: a stop that lands once DVC has recorded the run (a slow
        machine's) keeps the run, whose dvc.lock then matches everything it names."""
        if file_hashes(self.repo) != self.files:
            assert "up to date" in run(["dvc", "status"], self.repo).stdout.lower(), "a stop kept part of a run"
            self.files = file_hashes(self.repo)
        self.assert_unchanged()


def assert_clear_error(result, *names: str) -> str:
    """A non-zero exit, no traceback, and a message naming each of `names`."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"expected a failure, got exit 0:\n{output}"
    assert "Traceback" not in output, f"a traceback instead of a clear message:\n{output}"
    for name in names:
        assert re.search(re.escape(name), output, re.IGNORECASE), f"the message does not name {name!r}:\n{output}"
    return output


def set_data_source(repo: Path, source: str) -> None:
    params = repo / "params.yaml"
    text, count = re.subn(r"(?m)^(\s+source:\s*)\S+", rf"\g<1>{source}", params.read_text(), count=1)
    assert count == 1
    params.write_text(text)


def assert_next_good_run_succeeds(repo: Path, snapshot: Snapshot) -> None:
    """Put the good params back: `mlops repro` succeeds, runs nothing new, and the pipeline is up to date."""
    run(["git", "checkout", "--", "params.yaml"], repo)
    run(["mlops", "repro"], repo)
    snapshot.assert_unchanged()
    status = run(["dvc", "status"], repo)
    assert "up to date" in status.stdout.lower(), status.stdout
