"""YAML that cannot blow up memory or time: aliases (`*name`, and merges `<<: *name`) and documents over 1 MiB
are refused before anything is built, so a "billion laughs" or a gigabyte file is a one-line error, not
gigabytes. The project's own YAML files (params.yaml, dvc.yaml, dvc.lock) are a few KB and never need
aliases. PyYAML only: hooks use this too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import yaml


class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when PyYAML has it: much faster
    """PyYAML's safe loader, with a scalar it cannot build refused as YAML it cannot read (see `_readable`), and a
    key given twice in one mapping refused as DVC refuses it (PyYAML keeps the last: a stage named twice in
    dvc.yaml would pass a hook and then fail every `dvc` command)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_lines: dict[Any, int] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a complex key: the constructor below refuses an unhashable one
            key = self.construct_object(key_node)
            if key in first_lines:
                raise yaml.constructor.ConstructorError(
                    problem=f"{key} is given twice in one mapping (first at line {first_lines[key]}); keep one",
                    problem_mark=key_node.start_mark,
                )
            first_lines[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _readable(construct):
    """`construct` for a scalar YAML's grammar allows but Python refuses (a date 2020-13-45; an int of 5,000 digits,
    over Python's 4,300): a ConstructorError at its line and column, not a ValueError no reader names."""

    def checked(loader: Any, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except ValueError as error:
            value = node.value if len(node.value) <= 40 else f"{node.value[:40]}... ({len(node.value):,} characters)"
            reason = str(error).split(";")[0]  # Python's int limit goes on to advise raising it in the interpreter
            raise yaml.constructor.ConstructorError(
                problem=f"{value} cannot be read ({reason})", problem_mark=node.start_mark
            ) from None

    return checked


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:timestamp"):
    Loader.add_constructor(_tag, _readable(Loader.yaml_constructors[_tag]))


MAX_BYTES = 1 << 20


class Unbounded(yaml.MarkedYAMLError):
    """YAML refused before anything is built; `hint` says what to do."""

    hint = ""

    def __str__(self) -> str:  # one line: PyYAML's puts the file, line and column on a second
        mark = self.problem_mark
        named = mark is not None and not mark.name.startswith("<")  # "<byte string>": a document with no file
        return f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: {self.problem}" if named else self.problem


class AliasRefused(Unbounded):
    """A YAML alias, refused (its mark gives the line and column)."""

    hint = "write the values out in full"


class TooLarge(Unbounded):
    """A document larger than any of the project's YAML files should be."""

    hint = "the project's YAML files hold a few KB of settings: remove what does not belong there"


class BadYaml(yaml.YAMLError):
    """A project YAML file its readers cannot use, said in one line: not YAML at all (the file, line, column and
    what is wrong: see `named`), or not the shape they need (the file, the key and what it must be)."""


class ConflictMarkers(BadYaml):
    """A file git left with merge conflict markers (`<<<<<<<` ... `>>>>>>>`): not a syntax slip but a merge to
    finish; what finishing means depends on the file (`name`), so readers add the fix."""

    def __init__(self, name: str, line: int) -> None:
        super().__init__(f"{name or 'the document'} holds unresolved merge conflict markers (line {line})")
        self.name, self.line = name, line


def conflict_marker_line(data: bytes | str) -> int | None:
    """The line number of the first line that opens a git conflict (`<<<<<<< `), if any."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("<<<<<<<") and line[7:8] in ("", " "):
            return number
    return None


@contextlib.contextmanager
def named(name: str, data: bytes | str | None = None) -> Iterator[None]:
    """A YAML syntax error inside the block becomes BadYaml naming the file `name` (PyYAML calls it "<byte
    string>", over several lines), or ConflictMarkers when `data`, the document, holds a git conflict; a refusal
    (Unbounded) already names it."""
    try:
        yield
    except (Unbounded, BadYaml):
        raise
    except yaml.YAMLError as error:
        line = conflict_marker_line(data) if data is not None else None
        if line is not None:
            raise ConflictMarkers(name, line) from None
        raise not_yaml(error, name, data) from None


def not_yaml(error: yaml.YAMLError, name: str, data: bytes | str | None = None) -> BadYaml:
    """PyYAML's error for the document `name` (its text `data`, when known), in one line."""
    if isinstance(error, yaml.reader.ReaderError):  # a byte no YAML holds: PyYAML says it in lines naming no file
        line = data[: error.position].count("\n" if isinstance(data, str) else b"\n") + 1 if data else None
        where = f"line {line}" if line else f"character {error.position + 1}"
        return BadYaml(
            f"{name or 'the document'} is not valid YAML at {where}: {error.reason} (#x{error.character:02x})"
        )
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return BadYaml(f"{name or 'the document'} is not valid YAML{where}: {getattr(error, 'problem', None) or error}")


def safe_load(data: bytes | str, name: str = "") -> Any:
    """`yaml.safe_load` within bounds; `name` (the file) is what error messages call the document."""
    with named(name, data):
        refuse_unbounded(data, name)
        return yaml.load(data, Loader=Loader)


def refuse_unbounded(data: bytes | str, name: str = "") -> None:
    """TooLarge for a document over MAX_BYTES, AliasRefused at its first alias: found without building anything."""
    if len(data) > MAX_BYTES:
        size = len(data.encode() if isinstance(data, str) else data) / (1 << 20)
        raise TooLarge(problem=f"{name or 'the document'} is {size:.1f} MiB: at most {MAX_BYTES >> 20} MiB is read")
    if ("*" if isinstance(data, str) else b"*") in data:  # no alias without a `*`: the common case costs nothing
        for event in yaml.parse(data, Loader=Loader):  # events only: nothing is expanded here
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise AliasRefused(
                    problem=f"YAML aliases (*{event.anchor[:40]}) are not allowed here; write the value out",
                    problem_mark=yaml.Mark(name or mark.name, mark.index, mark.line, mark.column, None, None),
                )
