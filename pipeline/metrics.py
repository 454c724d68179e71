"""Which way each metric is better, how big a change is noise, and the gate's verdict. Pure functions.

The noise scale is the ROC AUC's DeLong interval that evaluate writes (`roc_auc_ci_low`, `roc_auc_ci_high`).
Gini is 2 * AUC - 1, so its interval is twice as wide. The other metrics have no interval; for them the
default tolerance is a small fraction of the reference value.
"""

from __future__ import annotations

from dataclasses import dataclass

HIGHER_IS_BETTER = ("roc_auc", "pr_auc", "ks", "gini")
LOWER_IS_BETTER = ("brier", "log_loss", "expected_cost")
KEY_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "expected_cost")

# The default gate tolerance: this fraction of the DeLong interval's half-width (about 0.01 ROC AUC here),
# or of the reference value for metrics without an interval.
TOLERANCE_FRACTION_OF_HALF_WIDTH = 0.25
TOLERANCE_FRACTION_OF_VALUE = 0.02


def is_known(metric: str) -> bool:
    return metric in HIGHER_IS_BETTER or metric in LOWER_IS_BETTER


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better."""
    if metric in HIGHER_IS_BETTER:
        return 1
    if metric in LOWER_IS_BETTER:
        return -1
    raise KeyError(metric)


def improvement(metric: str, new: float, old: float) -> float:
    """How much better `new` is than `old` (negative when worse), in the metric's units."""
    return direction(metric) * (new - old)


def best_index(metric: str, values: list[float | None]) -> int | None:
    """The position of the best value (the first on a tie), or None when there is none."""
    present = [(direction(metric) * value, -i) for i, value in enumerate(values) if value is not None]
    return -max(present)[1] if present else None


def interval_half_width(metric: str, metrics: dict) -> float | None:
    """Half the width of the metric's DeLong interval, when there is one."""
    low, high = metrics.get("roc_auc_ci_low"), metrics.get("roc_auc_ci_high")
    if low is None or high is None:
        return None
    half = (high - low) / 2
    return {"roc_auc": half, "gini": 2 * half}.get(metric)


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
    if abs(change) <= noise:
        return "within noise"
    return "better" if direction(metric) * change > 0 else "worse"


def beyond_noise(new: dict, old: dict) -> bool | None:
    """Whether the ROC AUC change exceeds the baseline's DeLong interval (None without an interval)."""
    half = interval_half_width("roc_auc", old)
    if half is None or "roc_auc" not in new or "roc_auc" not in old:
        return None
    return abs(new["roc_auc"] - old["roc_auc"]) > half


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
        return improvement(self.metric, self.current, self.reference) >= -self.tolerance

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
