"""Experiments as data: `key=value` settings read as the params schema means them (checked against params.yaml),
sweep grids, run names, and the comparison table (only the params that differ, key metrics, deltas against the
baseline, the best per metric). Reading refs and running DVC is `pipeline.versioning.dvc_seam`, running
experiments `pipeline.experiments.runs`, printing `pipeline.cli.exp`."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import re
import secrets
import shlex
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hooks.bounded_yaml import Loader, refuse_unbounded
from hooks.params_yaml import core_1_2
from pipeline import metrics as metric_rules
from pipeline.errors import UserError
from pipeline.params import MONITOR_FILE, ModelKind, Params, parse_params, read_params_yaml, with_overrides

SUBSET_KEY = "data.sample_frac"
MAX_GRID = 1_000  # runs in one sweep: a thousand full runs are hours already; a typo must not plan a million
MAX_MATRIX_JOBS = 256  # GitHub Actions' limit on the jobs one matrix generates


@dataclass
class Run:
    """One row of a comparison: the workspace baseline or an experiment."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    baseline: str = ""
    is_workspace: bool = False
    source: dict[str, str] = field(default_factory=dict)

    @property
    def subset(self) -> float | None:
        fraction = self.params.get(SUBSET_KEY, 1.0)
        return fraction if isinstance(fraction, int | float) and fraction < 1.0 else None


def parse_settings(items: list[str]) -> dict[str, str]:
    """`-S key=value` items -> {key: value text}; a key given twice is refused (which one was meant?)."""
    settings: dict[str, str] = {}
    for item in items:
        key, value = parse_setting(item)
        if key in settings:
            raise UserError(
                f"-S {key} is given twice ({key}={settings[key]} and {key}={value})", hint="give each key once"
            )
        settings[key] = value
    return settings


def parse_setting(text: str) -> tuple[str, str]:
    """`key=value` (one `-S`) -> (key, value text): a sweep's axis with one value."""
    key, values = parse_axis(text, flag="-S ")
    if len(values) > 1:
        raise UserError(
            f"-S {text}: gives {len(values)} values, -S takes one", hint=f"sweep them: mlops exp sweep {text}"
        )
    return key, values[0]


def parse_axis(text: str, flag: str = "") -> tuple[str, list[str]]:
    """`key=v1,v2,v3` -> (key, [v1, v2, v3]) as in Hydra's sweeps (which DVC's `exp run -S` follows): a list
    value keeps its commas (`data.drop=[rownames],[rownames,term]` is two values), and so does a quoted one
    (`data.target="a,b"` is one). Each value is checked: none empty, no Hydra function (range(1,5)), quotes
    around a whole value only."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        example = "-S train.logreg.C=0.1" if flag else "train.logreg.C=0.01,0.1 (one value or more)"
        raise UserError(f"`{flag}{text}` is not key=value", hint=f"e.g. {example}")
    choices = [value.strip() for value in _split_values(values, f"{flag}{text}")]
    for value in choices:
        _check_value(value, f"{flag}{text}")
    if len(set(choices)) != len(choices):
        raise UserError(f"`{text}` lists a value twice", hint="list each value once")
    return key.strip(), choices


def _split_values(text: str, setting: str) -> list[str]:
    """`text` split at each comma that is not inside [...], {...}, (...) or quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for index, character in enumerate(text):
        if quote:
            quote = "" if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character in "[{(":
            depth += 1
        elif character in "]})":
            depth = max(depth - 1, 0)
        elif character == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if quote:
        raise UserError(f"{setting}: a {quote} quote is not closed", hint=f"close it: {quote}text{quote}")
    return [*parts, text[start:]]


_FUNCTION = re.compile(r"([A-Za-z_]\w*)\(")


def _check_value(value: str, setting: str) -> None:
    if not value:
        raise UserError(f"{setting}: a value is empty", hint="drop the extra comma; list values as key=v1,v2")
    function = _FUNCTION.match(value)
    if function:
        raise UserError(f"{setting}: {function[1]}() sweeps are not supported", hint="list the values, e.g. seed=1,2,3")
    if value[0] not in "[{" and any(quote in value for quote in "'\"") and unquoted(value) is None:
        raise UserError(f"{setting}: quote a whole value or none of it", hint="e.g. data.target='my target'")


