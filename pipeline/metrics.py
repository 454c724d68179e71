"""The metric registry: every number evaluate writes to `reports/metrics.json` is defined here, once.

A definition says how the number is computed from the test loans' outcomes and scores (and the threshold and
params), which way is better, its label and short name, whether it is a key metric and how big a change of it
is noise. evaluate's metrics and model card, `mlops exp compare`, the HTML report, the gate and every table of
the CLI are built from it: adding a metric is one `register(Metric(...))` here.

The noise scale is the ROC AUC's DeLong interval that evaluate writes (`roc_auc_ci_low`, `roc_auc_ci_high`).
Gini is 2 * AUC - 1, so its interval is twice as wide. The other metrics have no interval; for them the
default tolerance is a small fraction of the reference value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from pipeline.params import Params

# The default gate tolerance: this fraction of the DeLong interval's half-width (about 0.01 ROC AUC here),
# or of the reference value for metrics without an interval.
TOLERANCE_FRACTION_OF_HALF_WIDTH = 0.25
TOLERANCE_FRACTION_OF_VALUE = 0.02
HIGHER, LOWER, NEITHER = 1, -1, 0  # which way is better; NEITHER: a fact that is reported, never judged


@dataclass(frozen=True)
class Scored:
    """What a metric is computed from: the test loans' outcomes and scores, the decision threshold, the params."""

    is_bad: np.ndarray
    p_bad: np.ndarray
    threshold: float
    params: Params


@dataclass(frozen=True)
class Metric:
    name: str  # its key in metrics.json
    label: str  # for people: the model card, legends
    short: str  # a narrow column's title
    compute: Callable[[Scored], float]
    direction: int = NEITHER  # HIGHER or LOWER is better
    key: bool = False  # compared everywhere: `exp compare`, the gate's table, `mlops repro`, commit messages
    on_screen: bool = False  # a key metric that fits the 100-column `mlops exp compare` screen
    in_card: bool = False  # a row of the model card's test metrics table
    interval: Callable[[Scored], tuple[float, float]] | None = None  # written beside it as <name>_ci_low/high
    noise_scale: float | None = None  # noise: this times the ROC AUC interval's half-width; None: a fraction of it
    priced: bool = False  # measured at the threshold the decision costs choose: other costs, another measure

    @property
    def judged(self) -> bool:
        return self.direction != NEITHER

    @property
    def interval_keys(self) -> tuple[str, str]:
        return f"{self.name}_ci_low", f"{self.name}_ci_high"


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.name in REGISTRY:
        raise ValueError(f"metric {metric.name} is defined twice")
    REGISTRY[metric.name] = metric
    return metric


def is_priced(name: str) -> bool:
    """Whether the metric `name` is measured at the threshold the decision costs choose."""
    return name in REGISTRY and REGISTRY[name].priced


def get(name: str) -> Metric:
    """The metric called `name` (KeyError when there is none)."""
    return REGISTRY[name]


def judged_metrics() -> list[Metric]:
    """The metrics with a better direction, in the registry's order: what a gate or a sort can use."""
    return [metric for metric in REGISTRY.values() if metric.judged]


def key_metrics() -> list[Metric]:
    return [metric for metric in REGISTRY.values() if metric.key]


def key_names() -> list[str]:
    return [metric.name for metric in key_metrics()]


def score(is_bad: np.ndarray, p_bad: np.ndarray, threshold: float, params: Params) -> dict[str, Any]:
    """Every registered metric of these scores, in the registry's order, floats rounded to 6 decimals (as
    metrics.json keeps them); an interval right after its metric."""
    import numpy as np

    scored = Scored(is_bad, p_bad, threshold, params)
    values: dict[str, Any] = {}
    for metric in REGISTRY.values():
        values[metric.name] = metric.compute(scored)
        if metric.interval is not None:
            values.update(zip(metric.interval_keys, metric.interval(scored), strict=True))
    return {
        name: round(float(value), 6) if isinstance(value, float | np.floating) else value
        for name, value in values.items()
    }


# --- The definitions (scikit-learn and the project's numpy code are imported when a metric is computed) -------


def _roc_auc(s: Scored) -> float:
    from pipeline.training.auc import roc_auc

    return roc_auc(s.is_bad, s.p_bad)


