"""Two models compared honestly: on the loans neither trained on, with the count, a paired interval and a word.

The loans are the candidate's test split minus every loan (by identity, as the split stage defines it) in either
revision's training or validation split. Both models score those loans; the ROC AUC difference gets DeLong's
paired 95% interval (`pipeline.training.auc`), and the change is called "better" or "worse" only when the interval
excludes zero, "within noise" otherwise. With fewer than MIN_LOANS loans or MIN_BAD bad ones among them there
is no verdict: the comparison says so instead of deciding.

`compare` is pure (frames and models in, a `Comparison` out); `splits_at` reads a revision's splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipeline import metrics as metric_rules

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MIN_LOANS = 200
MIN_BAD = 20
LEVEL = 0.95


@dataclass(frozen=True)
class Comparison:
    reference_label: str
    candidate_label: str
    loans: int  # loans neither model trained on
    bad: int
    excluded: int  # loans of the candidate's test split that one of the models trained on
    reference: dict[str, Any] = field(default_factory=dict)  # metrics on those loans
    candidate: dict[str, Any] = field(default_factory=dict)
    difference: float | None = None  # candidate ROC AUC minus reference ROC AUC
    low: float | None = None
    high: float | None = None

    @property
    def enough(self) -> bool:
        return self.loans >= MIN_LOANS and self.bad >= MIN_BAD and self.loans - self.bad >= MIN_BAD

    @property
    def word(self) -> str:
        """better / worse beyond the interval, within noise, or too few loans to tell."""
        if not self.enough or self.low is None:
            return "too few loans to tell"
        return "better" if self.low > 0 else "worse" if self.high < 0 else "within noise"

    def default_tolerance(self) -> float:
        """A quarter of the half-width of the reference's ROC AUC DeLong interval on these loans, as the gate
        has always used (`metrics.default_tolerance`)."""
        return metric_rules.default_tolerance(metric_rules.PRIMARY.name, self.reference) if self.reference else 0.0

    def passes(self, tolerance: float | None) -> bool | None:
        """Not worse than the reference by more than the tolerance; None (no verdict) with too few loans."""
        if not self.enough or self.difference is None:
            return None
        used = self.default_tolerance() if tolerance is None else tolerance
        return metric_rules.within_tolerance(self.difference, used)

    def basis(self) -> str:
        """On what the comparison stands, in words."""
        text = f"on {self.loans:,} test loans neither model trained on ({self.bad:,} bad)"
        if self.excluded:
            text += f"; {self.excluded:,} test loans left out because one of the models trained on them"
        return text

    def interval(self) -> str:
        if self.difference is None:
            return "no interval"
        return f"ROC AUC {self.difference:+.4f}, {LEVEL:.0%} interval {self.low:+.4f} to {self.high:+.4f}"

    def too_few(self) -> str:
        return (
            f"only {self.loans:,} test loans ({self.bad:,} bad) were unseen by both models; at least {MIN_LOANS} "
            f"with {MIN_BAD} of each class are needed to tell a change from noise"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference_label,
            "candidate": self.candidate_label,
            "loans": self.loans,
            "bad": self.bad,
            "excluded": self.excluded,
            "roc_auc_difference": self.difference,
            "interval": [self.low, self.high],
            "level": LEVEL,
            "word": self.word,
        }

    def changes(self) -> list[metric_rules.Change]:
        """The key metrics of both models on the unseen loans, each change in words: those whose noise is the
        ROC AUC interval's (ROC AUC, Gini) by the paired interval, the others by their noise band."""
        return [
            replace(row, word=self.word) if row.metric.noise_scale is not None and self.low is not None else row
            for row in metric_rules.changes(self.candidate, self.reference)
        ]