def unquoted(value: str) -> str | None:
    """The text inside a value quoted as a whole (`'bad'` -> `bad`), as Hydra reads it: None when it is not."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" and value[0] not in value[1:-1]:
        return value[1:-1] if "\\" not in value else None
    return None


def schema_value(key: str, text: str, flag: str = "-S ") -> Any:
    """A `-S key=value` value as the schema means it: the text itself for a string (or a model kind), else
    YAML's reading of it with an int widened to a float where a float is meant (`data.sample_frac=1` is 1.0).
    Errors name the setting as the user gave it: `flag` is `-S ` for an override, empty for a sweep axis."""
    if key.split(".")[0] == "monitor":  # in the schema only for revisions from before monitor.yaml
        raise UserError(
            f"{flag}{key}={text}: the monitor thresholds are no experiment's params (no pipeline stage reads them)",
            hint=f"set them in {MONITOR_FILE}, read by `mlops monitor drift` and `mlops monitor retrain`",
        )
    kind = schema_type(key)
    if kind is None:
        raise UserError(
            f"{flag}{key}={text}: params.yaml has no param {key}",
            hint="name a param as a dotted key of params.yaml, e.g. train.logreg.C",
        )
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        raise UserError(
            f"{flag}{key}={text}: {key} is a section of params.yaml", hint=f"set one of its params: {key}.NAME"
        )
    is_text = isinstance(kind, type) and issubclass(kind, str)
    quoted = unquoted(text)
    if quoted is not None:  # Hydra reads a quoted value as text, so a number param refuses it
        return checked_text(key, quoted, flag) if is_text else quoted
    if is_text:
        return checked_text(key, text, flag)
    try:
        refuse_unbounded(text)
        value = yaml.load(text, Loader=Loader)  # bounded: an impossible date or 10,000 brackets is a YAMLError too
    except yaml.YAMLError as error:
        raise UserError(f"{flag}{key}={text}: not a YAML value ({getattr(error, 'problem', error)})") from None
    if kind is float and (type(value) is int or isinstance(value, str)):
        with contextlib.suppress(ValueError):  # YAML 1.1 reads 1e-3 as text; a float param means the number
            return float(value)
    return value


def schema_type(key: str) -> Any:
    """The schema's type of a dotted key (`data.sample_frac` -> float), or None when there is no such param."""
    model: Any = Params
    *sections, leaf = key.split(".")
    for part in [*sections, leaf]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        if part not in fields:
            return None
        model = fields[part].annotation
    return model


def checked_text(key: str, text: str, flag: str = "-S ") -> str:
    """`text` for a string param, refused when params.yaml could not hold it as text after DVC writes it: DVC's
    YAML 1.2 writer leaves `yes` or `1:20` unquoted (text in YAML 1.2), and the stages' YAML 1.1 reads that as
    something else."""
    if core_1_2(text) == text and not _yaml_1_1_text(text):
        raise UserError(
            f"{flag}{key}={text}: DVC would write it unquoted, and YAML 1.1 (the stages) reads that as "
            f"{yaml.safe_load(text)!r}, not text",
            hint=f"quote it in params.yaml instead: {key}: '{text}'",
        )
    return text


# Words DVC's `-S` parser (Hydra's override grammar) reads as a boolean, null or a float, in any case.
_HYDRA_WORDS = {"true", "false", "null", "inf", "nan"}
# Unquoted text Hydra keeps as written: names, paths, sources (never a number: those start with a digit or sign).
_HYDRA_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./:-]*")


def _yaml_1_1_text(text: str) -> bool:
    """Whether YAML 1.1 (PyYAML) reads `text`, unquoted, as that text."""
    return yaml.resolver.Resolver().resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"