def _delong_interval(s: Scored) -> tuple[float, float]:
    from pipeline.training.auc import auc_interval

    return auc_interval(s.is_bad, s.p_bad)


def _pr_auc(s: Scored) -> float:
    from sklearn.metrics import average_precision_score

    return average_precision_score(s.is_bad, s.p_bad)


def _brier(s: Scored) -> float:
    from sklearn.metrics import brier_score_loss

    return brier_score_loss(s.is_bad, s.p_bad)


def _log_loss(s: Scored) -> float:
    import numpy as np
    from sklearn.metrics import log_loss

    return log_loss(s.is_bad, np.clip(s.p_bad, 1e-15, 1 - 1e-15), labels=[False, True])


def _ks(s: Scored) -> float:
    import numpy as np
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(s.is_bad, s.p_bad)
    return float(np.max(tpr - fpr))


def _expected_cost(s: Scored) -> float:
    from pipeline.training.model import cost_per_loan

    decision = s.params.decision
    return cost_per_loan(s.is_bad, s.p_bad, s.threshold, decision.cost_bad_approved, decision.cost_good_rejected)


def _reject_rate(s: Scored) -> float:
    import numpy as np

    return float(np.mean(s.p_bad >= s.threshold))


ROC_AUC = register(
    Metric(
        "roc_auc",
        "ROC AUC",
        "auc",
        _roc_auc,
        HIGHER,
        key=True,
        on_screen=True,
        in_card=True,
        interval=_delong_interval,
        noise_scale=1.0,
    )
)
PR_AUC = register(Metric("pr_auc", "PR AUC", "pr", _pr_auc, HIGHER, key=True, on_screen=True, in_card=True))
BRIER = register(Metric("brier", "Brier score", "brier", _brier, LOWER, key=True, on_screen=True, in_card=True))
LOG_LOSS = register(Metric("log_loss", "log loss", "logloss", _log_loss, LOWER, key=True, in_card=True))
KS = register(Metric("ks", "KS", "ks", _ks, HIGHER, in_card=True))
GINI = register(Metric("gini", "Gini", "gini", lambda s: 2 * _roc_auc(s) - 1, HIGHER, in_card=True, noise_scale=2.0))
THRESHOLD = register(Metric("threshold", "threshold", "threshold", lambda s: s.threshold, priced=True))
EXPECTED_COST = register(
    Metric(
        "expected_cost", "expected cost per loan", "cost", _expected_cost, LOWER, key=True, on_screen=True, priced=True
    )
)
REJECT_RATE = register(Metric("reject_rate", "reject rate", "reject", _reject_rate, priced=True))
TEST_ROWS = register(Metric("test_rows", "test loans", "loans", lambda s: len(s.is_bad)))

PRIMARY = ROC_AUC  # the gate's default, the first sort, the one with a paired interval between two models
NOISE_INTERVAL = ROC_AUC  # the interval every noise band is sized from
# How near the noise band, relatively, a change is on its edge: above float subtraction's error (about 1e-16 of
# the values), far below the digits the metrics are recorded to
BAND_EDGE = 1e-9


# --- Directions, noise and the gate's verdict -----------------------------------------------------------------


def direction(name: str) -> int:
    """+1 when higher is better, -1 when lower is better."""
    metric = get(name)
    if not metric.judged:
        raise KeyError(f"{name} has no better direction")
    return metric.direction


def improvement(metric: str, new: float, old: float) -> float:
    """How much better `new` is than `old` (negative when worse), in the metric's units."""
    return direction(metric) * (new - old)


def best_index(metric: str, values: list[float | None]) -> int | None:
    """The position of the best value (the first on a tie), or None when there is none."""
    present = [(direction(metric) * value, -i) for i, value in enumerate(values) if value is not None]
    return -max(present)[1] if present else None


def interval_half_width(metric: str, metrics: dict) -> float | None:
    """Half the width of the metric's DeLong interval, when there is one."""
    low_key, high_key = NOISE_INTERVAL.interval_keys
    low, high = metrics.get(low_key), metrics.get(high_key)
    scale = get(metric).noise_scale
    if low is None or high is None or scale is None:
        return None
    return scale * (high - low) / 2


