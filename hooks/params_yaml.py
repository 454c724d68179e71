"""params.yaml, read one way everywhere.

The stages and hooks read YAML with PyYAML (YAML 1.1), DVC with ruamel.yaml (YAML 1.2): `seed: 010` is 8 to
one and 10 to the other, `yes` is True to one and a string to the other. `loads` reads with PyYAML but
refuses every plain (unquoted) scalar, key or value, whose PyYAML reading differs from its reading under the
YAML 1.2 core schema, naming the key: octal-looking and leading-zero ints, yes/no/on/off, sexagesimal
numbers (1:20), underscores (1_000), 0b/0o forms, exponents without a dot or a sign (1e3), timestamps.
What it accepts, DVC reads the same (tests/unit/test_params_yaml.py checks each form against DVC's loader).
PyYAML only: hooks run on every commit.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from hooks.bounded_yaml import BadYaml, Loader, named, refuse_unbounded

# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1023-core-schema): a plain scalar that matches none
# of these is a string.
_CORE_1_2: list[tuple[re.Pattern, Any]] = [
    (re.compile(r"(?:null|Null|NULL|~|)"), lambda text: None),
    (re.compile(r"(?:true|True|TRUE)"), lambda text: True),
    (re.compile(r"(?:false|False|FALSE)"), lambda text: False),
    (re.compile(r"[-+]?[0-9]+"), int),
    (re.compile(r"0o[0-7]+"), lambda text: int(text[2:], 8)),
    (re.compile(r"0x[0-9a-fA-F]+"), lambda text: int(text[2:], 16)),
    (re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"), float),
    (re.compile(r"[-+]?\.(?:inf|Inf|INF)"), lambda text: -math.inf if text.startswith("-") else math.inf),
    (re.compile(r"\.(?:nan|NaN|NAN)"), lambda text: math.nan),
]


class AmbiguousScalar(ValueError):
    """A plain scalar that YAML 1.1 (PyYAML: the stages, the hooks) and YAML 1.2 (DVC) read differently."""

    def __init__(self, source: str, key: str, text: str, line: int, as_1_1: Any, as_1_2: Any) -> None:
        self.key, self.text = key, text
        super().__init__(
            f"{source}, line {line}: {key} = {text} is {as_1_1!r} to the stages (YAML 1.1) but {as_1_2!r} "
            f"in YAML 1.2, DVC's dialect; write {_suggestion(text, as_1_1, as_1_2)}"
        )


def _suggestion(text: str, as_1_1: Any, as_1_2: Any) -> str:
    if isinstance(as_1_1, bool) or isinstance(as_1_2, bool):
        return f"true or false for a boolean, or '{text}' (quoted) for text"
    numbers = [v for v in (as_1_2, as_1_1) if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers:  # a float where one reading is (`!!float 1`: 1 is refused where a float is needed)
        number = next((v for v in numbers if isinstance(v, float)), numbers[0])
        return f"{read_alike(number)} for the number, or '{text}' (quoted) for text"
    return f"'{text}' (quoted) for text"


def read_alike(number: int | float) -> str:
    """`number` written so that YAML 1.1 and 1.2 read it alike: a float with a dot, and a sign in its exponent
    (1.0e-300; `1e-300` is text to YAML 1.1), infinity as `.inf`."""
    if isinstance(number, int):
        return str(number)
    if math.isnan(number):
        return ".nan"
    if math.isinf(number):
        return ".inf" if number > 0 else "-.inf"
    mantissa, _, exponent = repr(number).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def core_1_2(text: str) -> Any:
    """A plain scalar's value under the YAML 1.2 core schema."""
    for pattern, construct in _CORE_1_2:
        if pattern.fullmatch(text):
            return construct(text)
    return text


CORE_1_2_TAG = "tag:mlops,core-1.2"


TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_TIMESTAMP = next(pattern for tag, pattern in Loader.yaml_implicit_resolvers["0"] if tag == TIMESTAMP_TAG)


class DvcLoader(Loader):
    """The bounded loader reading every plain scalar as DVC (ruamel.yaml) reads it, under the YAML 1.2 core schema
    (plus timestamps, which ruamel.yaml reads in YAML 1.2 too): for the files DVC writes and reads (dvc.lock, `.dvc`
    pointers, dvc.yaml), where it leaves `no` (text to it, a boolean to PyYAML) or `1e-05` (a number to it, text
    to PyYAML) unquoted."""

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return TIMESTAMP_TAG if _TIMESTAMP.match(value) else CORE_1_2_TAG
        return super().resolve(kind, value, implicit)


DvcLoader.add_constructor(CORE_1_2_TAG, lambda loader, node: core_1_2(node.value))


def load_as_dvc(data: str | bytes, source: str = "") -> Any:
    """The document in `data` as DVC reads it (see DvcLoader), within hooks.bounded_yaml's bounds."""
    with named(source, data):
        refuse_unbounded(data, source)
        return yaml.load(data, Loader=DvcLoader)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


MAX_DEPTH = 32  # levels of mappings and lists: params are a few deep, and a reader of thousands recursed out


def _check(loader: Any, node: yaml.Node, key: str, source: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise BadYaml(
            f"{source}, line {node.start_mark.line + 1}: {key} is nested more than {MAX_DEPTH} levels deep; "
            "params are a few levels of sections and values"
        )
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            _check(loader, key_node, key or "(top level)", source, depth + 1)
            child = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if child in seen:  # PyYAML keeps the last silently; DVC refuses the file
                dotted = f"{key}.{child}" if key else child
                raise BadYaml(f"{source}, line {key_node.start_mark.line + 1}: {dotted} is given twice; keep one")
            seen.add(child)
            _check(loader, value_node, f"{key}.{child}" if key else child, source, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check(loader, item, f"{key}[{index}]", source, depth + 1)
    elif isinstance(node, yaml.ScalarNode) and not node.style:  # plain: libyaml says "", PyYAML None
        as_1_1 = loader.construct_object(node)
        as_1_2 = core_1_2(node.value)
        if not _same(as_1_1, as_1_2):
            raise AmbiguousScalar(source, key, node.value, node.start_mark.line + 1, as_1_1, as_1_2)


def loads(text: str | bytes, source: str = "params.yaml") -> Any:
    """The document in `text`, or AmbiguousScalar naming the first key YAML 1.1 and 1.2 read differently.
    (BadYaml naming `source` for text that is not YAML at all; Unbounded for aliases: see hooks.bounded_yaml.)"""
    with named(source, text):
        refuse_unbounded(text, source)  # the node walk below would visit an alias bomb's every expansion
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check(loader, node, "", source)
            return loader.construct_document(node)
        finally:
            loader.dispose()
