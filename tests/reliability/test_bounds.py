"""Params with bounds: non-finite numbers, seeds beyond numpy's range, counts and lists without an upper bound,
and a YAML alias bomb are refused with one short message before anything runs or expands (in `mlops repro`
and in the commit hook that reads params.yaml)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from tests.conftest import clone_repo, run
from tests.hooks.conftest import commit, output
from tests.reliability.helpers import Snapshot, assert_clear_error
from tests.reliability.test_bad_params import mlops_in_process, write_params

OUT_OF_BOUNDS = {
    "decision.cost_bad_approved": float("inf"),
    "decision.cost_good_rejected": float("nan"),
    "train.logreg.C": float("-inf"),
    "seed": 2**32,
    "evaluate.importance_rows": 10**12,
    "evaluate.importance_repeats": 10**6,
    "train.logreg.max_iter": 10**9,
    "train.hgb.max_iter": 10**7,
    "data.drop": [f"column_{i}" for i in range(10_000)],  # over the 1,000 names allowed, under 1 MiB of YAML
}
MEMORY_LIMIT = 1 << 30  # far below what the bomb expands to, far above what refusing it needs


def alias_bomb(levels: int = 9) -> str:
    """A "billion laughs" params.yaml: 9 aliases per level, 9**levels strings once expanded."""
    lines = ['seed: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture(scope="module")
def bounds_repo(tmp_path_factory, trained_template) -> Path:
    return clone_repo(trained_template, tmp_path_factory.mktemp("bounds") / "repo")


@pytest.mark.parametrize("key", list(OUT_OF_BOUNDS))
def test_unbounded_or_non_finite_param_is_refused(bounds_repo, monkeypatch, capsys, key):
    snapshot = Snapshot(bounds_repo)
    original = (bounds_repo / "params.yaml").read_text()
    write_params(bounds_repo, {key: OUT_OF_BOUNDS[key]})
    try:
        status, text = mlops_in_process(bounds_repo, monkeypatch, capsys, "repro")
    finally:
        (bounds_repo / "params.yaml").write_text(original)
    assert status == 2 and "Traceback" not in text, text
    assert key in text and "nothing was run" in text, text
    assert len(text) < 2_000, f"the message repeats the whole value ({len(text)} characters)"
    snapshot.assert_unchanged()


def test_alias_bomb_is_refused_by_repro_in_bounded_memory(bounds_repo):
    snapshot = Snapshot(bounds_repo)
    original = (bounds_repo / "params.yaml").read_text()
    (bounds_repo / "params.yaml").write_text(alias_bomb() + original.replace("seed: 42\n", ""))
    try:
        results = [
            run(["mlops", command], bounds_repo, check=False, preexec_fn=limited_memory, timeout=60)
            for command in ("repro", "status")
        ]
    finally:
        (bounds_repo / "params.yaml").write_text(original)
    for result in results:
        text = assert_clear_error(result, "params.yaml", "alias", "line 2")
        assert "MemoryError" not in text and len(text) < 2_000, text
    snapshot.assert_unchanged()


def test_alias_bomb_is_refused_by_the_commit_hook_in_bounded_memory(hooked):
    params = hooked / "params.yaml"
    params.write_text(alias_bomb() + params.read_text().replace("seed: 42\n", ""))
    result = commit(hooked, "params.yaml")
    assert result.returncode != 0
    text = output(result)
    assert "dvc-lock-sync" in text and "params.yaml" in text and "alias" in text.lower(), text
    assert "MemoryError" not in text and "Traceback" not in text, text
    assert run(["git", "log", "-1", "--format=%s"], hooked).stdout.strip() != "change"


def oversized(text: str) -> str:
    """`text` with a comment that takes it past the 1 MiB any of the project's YAML files may be."""
    return text + "# " + "x" * (1 << 20) + "\n"


def test_an_oversized_params_yaml_is_refused_at_once(bounds_repo):
    snapshot = Snapshot(bounds_repo)
    original = (bounds_repo / "params.yaml").read_text()
    (bounds_repo / "params.yaml").write_text(oversized(original))
    try:
        results = [run(["mlops", command], bounds_repo, check=False) for command in ("repro", "status")]
    finally:
        (bounds_repo / "params.yaml").write_text(original)
    for result in results:
        assert_clear_error(result, "params.yaml is 1.0 MiB", "at most 1 MiB", "a few KB")
    snapshot.assert_unchanged()


def test_an_oversized_dvc_yaml_is_named_by_the_commit_hooks_without_a_traceback(hooked):
    dvc_yaml = hooked / "dvc.yaml"
    dvc_yaml.write_text(oversized(dvc_yaml.read_text()))
    result = commit(hooked, "dvc.yaml")
    text = output(result)
    assert result.returncode != 0 and "Traceback" not in text, text
    assert "dvc.yaml\n      - 1.0 MB staged, above the 1024 KB limit for any file in git" in text, text
    assert "make dvc.yaml smaller" in text  # staged-files (which stops the commit there): not `mlops data add`