def default_tolerance(metric: str, reference: dict) -> float:
    """How much worse than the reference the gate lets a metric be, sized from its noise."""
    half = interval_half_width(metric, reference)
    if half is not None:
        return round(TOLERANCE_FRACTION_OF_HALF_WIDTH * half, 6)
    return round(TOLERANCE_FRACTION_OF_VALUE * abs(reference.get(metric, 0.0)), 6)


def noise_band(metric: str, reference: dict) -> float:
    """How big a change of `metric` is noise: the half-width of its DeLong interval when there is one, else
    the default tolerance's fraction of the reference value."""
    half = interval_half_width(metric, reference)
    return half if half is not None else TOLERANCE_FRACTION_OF_VALUE * abs(reference.get(metric, 0.0))


def change_word(metric: str, change: float, noise: float) -> str:
    """ "better" or "worse" only beyond the noise band; "within noise" inside it; "unchanged" at zero."""
    if change == 0:
        return "unchanged"
    if not beyond_band(change, noise):
        return "within noise"
    return "better" if direction(metric) * change > 0 else "worse"


def beyond_noise(new: dict, old: dict) -> bool | None:
    """Whether the primary metric's change exceeds the baseline's DeLong interval (None without an interval)."""
    name = PRIMARY.name
    half = interval_half_width(name, old)
    if half is None or name not in new or name not in old:
        return None
    return beyond_band(new[name] - old[name], half)


def beyond_band(change: float, noise: float) -> bool:
    """Whether `change` is outside the noise band (its half-width `noise`). A change equal to the band in decimal is
    not, on whichever side float subtraction puts it (0.05202 - 0.051 is 0.00102, its band 0.0010199999999999999)."""
    return abs(change) > noise and not math.isclose(abs(change), noise, rel_tol=BAND_EDGE)


def within_tolerance(improvement: float, tolerance: float) -> bool:
    """Whether a change `improvement` better (negative: worse) is worse by no more than `tolerance`. Worse by exactly
    the tolerance in decimal is within it, as a change at the noise band's edge is (0.74 - 0.75 is -0.010000000000000009
    against a tolerance of 0.01)."""
    return improvement >= 0 or not beyond_band(improvement, tolerance)


@dataclass(frozen=True)
class Change:
    """One metric of two revisions: a row of every metric table the CLI and the report print."""

    metric: Metric
    current: float
    reference: float | None
    word: str  # better, worse, within noise, unchanged, other test loans; "" without a reference
    interval: tuple[float, float] | None = None  # the current value's, when recorded

    @property
    def change(self) -> float | None:
        return None if self.reference is None else self.current - self.reference


def changes(
    current: dict, reference: dict, metrics: list[Metric] | None = None, same_loans: bool = True
) -> list[Change]:
    """The key metrics (or `metrics`) of `current` against `reference`, each change in words: beyond the
    reference's noise band or not, or no verdict when the two were scored on other test loans."""
    rows = []
    for metric in key_metrics() if metrics is None else metrics:
        if metric.name not in current:
            continue
        now, before = current[metric.name], reference.get(metric.name)
        word = ""
        if before is not None:
            noise = noise_band(metric.name, reference)
            word = change_word(metric.name, now - before, noise) if same_loans else "other test loans"
        low, high = (current.get(key) for key in metric.interval_keys)
        interval = (low, high) if low is not None and high is not None else None
        rows.append(Change(metric, now, before, word, interval))
    return rows


@dataclass(frozen=True)
class Verdict:
    metric: str
    current: float
    reference: float
    tolerance: float
    noise: float = 0.0

    @property
    def change(self) -> float:
        return self.current - self.reference

    @property
    def passed(self) -> bool:
        return within_tolerance(improvement(self.metric, self.current, self.reference), self.tolerance)

    def sentence(self) -> str:
        word = change_word(self.metric, self.change, self.noise)
        verdict = "passes" if self.passed else "FAILS"
        return (
            f"gate {verdict}: {self.metric} {self.reference:.4f} -> {self.current:.4f} "
            f"({self.change:+.4f}, {word}; tolerance {self.tolerance:.4f})"
        )


def judge(metric: str, current: dict, reference: dict, tolerance: float | None) -> Verdict:
    """The gate's verdict on `metric`, with the default tolerance when `tolerance` is None."""
    used = default_tolerance(metric, reference) if tolerance is None else tolerance
    return Verdict(metric, current[metric], reference[metric], used, noise_band(metric, reference))
