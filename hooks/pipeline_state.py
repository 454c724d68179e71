"""The one reader of DVC's files (`dvc.yaml`, `dvc.lock`, `.dvc` pointers, `params.yaml`), and which stages are
stale, and why.

The fast path beside DVC: no `dvc` import (hooks run on every commit), PyYAML and hashlib only. File md5s
match DVC 3's (plain md5 of the bytes; a directory is the md5 of its sorted JSON listing plus `.dir`).
Params are compared strictly by type: `1` and `1.0` differ here, though DVC treats them as equal, because for
scikit-learn an int and a float fraction mean different things.

Files are read through a `Reader` (path -> bytes, or None when absent), so the same check runs on the
working tree (`mlops status`), on the staged index (the `dvc-lock-sync` hook) and on a revision. A reader may also
offer `read_folder(folder)`, which reads a folder's files in one go before they are asked for one by one (the
index's reader: two git processes for the folder, where each file would cost two).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from hooks import params_yaml
from hooks.bounded_yaml import BadYaml, Unbounded
from hooks.dvc_shapes import check_dvc_yaml, check_lock

Reader = Callable[[str], bytes | None]
PARAMS_FILE = "params.yaml"
LOCK_FILE = "dvc.lock"
DVC_YAML = "dvc.yaml"
_MISSING = object()
_TEMPLATE = re.compile(r"\$\{\s*([\w.-]+)\s*\}")


@dataclass
class StageState:
    name: str
    reasons: list[str] = field(default_factory=list)
    changed_params: list[str] = field(default_factory=list)
    type_only_params: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.reasons)


def read_worktree(root: str = ".") -> Reader:
    def read(path: str) -> bytes | None:
        try:
            with open(os.path.join(root, path), "rb") as handle:
                return handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    return read


def file_md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def path_md5(path: str | os.PathLike) -> str:
    """The md5 of a file's bytes, read in blocks (a cached object may be larger than memory allows at once)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dir_md5(root: str, md5_of: Callable[[str], str] = path_md5) -> str | None:
    """DVC's md5 of a directory in the working tree, or None when it does not exist (`md5_of`: a file's md5)."""
    if not os.path.isdir(root):
        return None
    md5s = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".dvc"]
        for name in files:
            path = os.path.join(folder, name)
            md5s[os.path.relpath(path, root).replace(os.sep, "/")] = md5_of(path)
    return listing_md5(md5s)


def listing_md5(md5s: dict[str, str]) -> str:
    """DVC's md5 of a directory from its files' md5s (path relative to it, with `/` -> md5): the md5 of their
    sorted JSON listing, plus `.dir`."""
    entries = [{"md5": md5, "relpath": name} for name, md5 in sorted(md5s.items())]
    return file_md5(json.dumps(entries, sort_keys=True).encode("utf-8")) + ".dir"


def source_folder_md5(read: Reader, folder: str, root: str = ".") -> str | None:
    """DVC's md5 of a data folder no stage writes (`data/external`) as a commit of what `read` holds would record
    it: a file DVC tracks by the md5 its `.dvc` pointer (as `read` holds it) records, so the data is not read;
    any other file by its content as `read` holds it (the staged pointers, `.gitignore`), else as the working tree
    does (a file neither git nor DVC tracks, which DVC hashes too). None when the folder does not exist."""
    full = os.path.join(root, folder)
    if not os.path.isdir(full):
        return None
    read_folder = getattr(read, "read_folder", None)
    if read_folder is not None:
        read_folder(folder)
    names = set()
    for current, dirs, files in os.walk(full):
        dirs[:] = [d for d in dirs if d != ".dvc"]
        names |= {os.path.relpath(os.path.join(current, name), full).replace(os.sep, "/") for name in files}
    pointed = {}  # file -> md5, for each file a pointer in the folder tracks (present in the working tree or not)
    for name in sorted(n for n in names if n.endswith(".dvc")):
        for out in pointer_outs(read(f"{folder}/{name}")):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), str(out.get("path", ""))))
            md5 = out.get("md5")
            if isinstance(md5, str) and not md5.endswith(".dir") and not target.startswith(".."):
                pointed[target] = md5
    md5s = {}
    for name in names | set(pointed):
        data = None if name in pointed else read(f"{folder}/{name}")
        if name in pointed:
            md5s[name] = pointed[name]
        elif data is not None:
            md5s[name] = file_md5(data)
        elif os.path.isfile(os.path.join(full, name)):
            md5s[name] = path_md5(os.path.join(full, name))
    return listing_md5(md5s)


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal in value and in type, all the way down (`1 != 1.0`, `True != 1`)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def lookup(params: Any, dotted: str) -> Any:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def interpolate(text: str, params: Any) -> str:
    def value(match: re.Match) -> str:
        found = lookup(params, match.group(1))
        return match.group(0) if found is _MISSING else str(found)

    return _TEMPLATE.sub(value, text)


