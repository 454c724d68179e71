"""`reports/metrics.json`, the test metrics evaluate writes, as runs and comparisons read it: in the workspace or
from a revision's bytes. (What each number means is the metric registry's, `pipeline.metrics`.)"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline import paths
from pipeline.errors import UserError


def read_metrics(data: bytes | None, source: str = paths.METRICS) -> dict:
    """A metrics file's bytes (at some revision: `source` says which) as a dict; {} when there is none."""
    if not data:
        return {}
    try:
        metrics = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        metrics = None
    if not isinstance(metrics, dict):
        raise UserError(
            f"{source} is not a JSON object of metrics",
            hint=f"restore it with `git checkout -- {paths.METRICS}`, or run `mlops repro`, which writes it anew",
        )
    return metrics


def workspace_metrics() -> dict:
    metrics_file = Path(paths.METRICS)
    return read_metrics(metrics_file.read_bytes() if metrics_file.exists() else None)


def workspace_metrics_if_readable() -> dict:
    """The workspace's metrics to show a run's change against; none when they cannot be read
    (a hand-broken file is what the run writes anew)."""
    try:
        return workspace_metrics()
    except UserError:
        return {}
