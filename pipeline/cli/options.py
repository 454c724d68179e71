"""Options that several commands share: one definition each, so their names and help read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# --- the loop: serving, monitoring, deploying -------------------------------------------------------------------

LogDir = Annotated[Path, typer.Option(help="The prediction log folder of `mlops serve`.")]
Since = Annotated[str | None, typer.Option(help="Only traffic since: 24h, 7d, 30m, or a date/time.")]
