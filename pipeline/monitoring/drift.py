"""Drift: how far logged traffic has moved from the training data. Pure functions over frames.

The population stability index (PSI) compares two distributions over the same bins:
sum((live - train) * ln(live / train)). Numeric features are binned at the training data's deciles; categorical
features have one bin per training category plus one for categories never seen in training; a missing value
is a bin of its own. Shares are floored at `EPSILON` so an empty bin does not make the PSI infinite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NUMERIC_BINS = 10
EPSILON = 1e-4
MISSING = "(missing)"
UNSEEN = "(unseen)"
SCORE = "p_default"


def numeric_edges(train: pd.Series, bins: int = NUMERIC_BINS) -> np.ndarray:
    """Inner bin edges: the training data's quantiles, without repeats (a column of few values gets fewer bins)."""
    import numpy as np

    values = train.dropna().to_numpy(dtype=float)
    if len(values) == 0:
        return np.array([])
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_shares(values: pd.Series, kind: str, reference: Any) -> dict[str, float]:
    """The share of `values` in each bin. `reference` is the inner edges (numeric) or the known categories."""
    import numpy as np
    import pandas as pd

    total = len(values)
    if total == 0:
        return {}
    missing = values.isna()
    present = values[~missing]
    if kind == "numeric":
        positions = np.searchsorted(reference, present.to_numpy(dtype=float), side="right")
        counts = pd.Series(positions).value_counts()
        shares = {f"bin{int(i)}": counts.get(i, 0) / total for i in range(len(reference) + 1)}
    else:
        text = present.astype(str)
        known = text.isin(reference)
        counts = text[known].value_counts()
        shares = {str(c): counts.get(c, 0) / total for c in reference}
        shares[UNSEEN] = int((~known).sum()) / total
    shares[MISSING] = int(missing.sum()) / total
    return shares


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    """The population stability index between two sets of bin shares."""
    import math

    total = 0.0
    for name in set(expected) | set(actual):
        e = max(expected.get(name, 0.0), EPSILON)
        a = max(actual.get(name, 0.0), EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def bin_reference(train: pd.Series, kind: str, categories: list[str] | None = None) -> Any:
    if kind == "numeric":
        return numeric_edges(train)
    return list(categories) if categories else sorted(map(str, train.dropna().unique()))


def column_psi(train: pd.Series, live: pd.Series, kind: str, categories: list[str] | None = None) -> float:
    reference = bin_reference(train, kind, categories)
    return psi(bin_shares(train, kind, reference), bin_shares(live, kind, reference))


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str
    psi: float
    missing_train: float
    missing_live: float
    unseen_share: float
    train_shares: dict[str, float]
    live_shares: dict[str, float]

    def as_dict(self) -> dict:
        return asdict(self)


def feature_drift(name: str, kind: str, train: pd.Series, live: pd.Series, categories: list[str] | None = None):
    reference = bin_reference(train, kind, categories)
    train_shares, live_shares = bin_shares(train, kind, reference), bin_shares(live, kind, reference)
    return FeatureDrift(
        name=name,
        kind=kind,
        psi=round(psi(train_shares, live_shares), 6),
        missing_train=round(float(train.isna().mean()), 6) if len(train) else 0.0,
        missing_live=round(float(live.isna().mean()), 6) if len(live) else 0.0,
        unseen_share=round(live_shares.get(UNSEEN, 0.0), 6),
        train_shares=train_shares,
        live_shares=live_shares,
    )


def features_drift(train: pd.DataFrame, live: pd.DataFrame, features: dict[str, dict]) -> list[FeatureDrift]:
    """One FeatureDrift per model feature (a feature missing from the live frame counts as all missing)."""
    import pandas as pd

    rows = []
    for name, spec in features.items():
        live_column = live[name] if name in live.columns else pd.Series([None] * len(live), dtype=object)
        if spec["kind"] == "numeric":
            live_column = _logged_numbers(live_column, name)
        rows.append(feature_drift(name, spec["kind"], train[name], live_column, spec.get("categories")))
    return rows


def _logged_numbers(logged: pd.Series, name: str) -> pd.Series:
    """A numeric feature's logged values as numbers; text there (the server logs none: an edited or foreign log)
    is one line naming the feature."""
    import pandas as pd

    numbers = pd.to_numeric(logged, errors="coerce")
    stray = logged[numbers.isna() & logged.notna()]
    if len(stray):
        raise UserError(
            f"the prediction log holds {len(stray)} values of numeric feature {name!r} that are not numbers "
            f"(first: {stray.iloc[0]!r})",
            hint="`mlops serve` logs only numbers there: remove the lines that were edited or came from elsewhere",
        )
    return numbers


def score_drift(train_scores: pd.Series, live_scores: pd.Series) -> FeatureDrift:
    return feature_drift(SCORE, "numeric", train_scores, live_scores)


def live_performance(is_bad: np.ndarray, p_default: np.ndarray) -> dict[str, float] | None:
    """ROC AUC and calibration of scored loans whose outcome is known (None when one class is missing)."""
    import numpy as np
    from sklearn.metrics import brier_score_loss

    from pipeline.training.auc import roc_auc

    if len(is_bad) == 0 or len(np.unique(is_bad)) < 2:
        return None
    return {
        "loans": int(len(is_bad)),
        "roc_auc": round(roc_auc(is_bad, p_default), 6),
        "brier": round(float(brier_score_loss(is_bad, p_default)), 6),
        "mean_predicted": round(float(np.mean(p_default)), 6),
        "observed_bad_rate": round(float(np.mean(is_bad)), 6),
    }


@dataclass(frozen=True)
class Thresholds:
    psi: float
    unseen_share: float
    auc_drop: float


def drift_findings(
    features: list[FeatureDrift],
    score: FeatureDrift | None,
    performance: dict | None,
    evaluated_auc: float | None,
    limits: Thresholds,
) -> list[str]:
    """Each threshold crossed, in words (empty: no drift)."""
    findings = [f"{f.name}: PSI {f.psi:.3f} > {limits.psi}" for f in features if f.psi > limits.psi]
    findings += [
        f"{f.name}: {f.unseen_share:.1%} unseen categories > {limits.unseen_share:.1%}"
        for f in features
        if f.unseen_share > limits.unseen_share
    ]
    if score is not None and score.psi > limits.psi:
        findings.append(f"score: PSI {score.psi:.3f} > {limits.psi}")
    if performance and evaluated_auc is not None and evaluated_auc - performance["roc_auc"] > limits.auc_drop:
        findings.append(
            f"live ROC AUC {performance['roc_auc']:.3f} is {evaluated_auc - performance['roc_auc']:.3f} below "
            f"the evaluated {evaluated_auc:.3f} (limit {limits.auc_drop})"
        )
    return findings


def noise_psi(
    train: pd.DataFrame, pool: pd.DataFrame, features: dict[str, dict], size: int, repeats: int, seed: int = 0
) -> dict[str, list[float]]:
    """PSI per feature of `repeats` undrifted samples of `size` rows from `pool` against `train`: the noise floor
    a window of that size shows without any drift."""
    import numpy as np

    rng = np.random.default_rng(seed)
    results: dict[str, list[float]] = {name: [] for name in features}
    for _ in range(repeats):
        sample = pool.iloc[rng.integers(0, len(pool), size)]
        for row in features_drift(train, sample, features):
            results[row.name].append(row.psi)
    return results


def minimum_window(
    noise_by_size: dict[int, dict[str, list[float]]], threshold: float, quantile: float = 0.95
) -> int | None:
    """The smallest size whose `quantile` PSI on the noisiest feature is below `threshold` (and stays below for
    every larger size measured)."""
    import numpy as np

    passing = None
    for size in sorted(noise_by_size, reverse=True):
        worst = max(float(np.quantile(values, quantile)) for values in noise_by_size[size].values())
        if worst >= threshold:
            break
        passing = size
    return passing
