"""How `dvc exp run -S` edits params.yaml: only the params it sets change, every other line stays as written."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def only_set_params_rewritten() -> Iterator[None]:
    """While inside, `dvc exp run -S` rewrites only the params it sets. DVC applies the overrides to a plain copy
    of params.yaml and merges every value of that copy back into the file (`dvc.utils.hydra.apply_overrides`):
    each list becomes a new plain one, dumped in block style, so `drop: [rownames]` came back as `drop:` and
    `- rownames` in every experiment and every promotion. A value equal to the file's now keeps the file's own."""
    from dvc.utils import hydra

    merge = hydra.merge_dicts
    hydra.merge_dicts = merge_keeping_text
    try:
        yield
    finally:
        hydra.merge_dicts = merge


def merge_keeping_text(original: dict, new: dict) -> None:
    """`merge_changed`, then every text value quoted where YAML 1.1 would read it otherwise (`keep_text_quoted`)."""
    merge_changed(original, new)
    keep_text_quoted(original)


def merge_changed(original: dict, new: dict) -> None:
    """`new`'s values into `original`, leaving alone each value that is already there, type included."""
    for key, value in new.items():
        old = original.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            merge_changed(old, value)
        elif key not in original or not _same(old, value):
            original[key] = _read_alike_by_yaml_1_1(value)


def keep_text_quoted(document: Any) -> None:
    """Quote again, in place, each text value of a round-trip document that YAML 1.1 reads otherwise when written
    plain: ruamel.yaml drops the quotes it read, and its YAML 1.2 writer leaves `'yes'` plain, so a
    `positive_label: 'yes'` (as `mlops data add --positive yes` writes it) became True to the stages in every
    experiment, whose train stage then refused params.yaml."""
    if isinstance(document, dict):
        for key, value in document.items():
            document[key] = written_as_text(value) if isinstance(value, str) else value
            keep_text_quoted(value)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            document[index] = written_as_text(value) if isinstance(value, str) else value
            keep_text_quoted(value)


def written_as_text(text: str) -> str:
    """`text` as ruamel.yaml should write it: single-quoted when YAML 1.1 (PyYAML: the stages and the hooks) would
    read it, plain, as something else (`yes`, `010`, an empty string), so every reader of params.yaml agrees."""
    import yaml
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    try:
        plain_reading = yaml.safe_load(text)
    except yaml.YAMLError:
        plain_reading = None
    return text if plain_reading == text else SingleQuotedScalarString(text)


def _read_alike_by_yaml_1_1(value: Any) -> Any:
    """`value`, but a float DVC's YAML 1.2 writer would write with no dot before its exponent (`1e-05`, as `-S
    train.logreg.C=0.00001` gives) written `1.0e-05` instead: YAML 1.1, the stages' reader, reads `1e-05` as text,
    so the run failed in its train stage."""
    if type(value) is not float or "e" not in repr(value) or "." in repr(value):
        return value
    from ruamel.yaml import YAML

    return YAML(typ="rt").load(repr(value).replace("e", ".0e", 1))  # a float that keeps its written form


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types (1 is not 1.0, True is not 1), whatever classes the YAML reader used."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
