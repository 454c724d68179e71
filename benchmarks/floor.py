"""The floors our runs are compared with, each in one Python process (run from a copy of the project):

python -m benchmarks.floor pipeline      # every stage's function, in order, on the params' data
python -m benchmarks.floor bare-fit      # only the model's fit, on as many rows as the pipeline trains on
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pipeline  # noqa: F401  (before numpy and pyarrow: the floors have the stages' memory settings)


def pipeline_in_one_process() -> None:
    """ingest -> validate -> split -> train -> evaluate as functions: no DVC, no process per stage."""
    from threadpoolctl import threadpool_limits

    from pipeline.params import load_params
    from pipeline.stages import evaluate, ingest, split, train, validate
    from pipeline.training.data_schema import read_schema
    from pipeline.training.model_file import save_model

    params = load_params()
    data = params.data
    schema = read_schema(data.schema_path)
    frame = ingest.ingest(ingest.load_source(data.source), data.drop, data.source)
    validate.validate(frame, schema, data.target, data.positive_label)
    train_part, validation_part, test_part = split.split(
        frame, data.target, params.split.test_size, params.split.validation_size, params.seed
    )
    rows = train.sample_training_rows(train_part, data.target, data.sample_frac, params.seed)
    model, metadata = train.fit(rows, validation_part, params, schema)
    features = list(metadata["features"])
    is_bad = (test_part[data.target] == data.positive_label).to_numpy()
    with threadpool_limits(limits=1):
        p_bad = model.predict_proba(test_part[features])[:, 1]
        importance = evaluate.permutation_importance_table(model, test_part, features, is_bad, params)
    evaluate.score_metrics(is_bad, p_bad, metadata["threshold"], params)
    evaluate.plot_data(is_bad, p_bad, metadata["threshold"], importance)
    with tempfile.TemporaryDirectory() as scratch:
        save_model(model, metadata, Path(scratch) / "model.skops")


def bare_fit() -> None:
    """The leanest fit of the same model: read the source, fit on the pipeline's training share of its rows."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from pipeline.params import load_params
    from pipeline.training.data_schema import feature_columns, read_schema
    from pipeline.training.model import build_model

    params = load_params()
    data = params.data
    schema = read_schema(data.schema_path)
    numeric, categorical = feature_columns(schema)
    frame = pd.read_parquet(data.source, columns=categorical + numeric + [data.target])
    rows = round(len(frame) * (1 - params.split.test_size - params.split.validation_size))
    frame = frame.iloc[:rows]
    model = build_model(params.train, schema, params.seed)
    with threadpool_limits(limits=1):
        model.fit(frame[categorical + numeric], (frame[data.target] == data.positive_label).to_numpy())


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "pipeline":
        pipeline_in_one_process()
    elif which == "bare-fit":
        bare_fit()
    else:
        sys.exit("usage: python -m benchmarks.floor pipeline|bare-fit")


if __name__ == "__main__":
    main()
