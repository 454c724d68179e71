"""Where the time goes, for the notes of missed targets: import profiles (`python -X importtime`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.measure import bench_env


def import_profile(statement: str, cwd: Path | None = None) -> list[tuple[str, float]]:
    """(top-level package, seconds spent in its own modules) imported by `statement`, slowest first."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=cwd,
        env=bench_env(),
        capture_output=True,
        text=True,
    )
    totals: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        if not own.strip().isdigit():
            continue  # the header
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(own) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])


def slowest_imports(statement: str, top: int = 4, cwd: Path | None = None) -> str:
    profile = import_profile(statement, cwd)
    total = sum(seconds for _, seconds in profile)
    listed = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in profile[:top])
    return f"imports {total:.2f} s ({listed})"
