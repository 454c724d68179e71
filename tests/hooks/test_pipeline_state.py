"""hooks/pipeline_state.py as the one reader of DVC's files: dvc.lock, `.dvc` pointers and dvc.yaml's outputs
and artifacts, through a Reader (here a dict), hostile and broken files included."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from hooks.bounded_yaml import BadYaml
from hooks.dvc_shapes import check_dvc_yaml, check_lock
from hooks.pipeline_state import (
    artifacts,
    cached_outputs,
    git_kept_outputs,
    lock_stages,
    locked_outputs,
    locked_outs,
    output_md5,
    pipeline_state,
    pointer_outs,
    read_worktree,
    stages_left_to_dvc,
    states_from_dvc_status,
)
from tests.conftest import ROOT

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


def test_a_changed_dependency_is_named_as_code_data_or_a_file():
    pipeline = "stages:\n  train:\n    cmd: x\n    deps: [train.py, data/loans.csv, reports/schema.json]\n"
    lock = "schema: '2.0'\nstages:\n  train:\n    cmd: x\n    deps:\n"
    lock += "".join(
        f"    - path: {path}\n      md5: {'f' * 32}\n" for path in ("train.py", "data/loans.csv", "reports/schema.json")
    )
    files = {"dvc.yaml": pipeline, "dvc.lock": lock, "train.py": "", "data/loans.csv": "", "reports/schema.json": ""}
    (train,) = pipeline_state(reader(files))
    assert train.reasons == [
        "code changed: train.py",
        "data changed: data/loans.csv",
        "file changed: reports/schema.json",
    ]


@pytest.mark.parametrize("value", ["no", "yes", "off", "1:20", "017", "1e3", 1e-05, 17, 0.5, True])
def test_a_param_dvc_writes_unquoted_reads_as_dvc_reads_it(value):
    """DVC writes dvc.lock under YAML 1.2: a label `no` went in unquoted and read back as False, and the stage stayed
    stale after every run (and the commit hook refused every commit)."""
    from dvc.utils.serialize import dumps_yaml  # DVC's own writer of dvc.lock

    recorded = {"params.yaml": {"data.positive_label": value}}
    lock = dumps_yaml({"schema": "2.0", "stages": {"train": {"cmd": "python -m train", "params": recorded}}})
    params = {"data": {"positive_label": value}}
    files = {
        "dvc.yaml": "stages:\n  train:\n    cmd: python -m train\n    params:\n    - data.positive_label\n",
        # as params.yaml must say it (read alike by YAML 1.1 and 1.2): text quoted (JSON is YAML), 1.0e-05
        "params.yaml": json.dumps(params) if isinstance(value, str) else yaml.safe_dump(params),
        "dvc.lock": lock,
    }
    (train,) = pipeline_state(reader(files))
    assert train.reasons == [], (lock, train.reasons)


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


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("[1, 2]", "the file must be a mapping"),
        ("stages: 5", "stages must be a mapping of stage names, not 5"),
        ("stages: {train: x}", "stages.train must be a mapping"),
        ("stages: {train: {cmd: 1}}", "stages.train.cmd must be a command, not 1"),
        ("stages: {train: {cmd: x, outs: model.pkl}}", "stages.train.outs must be a list of paths, not 'model.pkl'"),
        ("stages: {train: {cmd: x, deps: [a, 5]}}", "stages.train.deps[1] must be a path"),
        ("stages: {train: {cmd: x, outs: [{a: 1}]}}", "stages.train.outs[0] must be a path"),
        ("stages: {train: {cmd: x, params: [{other.yaml: 3}]}}", "stages.train.params[0] must be a param key"),
        ("artifacts: {model: models/model.pkl}", "artifacts must be a mapping of names"),
    ],
)
def test_a_dvc_yaml_of_the_wrong_shape_is_named_by_key(document, named):
    with pytest.raises(BadYaml, match=re.escape(f"dvc.yaml: {named}")):
        pipeline_state(reader({"dvc.yaml": document}))


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("[1]", "the file must be a mapping"),
        ("stages: {train: {outs: 5}}", "stages.train.outs must be a list, not 5"),
        ("stages: {train: {outs: [{path: 3}]}}", "stages.train.outs[0] must be a mapping with a path:"),
        ("stages: {train: {deps: [a.csv]}}", "stages.train.deps[0] must be a mapping with a path:"),
        ("stages: {train: {deps: [{path: a, md5: [1, 2]}]}}", "stages.train.deps[0].md5 must be a hash"),
        ("stages: {train: {outs: [{path: a, md5: {a: 1}}]}}", "stages.train.outs[0].md5 must be a hash"),
        ("stages: {train: {outs: [{path: a, md5: zz}]}}", "stages.train.outs[0].md5 must be a hash"),
        ("stages: {train: {outs: [{path: a, md5: 7}]}}", "stages.train.outs[0].md5 must be a hash"),
        ("stages: {train: {outs: [{path: a, md5: true}]}}", "stages.train.outs[0].md5 must be a hash"),
        ("stages: {train: {deps: [{path: a, size: abc}]}}", "stages.train.deps[0].size must be a whole number"),
        ("stages: {train: {deps: [{path: a, size: true}]}}", "stages.train.deps[0].size must be a whole number"),
        ("stages: {train: {outs: [{path: a, nfiles: [1]}]}}", "stages.train.outs[0].nfiles must be a whole number"),
        ("stages: {train: {outs: [{path: a, isexec: 1}]}}", "stages.train.outs[0].isexec must be true or false"),
        ("stages: {train: {params: {params.yaml: 1}}}", "stages.train.params must be a mapping of params files"),
    ],
)
def test_a_dvc_lock_of_the_wrong_shape_is_named_by_key(document, named):
    with pytest.raises(BadYaml, match=re.escape(f"dvc.lock: {named}")):
        pipeline_state(reader({"dvc.yaml": "stages: {train: {cmd: x}}", "dvc.lock": document}))


def test_a_templated_or_wdir_stage_is_left_to_dvc_not_called_never_run():
    """Another repository's `foreach` stage records `f@a`, `f@b` in dvc.lock: every commit was refused as "f: never
    run", and following the advice (`dvc repro`) changed nothing."""
    pipeline = (
        "stages:\n  f:\n    foreach: [a, b]\n    do:\n      cmd: echo ${item}\n      outs:\n      - o_${item}.txt\n"
        "  w:\n    wdir: src\n    cmd: python w.py\n    deps: [w.py]\n    outs: [w.json]\n"
        "  plain:\n    cmd: x\n"
    )
    lock = "schema: '2.0'\nstages:\n" + "".join(
        f"  {name}:\n    cmd: x\n    outs:\n    - path: {out}\n      md5: {'f' * 32}\n"
        for name, out in (("f@a", "o_a.txt"), ("f@b", "o_b.txt"), ("w", "w.json"))
    )
    states = pipeline_state(reader({"dvc.yaml": pipeline, "dvc.lock": lock}), hash_outputs=False)
    assert [(state.name, state.reasons) for state in states] == [("plain", ["never run (no entry in dvc.lock)"])]
    assert locked_outputs(reader({"dvc.yaml": pipeline, "dvc.lock": lock})) == {"o_a.txt", "o_b.txt", "src/w.json"}
    assert stages_left_to_dvc(reader({"dvc.yaml": pipeline})) == ["f", "w"]


def test_dvc_status_reasons_read_as_stale_stages():
    found = {"f@a": [{"changed deps": {"in.txt": "modified", "b.py": "deleted"}}, "always changed"], "w": ["x"]}
    states = states_from_dvc_status(found)
    assert [(state.name, state.reasons, state.stale) for state in states] == [
        ("f@a", ["changed deps: in.txt (modified), b.py (deleted)", "always changed"], True),
        ("w", ["x"], True),
    ]


def test_the_projects_own_pipeline_files_have_the_shape_read():
    read = read_worktree(str(ROOT))
    assert check_dvc_yaml(yaml.safe_load(read("dvc.yaml")))["stages"]
    assert set(check_lock(yaml.safe_load(read("dvc.lock")))) == set(yaml.safe_load(read("dvc.yaml"))["stages"])