def _paths(entries: list | None, params: Any) -> list[str]:
    """The paths of a dvc.yaml deps/outs list (entries are strings or one-key mappings)."""
    paths = []
    for entry in entries or []:
        path = entry if isinstance(entry, str) else next(iter(entry))
        paths.append(interpolate(path, params))
    return paths


def _param_keys(entries: list | None) -> list[str]:
    keys = []
    for entry in entries or []:
        if isinstance(entry, str):
            keys.append(entry)
        elif isinstance(entry, dict):  # {params-file: [keys]}: only params.yaml is used here
            for file, file_keys in entry.items():
                if file == PARAMS_FILE:
                    keys.extend(file_keys or [])
    return keys


def load(read: Reader, path: str) -> Any:
    """The YAML document at `path` (None when absent); params.yaml read as `hooks.params_yaml` reads it, and
    dvc.yaml checked for the shape read here (`hooks.dvc_shapes`)."""
    data = read(path)
    if data is None:
        return None
    if path == PARAMS_FILE:
        return params_yaml.loads(data, path)
    document = params_yaml.load_as_dvc(data, path)
    return check_dvc_yaml(document) if path == DVC_YAML else document


def parse_lock(data: bytes | None) -> dict:
    """stage name -> its entry (`cmd`, `deps`, `params`, `outs`), from the bytes of a `dvc.lock` (None: there is
    none); an empty one is refused, as DVC refuses it (`mlops status` called every stage never run, and DVC's
    repro failed on it)."""
    if data is None:
        return {}
    document = params_yaml.load_as_dvc(data, LOCK_FILE)
    if document is None:
        raise BadYaml(
            f"{LOCK_FILE} is empty, and DVC cannot read it: put back the committed one with "
            f"`git checkout -- {LOCK_FILE}`, or delete it to run every stage"
        )
    return check_lock(document)


def lock_stages(read: Reader) -> dict:
    return parse_lock(read(LOCK_FILE))


def output_md5(stages: dict, path: str) -> str | None:
    """The md5 the stages of a `dvc.lock` record for the output `path`."""
    for stage in stages.values():
        for out in stage.get("outs") or []:
            if out.get("path") == path:
                return out.get("md5")
    return None


def pointer_outs(data: bytes | None) -> list[dict]:
    """The `outs` of a `.dvc` pointer (mappings with `path`, `md5`, `size`), none when it is not one."""
    return _mappings(_tolerant(data).get("outs"))


def added_data(data: bytes | None) -> bool:
    """Whether a `.dvc` pointer is of data added as it is (`dvc add`, `mlops data add`): no import (it has `deps`)
    nor a stage (`cmd`), so only the user changes its file."""
    pointer = _tolerant(data)
    return bool(pointer_outs(data)) and "deps" not in pointer and "cmd" not in pointer


