"""YAML that cannot blow up memory: aliases (`*name`, and merges `<<: *name`) are refused before anything is
built, so a "billion laughs" document is a one-line error, not gigabytes. The project's own YAML files
(params.yaml, dvc.yaml, dvc.lock) never need aliases. PyYAML only: hooks use this too."""

from __future__ import annotations

from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when PyYAML has it: several times faster


class AliasRefused(yaml.MarkedYAMLError):
    """A YAML alias, refused (its mark gives the line and column)."""


def safe_load(data: bytes | str, name: str = "") -> Any:
    """`yaml.safe_load` without aliases; `name` (the file) is what error messages call the document."""
    refuse_aliases(data, name)
    return yaml.load(data, Loader=_Loader)


def refuse_aliases(data: bytes | str, name: str = "") -> None:
    """AliasRefused at the first alias in `data`, found without building anything."""
    if ("*" if isinstance(data, str) else b"*") in data:  # no alias without a `*`: the common case costs nothing
        for event in yaml.parse(data, Loader=_Loader):  # events only: nothing is expanded here
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise AliasRefused(
                    problem=f"YAML aliases (*{event.anchor[:40]}) are not allowed here; write the value out",
                    problem_mark=yaml.Mark(name or mark.name, mark.index, mark.line, mark.column, None, None),
                )
