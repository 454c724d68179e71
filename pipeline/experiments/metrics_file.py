"""`reports/metrics.json`, the test metrics evaluate writes, as runs and comparisons read it: in the workspace or
from a revision's bytes. (What each number means is the metric registry's, `pipeline.metrics`.)"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline import paths


def read_metrics(data: bytes | None) -> dict:
    """A metrics file's bytes (at some revision) as a dict; {} when there is none."""
    return json.loads(data) if data else {}


def workspace_metrics() -> dict:
    metrics_file = Path(paths.METRICS)
    return read_metrics(metrics_file.read_bytes() if metrics_file.exists() else None)