def locked_outs(data: bytes | None) -> list[dict]:
    """The `outs` every stage of a `dvc.lock` records, none when it is not one."""
    stages = _tolerant(data).get("stages")
    if not isinstance(stages, dict):
        return []
    return [out for stage in _mappings(list(stages.values())) for out in _mappings(stage.get("outs"))]


def imports_from_a_repository(data: bytes | None) -> bool:
    """Whether a `.dvc` pointer is a `dvc import` from another repository (its dep names a `repo`): DVC never pushes
    such data to this project's remote; each clone gets it from that repository."""
    return any("repo" in dep for dep in _mappings(_tolerant(data).get("deps")))


def _mappings(value: Any) -> list[dict]:
    """The mappings of a YAML list; none when it is not a list."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _tolerant(data: bytes | None) -> dict:
    """A YAML mapping, or {} for anything else (a conflicted, hostile or truncated file is no pointer)."""
    try:
        document = params_yaml.load_as_dvc(data, "") if data else None
    except yaml.YAMLError:
        return {}
    return document if isinstance(document, dict) else {}


def cached_outputs(read: Reader, pointers: list[str]) -> dict[str, str]:
    """{path: md5} of every file DVC tracks with its cache: the outputs `dvc.lock` records (those `dvc.yaml`
    keeps in git left out) and the files the `.dvc` pointers at `pointers` name."""
    kept = tuple(git_kept_outputs(read))
    objects = {
        out["path"]: out["md5"]
        for stage in lock_stages(read).values()
        for out in stage.get("outs") or []
        if "md5" in out and not out["path"].startswith(kept)
    }
    for pointer in pointers:
        for out in pointer_outs(read(pointer)):
            if "md5" in out and "path" in out:
                objects[posixpath.join(posixpath.dirname(pointer), out["path"])] = out["md5"]
    return objects


def unrecorded_outputs(read: Reader) -> list[str]:
    """The outputs `dvc.yaml` declares for DVC's cache that `dvc.lock` records no md5 for: never built at this
    version (committed before its first repro), so `dvc checkout` fails on them ("No file hash info found")."""
    recorded = cached_outputs(read, [])
    return sorted(path for path, cached in read_declared_outputs(read).items() if cached and path not in recorded)


def artifacts(read: Reader) -> dict:
    """`dvc.yaml`'s `artifacts:` (name -> {path, type, ...})."""
    return (load(read, DVC_YAML) or {}).get("artifacts") or {}


def stage_outs(dvc_yaml: dict, params: Any) -> dict[str, str]:
    """Every declared output path -> the stage that writes it."""
    outs = {}
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        for kind in ("outs", "metrics", "plots"):
            for path in _paths(stage.get(kind), params):
                outs[path] = name
    return outs


def declared_outputs(dvc_yaml: dict, params: Any) -> dict[str, bool]:
    """Every declared output path -> whether DVC caches it (False for `cache: false`, kept in git)."""
    outs = {}
    for stage in (dvc_yaml.get("stages") or {}).values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind) or []:
                path = entry if isinstance(entry, str) else next(iter(entry))
                options = {} if isinstance(entry, str) else (entry[path] or {})
                outs[interpolate(path, params)] = options.get("cache", True) is not False
    return outs


def read_declared_outputs(read: Reader) -> dict[str, bool]:
    try:
        params = load(read, PARAMS_FILE) or {}
    except Unbounded:  # the paths are read without params; dvc-lock-sync names the problem
        params = {}
    try:
        return declared_outputs(load(read, DVC_YAML) or {}, params)
    except Unbounded:  # no outputs known: dvc-lock-sync names the problem
        return {}


def git_kept_outputs(read: Reader) -> list[str]:
    """The outputs `dvc.yaml` keeps in git (`cache: false`), not in DVC's cache."""
    return [path for path, cached in read_declared_outputs(read).items() if not cached]


