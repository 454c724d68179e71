"""`dvc exp run -S` (through pipeline.versioning.param_edits) rewrites only the params it sets."""

from pathlib import Path

import pytest

from pipeline.experiments.subset import _with_fraction
from pipeline.versioning.param_edits import only_set_params_rewritten

SHIPPED = (Path(__file__).parents[2] / "params.yaml").read_text(encoding="utf-8")


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    assert len(before.splitlines()) == len(after.splitlines())
    return [(old, new) for old, new in zip(before.splitlines(), after.splitlines(), strict=True) if old != new]


@pytest.mark.parametrize(
    ("setting", "line"),
    [("train.logreg.C=0.1", "    C: 0.1"), ("seed=7", "seed: 7"), ("data.drop=[rownames,term]", "  drop:")],
)
def test_dvc_rewrites_only_the_line_of_the_param_it_sets(setting, line, tmp_path):
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    params.write_text(SHIPPED, encoding="utf-8")
    with only_set_params_rewritten():
        apply_overrides(params, [setting])
    after = params.read_text(encoding="utf-8")
    if setting.startswith("data.drop"):  # a new list value is DVC's to write
        assert "drop: [rownames]" not in after and "- term" in after
        return
    [(_, new)] = changed_lines(SHIPPED, after)
    assert new.startswith(line)
    assert "  drop: [rownames]           # columns" in after


def test_a_subset_run_rewrites_only_the_fraction():
    [(old, new)] = changed_lines(SHIPPED, _with_fraction(SHIPPED, 0.1))
    assert old.startswith("  sample_frac: 1.0") and new.startswith("  sample_frac: 0.1")


@pytest.mark.parametrize(("setting", "value"), [("train.logreg.C=1.0e-05", 1e-05), ("train.logreg.C=1.0e+20", 1e20)])
def test_a_float_in_exponent_form_is_written_as_the_stages_read_a_number(setting, value, tmp_path):
    """`-S train.logreg.C=0.00001` reached params.yaml as `C: 1e-05`, which YAML 1.1 (the stages, the hooks) reads as
    text: the run failed in its train stage with a message about a line of params.yaml the user never wrote."""
    import yaml
    from dvc.utils.hydra import apply_overrides

    from hooks import params_yaml

    params = tmp_path / "params.yaml"
    params.write_text(SHIPPED, encoding="utf-8")
    with only_set_params_rewritten():
        apply_overrides(params, [setting])
    after = params.read_text(encoding="utf-8")
    [(_, new)] = changed_lines(SHIPPED, after)
    assert new.split("#")[0].strip() == f"C: {repr(value).replace('e', '.0e')}"
    assert yaml.safe_load(after)["train"]["logreg"]["C"] == value
    assert params_yaml.loads(after)["train"]["logreg"]["C"] == value


YES_NO_TARGET = SHIPPED.replace("  positive_label: bad ", "  positive_label: 'yes'").replace(
    "  target: Class", "  target: 'on'"
)


@pytest.mark.parametrize("setting", ["data.sample_frac=0.1", "train.logreg.C=0.1"])
def test_an_experiment_keeps_quoted_the_text_yaml_1_1_reads_otherwise(setting, tmp_path):
    """`mlops data add --positive yes` writes `positive_label: 'yes'`; DVC's rewrite for `-S` dropped the quotes, and
    the stages' YAML 1.1 read `yes` as True: every experiment's train stage refused params.yaml."""
    from dvc.utils.hydra import apply_overrides

    from hooks import params_yaml

    params = tmp_path / "params.yaml"
    params.write_text(YES_NO_TARGET, encoding="utf-8")
    with only_set_params_rewritten():
        apply_overrides(params, [setting])
    after = params.read_text(encoding="utf-8")
    assert len(changed_lines(YES_NO_TARGET, after)) == 1
    assert params_yaml.loads(after)["data"] | {"sample_frac": 1.0} == params_yaml.loads(YES_NO_TARGET)["data"]


def test_a_subset_run_keeps_quoted_the_text_yaml_1_1_reads_otherwise():
    from hooks import params_yaml

    after = _with_fraction(YES_NO_TARGET, 0.1)
    [(_, new)] = changed_lines(YES_NO_TARGET, after)
    assert new.startswith("  sample_frac: 0.1")
    assert params_yaml.loads(after)["data"]["positive_label"] == "yes"
