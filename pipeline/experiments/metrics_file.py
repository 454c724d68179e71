"""`reports/metrics.json`, the test metrics evaluate writes, as runs and comparisons read it: in the workspace or
from a revision's bytes. (What each number means is the metric registry's, `pipeline.metrics`.)"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pipeline import paths
from pipeline.errors import UserError


def workspace_hint(path: str) -> str:
    """How to mend a report of the workspace's that cannot be read."""
    return f"restore it with `git checkout -- {path}`, or run `mlops repro`, which writes it anew"


WORKSPACE_HINT = workspace_hint(paths.METRICS)
# A revision's reports are as they were committed: mended by a run of that revision, not in place.
REVISION_REPORTS_HINT = "check that revision out and run `mlops repro`, or compare with another revision"
SHOWN_VALUE = 40  # characters of a bad value a message quotes: a hand-broken file may hold anything


def read_metrics(data: bytes | None, source: str = paths.METRICS, hint: str = WORKSPACE_HINT) -> dict:
    """A metrics file's bytes (at some revision: `source` says which, `hint` how to mend it) as a dict; {} when
    there is none. Every value must be a finite number: a NaN (which JSON readers accept), a string or a null
    would be compared as if measured (a NaN change is beyond any noise band) or end in a traceback."""
    if not data:
        return {}
    try:
        metrics = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        metrics = None
    if not isinstance(metrics, dict):
        raise UserError(f"{source} is not a JSON object of metrics", hint=hint)
    for key, value in metrics.items():
        if not is_finite_number(value):
            raise UserError(f"{source} holds {_cut(key)}: {_cut(json.dumps(value))}, not a finite number", hint=hint)
    return metrics


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_VALUE else text[:SHOWN_VALUE] + "..."


def is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