# A stage DVC generates from a template (`foreach`/`matrix` with `do`) records `name@item` entries in dvc.lock, and
# one with a `wdir` records its paths relative to that folder: the hooks leave both to DVC (they refused every
# commit of another repository whose dvc.yaml had one, as "never run").
GENERATED_OR_MOVED = ("foreach", "matrix", "wdir")


def stages_left_to_dvc(read: Reader) -> list[str]:
    """The stages of dvc.yaml that `pipeline_state` does not judge (`GENERATED_OR_MOVED`): only DVC can say
    whether they are stale."""
    stages = (load(read, DVC_YAML) or {}).get("stages") or {}
    return [name for name, stage in stages.items() if any(key in stage for key in GENERATED_OR_MOVED)]


def states_from_dvc_status(found: dict) -> list[StageState]:
    """`dvc status --json` (each stale stage as DVC names it, `build@a`) as stale stages with reasons in words:
    `always changed`, or `{"changed deps": {path: "modified"}}` as `changed deps: path (modified)`."""
    return [StageState(name, [_dvc_reason(change) for change in changes]) for name, changes in found.items()]


def _dvc_reason(change: Any) -> str:
    if not isinstance(change, dict):
        return str(change)
    return "; ".join(
        f"{kind}: " + ", ".join(f"{path} ({state})" for path, state in paths.items())
        if isinstance(paths, dict)
        else f"{kind}: {paths}"
        for kind, paths in change.items()
    )


def locked_outputs(read: Reader) -> set[str]:
    """Every output path dvc.lock records, from the repository's root (a `wdir` stage's joined to its folder): the
    outputs of generated stages too, whose paths dvc.yaml holds only as a template."""
    dvc_yaml = load(read, DVC_YAML) or {}
    paths = set()
    for name, locked in lock_stages(read).items():
        stage = (dvc_yaml.get("stages") or {}).get(name.split("@")[0]) or {}
        folder = stage.get("wdir") or (stage.get("do") or {}).get("wdir") or ""
        for out in locked.get("outs") or []:
            paths.add(os.path.normpath(os.path.join(str(folder), out["path"])))
    return paths


def pipeline_state(
    read: Reader,
    hash_outputs: bool = True,
    tracked: Callable[[str], bool] | None = None,
    root: str = ".",
    data_folders: bool = False,
    md5: Callable[[str], str | None] | None = None,
) -> list[StageState]:
    """Every stage of dvc.yaml, in order, with the reasons it is stale (none when it is up to date).

    `hash_outputs`: also hash DVC-managed data deps and outputs (the working tree); without it only params
    and the files for which `tracked(path)` holds (git-tracked code and schemas) are compared, plus the
    consistency of dvc.lock itself (each stage's recorded input is what the stage before it recorded), and,
    with `data_folders`, the data folders no stage writes as `read` holds their pointers (`source_folder_md5`).
    `md5`: how to hash a path of the working tree when `read` reads it (`hooks.md5_cache`: by the files' stat).
    """
    md5 = md5 or functools.partial(_md5, read, root=root)
    dvc_yaml = load(read, DVC_YAML) or {}
    lock = lock_stages(read)
    params = load(read, PARAMS_FILE) or {}
    outs = stage_outs(dvc_yaml, params)
    locked_out_md5 = {out["path"]: out.get("md5") for locked in lock.values() for out in locked.get("outs") or []}
    states = []
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        if any(key in stage for key in GENERATED_OR_MOVED):
            continue  # its stages (`name@item`) and paths are DVC's to work out: `dvc status` judges them
        state = StageState(name)
        states.append(state)
        locked = lock.get(name)
        if not locked:
            state.reasons.append("never run (no entry in dvc.lock)")
            continue
        _compare_params(
            state,
            _param_keys(stage.get("params")),
            params,
            (locked.get("params") or {}).get(PARAMS_FILE) or {},
        )
        recorded = {dep["path"]: dep.get("md5") for dep in locked.get("deps") or []}
        for path in _paths(stage.get("deps"), params):
            kind = "data" if path in outs or path.startswith("data/") else "code" if path.endswith(".py") else "file"
            if path not in recorded:
                state.reasons.append(f"new dependency: {path}")
                continue
            if hash_outputs:
                actual = md5(path)
            elif path in outs:
                actual = locked_out_md5.get(path, recorded[path])
            elif tracked is not None and tracked(path):
                data = read(path)
                actual = None if data is None else file_md5(data)
            elif data_folders and os.path.isdir(os.path.join(root, path)):
                actual = source_folder_md5(read, path, root)
            elif data_folders and read(f"{path}.dvc") is not None:  # a data file DVC tracks, by its pointer
                actual = next((out.get("md5") for out in pointer_outs(read(f"{path}.dvc"))), None)
            else:
                continue
            if actual is None:
                state.reasons.append(f"{kind} missing: {path}")
            elif actual != recorded[path]:
                state.reasons.append(f"{kind} changed: {path}")
        if hash_outputs:
            for out in locked.get("outs") or []:
                actual = md5(out["path"])
                if actual is None:
                    state.reasons.append(f"output missing: {out['path']}")
                elif actual != out.get("md5"):
                    state.reasons.append(f"output modified: {out['path']}")
    return states


