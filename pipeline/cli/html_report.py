"""`mlops report`: one self-contained HTML page comparing the workspace with a revision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.errors import UserError


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    out: Annotated[Path, typer.Option(help="Where to write the HTML page.")] = Path("report.html"),
    against: Annotated[str, typer.Option(help="The revision to compare with (a commit, branch or tag).")] = "HEAD",
) -> None:
    """Write one HTML page (no request leaves the machine): the metric diff table, both revisions' ROC,
    precision-recall, calibration, confusion matrix and importance overlaid, and the model card."""
    from pipeline import dvc_seam, report_html
    from pipeline.output_paths import check_output_path

    dvc_seam.require_repo()
    out.parent.mkdir(parents=True, exist_ok=True)
    check_output_path(out)
    rev = dvc_seam.resolve_commit(against)
    if rev is None:
        raise UserError(f"--against {against}: no such revision", hint="e.g. --against HEAD or origin/main")
    workspace = report_html.read_reports(lambda path: _read_file(path))
    reference = report_html.read_reports(lambda path: dvc_seam.read_at(rev, path))
    if not workspace.metrics:
        raise UserError("the workspace has no reports/metrics.json", hint="run `mlops repro` first")
    page = report_html.render(workspace, reference, "workspace", f"{against} ({rev[:8]})")
    temporary = out.with_name(out.name + ".partial")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(out)
    typer.echo(f"Wrote {out} ({len(page) // 1024} KB): open it in a browser.")


def _read_file(path: str) -> bytes | None:
    target = Path(path)
    return target.read_bytes() if target.is_file() else None
