"""evaluate: score the full test split with the trained model; write metrics, plot data and the model card.

Every run, full or subset, is judged here on the same full test split, so their metrics compare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import metrics as metric_registry
from pipeline import paths
from pipeline.errors import run_reporting_user_errors
from pipeline.metrics import EXPECTED_COST, REJECT_RATE, TEST_ROWS, THRESHOLD
from pipeline.params import Params, load_params
from pipeline.training.auc import roc_auc
from pipeline.training.canonical import canonical_probabilities
from pipeline.training.importance import mean_drops

CURVE_POINTS = 201  # thresholds per ROC and precision-recall curve: a few KB at any number of test loans


def score_metrics(is_bad: np.ndarray, p_bad: np.ndarray, threshold: float, params: Params) -> dict[str, Any]:
    """Every registered test metric (`pipeline.metrics`); the ROC AUC's 95% interval is DeLong's (exact variance,
    no resampling)."""
    return metric_registry.score(is_bad, p_bad, threshold, params)


def importance_rows(sample_frac: float, params: Params) -> int:
    """How many test rows permutation importance shuffles: none for a subset run, which proves an idea cheaply
    (it costs more than the rest of evaluate; the model card says it was skipped)."""
    return params.evaluate.importance_rows if sample_frac >= 1 else 0


def _roc_auc_of_canonical_probabilities(model, features, is_bad: np.ndarray) -> float:
    return roc_auc(is_bad, canonical_probabilities(model.predict_proba(features)[:, 1]))


def permutation_importance_table(
    model, test: pd.DataFrame, features: list[str], is_bad: np.ndarray, params: Params, rows: int | None = None
) -> list[dict[str, Any]]:
    """Mean drop in test ROC AUC when each feature is shuffled, on a bounded sample of test rows (none: [])."""
    rows = params.evaluate.importance_rows if rows is None else rows
    if rows == 0:
        return []
    rows = np.random.default_rng(params.seed).permutation(len(test))[:rows]
    drops = mean_drops(
        model,
        test.iloc[rows][features],
        is_bad[rows],
        repeats=params.evaluate.importance_repeats,
        seed=params.seed,
        score=_roc_auc_of_canonical_probabilities,
    )
    table = [{"feature": name, "importance": round(float(mean), 6)} for name, mean in zip(features, drops, strict=True)]
    return sorted(table, key=lambda row: (-row["importance"], row["feature"]))


def curve_thresholds(p_bad: np.ndarray, points: int = CURVE_POINTS) -> np.ndarray:
    """At most `points` thresholds, at evenly spaced quantiles of the scores (each one a score), ascending."""
    return np.unique(np.quantile(p_bad, np.linspace(0.0, 1.0, points), method="inverted_cdf"))


def rates_at(is_bad: np.ndarray, p_bad: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bad loans rejected, good loans rejected) when rejecting p_bad >= each threshold."""
    order = np.sort(p_bad[is_bad]), np.sort(p_bad[~is_bad])
    bad, good = (len(s) - np.searchsorted(s, thresholds, side="left") for s in order)
    return bad, good


