"""`python -m benchmarks [--quick] [--only SECTION] [--keep]`: measure this project against its anchors, side by
side, and write `benchmarks/results.md` (one table) and `benchmarks/results.json` (the same, with the machine,
date and versions). Everything runs in temporary copies; the repository itself is never touched."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks import hook_rows, pipeline_rows, serve_rows
from benchmarks.measure import CommandFailed
from benchmarks.report import Row, markdown_table, render_saved, skipped_row, update_readme, write_results


@dataclasses.dataclass(frozen=True)
class Settings:
    repetitions: int
    pipeline_repetitions: int
    scale_repetitions: int
    commit_sizes: tuple[int, ...]
    hook_sizes: tuple[int, ...]
    staged_counts: tuple[int, ...]
    scale_sizes: tuple[int, ...]
    subset_at: int
    serve_seconds: float


FULL = Settings(
    repetitions=7,
    pipeline_repetitions=5,
    scale_repetitions=3,
    commit_sizes=(20, 10_000, 50_000),
    hook_sizes=(20, 50_000),
    staged_counts=(1, 1_000),
    scale_sizes=(100_000, 1_000_000),
    subset_at=1_000_000,
    serve_seconds=10.0,
)
QUICK = Settings(
    repetitions=3,
    pipeline_repetitions=2,
    scale_repetitions=1,
    commit_sizes=(20, 10_000),
    hook_sizes=(20, 10_000),
    staged_counts=(1, 1_000),
    scale_sizes=(100_000,),
    subset_at=100_000,
    serve_seconds=3.0,
)
SECTIONS = {
    "hooks": hook_rows.all_rows,
    "runs": pipeline_rows.run_rows,
    "scale": pipeline_rows.scale_section,
    "serve": serve_rows.serve_section,
}


def run_section(name: str, work: Path, settings: Settings) -> list[Row]:
    started = time.perf_counter()
    print(f"[benchmarks] {name} ...", flush=True)
    section_dir = work / name
    section_dir.mkdir()
    try:
        rows = SECTIONS[name](section_dir, settings)
    except CommandFailed as failure:
        first_line = str(failure).splitlines()[0]
        print(f"[benchmarks] {name} failed:\n{failure}", flush=True)
        rows = [skipped_row(f"{name} section", f"a command failed: {first_line}")]
    print(f"[benchmarks] {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    print(markdown_table(rows), flush=True)
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes, no 1M rows")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run only these sections")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    parser.add_argument(
        "--render", action="store_true", help="only redraw results.md (and the README's table) from results.json"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.render:
        update_readme(render_saved())
        print("[benchmarks] redrew results.md and the README's table from results.json")
        return
    settings = QUICK if args.quick else FULL
    started = datetime.datetime.now(datetime.UTC)
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    os.environ["PRE_COMMIT_HOME"] = str(work / "pre-commit-home")
    rows: list[Row] = []
    try:
        for name in args.only or SECTIONS:
            rows += run_section(name, work, settings)
    finally:
        if args.keep:
            print(f"[benchmarks] work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    markdown, data = write_results(rows, mode, dataclasses.asdict(settings), started)
    print(f"[benchmarks] wrote {markdown} and {data}")
    if not args.quick and not args.only:  # the README carries the latest full table
        update_readme(markdown)
        print("[benchmarks] updated the table in README.md")


if __name__ == "__main__":
    main()
