"""The model file: saved with skops in canonical bytes, loaded trusting only the types the project saves.

A skops file is a zip whose member names and `__id__` fields come from Python object ids, stamped with the
current time: two saves of the same model differ, so `dvc.lock` would change on every run. `canonical_bytes`
renumbers those ids in order of appearance and writes the zip with fixed member order and timestamps.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from pipeline.errors import UserError

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SCHEMA_MEMBER = "schema.json"
# Types a model file of this project may hold beyond skops' defaults. Anything else is refused on load.
# (functools.partial is safe to trust: skops checks the function it wraps as a type of its own.)
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")
TRUSTED_NAMES = frozenset({"functools.partial"})


def skops_io() -> Any:
    """`skops.io`, imported without the list of every scikit-learn estimator it builds for its default trust.

    Building it calls scikit-learn's `all_estimators()`, which imports every scikit-learn module (about 0.2 s
    of each process that saves or loads a model). This module never uses that default: each load passes the
    types it trusts (those of TRUSTED_PREFIXES and TRUSTED_NAMES, checked first)."""
    if "skops.io" not in sys.modules:
        import sklearn.utils

        listing = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = lambda *args, **kwargs: []
        try:
            import skops.io  # noqa: F401
        finally:
            sklearn.utils.all_estimators = listing
    return sys.modules["skops.io"]


def _renumber(node: Any, ids: dict[int, int]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids))
            elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                out[key] = f"{ids.setdefault(int(value.removesuffix('.npy')), len(ids))}.npy"
            else:
                out[key] = _renumber(value, ids)
        return out
    if isinstance(node, list):
        return [_renumber(item, ids) for item in node]
    return node


def canonical_bytes(raw: bytes) -> bytes:
    """The same skops file with object ids renumbered and a fixed member order and timestamp."""
    ids: dict[int, int] = {}
    with zipfile.ZipFile(io.BytesIO(raw)) as source:
        schema = _renumber(json.loads(source.read(SCHEMA_MEMBER)), ids)
        members = {
            f"{ids[int(name.removesuffix('.npy'))]}.npy": source.read(name)
            for name in source.namelist()
            if name != SCHEMA_MEMBER
        }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name, data in [(SCHEMA_MEMBER, json.dumps(schema, indent=2).encode())] + sorted(members.items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    return out.getvalue()


def dump_model(pipeline: Any, metadata: dict[str, Any]) -> bytes:
    return canonical_bytes(skops_io().dumps({"pipeline": pipeline, "metadata": metadata}))


def save_model(pipeline: Any, metadata: dict[str, Any], path: Path | str) -> str:
    """Write the model atomically (a killed run never leaves half a file); return its md5."""
    data = dump_model(pipeline, metadata)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
    return hashlib.md5(data).hexdigest()


def untrusted_types(data: bytes) -> list[str]:
    return [
        name
        for name in skops_io().get_untrusted_types(data=data)
        if not name.startswith(TRUSTED_PREFIXES) and name not in TRUSTED_NAMES
    ]


def load_model_bytes(
    data: bytes, source: str, expected_md5: str | None = None, *, of_a_revision: bool = False
) -> tuple[Any, dict[str, Any]]:
    """(pipeline, metadata) from a model file's bytes, after checking its md5 and the types it holds;
    `of_a_revision`: the bytes are a revision's, from DVC's cache, not the workspace's file `source`."""
    if expected_md5 is not None:
        actual = hashlib.md5(data).hexdigest()
        if actual != expected_md5:
            hint = (
                "DVC's cached copy is damaged: `mlops data status --verify` names it and how to replace it"
                if of_a_revision
                else f"put it back with `dvc checkout --force {source}`, or retrain it with `mlops repro`"
            )
            raise UserError(
                f"{source}: md5 {actual} does not match {expected_md5} recorded in dvc.lock (corrupted or edited)",
                hint=hint,
            )
    refused = untrusted_types(data)
    if refused:
        raise UserError(f"{source} holds types this project never saves: {refused}", hint="do not load this file")
    try:
        skops = skops_io()
        content = skops.loads(data, trusted=skops.get_untrusted_types(data=data))
    except Exception as error:
        raise UserError(f"{source} is not a readable model file: {error}", hint="retrain with `mlops repro`") from None
    return content["pipeline"], content["metadata"]


def load_model(path: Path | str, expected_md5: str | None = None) -> tuple[Any, dict[str, Any]]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path} not found", hint="train it with `mlops repro`, or fetch it with `dvc pull`") from None
    return load_model_bytes(data, str(path), expected_md5)
