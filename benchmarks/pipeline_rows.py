"""The CLI against DVC's, full runs against the one-process floor, subset runs, and the pipeline at scale."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import workspaces
from benchmarks.explain import slowest_imports
from benchmarks.generate import generate
from benchmarks.measure import Case, alternate
from benchmarks.report import Row, absolute_row, megabytes, ratio_row
from pipeline.experiments.warm_stages import COMMON_IMPORTS, MODEL_IMPORTS

FLOOR = [sys.executable, str(Path(__file__).with_name("floor.py"))]


def cli_rows(repo: Path, repetitions: int) -> list[Row]:
    pairs = {
        "help": (Case("mlops --help", ["mlops", "--help"], repo), Case("dvc --version", ["dvc", "--version"], repo)),
        "status": (Case("mlops status", ["mlops", "status"], repo), Case("dvc status", ["dvc", "status"], repo)),
        "repro": (Case("mlops repro", ["mlops", "repro"], repo), Case("dvc repro", ["dvc", "repro"], repo)),
    }
    for ours, anchor in pairs.values():
        alternate([ours, anchor], repetitions)
    (help_, version), (status, dvc_status), (repro, dvc_repro) = pairs.values()
    return [
        absolute_row(
            "`mlops --help` (anchor `dvc --version`)",
            help_.seconds,
            version.seconds,
            0.3,
            slowest_imports("import pipeline.cli", cwd=repo),
        ),
        ratio_row(
            "`mlops status` vs `dvc status` (up to date)",
            status.seconds,
            dvc_status.seconds,
            0.3,
            slowest_imports("import pipeline.cli, hooks.pipeline_state", cwd=repo),
        ),
        ratio_row(
            "no-op `mlops repro` vs no-op `dvc repro`",
            repro.seconds,
            dvc_repro.seconds,
            0.3,
            "a no-op `mlops repro` reads dvc.lock and params.yaml and hashes the dependencies itself, without "
            "Typer's parsing, pydantic or DVC (as `mlops status`), then prints the metrics table; "
            + slowest_imports("import pipeline.cli, hooks.pipeline_state, rich.table", cwd=repo),
        ),
    ]


MODEL_FILE = "pipeline.training.model_file"
# As `preload` imports them for a model stage: the listed modules, then skops as the model file imports it.
WARM_IMPORTS = "import " + ", ".join([*COMMON_IMPORTS, *MODEL_IMPORTS, MODEL_FILE]) + f"; {MODEL_FILE}.skops_io()"
SUBSET_WHY = (
    "on an up-to-date workspace a subset run starts no DVC and copies nothing: train and evaluate run in a scratch "
    "directory linking the workspace's split files, in forks of a stage runner that this user's warm stage server "
    "(`mlops-stages`, started by the first run) forks with pandas, scikit-learn and skops imported, and the "
    "experiment is recorded as `dvc exp run` records it (the model into DVC's cache, a commit on `refs/exps/`). "
    "The first run after a change of code or libraries pays those imports once ({imports}). CPU counts the "
    "command's own processes, not the server's forks that run the stages"
)
FULL_RUN_WHY = (
    "stages run in forks of two stage runners that the warm stage server forks with pandas, scikit-learn and "
    "skops imported (what it imported is frozen out of the garbage collector's walks; the first run after a change "
    "of code or libraries imports them on the other core while DVC starts), so the rest is DVC: its start, "
    "collecting the pipeline, hashing and caching every output and writing dvc.lock, plus re-importing the "
    "project's own modules in each fork (they may differ in an experiment's copy); CPU counts the command's own "
    "processes, not the server's forks that run the stages"
)


def cpu_note(ours: Case, anchor: Case) -> str:
    """CPU time of both (every process they waited for): steadier than wall time on a shared machine."""
    ratio = ours.cpu_seconds / anchor.cpu_seconds if anchor.cpu_seconds else float("inf")
    return f"CPU {ours.cpu_seconds:.2f} s vs {anchor.cpu_seconds:.2f} s ({ratio:.2f}x)"


# --force: each repetition repeats the last one, and a repeated subset run is otherwise skipped as the experiment
# it repeats; the rows measure a run that trains.
SUBSET_RUN = ["mlops", "repro", "--subset", "0.1", "--force"]
NO_STAGE_SERVER = {"MLOPS_STAGE_SERVER": "0"}


def full_run_rows(repo: Path, repetitions: int) -> list[Row]:
    """`mlops repro --force` against the stage functions in one process, and `--subset 0.1` against it."""
    full = Case("mlops repro --force", ["mlops", "repro", "--force"], repo)
    floor = Case("floor", [*FLOOR, "pipeline"], repo)
    subset = Case("mlops repro --subset 0.1", SUBSET_RUN, repo)
    alternate([full, floor, subset], repetitions, warmup=False)
    label = "default data, 9,857 loans"
    imports = slowest_imports(WARM_IMPORTS, cwd=repo)
    return [
        ratio_row(
            f"full `mlops repro` vs the stage functions in one process ({label})",
            full.seconds,
            floor.seconds,
            1.6,
            FULL_RUN_WHY,
            note=cpu_note(full, floor),
        ),
        ratio_row(
            f"`mlops repro --subset 0.1` vs full run ({label})",
            subset.seconds,
            full.seconds,
            0.4,
            SUBSET_WHY.format(imports=imports),
            note=cpu_note(subset, full),
        ),
    ]


def status_at_scale_row(repo: Path, size: int, repetitions: int) -> Row:
    """`mlops status` where the data is large: DVC answers from its state database, `mlops` from its md5 memory."""
    status, dvc_status = Case("mlops status", ["mlops", "status"], repo), Case("dvc status", ["dvc", "status"], repo)
    alternate([status, dvc_status], repetitions)
    return ratio_row(
        f"`mlops status` vs `dvc status` ({size:,} rows, up to date)",
        status.seconds,
        dvc_status.seconds,
        0.3,
        "both hash ~60 MB of data and outputs once, then answer from the files' stat: DVC from its state database, "
        "`mlops` from `hooks/md5_cache.py`; " + slowest_imports("import pipeline.cli, hooks.pipeline_state", cwd=repo),
    )


def scale_rows(work: Path, sizes: tuple[int, ...], repetitions: int, subset_at: int | None) -> list[Row]:
    rows, peaks = [], {}
    for size in sizes:
        repo = workspaces.copy_project(work / f"scale-{size}")
        source = f"data/external/loans-{size}.parquet"
        generate(size, repo / source)
        workspaces.set_data_source(repo, source)
        workspaces.track_with_dvc(repo, source)  # a subset run (`dvc exp run --temp`) sees committed data only
        full = Case("mlops repro --force", ["mlops", "repro", "--force"], repo)
        bare = Case("bare fit", [*FLOOR, "bare-fit"], repo)
        subset = Case("mlops repro --subset 0.1", SUBSET_RUN, repo)
        # Memory is read off the processes a command waits for: the stage server's forks are not the command's.
        in_own_forks = Case("mlops repro --force, stages in its own forks", full.cmd, repo, env=NO_STAGE_SERVER)
        # The first full run trains and fills the cache a subset run needs.
        cases = [full, bare, subset] if size == subset_at else [full, bare]
        alternate([*cases, in_own_forks], repetitions, warmup=False)
        peaks[size] = in_own_forks.peak_mb
        rows.append(
            ratio_row(
                f"pipeline time vs bare fit of the same model ({size:,} rows)",
                full.seconds,
                bare.seconds,
                1.5,
                "the bare fit is the fit alone, with the memory settings every process of the project has "
                "(`pipeline/__init__.py`; with numpy's and pyarrow's defaults, at 1M rows, a full run took 1.7x as "
                "long and the bare fit 1.65x); the pipeline also ingests, validates every row (pandera), splits (a "
                "hash of every loan's content, so appended data moves no loan), scores the validation split to "
                "choose the threshold, and evaluates on the test split (model load, predictions, DeLong interval, "
                "permutation importance on 2,000 rows), each output hashed and cached by DVC: at 1M rows these "
                "stages' own work, in one process, is most of the difference (`python -m "
                f"benchmarks.floor pipeline`); {FULL_RUN_WHY}",
                note=cpu_note(full, bare),
            )
        )
        rows.append(
            ratio_row(
                f"pipeline peak memory vs bare fit ({size:,} rows)",
                in_own_forks.peak_mb,
                bare.peak_mb,
                1.5,
                "peak of the largest single process (`mlops` with DVC, or a stage's warm fork), measured with "
                "`MLOPS_STAGE_SERVER=0` so that every stage runs in a fork of the command (a fork of the stage "
                "server imports the same and does the same work)",
                unit=megabytes,
            )
        )
        if size == subset_at:
            rows.append(status_at_scale_row(repo, size, repetitions))
            rows.append(
                ratio_row(
                    f"`mlops repro --subset 0.1` vs full run ({size:,} rows)",
                    subset.seconds,
                    full.seconds,
                    0.2,
                    SUBSET_WHY.format(imports=slowest_imports(WARM_IMPORTS, cwd=repo)),
                    note=cpu_note(subset, full),
                )
            )
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        rows.append(
            ratio_row(
                f"pipeline memory growth {small:,} → {large:,} rows vs data growth",
                peaks[large] / peaks[small],
                large / small,
                1.0,
                "memory grows faster than the data",
                unit=lambda v: f"{v:.2f}x",
            )
        )
    return rows


def run_rows(work: Path, settings) -> list[Row]:
    repo = workspaces.trained_copy(work / "trained")
    return cli_rows(repo, settings.repetitions) + full_run_rows(repo, settings.pipeline_repetitions)


def scale_section(work: Path, settings) -> list[Row]:
    return scale_rows(work, settings.scale_sizes, settings.scale_repetitions, settings.subset_at)
