"""Plot data stays small at any number of test loans and still says what the full curves say."""

import json

import numpy as np
from sklearn.metrics import roc_auc_score

from pipeline.experiments.report import confusion_counts
from pipeline.stages.evaluate import CURVE_POINTS, plot_data


def scored(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_bad = rng.random(n) < 0.1
    return is_bad, np.clip(rng.normal(0.1 + 0.2 * is_bad, 0.1), 0, 1).round(10)


def test_plot_files_are_bounded_and_faithful_at_a_million_loans():
    is_bad, p_bad = scored(1_000_000)
    plots = plot_data(is_bad, p_bad, 0.2, [{"feature": "x", "importance": 0.1}])
    assert all(len(json.dumps({name: rows}, indent=1)) < 64 * 1024 for name, rows in plots.items())
    assert len(plots["roc"]) <= CURVE_POINTS + 1 and len(plots["precision_recall"]) <= CURVE_POINTS
    fpr, tpr = (np.array([row[key] for row in plots["roc"]]) for key in ("fpr", "tpr"))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert abs(np.trapezoid(tpr, fpr) - roc_auc_score(is_bad, p_bad)) < 0.002  # the grid keeps the curve
    confusion = plots["confusion_matrix"]
    assert sum(row["count"] for row in confusion) == len(is_bad)
    rejected_bad = next(r["count"] for r in confusion if (r["actual"], r["predicted"]) == ("bad", "reject"))
    assert rejected_bad == int(np.sum(is_bad & (p_bad >= 0.2)))


def test_report_counts_new_aggregated_and_old_per_loan_confusion_records():
    aggregated = [
        {"actual": "bad", "predicted": "reject", "count": 3},
        {"actual": "good", "predicted": "approve", "count": 5},
    ]
    per_loan = [{"actual": "bad", "predicted": "reject"}] * 2
    assert confusion_counts(aggregated) == {("bad", "reject"): 3, ("good", "approve"): 5}
    assert confusion_counts(per_loan) == {("bad", "reject"): 2}
