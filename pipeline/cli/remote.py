"""`mlops remote set`: where DVC keeps data and models for the team."""

from __future__ import annotations

from typing import Annotated

import typer

remote_app = typer.Typer(help="Where DVC keeps data and models for the team.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(remote_app, name="remote")


@remote_app.command("set")
def remote_set(
    url: Annotated[str, typer.Argument(help="A local folder, or s3://BUCKET/PREFIX.")],
    endpoint_url: Annotated[str | None, typer.Option(help="An S3-compatible server's URL (MinIO, moto, ...).")] = None,
) -> None:
    """Make URL the default remote (does not contact it). Credentials belong in .dvc/config.local only."""
    from pipeline.versioning import remotes

    result = remotes.set_remote(url, endpoint_url)
    where = f"{result.name!r}: {url}" + (f" (endpoint {endpoint_url})" if endpoint_url else "")
    typer.echo(f"Default remote is now {where}" if result.changed else f"Default remote is already {where}")
    if result.name == "s3":
        typer.echo(
            "Credentials: AWS_* environment variables, ~/.aws, or "
            "`dvc remote modify --local s3 access_key_id ...` (kept out of git in .dvc/config.local)."
        )