def unseen_mask(test: pd.DataFrame, seen: list[pd.DataFrame]) -> np.ndarray:
    """Which test loans appear in none of the `seen` frames (by identity over the columns they all share)."""
    import numpy as np

    from pipeline.training.sources import loan_identity

    columns = [name for name in test.columns if all(name in frame.columns for frame in seen)]
    identities = loan_identity(test, columns)
    trained = [loan_identity(frame, columns) for frame in seen if len(frame)]
    if not trained:
        return np.ones(len(test), dtype=bool)
    return ~np.isin(identities, np.concatenate(trained))


def scores(model: Any, frame: pd.DataFrame) -> np.ndarray:
    from pipeline.training.model import predict_bad

    return predict_bad(model.model, frame[list(model.metadata["features"])])


def compare(
    reference: Any,
    candidate: Any,
    test: pd.DataFrame,
    seen: list[pd.DataFrame],
    params: Any,
    labels: tuple[str, str],
) -> Comparison:
    """Compare two served models (`.model`, `.metadata`) on the loans of `test` absent from every `seen` frame
    (both revisions' training and validation splits); `params` gives the decision costs and the seed."""
    from pipeline.training.auc import paired_auc_difference

    unseen = test[unseen_mask(test, seen)]
    metadata = candidate.metadata
    is_bad = (unseen[metadata["target"]] == metadata["positive_label"]).to_numpy()
    result = Comparison(labels[0], labels[1], len(unseen), int(is_bad.sum()), len(test) - len(unseen))
    if not result.enough:
        return result
    p_reference, p_candidate = scores(reference, unseen), scores(candidate, unseen)
    difference, low, high = paired_auc_difference(is_bad, p_candidate, p_reference, LEVEL)
    return Comparison(
        *labels,
        result.loans,
        result.bad,
        result.excluded,
        metric_rules.score(is_bad, p_reference, reference.metadata["threshold"], params),
        metric_rules.score(is_bad, p_candidate, candidate.metadata["threshold"], params),
        round(difference, 6),
        round(low, 6),
        round(high, 6),
    )


def table_lines(comparison: Comparison) -> list[str]:
    """`Comparison.changes` as plain text lines, for a commit message. The labels are shown whole (a commit id cut
    short, or a long branch name, names another revision or none)."""
    left, right = comparison.reference_label, comparison.candidate_label
    width = max(22, len(left) + 2, len(right) + 2)
    lines = [f"{'metric':<14}{left:>{width}}{right:>{width}}{'change':>10}"]
    for row in comparison.changes():
        values = f"{row.reference:>{width}.4f}{row.current:>{width}.4f}{row.change:>+10.4f}"
        lines.append(f"{row.metric.name:<14}{values}  {row.word}")
    return lines


# --- side effects: a revision's splits -------------------------------------------------------------------------


def splits_at(
    rev: str | None, root: str = ".", typed: str | None = None, champion: bool = False
) -> dict[str, pd.DataFrame]:
    """{"train", "validation", "test"} frames of a revision (read through DVC), or of the workspace (None); a
    refusal names the revision as the user did (`typed`, `champion`: `registry.read_output`)."""
    import io
    from pathlib import Path

    import pandas as pd

    from pipeline import paths
    from pipeline.serving import registry

    wanted = {"train": paths.TRAIN, "validation": paths.VALIDATION, "test": paths.TEST}
    if rev is None:
        return {name: pd.read_parquet(Path(root) / path) for name, path in wanted.items()}
    return {
        name: pd.read_parquet(io.BytesIO(registry.read_output(rev, path, typed, champion)[0]))
        for name, path in wanted.items()
    }


def compare_revisions(
    reference: Any, candidate: Any, reference_splits: dict, candidate_splits: dict, params: Any, labels: tuple
) -> Comparison:
    """`compare` on the candidate's test split, leaving out every loan either revision trained or tuned on."""
    seen = [reference_splits["train"], reference_splits["validation"]]
    seen += [candidate_splits["train"], candidate_splits["validation"]]
    return compare(reference, candidate, candidate_splits["test"], seen, params, labels)