def reads_as_text(text: str) -> bool:
    """Whether `text`, unquoted, is that text to every reader on its way to a stage: Hydra's grammar (DVC's
    `-S`), YAML 1.2 (DVC's params.yaml) and YAML 1.1 (the stages')."""
    plain = _HYDRA_PLAIN.fullmatch(text) and text.lower() not in _HYDRA_WORDS
    return bool(plain) and core_1_2(text) == text and _yaml_1_1_text(text)


def setting_text(value: Any) -> str:
    """A typed value as `dvc exp run -S` must be given it to write that value, type included, to params.yaml."""
    if isinstance(value, str):
        return value if reads_as_text(value) else _hydra_quoted(value)
    if isinstance(value, float):
        text = repr(value)
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text  # YAML 1.1 needs a dot
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else str(value)  # no space: CI


def _hydra_quoted(text: str) -> str:
    return f"'{text}'" if '"' in text else f'"{text}"'


def params_with(settings: dict[str, str], raw: dict | None = None, flag: str = "-S ") -> Params:
    """params.yaml (or `raw` params) with the settings applied, each read as the schema means it and checked on
    its own, so that a wrong value is reported against its `-S key=value`, never against params.yaml."""
    raw = read_params_yaml() if raw is None else raw
    parse_params(raw)  # a mistake in the file itself names the file
    values = {key: schema_value(key, text, flag) for key, text in settings.items()}
    for key, value in values.items():
        _refuse_unwritten(key, settings[key], raw, flag)
        try:
            Params.model_validate(with_overrides(raw, {key: value}))
        except ValidationError as error:
            problem = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
            current = flatten(raw).get(key)
            raise UserError(
                f"{flag}{key}={settings[key]}: {problem}",
                hint=f"params.yaml has {key}: {current}" if current is not None else "see params.yaml",
            ) from None
    return parse_params(with_overrides(raw, values))


def _refuse_unwritten(key: str, text: str, raw: dict, flag: str) -> None:
    """Refuse a param the schema knows but params.yaml does not write (its default applies): DVC's `-S` sets
    only a key the file has, and refused it in every run with Hydra's advice to use `+key=value`."""
    if key not in flatten(raw):
        *section, leaf = key.split(".")
        raise UserError(
            f"{flag}{key}={text}: params.yaml does not write {key} (the schema's default applies), and DVC sets "
            "only the params the file writes",
            hint=f"add `{leaf}: VALUE` under {'.'.join(section)} in params.yaml, then run again",
        )


def typed_settings(settings: dict[str, str], raw: dict | None = None, flag: str = "-S ") -> dict[str, str]:
    """The settings as DVC must be given them (`data.sample_frac=1` -> `1.0`), each checked by the schema."""
    params_with(settings, raw, flag)
    return {key: setting_text(schema_value(key, text, flag)) for key, text in settings.items()}


def flat_params(params: Params) -> dict[str, Any]:
    """The params a run is compared and deduplicated on: every trained-with param, flat, as params.yaml types
    them (the monitor's thresholds do not change a model)."""
    return flatten(params.model_dump(mode="json", by_alias=True, exclude={"monitor"}))


def full_data_settings(params: dict[str, Any], workspace: dict[str, Any]) -> str:
    """The `-S` settings (shell-quoted) that run a subset run's params on all the data from the workspace: those it
    trained with apart from the workspace's, but its fraction; empty when it sets nothing else."""
    return " ".join(
        "-S " + shlex.quote(f"{key}={setting_text(value)}")
        for key, value in trained_params(params).items()
        if key != SUBSET_KEY and json.dumps(value) != json.dumps(workspace.get(key))
    )


def trained_params(params: dict[str, Any]) -> dict[str, Any]:
    """The flat params that decide the model a run trains: all but the sections of the model kinds `train.model`
    does not name (`train.hgb.*` in a logreg run). Two runs equal in these train the same model."""
    unused = _other_kinds_sections(params.get("train.model"))
    return {key: value for key, value in params.items() if not key.startswith(unused)}