def plot_data(
    is_bad: np.ndarray, p_bad: np.ndarray, threshold: float, importance: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Rows of each plot that `dvc.yaml` declares: ROC, precision-recall, calibration, confusion, importance.

    Bounded whatever the number of test loans: curves at most `CURVE_POINTS` thresholds (score quantiles),
    calibration ten bins, the confusion matrix four counts."""
    from sklearn.calibration import calibration_curve

    thresholds = curve_thresholds(p_bad)
    bad, good = rates_at(is_bad, p_bad, thresholds)
    tpr, fpr = bad / max(is_bad.sum(), 1), good / max((~is_bad).sum(), 1)
    roc = [(0.0, 0.0)] + sorted(zip(fpr.tolist(), tpr.tolist(), strict=True))
    precision = bad / np.maximum(bad + good, 1)
    prob_true, prob_pred = calibration_curve(is_bad, p_bad, n_bins=10, strategy="quantile")
    rejected = p_bad >= threshold
    return {
        "roc": [{"fpr": round(x, 6), "tpr": round(y, 6)} for x, y in roc],
        "precision_recall": [
            {"recall": round(float(x), 6), "precision": round(float(y), 6)} for x, y in zip(tpr, precision, strict=True)
        ],
        "calibration": [
            {"prob_pred": round(float(x), 6), "prob_true": round(float(y), 6)}
            for x, y in zip(prob_pred, prob_true, strict=True)
        ],
        "confusion_matrix": [
            {"actual": actual, "predicted": predicted, "count": int(np.sum((is_bad == bad_row) & (rejected == reject)))}
            for actual, bad_row in (("bad", True), ("good", False))
            for predicted, reject in (("approve", False), ("reject", True))
        ],
        "importance": importance,
    }


def write_json(path: str, content: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def model_card(metadata: dict[str, Any], metrics: dict[str, Any], params: Params) -> str:
    features = ", ".join(metadata["features"])
    subset = "" if metadata["sample_frac"] >= 1 else f" (a {metadata['sample_frac']:.0%} subset run)"
    return f"""# Model card: lending risk ({metadata["model"]})

## Intended use
Scores a loan application with the probability that the loan goes bad (`{metadata["target"]}` =
`{metadata["positive_label"]}`), and a decision: reject when the probability is at least the threshold.
A decision aid for credit analysts, not an automated credit decision; not validated for other loan products,
markets or periods than its training data.

## Data
- Source: `{metadata["source"]}`
- Trained on {metadata["train_rows"]} loans{subset}; evaluated on {metrics[TEST_ROWS.name]} held-out test loans.
- Features: {features}

## Decision
- Threshold {metrics[THRESHOLD.name]:.4f}, chosen on the validation split to minimise the expected cost with
  a bad loan approved costing {params.decision.cost_bad_approved} and a good loan rejected
  {params.decision.cost_good_rejected}.
- Expected cost per loan on the test split: {metrics[EXPECTED_COST.name]:.4f}; reject rate \
{metrics[REJECT_RATE.name]:.2%}.

## Test metrics
{card_metric_table(metrics)}

{importance_note(metrics)}
## Limits
Historical loans only: the score reflects who was granted a loan before, not every applicant. Monitor drift
in production, and retrain through the pipeline when it appears. Params hash `{metadata["params_md5"]}`.
"""


def card_metric_table(metrics: dict[str, Any]) -> str:
    """The registry's card metrics as Markdown rows, each interval on the row below its metric."""
    rows = ["| metric | value |", "|---|---|"]
    for metric in metric_registry.REGISTRY.values():
        if not metric.in_card:
            continue
        rows.append(f"| {metric.label} | {metrics[metric.name]:.4f} |")
        low, high = metric.interval_keys
        if low in metrics and high in metrics:
            rows.append(f"| 95% interval (DeLong) | {metrics[low]:.4f} to {metrics[high]:.4f} |")
    return "\n".join(rows)


def importance_note(metrics: dict[str, Any]) -> str:
    if metrics.get("importance_rows", 1) == 0:
        return (
            "Permutation importance was skipped: a subset run proves an idea cheaply; run the full pipeline for it.\n"
        )
    return f"Permutation importance on {metrics['importance_rows']} test loans (`reports/plots/importance.json`).\n"


def main() -> None:
    from threadpoolctl import threadpool_limits

    from pipeline.training.model import predict_bad
    from pipeline.training.model_file import load_model

    params = load_params()
    model, metadata = load_model(paths.MODEL)
    test = pd.read_parquet(paths.TEST)
    features = list(metadata["features"])
    is_bad = (test[metadata["target"]] == metadata["positive_label"]).to_numpy()
    shuffled_rows = importance_rows(metadata["sample_frac"], params)
    with threadpool_limits(limits=1):
        p_bad = canonical_probabilities(predict_bad(model, test[features]))
        importance = permutation_importance_table(model, test, features, is_bad, params, shuffled_rows)
    metrics = score_metrics(is_bad, p_bad, metadata["threshold"], params)
    metrics["importance_rows"] = min(shuffled_rows, len(test))

    write_json(paths.METRICS, metrics)
    for name, points in plot_data(is_bad, p_bad, metadata["threshold"], importance).items():
        write_json(f"{paths.PLOTS}/{name}.json", {name: points})
    with open(paths.MODEL_CARD, "w", encoding="utf-8") as out:
        out.write(model_card(metadata, metrics, params))


if __name__ == "__main__":
    run_reporting_user_errors(main)
