"""`mlops serve`: score loans over HTTP with the champion (or a revision's model), with a challenger on a share of
traffic or a shadow, logging every scoring. The work is `pipeline.serving.server`; FastAPI and uvicorn are
imported only when the server starts."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.options import ServeLogDir, listen_address, ranged_float, ranged_int, revision

STOPPED_SERVING_SAID = "the requests in flight were answered, and every answered loan is in the prediction log."
STOPPED_SERVING_FORCED = (
    "forced by a second Ctrl-C: requests in flight were cut off, and the prediction log may lack its last loans."
)


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
            parser=revision("--rev", "lending-risk@prod"),
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.", parser=listen_address)] = "127.0.0.1",
    port: Annotated[int, ranged_int("--port", 1, 65535, example="8080", help="Port to listen on.")] = 8000,
    challenger: Annotated[
        str | None,
        typer.Option(
            help="A revision or registry reference whose model scores --share of loans (by id hash).",
            parser=revision("--challenger", "lending-risk@v1.2.0"),
        ),
    ] = None,
    share: Annotated[
        float | None,
        ranged_float("--share", 0.0, 1.0, example="0.1", help="The challenger's share of loans (default 0.1)."),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(
            help="A revision or registry reference whose model scores every loan, logged, never returned.",
            parser=revision("--shadow", "lending-risk@v1.2.0"),
        ),
    ] = None,
    log_dir: ServeLogDir = Path("logs"),
    log_max_mb: Annotated[
        float,
        ranged_float("--log-max-mb", 0.001, 1_000_000, example="50", help="Rotate the prediction log above this size."),
    ] = 50.0,
    max_connections: Annotated[
        int,
        ranged_int(
            "--max-connections",
            1,
            1_000_000,
            example="1000",
            help="Serve at most this many connections at once; a request on one more is answered 503 with Retry-After.",
        ),
    ] = 1000,
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, /version, /metrics."""
    from pipeline.versioning.journal import stops_unwound

    # SIGTERM or SIGHUP while the models load (seconds) ends it as Ctrl-C does, with a word: the default ended it
    # silently (status -15); once serving, the server takes them (`Server.run`). A hangup ignored from the start
    # (`nohup mlops serve`) stays ignored, as in every command.
    with stops_unwound():
        from pipeline.serving.server import address, prepare_server

        log_max_bytes = int(log_max_mb * 1024 * 1024)
        server = prepare_server(rev, host, port, challenger, share, shadow, log_dir, log_max_bytes, max_connections)
    typer.echo(server.start_line)
    typer.echo(f"Serving on http://{address(host, port)} (POST /predict; GET /health, /version, /metrics)")
    stop = server.run()
    if stop is not None:
        said = STOPPED_SERVING_FORCED if stop.forced else STOPPED_SERVING_SAID
        if stop.unlogged and not stop.forced:  # the log failed (said when it did): not every loan is in it
            said = (
                f"the requests in flight were answered; {stop.unlogged} answered loan(s) could not be written to the "
                "prediction log (see above)."
            )
        typer.echo(f"Stopped by {signal.Signals(stop.signum).name}: {said}", err=True)
        raise typer.Exit(128 + stop.signum)