def settings_read_by(model: str, settings: dict[str, str]) -> dict[str, str]:
    """The settings a run of `model` reads: none of another model kind's section (`train.hgb.max_iter` in a logreg
    run), which would only name the run and show in its params without changing its model."""
    unused = _other_kinds_sections(model)
    return {key: value for key, value in settings.items() if not f"{key}.".startswith(unused)}


def _other_kinds_sections(model: Any) -> tuple[str, ...]:
    return tuple(f"train.{kind.value}." for kind in ModelKind if kind.value != model)


def expand_grid(axes: list[str]) -> list[dict[str, str]]:
    """Every combination of the axes' values, as settings (key -> value text), in the order given."""
    parsed = [parse_axis(axis) for axis in axes]
    keys = [key for key, _ in parsed]
    repeated = next((key for key in keys if keys.count(key) > 1), None)
    if repeated:
        raise UserError(f"{repeated} appears in two sweep axes", hint="give each key once: key=v1,v2,v3")
    size = math.prod(len(values) for _, values in parsed)
    if size > MAX_GRID:
        raise UserError(
            f"the grid has {size:,} runs ({' x '.join(str(len(values)) for _, values in parsed)}); "
            f"one sweep runs at most {MAX_GRID:,}",
            hint="fewer values per axis, or one sweep per part of the grid",
        )
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(v for _, v in parsed))]


def experiment_name(settings: dict[str, str]) -> str:
    """A readable, unique, ref-safe name from what the run changes: `hgb-max_iter-50-1a2b`."""
    words = []
    for key, value in settings.items():
        leaf = key.rsplit(".", 1)[-1]
        if key == SUBSET_KEY:
            continue
        if leaf == "model":
            words.append(value)
        else:
            words.append(f"{leaf}-{value}")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(words) or "run")
    stem = re.sub(r"\.{2,}", ".", stem).strip(".-")[:48]  # git refuses `..` in a ref name: DVC, the run's name
    return f"{stem}-{secrets.token_hex(2)}"