def params_not_as_locked(read: Reader) -> list[StageState]:
    """The stages whose params in params.yaml differ from those dvc.lock records for them (strictly by type), each
    with the params named: `pipeline_state` for params alone, reading no data, code nor output. A stage dvc.lock
    has no entry for, or only DVC can judge (`GENERATED_OR_MOVED`), is left out."""
    dvc_yaml = load(read, DVC_YAML) or {}
    lock = lock_stages(read)
    params = load(read, PARAMS_FILE) or {}
    states = []
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        locked = lock.get(name)
        if not locked or any(key in stage for key in GENERATED_OR_MOVED):
            continue
        state = StageState(name)
        recorded = (locked.get("params") or {}).get(PARAMS_FILE) or {}
        _compare_params(state, _param_keys(stage.get("params")), params, recorded)
        if state.stale:
            states.append(state)
    return states


def _md5(read: Reader, path: str, root: str) -> str | None:
    full = os.path.join(root, path)
    if os.path.isdir(full):
        return dir_md5(full)
    data = read(path)
    return None if data is None else file_md5(data)


def _compare_params(state: StageState, keys: list[str], params: Any, recorded: dict) -> None:
    for key in keys:
        was = recorded.get(key, _MISSING)
        if not strictly_equal(lookup(params, key), was):
            state.changed_params.append(key)
            _explain(state, key, lookup(params, key), was)


def _explain(state: StageState, key: str, now: Any, was: Any) -> None:
    """Name each changed leaf of a params section, so `train` reads as `train.model ('logreg' -> 'hgb')`."""
    if isinstance(now, dict) and isinstance(was, dict):
        for sub in sorted(now.keys() | was.keys()):
            a, b = now.get(sub, _MISSING), was.get(sub, _MISSING)
            if not strictly_equal(a, b):
                _explain(state, f"{key}.{sub}", a, b)
    elif now is not _MISSING and was is not _MISSING and now == was:
        state.type_only_params.append(key)
        state.reasons.append(f"param {key} changed type only ({was!r} -> {now!r})")
    else:
        shown_was = "unset" if was is _MISSING else _short(repr(was))
        shown_now = "unset" if now is _MISSING else _short(repr(now))
        state.reasons.append(f"param {key} changed ({shown_was} -> {shown_now})")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def recorded_sample_frac(read: Reader) -> Any:
    """The `data.sample_frac` dvc.lock records (a subset run's lock must never be committed)."""
    for locked in lock_stages(read).values():
        value = ((locked.get("params") or {}).get(PARAMS_FILE) or {}).get("data.sample_frac", _MISSING)
        if value is not _MISSING:
            return value
    return None
