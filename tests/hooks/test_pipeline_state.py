"""hooks/pipeline_state.py as the one reader of DVC's files: dvc.lock, `.dvc` pointers and dvc.yaml's outputs
and artifacts, through a Reader (here a dict), hostile and broken files included."""

from __future__ import annotations

import pytest
import yaml

from hooks.pipeline_state import (
    artifacts,
    cached_outputs,
    git_kept_outputs,
    lock_stages,
    locked_outs,
    output_md5,
    pointer_outs,
)

DVC_YAML = """stages:
  train:
    cmd: python -m train
    outs:
    - models/${train.name}.bin
    metrics:
    - reports/metrics.json:
        cache: false
artifacts:
  lending-risk:
    path: models/model.bin
    type: model
"""
LOCK = """schema: '2.0'
stages:
  train:
    cmd: python -m train
    outs:
    - path: models/model.bin
      md5: aaaa
    - path: reports/metrics.json
      md5: bbbb
"""
POINTER = "outs:\n- md5: cccc\n  size: 3\n  path: loans.csv\n"
BOMB = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nouts: [*c]\n'


def reader(files: dict[str, str]):
    return lambda path: files[path].encode() if path in files else None


FILES = {
    "dvc.yaml": DVC_YAML,
    "params.yaml": "train:\n  name: model\n",
    "dvc.lock": LOCK,
    "data/external/loans.csv.dvc": POINTER,
}


def test_the_lock_and_its_outputs():
    stages = lock_stages(reader(FILES))
    assert list(stages) == ["train"] and output_md5(stages, "models/model.bin") == "aaaa"
    assert output_md5(stages, "models/other.bin") is None
    assert lock_stages(reader({})) == {}
    assert [out["md5"] for out in locked_outs(LOCK.encode())] == ["aaaa", "bbbb"]


def test_what_dvc_tracks_with_its_cache_leaves_out_what_git_keeps():
    read = reader(FILES)
    assert git_kept_outputs(read) == ["reports/metrics.json"]
    assert cached_outputs(read, ["data/external/loans.csv.dvc", "deleted.dvc"]) == {
        "models/model.bin": "aaaa",
        "data/external/loans.csv": "cccc",
    }


def test_the_model_artifact_of_dvc_yaml():
    assert artifacts(reader(FILES)) == {"lending-risk": {"path": "models/model.bin", "type": "model"}}
    assert artifacts(reader({})) == {}


@pytest.mark.parametrize(
    "data",
    [None, b"", b"<<<<<<< ours\nouts: [\n", b"- a list\n", b"outs: 3\n", BOMB.encode(), b"outs:\n- just a string\n"],
    ids=["absent", "empty", "conflicted", "not a mapping", "outs not a list", "alias bomb", "outs of strings"],
)
def test_a_broken_or_hostile_pointer_is_no_pointer(data):
    assert pointer_outs(data) == [] and locked_outs(data) == []


def test_a_hostile_lock_is_refused_before_it_expands():
    with pytest.raises(yaml.YAMLError, match="aliases"):
        lock_stages(reader({"dvc.lock": BOMB}))