def ci_matrix(todo: list[tuple[str, dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    """A CI job matrix with one job per grid point (GitHub Actions' `include` form): the experiment's name and its
    settings as one space-separated `key=value` string (a job turns each into `-S key=value`)."""
    if len(todo) > MAX_MATRIX_JOBS:
        raise UserError(
            f"the matrix would have {len(todo):,} jobs; GitHub Actions runs at most {MAX_MATRIX_JOBS} per matrix",
            hint="one --matrix per part of the grid",
        )
    for _, settings in todo:
        for key, value in settings.items():
            if any(character.isspace() for character in key + value):
                raise UserError(f"{key}={value!r}: a CI matrix value cannot hold a space", hint="drop the space")
    return {"include": [{"name": name, "set": " ".join(f"{k}={v}" for k, v in s.items())} for name, s in todo]}


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """{"train": {"model": "hgb"}} -> {"train.model": "hgb"}; lists stay values."""
    if not isinstance(params, dict):
        return {prefix.rstrip("."): params} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in params.items():
        flat.update(flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return flat


def changed_params(runs: list[Run]) -> list[str]:
    """The params whose values are not the same in every run, in params.yaml order."""
    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.params if key not in keys]
    return [key for key in keys if len({json.dumps(run.params.get(key)) for run in runs}) > 1]


def find_duplicate(params: dict[str, Any], source: dict[str, str], runs: list[Run]) -> Run | None:
    """An experiment run with exactly these params (types included) and the same code and data."""
    wanted = json.dumps(params, sort_keys=True)
    for run in runs:
        same_source = run.source and all(source.get(path) == md5 for path, md5 in run.source.items())
        if same_source and json.dumps(run.params, sort_keys=True) == wanted:
            return run
    return None


# --- The comparison table -----------------------------------------------------------------------------------


WORKSPACE = "workspace"  # the baseline's row, as `dvc exp show` names it


@dataclass(frozen=True)
class ComparisonRow:
    name: str
    baseline: bool
    subset: float | None
    params: dict[str, Any]
    metrics: dict[str, float | None]
    deltas: dict[str, float]
    best: list[str]
    beyond_noise: bool | None  # the primary metric's change against the baseline's DeLong interval
    verdicts: dict[str, str]


@dataclass(frozen=True)
class FailedRun:
    """An experiment whose run failed: no metrics, only what it set and where to read why."""

    name: str
    params: dict[str, Any]  # those it sets apart from the baseline's
    logs: str  # the command that shows its run's output
    drop: str  # the command that takes it off DVC's queue


@dataclass(frozen=True)
class ComparisonTable:
    """What `mlops exp compare` shows in every format: the baseline first, then experiments best first."""

    sort_by: str
    changed_params: list[str]
    metrics: list[str]
    rows: list[ComparisonRow]
    hidden: int  # experiments left out by --top
    unreadable: list[str] = field(default_factory=list)  # experiments whose params the schema refuses
    broken_metrics: dict[str, str] = field(default_factory=dict)  # experiment -> why its metrics file is unreadable
    stale_workspace: list[str] = field(default_factory=list)  # its stages whose params, code or data changed since
    failed: list[FailedRun] = field(default_factory=list)  # experiments whose run failed: no row of theirs

    def as_json(self) -> dict[str, Any]:
        return {
            "sort_by": self.sort_by,
            "changed_params": self.changed_params,
            "metrics": self.metrics,
            "rows": [_row_json(row) for row in self.rows],
            "hidden": self.hidden,
            "stale_workspace": self.stale_workspace,
            "failed": [asdict(run) for run in self.failed],
            "broken_metrics": self.broken_metrics,
        }


def _row_json(row: ComparisonRow) -> dict[str, Any]:
    fields = asdict(row)
    verdicts = fields.pop("verdicts")
    fields[f"{metric_rules.PRIMARY.name}_beyond_noise"] = fields.pop("beyond_noise")
    return {**fields, "verdicts": verdicts}


def sort_runs(runs: list[Run], metric: str) -> list[Run]:
    """Best first by `metric` (its direction known); runs without it last."""
    sign = metric_rules.direction(metric)
    return sorted(runs, key=lambda run: (metric not in run.metrics, -sign * run.metrics.get(metric, 0.0)))


def comparison(
    baseline: Run, experiments: list[Run], sort_by: str = metric_rules.PRIMARY.name, top: int | None = None
) -> ComparisonTable:
    """The data behind every format of `mlops exp compare`: baseline first, then experiments best first."""
    shown = sort_runs(experiments, sort_by)[:top] if top else sort_runs(experiments, sort_by)
    rows = [baseline, *shown]
    params = changed_params(rows)
    metrics = metric_rules.key_names()
    best = {metric: _best(metric, rows) for metric in metrics}
    return ComparisonTable(
        sort_by,
        params,
        metrics,
        [_row(run, baseline, params, metrics, best, i) for i, run in enumerate(rows)],
        len(experiments) - len(shown),
    )


def _row(run: Run, baseline: Run, params: list[str], metrics: list[str], best: dict, index: int) -> ComparisonRow:
    deltas = {
        metric: round(run.metrics[metric] - baseline.metrics[metric], 6)
        for metric in metrics
        if metric in run.metrics and metric in baseline.metrics
    }
    return ComparisonRow(
        name=WORKSPACE if run.is_workspace else run.name,
        baseline=run.is_workspace,
        subset=run.subset,
        params=_read_params(run, params),
        metrics={metric: run.metrics.get(metric) for metric in metrics},
        deltas={} if run.is_workspace else deltas,
        best=[metric for metric, at in best.items() if at == index],
        beyond_noise=None if run.is_workspace else metric_rules.beyond_noise(run.metrics, baseline.metrics),
        verdicts={} if run.is_workspace else _verdicts(deltas, run, baseline),
    )


def _read_params(run: Run, keys: list[str]) -> dict[str, Any]:
    """The run's value of each key, None (shown `-`) for a param its model does not read (`train.logreg.C` in an
    hgb run): the value there is only the workspace's, which trained nothing."""
    read = trained_params(run.params)
    return {key: read.get(key) for key in keys}


# Params that decide which loans are test loans: a run that changes one is judged on other loans than the baseline.
SPLIT_PARAMS = ("seed", "split.test_size", "split.validation_size", "data.source", "data.drop")
# Params that change what the metrics measure: which loans count as bad (every metric), and what a wrong decision
# costs (the metrics taken at the threshold those costs choose).
TARGET_PARAMS = ("data.target", "data.positive_label")
COST_PARAMS = ("decision.cost_bad_approved", "decision.cost_good_rejected")


def _verdicts(deltas: dict[str, float], run: Run, baseline: Run) -> dict[str, str]:
    """Each change in words: better or worse only beyond the baseline's noise band, within noise otherwise, and
    no verdict when the run's test loans, its target or (for the priced metrics) its costs are not the baseline's."""
    apart = measured_apart(run, baseline, list(deltas))
    return {
        metric: apart.get(metric)
        or metric_rules.change_word(metric, change, metric_rules.noise_band(metric, baseline.metrics))
        for metric, change in deltas.items()
    }


def measured_apart(run: Run, baseline: Run, metrics: list[str]) -> dict[str, str]:
    """The metrics of `run` that cannot be set against the baseline's, with why in words."""

    def changed(keys: tuple[str, ...]) -> bool:
        return any(json.dumps(run.params.get(key)) != json.dumps(baseline.params.get(key)) for key in keys)

    # Another target, or other costs, measure something else, whatever the test loans (a run on another source
    # with another target was marked best): the more telling difference is the one said.
    if changed(TARGET_PARAMS):
        return dict.fromkeys(metrics, "other target")
    apart = dict.fromkeys(metrics, "other test loans") if changed(SPLIT_PARAMS) else {}
    if changed(COST_PARAMS):
        apart |= {metric: "other costs" for metric in metrics if metric_rules.is_priced(metric)}
    return apart


def judged_changes(
    run: Run, baseline: Run, metrics: list[metric_rules.Metric] | None = None
) -> list[metric_rules.Change]:
    """The key metrics (or `metrics`) of `run` against `baseline` as every table shows them: better or worse only
    beyond the noise band, and no verdict where the two measured apart (other test loans, target or costs)."""
    rows = metric_rules.changes(run.metrics, baseline.metrics, metrics)
    apart = measured_apart(run, baseline, [row.metric.name for row in rows])
    return [replace(row, word=apart[row.metric.name]) if row.metric.name in apart and row.word else row for row in rows]


def _best(metric: str, rows: list[Run]) -> int | None:
    """The row with the best value of `metric` among those that measure what the baseline's does (another target
    or other costs measure something else; other test loans are still the same measure). A fact (no better
    direction) has none."""
    if not metric_rules.get(metric).judged:
        return None
    baseline = rows[0]
    values = [
        None
        if measured_apart(run, baseline, [metric]).get(metric, "other test loans") != "other test loans"
        else run.metrics.get(metric)
        for run in rows
    ]
    return metric_rules.best_index(metric, values)


def short_param_names(keys: list[str]) -> dict[str, str]:
    """The shortest unambiguous dotted suffix of each key: `train.hgb.max_iter` -> `max_iter`."""
    names = {SUBSET_KEY: "subset"} if SUBSET_KEY in keys else {}
    for key in keys:
        if key in names:
            continue
        parts = key.split(".")
        for length in range(1, len(parts) + 1):
            candidate = ".".join(parts[-length:])
            if sum(1 for other in keys if other == candidate or other.endswith("." + candidate)) == 1:
                names[key] = candidate
                break
    return names


def table_cells(
    table: ComparisonTable, metrics: list[str] | None = None, delta_columns: tuple[str, ...] = ()
) -> list[list[str]]:
    """Header + rows of plain cells: `*` marks the best value per metric, `!` a change beyond noise.

    Without `delta_columns` each metric cell carries its change (`0.7224 -.046`); with them, the metric cells
    hold values only and each listed metric's change gets a narrow column of its own (to fit 100 columns).
    """
    metrics = metrics or table.metrics
    names = short_param_names(table.changed_params)
    header = ["run", *(names[key] for key in table.changed_params), *metrics, *(f"Δ{m}" for m in delta_columns)]
    lines = [header]
    for row in table.rows:
        cells = [row.name, *(_value(row.params[key]) for key in table.changed_params)]
        cells += [_metric_cell(row, metric, delta_columns) for metric in metrics]
        cells += [_delta_cell(row, metric) for metric in delta_columns]
        lines.append(cells)
    return lines


def _value(value: Any) -> str:
    """A param as its type holds it: a float in its shortest exact form (`1.0`, not the `1` an int param shows)."""
    return "-" if value is None else repr(value) if isinstance(value, float) else str(value)


def _metric_cell(row: ComparisonRow, metric: str, delta_columns: tuple[str, ...]) -> str:
    """The value with its change (`0.7224 -.046!`); with `delta_columns` (the screen), the value alone, marked `!`
    when its change, in no column of its own, is beyond noise."""
    value = row.metrics.get(metric)
    if value is None:
        return "-"
    if not delta_columns:
        delta = " " + _delta_cell(row, metric) if metric in row.deltas else ""
    else:
        delta = "!" if metric not in delta_columns and _beyond_noise(row, metric) else ""
    return f"{value:.4f}{delta}" + ("*" if metric in row.best else "")


def _beyond_noise(row: ComparisonRow, metric: str) -> bool:
    return row.verdicts.get(metric) in ("better", "worse")


def _delta_cell(row: ComparisonRow, metric: str) -> str:
    if metric not in row.deltas:
        return ""
    noise = "!" if _beyond_noise(row, metric) else ""
    return _signed(row.deltas[metric]) + noise


def _signed(delta: float) -> str:
    """A compact change: +.012, -.003 (three decimals: the tables show where; the JSON has it all)."""
    return f"{delta:+.3f}".replace("0.", ".", 1)


def as_markdown(table: ComparisonTable) -> str:
    lines = table_cells(table)
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines[1:]]
    return "\n".join(out) + "\n\n" + legend() + "\n"


def as_csv(table: ComparisonTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    metrics = table.metrics
    writer.writerow(
        [
            "run",
            "baseline",
            "subset",
            *table.changed_params,
            *metrics,
            *(f"delta_{m}" for m in metrics),
            f"{metric_rules.PRIMARY.name}_beyond_noise",
            *(f"verdict_{m}" for m in metrics),
        ]
    )
    for row in table.rows:
        writer.writerow(
            [
                row.name,
                row.baseline,
                row.subset or "",
                *(row.params[key] for key in table.changed_params),
                *(row.metrics.get(m, "") for m in metrics),
                *(row.deltas.get(m, "") for m in metrics),
                row.beyond_noise,
                *(row.verdicts.get(m, "") for m in metrics),
            ]
        )
    return buffer.getvalue()


_NO_VERDICT = (
    "a change without ! is within noise, or not comparable: other test loans (another seed, split or source), another "
    "target (or bad class), or other decision costs (cost, threshold, reject rate); see --json."
)


def _marks() -> str:
    """What * and ! mean, the better direction of each key metric read from the registry."""
    judged = [metric for metric in metric_rules.key_metrics() if metric.judged]
    ways = [
        f"{word} {_and_list([metric.label for metric in judged if metric.direction == way])}"
        for word, way in (("higher", metric_rules.HIGHER), ("lower", metric_rules.LOWER))
        if any(metric.direction == way for metric in judged)
    ]
    return (
        f"* best per metric ({', '.join(ways)}); ! a change beyond noise (the workspace's DeLong interval for ROC AUC, "
        "2% of its value for the others)"
    )


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def legend() -> str:
    return f"Values are test metrics with the change against the workspace; {_marks()}; {_NO_VERDICT}"


def screen_legend() -> str:
    return (
        "Values are test metrics, a Δ column their change against the workspace (every metric's change: --md or "
        f"--json); {_marks()}, after a value where its change has no column; {_NO_VERDICT}"
    )
