"""validate: check `data/raw.parquet` against the declared schema in `reports/`; stop the pipeline on a violation."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from pipeline import paths
from pipeline.errors import UserError, run_reporting_user_errors
from pipeline.params import load_params
from pipeline.training.data_schema import read_schema, validate_frame


def validate(frame: pd.DataFrame, schema: dict[str, Any], target: str, positive_label: str) -> dict[str, Any]:
    """Raise a UserError on any violation; return a small summary of what was checked."""
    declared = schema["target"]
    if declared["name"] != target or positive_label not in declared["labels"]:
        raise UserError(
            f"params data.target={target!r}, data.positive_label={positive_label!r} do not match the schema's "
            f"target {declared['name']!r} with labels {declared['labels']}",
            hint="make params.yaml and the schema agree (mlops data add writes both)",
        )
    undeclared = [str(name) for name in frame.columns if name != target and name not in schema["columns"]]
    if undeclared:
        raise UserError(
            f"{paths.RAW} has {len(undeclared)} column(s) the schema does not declare: {', '.join(undeclared)}",
            hint="if they are not features, list them under `drop:` in the data section of params.yaml; "
            "if they are, infer a new schema with `mlops data add FILE` and review it in git",
        )
    missing = [name for name in schema["columns"] if name not in frame.columns]
    if missing:
        raise UserError(
            f"{paths.RAW} lacks {len(missing)} feature column(s) the schema declares: {', '.join(missing)}",
            hint="if `drop:` in the data section of params.yaml lists them, take them out of it (it is for columns "
            "that are not features); to stop using a feature, remove it from the schema and review that in git",
        )
    validate_frame(frame, schema, paths.RAW)
    counts = frame[target].value_counts()
    if len(counts) < len(declared["labels"]):
        raise UserError(
            f"target column {target!r} holds only {sorted(map(str, counts.index))}: training needs both labels "
            f"{declared['labels']}",
            hint="the data must include loans of each class (is it a filtered extract?)",
        )
    return {
        "rows": len(frame),
        "columns": len(frame.columns),
        "positive_rate": round(float(counts.get(positive_label, 0)) / len(frame), 6),
    }


def main() -> None:
    params = load_params()
    schema = read_schema(params.data.schema_path)
    summary = validate(pd.read_parquet(paths.RAW), schema, params.data.target, params.data.positive_label)
    with open(paths.DATA_VALIDATION, "w", encoding="utf-8") as out:
        json.dump(summary, out, indent=2, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    run_reporting_user_errors(main)
