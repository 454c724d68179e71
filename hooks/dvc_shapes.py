"""The shape `hooks.pipeline_state` reads in `dvc.yaml` and `dvc.lock`, checked as they are loaded: a hand-edit
that is valid YAML but not a pipeline (`outs: models/model.skops` without the list, `stages: 5`) is one line
naming the file, the key and what it must be (BadYaml), where reading on would end in a traceback or, worse,
in a wrong answer (the letters of a string read as paths). DVC checks the full schema when it runs; this is
only what the readers here rely on."""

from __future__ import annotations

from typing import Any

from hooks.bounded_yaml import BadYaml

ENTRY_KINDS = ("deps", "outs", "metrics", "plots")


def _need(ok: bool, file: str, where: str, expected: str, value: Any) -> None:
    if not ok:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else f"{shown[:57]}..."
        raise BadYaml(f"{file}: {where} must be {expected}, not {shown}")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _path_with_options(entry: Any) -> bool:
    """`path` or `{path: {options}}` (options may be empty)."""
    if isinstance(entry, str):
        return True
    return (
        isinstance(entry, dict)
        and len(entry) == 1
        and all(
            isinstance(path, str) and (options is None or isinstance(options, dict)) for path, options in entry.items()
        )
    )


def _params_entry(entry: Any) -> bool:
    """`key` or `{file: [keys]}` (no keys: the whole file)."""
    if isinstance(entry, str):
        return True
    return isinstance(entry, dict) and all(
        isinstance(file, str) and (keys is None or _strings(keys)) for file, keys in entry.items()
    )


def check_dvc_yaml(document: Any, file: str = "dvc.yaml") -> dict:
    """The document of `dvc.yaml` ({} when empty), or BadYaml naming the first key whose shape is wrong."""
    _need(document is None or isinstance(document, dict), file, "the file", "a mapping (stages:, ...)", document)
    document = document or {}
    stages = document.get("stages")
    _need(stages is None or isinstance(stages, dict), file, "stages", "a mapping of stage names", stages)
    for name, stage in (stages or {}).items():
        where = f"stages.{name}"
        _need(isinstance(stage, dict), file, where, "a mapping (cmd:, deps:, outs:, ...)", stage)
        cmd = stage.get("cmd")
        _need(cmd is None or isinstance(cmd, str) or _strings(cmd), file, f"{where}.cmd", "a command", cmd)
        for kind in ENTRY_KINDS:
            entries = stage.get(kind)
            _need(entries is None or isinstance(entries, list), file, f"{where}.{kind}", "a list of paths", entries)
            for index, entry in enumerate(entries or []):
                expected = "a path, or a path with its options (path: {cache: false})"
                _need(_path_with_options(entry), file, f"{where}.{kind}[{index}]", expected, entry)
        params = stage.get("params")
        _need(params is None or isinstance(params, list), file, f"{where}.params", "a list of param keys", params)
        for index, entry in enumerate(params or []):
            expected = "a param key, or a file with its keys (other.yaml: [key])"
            _need(_params_entry(entry), file, f"{where}.params[{index}]", expected, entry)
    artifacts = document.get("artifacts")
    _need(
        artifacts is None or (isinstance(artifacts, dict) and all(isinstance(a, dict) for a in artifacts.values())),
        file,
        "artifacts",
        "a mapping of names to {path: ..., type: ...}",
        artifacts,
    )
    return document


def _dvc_hash(value: Any) -> bool:
    """What DVC's own schema takes for a hash (none, or text of 3 characters or more; a number is read as its
    digits): it refuses any other in a block of its own, which `mlops status` had read as a changed hash."""
    whole = isinstance(value, int) and not isinstance(value, bool)  # `true` failed inside DVC, "unexpected error"
    return value is None or value == "" or ((isinstance(value, str) or whole) and len(str(value)) >= 3)


# The other keys of a dvc.lock entry, typed as DVC's own schema types them (a `size: abc` it refuses was read as
# up to date, and committed).
ENTRY_META = {
    "size": (int, "a whole number of bytes, as DVC writes it"),
    "nfiles": (int, "a whole number of files, as DVC writes it"),
    "isexec": (bool, "true or false, as DVC writes it"),
    "hash": (str, "the name of a hash (md5), as DVC writes it"),
}


def check_lock(document: Any, file: str = "dvc.lock") -> dict:
    """The `stages` of a `dvc.lock` document ({} when none), or BadYaml naming the first key whose shape is
    wrong (`dvc.lock` is DVC's to write: `mlops repro` writes it again)."""
    _need(document is None or isinstance(document, dict), file, "the file", "a mapping (schema:, stages:)", document)
    stages = (document or {}).get("stages")
    _need(stages is None or isinstance(stages, dict), file, "stages", "a mapping of stage names", stages)
    for name, stage in (stages or {}).items():
        where = f"stages.{name}"
        _need(isinstance(stage, dict), file, where, "a mapping (cmd:, deps:, outs:, ...)", stage)
        for kind in ("deps", "outs"):
            entries = stage.get(kind)
            _need(entries is None or isinstance(entries, list), file, f"{where}.{kind}", "a list", entries)
            for index, entry in enumerate(entries or []):
                ok = isinstance(entry, dict) and isinstance(entry.get("path"), str)
                _need(ok, file, f"{where}.{kind}[{index}]", "a mapping with a path: (as DVC writes it)", entry)
                md5 = entry.get("md5")
                _need(_dvc_hash(md5), file, f"{where}.{kind}[{index}].md5", "a hash, as DVC writes it", md5)
                for key, (kind_of, words) in ENTRY_META.items():
                    value = entry.get(key)
                    ok = value is None or (
                        isinstance(value, kind_of) and (kind_of is bool or not isinstance(value, bool))
                    )
                    _need(ok, file, f"{where}.{kind}[{index}].{key}", words, value)
        params = stage.get("params")
        ok = params is None or (isinstance(params, dict) and all(isinstance(v, dict | None) for v in params.values()))
        _need(ok, file, f"{where}.params", "a mapping of params files to their values", params)
    return stages or {}
