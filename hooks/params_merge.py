"""A three-way merge of params.yaml key by key, for what git's line merge calls a conflict.

Two branches that tuned different params on neighbouring lines (`C` on one, `max_iter` on the next) conflict
as text. Read as data, each key either changed on one side only (that side's value is taken) or on both: only
a key both sides set to different values is a real conflict. The merged text is our side's document with their
changes applied through ruamel.yaml, so our comments and layout stay, and it is read back to check that it
holds exactly the merged values (anything else, and the merge is left to git's conflict markers).
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from typing import Any

from hooks.params_yaml import loads
from hooks.pipeline_state import strictly_equal

MISSING = object()  # a key one version lacks
Path = tuple[Any, ...]


@dataclass
class Merge:
    text: str | None = None  # the merged document, when no key conflicts
    taken: list[str] = field(default_factory=list)  # dotted keys whose value came from their side
    conflicts: list[str] = field(default_factory=list)  # dotted keys both sides changed differently


def _same(a: Any, b: Any) -> bool:
    return a is b if MISSING in (a, b) else strictly_equal(a, b)


def changes(base: Any, ours: Any, theirs: Any, path: Path = ()) -> tuple[list[Path], list[Path]]:
    """The keys whose value comes from their side, and the keys both sides changed to different values."""
    if _same(ours, theirs) or _same(theirs, base):
        return [], []
    if not all(isinstance(version, dict) for version in (base, ours, theirs)):
        return ([path], []) if _same(ours, base) else ([], [path])
    taken: list[Path] = []  # key by key, even where ours is unchanged: our comments and layout stay
    conflicting: list[Path] = []
    for key in dict.fromkeys([*ours, *theirs, *base]):
        take, conflict = changes(base.get(key, MISSING), ours.get(key, MISSING), theirs.get(key, MISSING), (*path, key))
        taken += take
        conflicting += conflict
    return taken, conflicting


def dotted(path: Path) -> str:
    return ".".join(str(key) for key in path)


def merge(base: bytes, ours: bytes, theirs: bytes, source: str = "params.yaml") -> Merge:
    """Our text with their changed keys applied, or the keys that conflict (`text` None either way when the
    versions cannot be read as params or the result would not read back as the merged values)."""
    try:
        texts = [version.decode("utf-8") for version in (base, ours, theirs)]
        versions = [loads(text, source) for text in texts]
    except Exception:  # not params at all (a syntax error, an ambiguous scalar): git's markers show it as text
        return Merge()
    if not all(isinstance(version, dict) for version in versions):  # a file both sides added, or not a mapping
        return Merge()
    taken, conflicting = changes(*versions)
    if conflicting:
        return Merge(conflicts=[dotted(path) for path in conflicting])
    expected = _applied(versions[1], versions[2], taken)
    try:
        text = _written(texts[1], texts[2], taken)
        merged = loads(text, source)
    except Exception:
        return Merge()
    if not strictly_equal(merged, expected):
        return Merge()
    return Merge(text=text, taken=[dotted(path) for path in taken])


def _applied(ours: Any, theirs: Any, taken: list[Path]) -> Any:
    """The merged values: ours, with their value (or their deletion) at each taken key."""
    result = copy.deepcopy(ours)
    for path in taken:
        _take(result, theirs, path)
    return result


def _written(ours: str, theirs: str, taken: list[Path]) -> str:
    """Our document, comments and layout kept, with their node (or their deletion) at each taken key."""
    from ruamel.yaml import YAML

    document_yaml = YAML()
    document_yaml.width = 4096  # never fold a long value onto a second line
    our_document, their_document = document_yaml.load(ours), document_yaml.load(theirs)
    for path in taken:
        _take(our_document, their_document, path)
    out = io.StringIO()
    document_yaml.dump(our_document, out)
    return out.getvalue()


def _take(ours: Any, theirs: Any, path: Path) -> None:
    """Set ours at `path` as theirs is: their value, their deletion, or their new key after the key it follows
    on their side."""
    *parents, key = path
    for parent in parents:
        ours, theirs = ours[parent], theirs[parent]
    if key not in theirs:
        del ours[key]
    elif key in ours or not hasattr(ours, "insert"):
        ours[key] = theirs[key]
    else:
        their_keys = list(theirs)
        before = [k for k in their_keys[: their_keys.index(key)] if k in ours]
        position = list(ours).index(before[-1]) + 1 if before else 0
        ours.insert(position, key, theirs[key])
