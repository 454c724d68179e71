import pytest
import yaml

from pipeline.errors import UserError
from pipeline.params import load_params, params_from_text, parse_params, read_params_yaml, with_overrides
from tests.conftest import ROOT


@pytest.fixture
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_project_params_are_valid(raw):
    params = parse_params(raw)
    assert params.data.sample_frac == 1.0
    assert params.train.model.value in ("logreg", "hgb")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("data.sample_frac", 1, "data.sample_frac = 1 (int)"),
        ("data.sample_frac", 1.5, "data.sample_frac = 1.5"),
        ("data.sample_frac", 0.0, "data.sample_frac = 0.0"),
        ("decision.cost_bad_approved", -1.0, "decision.cost_bad_approved = -1.0"),
        ("train.model", "forest", "must be one of: logreg, hgb"),
        ("train.hgb.max_iter", 10.0, "train.hgb.max_iter = 10.0 (float)"),
        ("train.hgb.learning_rate", True, "train.hgb.learning_rate = True (bool)"),
        ("seed", "42", "seed = '42' (str)"),
        ("split.test_size", 1, "split.test_size = 1 (int)"),
    ],
)
def test_wrong_type_or_range_names_key_and_value(raw, key, value, expected):
    with pytest.raises(UserError) as error:
        parse_params(with_overrides(raw, {key: value}))
    assert expected in str(error.value)


def test_unknown_key_is_refused(raw):
    with pytest.raises(UserError, match=r"train.logreg.penalty: unknown key"):
        parse_params(with_overrides(raw, {"train.logreg.penalty": "l1"}))


def test_missing_key_is_refused(raw):
    del raw["evaluate"]
    with pytest.raises(UserError, match="evaluate: missing"):
        parse_params(raw)


def test_yaml_syntax_error_names_line(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("seed: 42\ndata: [unclosed\n")
    with pytest.raises(UserError, match=r"params.yaml is not valid YAML at line"):
        read_params_yaml(bad)


@pytest.mark.parametrize("text", ["", "\n", "# all params removed\n"])
def test_an_empty_file_says_so_and_how_to_get_it_back(tmp_path, text):
    """An empty params.yaml was "expected a mapping of sections, got NoneType", with no hint."""
    empty = tmp_path / "params.yaml"
    empty.write_text(text)
    with pytest.raises(UserError, match=f"^{empty} is empty") as refused:
        load_params(empty)
    assert refused.value.hint == (
        f"`git checkout HEAD -- {empty}` brings back the committed file (else write its top-level keys: seed, data, "
        "split, decision, train, evaluate)"
    )


def test_a_revisions_empty_params_name_the_keys_it_needs():
    with pytest.raises(UserError, match="^params.yaml at v1 is empty") as refused:
        params_from_text("", "params.yaml at v1")
    assert refused.value.hint == "it needs the top-level keys seed, data, split, decision, train, evaluate"


def test_a_list_is_no_params(tmp_path):
    listed = tmp_path / "params.yaml"
    listed.write_text("- seed\n")
    with pytest.raises(UserError, match="expected a mapping of sections, got list") as refused:
        load_params(listed)
    assert "git checkout HEAD --" in refused.value.hint


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "params.yaml")


def test_digest_changes_with_any_param(raw):
    base = parse_params(raw).digest()
    assert parse_params(with_overrides(raw, {"train.logreg.C": 0.5})).digest() != base
    assert parse_params(raw).digest() == base


# One change of each param the train stage declares in dvc.yaml.
TRAIN_PARAM_CHANGES = {
    "seed": ("seed", 7),
    "data.source": ("data.source", "data/external/loans.csv"),
    "data.schema": ("data.schema", "data/schemas/loans.json"),
    "data.target": ("data.target", "status"),
    "data.positive_label": ("data.positive_label", "default"),
    "data.sample_frac": ("data.sample_frac", 0.5),
    "decision": ("decision.cost_good_rejected", 2.0),
    "train": ("train.logreg.C", 0.5),
}


def test_digest_covers_exactly_the_params_dvc_reruns_train_for(raw):
    """The model file records the digest: a param train does not declare (evaluate.*) must not change it, or a
    commit that changed only such a param records a model that a forced `dvc repro` of train does not give back
    byte for byte."""
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["params"]
    assert set(declared) == set(TRAIN_PARAM_CHANGES)
    base = parse_params(raw).digest()
    for name, (key, value) in TRAIN_PARAM_CHANGES.items():
        assert parse_params(with_overrides(raw, {key: value})).digest() != base, name
    for key, value in [("evaluate.importance_repeats", 3), ("evaluate.importance_rows", 500), ("split.test_size", 0.3)]:
        assert parse_params(with_overrides(raw, {key: value})).digest() == base, key


@pytest.mark.parametrize("schema", ["../outside.json", "/tmp/schema.json", "reports/../../schema.json"])
def test_a_schema_outside_the_project_is_refused(raw, schema):
    with pytest.raises(UserError) as error:
        parse_params(with_overrides(raw, {"data.schema": schema}))
    assert f"data.schema = {schema!r} (str): must be a path inside the project" in str(error.value)


def test_a_schema_inside_the_project_is_taken(raw):
    assert parse_params(with_overrides(raw, {"data.schema": "data/schemas/loans.json"})).data.schema_path


def test_decision_costs_both_zero_are_refused(raw):
    with pytest.raises(UserError, match="decision = .*both costs are 0.0"):
        parse_params(with_overrides(raw, {"decision.cost_bad_approved": 0.0, "decision.cost_good_rejected": 0.0}))
    assert parse_params(with_overrides(raw, {"decision.cost_bad_approved": 0.0})).decision.cost_bad_approved == 0.0


def test_monitor_thresholds_of_a_params_yaml_from_before_monitor_yaml_are_still_read(tmp_path):
    """A missing monitor.yaml is refused (tests/reliability/test_bad_params.py), unless params.yaml still has the
    `monitor:` section it moved from."""
    from pipeline.params import load_monitor

    raw = read_params_yaml(ROOT / "params.yaml")
    raw["monitor"] = {"psi_threshold": 0.1, "min_window": 500, "unseen_category_share": 0.02, "auc_drop": 0.04}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    assert load_monitor(tmp_path / "monitor.yaml").psi_threshold == 0.1
    del raw["monitor"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match="monitor.yaml not found"):
        load_monitor(tmp_path / "monitor.yaml")
