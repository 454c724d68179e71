"""`mlops serve`: score loans over HTTP with the champion (or a revision's model), with a challenger on a share of
traffic or a shadow, logging every scoring. FastAPI, uvicorn and the model are imported inside the command."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from pipeline.errors import UserError


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    rev: Annotated[
        str | None,
        typer.Option(
            "--rev",
            "--model",
            help="Serve this revision's model, or a registry reference (lending-risk@prod, lending-risk@v1.2.0). "
            "Default: the champion (the model in stage prod), else the workspace's model, following promotions "
            "while running.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    challenger: Annotated[
        str | None,
        typer.Option(help="A revision or registry reference whose model scores --share of loans (by id hash)."),
    ] = None,
    share: Annotated[float | None, typer.Option(help="The challenger's share of loans, 0..1 (default 0.1).")] = None,
    shadow: Annotated[
        str | None,
        typer.Option(help="A revision or registry reference whose model scores every loan, logged, never returned."),
    ] = None,
    log_dir: Annotated[Path, typer.Option(help="Where the prediction log goes.")] = Path("logs"),
    log_max_mb: Annotated[float, typer.Option(help="Rotate the prediction log above this size.", min=0.001)] = 50.0,
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, /version, /metrics."""
    from pipeline.versioning import dvc_seam

    dvc_seam.require_repo()
    share = check_rollout(challenger, share, shadow)
    require_free_port(host, port)
    app = prepare_app(rev, challenger, share, shadow, log_dir, int(log_max_mb * 1024 * 1024))
    import uvicorn

    typer.echo(f"Serving on http://{host}:{port} (POST /predict; GET /health, /version, /metrics)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def check_rollout(challenger: str | None, share: float | None, shadow: str | None) -> float:
    """The challenger's share, after checking the rollout options fit together."""
    if challenger and shadow:
        raise UserError("--challenger and --shadow cannot be combined", hint="roll out one new model at a time")
    if share is not None and not challenger:
        raise UserError("--share needs --challenger REV", hint="e.g. --challenger my-branch --share 0.1")
    share = 0.1 if share is None else share
    if not 0.0 <= share <= 1.0:
        raise UserError(f"--share {share}: must be between 0 and 1", hint="e.g. --share 0.1 for a tenth of loans")
    return share


def require_free_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(f"cannot listen on {host}:{port}: {error.strerror}", hint="choose another --port") from None


def prepare_app(rev, challenger, share, shadow, log_dir: Path, log_max_bytes: int):
    from pipeline.serving import registry
    from pipeline.serving.app import ChampionFollower, Deployment, build_app, load_served_model
    from pipeline.serving.telemetry import PredictionLog

    follow = rev is None
    champion_commit = registry.champion_commit() if follow else None
    deployment = Deployment(
        champion=load_served_model(rev if rev is not None else champion_commit),
        challenger=load_served_model(challenger) if challenger else None,
        share=share,
        shadow=load_served_model(shadow) if shadow else None,
    )
    typer.echo(start_line(deployment, follow, champion_commit))
    follower = ChampionFollower(deployment) if follow else None
    return build_app(deployment, PredictionLog(log_dir, log_max_bytes), follower)


def start_line(deployment, follow: bool, champion_commit: str | None) -> str:
    """Which models serve which loans: the champion (and where it comes from), the challenger or the shadow."""
    from pipeline.serving.registry import describe

    def model(served) -> str:
        where = "the workspace's model" if served.rev == "workspace" else describe(served.rev)
        return f"{where}, model {served.md5}"

    champion = deployment.champion
    if follow:
        origin = "the model in stage prod" if champion_commit else "no model in stage prod yet"
        origin += "; following promotions"
    else:
        origin = "chosen with --model; not following promotions"
    if deployment.challenger:
        return (
            f"champion: {model(champion)} ({origin}), {1 - deployment.share:.0%} of loans; "
            f"challenger: {model(deployment.challenger)}, {deployment.share:.0%} of loans"
        )
    line = f"champion: {model(champion)} ({origin}), 100% of loans"
    if deployment.shadow:
        line += f"; shadow: {model(deployment.shadow)}, scores 100% of loans, never returned"
    return line
