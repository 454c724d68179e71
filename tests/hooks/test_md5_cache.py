import hashlib
import json
import os
import time

import pytest

from hooks import md5_cache
from hooks.pipeline_state import dir_md5, pipeline_state, read_worktree

SETTLED_S = 0.05


@pytest.fixture
def settled(monkeypatch):
    """Files count as settled after 50 ms, not 2 s: `write` waits that long after writing."""
    monkeypatch.setattr(md5_cache, "SETTLED_NS", int(SETTLED_S * 1e9))


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    time.sleep(SETTLED_S * 1.5)


def remembered_entries(root) -> dict:
    return json.loads((root / md5_cache.CACHE_FILE).read_text())["files"]


def forge(root, name: str, md5: str) -> None:
    """Change the md5 remembered for `name`, so that an answer from memory shows (the file is not read)."""
    document = json.loads((root / md5_cache.CACHE_FILE).read_text())
    document["files"][name][-1] = md5
    (root / md5_cache.CACHE_FILE).write_text(json.dumps(document))


def md5_now(root, name: str) -> str | None:
    with md5_cache.remembered(str(root)) as md5s:
        return md5s.md5(name)


def test_a_file_is_hashed_as_dvc_does_and_then_answered_from_memory(tmp_path, settled):
    write(tmp_path / "data/loans.parquet", b"loans" * 1000)
    assert md5_now(tmp_path, "data/loans.parquet") == hashlib.md5(b"loans" * 1000).hexdigest()
    assert set(remembered_entries(tmp_path)) == {"data/loans.parquet"}
    forge(tmp_path, "data/loans.parquet", "0" * 32)
    assert md5_now(tmp_path, "data/loans.parquet") == "0" * 32


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda path: path.write_bytes(b"LOANS" * 1000), id="same-size-rewrite"),
        pytest.param(lambda path: os.utime(path, ns=(0, path.stat().st_mtime_ns)), id="mtime-kept-by-touch"),
        pytest.param(lambda path: path.chmod(0o600), id="metadata-only"),
    ],
)
def test_any_change_to_a_remembered_file_is_hashed_again(tmp_path, settled, change):
    path = tmp_path / "model.skops"
    write(path, b"loans" * 1000)
    md5_now(tmp_path, "model.skops")
    forge(tmp_path, "model.skops", "0" * 32)
    change(path)
    assert md5_now(tmp_path, "model.skops") == hashlib.md5(path.read_bytes()).hexdigest()


def test_a_file_changed_moments_ago_is_not_remembered(tmp_path):
    """Its next change may fall within the same timestamp tick, so that its stat would not show it."""
    write(tmp_path / "reports/metrics.json", b"{}")
    assert md5_now(tmp_path, "reports/metrics.json") == hashlib.md5(b"{}").hexdigest()
    assert not (tmp_path / md5_cache.CACHE_FILE).exists()


def test_a_folder_is_hashed_as_dvc_does_from_its_files_memory(tmp_path, settled):
    write(tmp_path / "reports/plots/roc.json", b"[1]")
    write(tmp_path / "reports/plots/pr.json", b"[2]")
    assert md5_now(tmp_path, "reports/plots") == dir_md5(str(tmp_path / "reports/plots"))
    assert set(remembered_entries(tmp_path)) == {"reports/plots/roc.json", "reports/plots/pr.json"}


def test_a_missing_path_is_none(tmp_path, settled):
    assert md5_now(tmp_path, "models/model.skops") is None


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"version": 99, "files": {}}', '{"version": 1, "files": {"a": [1, 2, "x"]}}', "{" * 100_000],
)
def test_a_damaged_memory_means_hashing_again(tmp_path, settled, content):
    write(tmp_path / "a", b"data")
    write(tmp_path / md5_cache.CACHE_FILE, content.encode())
    assert md5_now(tmp_path, "a") == hashlib.md5(b"data").hexdigest()
    assert remembered_entries(tmp_path)["a"][-1] == hashlib.md5(b"data").hexdigest()


def test_a_memory_that_cannot_be_written_still_answers(tmp_path, settled):
    write(tmp_path / "a", b"data")
    write(tmp_path / ".dvc/tmp", b"a file where DVC's scratch folder should be")
    assert md5_now(tmp_path, "a") == hashlib.md5(b"data").hexdigest()
    assert md5_now(tmp_path, "a") == hashlib.md5(b"data").hexdigest()


def test_pipeline_state_sees_a_same_size_change_of_a_remembered_output(tmp_path, settled):
    """The stale answer the memory must never give: an output rewritten after `mlops status` remembered it."""
    write(tmp_path / "dvc.yaml", b"stages:\n  train:\n    cmd: x\n    outs: [model.bin]\n")
    write(tmp_path / "model.bin", b"weights-1")
    md5 = hashlib.md5(b"weights-1").hexdigest()
    lock = f"schema: '2.0'\nstages:\n  train:\n    cmd: x\n    outs:\n    - path: model.bin\n      md5: {md5}\n"
    write(tmp_path / "dvc.lock", lock.encode())
    read = read_worktree(str(tmp_path))

    def stale() -> bool:
        with md5_cache.remembered(str(tmp_path)) as md5s:
            (train,) = pipeline_state(read, root=str(tmp_path), md5=md5s.md5)
        return train.stale

    assert not stale()
    assert "model.bin" in remembered_entries(tmp_path)
    write(tmp_path / "model.bin", b"weights-2")
    assert stale()
