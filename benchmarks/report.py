"""The results: one table (`results.md`) and the same rows with the machine, date and versions (`results.json`)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ("measure", "ours", "anchor", "ratio", "target", "status", "note")
PACKAGES = ("dvc", "pre-commit", "pre-commit-hooks", "scikit-learn", "pandas", "pyarrow", "numpy", "pandera")


@dataclass
class Row:
    measure: str
    ours: str
    anchor: str
    ratio: str
    target: str
    status: str  # pass | miss | info | skip
    note: str = ""


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def megabytes(value: float) -> str:
    return f"{value:,.0f} MB"


def ratio_row(
    measure: str, ours: float, anchor: float, max_ratio: float | None, why_miss: str = "", unit=seconds, note: str = ""
) -> Row:
    """ours vs anchor; pass when ours/anchor <= max_ratio (no target: an informative row)."""
    ratio = ours / anchor if anchor else float("inf")
    if max_ratio is None:
        return Row(measure, unit(ours), unit(anchor), f"{ratio:.2f}x", "—", "info", note)
    passed = ratio <= max_ratio
    return Row(
        measure,
        unit(ours),
        unit(anchor),
        f"{ratio:.2f}x",
        f"≤ {max_ratio:g}x",
        "pass" if passed else "miss",
        note if passed else _join(note, why_miss),
    )


def absolute_row(
    measure: str, ours: float, anchor: float | None, limit: float, why_miss: str = "", note: str = ""
) -> Row:
    """ours against an absolute limit in seconds (the anchor shown for context)."""
    passed = ours <= limit
    anchor_text, ratio = ("—", "—") if anchor is None else (seconds(anchor), f"{ours / anchor:.2f}x")
    return Row(
        measure,
        seconds(ours),
        anchor_text,
        ratio,
        f"≤ {limit:g} s",
        "pass" if passed else "miss",
        note if passed else _join(note, why_miss),
    )


def skipped_row(measure: str, why: str) -> Row:
    return Row(measure, "—", "—", "—", "—", "skip", why)


def _join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def with_context_folded(rows: list[Row]) -> list[Row]:
    """The table's rows: an `info` row (a figure with no target) becomes part of the note of the measured row
    before it, so that every row of the table is a pass or a miss."""
    folded: list[Row] = []
    for row in rows:
        if row.status == "info" and folded:
            context = f"{row.measure}: {row.ours} (anchor {row.anchor}{', ' + row.note if row.note else ''})"
            folded[-1] = replace(folded[-1], note=_join(folded[-1].note, context))
        else:
            folded.append(row)
    return folded


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in with_context_folded(rows):
        cells = [str(getattr(row, column)).replace("|", "\\|").replace("\n", " ") for column in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> dict:
    memory_kb = next(
        (int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line), 0
    )
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "load_average_at_start": os.getloadavg(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def versions() -> dict:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["git"] = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return found


def write_markdown(rows: list[Row], mode: str, finished: datetime.datetime, directory: Path = HERE) -> Path:
    header = (
        f"# Benchmark results\n\n`python -m benchmarks{' --quick' if mode == 'quick' else ''}`, "
        f"{finished:%Y-%m-%d %H:%M} UTC, {mode} mode, on {os.cpu_count()} cores "
        f"(machine and versions in `results.json`).\nMedians of alternating side-by-side runs.\n\n"
    )
    markdown = directory / "results.md"
    markdown.write_text(header + markdown_table(rows), encoding="utf-8")
    return markdown


def write_results(
    rows: list[Row], mode: str, settings: dict, started: datetime.datetime, directory: Path = HERE
) -> tuple[Path, Path]:
    finished = datetime.datetime.now(datetime.UTC)
    markdown = write_markdown(rows, mode, finished, directory)
    document = {
        "mode": mode,
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "settings": settings,
        "rows": [asdict(row) for row in rows],
    }
    data = directory / "results.json"
    data.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return markdown, data


README = HERE.parent / "README.md"
README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def update_readme(results: Path, readme: Path = README) -> None:
    """Put the results table (and its one-line header) between the README's benchmark markers."""
    text = readme.read_text(encoding="utf-8")
    before, start, rest = text.partition(README_START)
    _, end, after = rest.partition(README_END)
    if not start or not end:
        return
    table = results.read_text(encoding="utf-8").split("\n", 2)[2].strip()  # without the "# Benchmark results" title
    readme.write_text(f"{before}{README_START}\n{table}\n{README_END}{after}", encoding="utf-8")


def render_saved(directory: Path = HERE) -> Path:
    """results.md again from results.json (after a change to how the table is drawn), without measuring."""
    document = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    rows = [Row(**row) for row in document["rows"]]
    finished = datetime.datetime.fromisoformat(document["finished"])
    return write_markdown(rows, document["mode"], finished, directory)
