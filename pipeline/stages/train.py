"""train: fit the model on the training split (a stratified subset when `data.sample_frac` < 1), choose the
decision threshold on the validation split, and save pipeline plus metadata as one skops file."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from pipeline import paths
from pipeline.errors import UserError, run_reporting_user_errors
from pipeline.params import Params, load_params
from pipeline.training.data_schema import feature_columns, read_schema

THREADS = 1  # fixed, so that the fitted state (and the model's bytes) are the same on every machine


def sampled_positions(labels: pd.Series, fraction: float, seed: int) -> np.ndarray:
    """The positions, in order, of a stratified, seeded sample of `labels`. Drawn on their sorted integer codes
    alone: the rows pandas' `frame.groupby(labels).sample(...)` draws, without grouping (and moving) every column."""
    codes, _ = pd.factorize(labels, sort=True)
    drawn = pd.Series(codes).groupby(codes, sort=True).sample(frac=fraction, random_state=seed)
    return np.sort(drawn.index.to_numpy())


def sample_training_rows(train: pd.DataFrame, target: str, fraction: float, seed: int) -> pd.DataFrame:
    """A stratified, seeded sample of the training split (all of it at fraction 1.0)."""
    if fraction >= 1.0:
        return train
    return _with_both_classes(train.iloc[sampled_positions(train[target], fraction, seed)], target, fraction)


def read_training_rows(path: str, target: str, fraction: float, seed: int) -> pd.DataFrame:
    """`sample_training_rows` of the split file at `path`, turning only the sampled rows into pandas: a subset run
    converts its fraction of a large split, not all of it (at a million loans, 0.5 s against 1.3 s in a new
    process)."""
    if fraction >= 1.0:
        return pd.read_parquet(path)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    positions = sampled_positions(table.column(target).to_pandas(), fraction, seed)
    sample = table.take(positions).to_pandas()
    sample.index = pd.Index(positions)  # as `train.iloc[positions]` labels them
    return _with_both_classes(sample, target, fraction)


def _with_both_classes(sample: pd.DataFrame, target: str, fraction: float) -> pd.DataFrame:
    if sample[target].nunique() < 2:
        raise UserError(
            f"data.sample_frac = {fraction} leaves a single class in the training sample",
            hint="use a larger fraction",
        )
    return sample


def fit(rows: pd.DataFrame, validation: pd.DataFrame, params: Params, schema: dict[str, Any]):
    """(fitted pipeline, metadata) for these training rows (the training split, or its sample) and the validation
    split."""
    from threadpoolctl import threadpool_limits

    from pipeline.training.auc import roc_auc
    from pipeline.training.canonical import canonical_probabilities, round_fitted_state
    from pipeline.training.model import build_model, choose_threshold, cost_per_loan, predict_bad

    data, decision = params.data, params.decision
    numeric, categorical = feature_columns(schema)
    features = categorical + numeric
    model = build_model(params.train, schema, params.seed)
    with threadpool_limits(limits=THREADS):
        model.fit(rows[features], (rows[data.target] == data.positive_label).to_numpy())
        round_fitted_state(model)  # before any prediction: what is scored here is what the file holds
        p_bad = canonical_probabilities(predict_bad(model, validation[features]))
    is_bad = (validation[data.target] == data.positive_label).to_numpy()
    threshold = choose_threshold(is_bad, p_bad, decision.cost_bad_approved, decision.cost_good_rejected)
    metadata = {
        "model": params.train.model.value,
        "features": {name: schema["columns"][name] for name in features},
        "target": data.target,
        "positive_label": data.positive_label,
        "threshold": threshold,
        "params_md5": params.digest(),
        "train_rows": len(rows),
        "sample_frac": data.sample_frac,
        "source": data.source,
        "validation": {
            "roc_auc": round(roc_auc(is_bad, p_bad), 6),
            "expected_cost": round(
                cost_per_loan(is_bad, p_bad, threshold, decision.cost_bad_approved, decision.cost_good_rejected),
                6,
            ),
        },
    }
    return model, metadata


def main() -> None:
    from pipeline.training.model_file import save_model

    params = load_params()
    schema = read_schema(params.data.schema_path)
    data = params.data
    rows = read_training_rows(paths.TRAIN, data.target, data.sample_frac, params.seed)
    model, metadata = fit(rows, pd.read_parquet(paths.VALIDATION), params, schema)
    save_model(model, metadata, paths.MODEL)
    summary = {
        "validation_roc_auc": metadata["validation"]["roc_auc"],
        "train_rows": metadata["train_rows"],
    }
    with open(paths.TRAIN_METRICS, "w", encoding="utf-8") as out:
        json.dump(summary, out, indent=2, sort_keys=True)
        out.write("\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    run_reporting_user_errors(main)
