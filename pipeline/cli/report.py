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
    from pipeline.experiments import report as report_html
    from pipeline.versioning import dvc_seam
    from pipeline.versioning.output_paths import check_output_path

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
    label = f"{against} ({rev[:8]})"
    page = report_html.render(workspace, reference, "workspace", label, unseen_section(rev, label))
    temporary = out.with_name(out.name + ".partial")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(out)
    typer.echo(f"Wrote {out} ({len(page) // 1024} KB): open it in a browser.")


def unseen_section(rev: str, label: str) -> str:
    """The paragraph comparing both models on the workspace's test loans neither trained on (or why not)."""
    import html

    from pipeline.experiments.compare import compare_revisions, splits_at
    from pipeline.experiments.report import unseen_paragraph
    from pipeline.params import load_params
    from pipeline.serving.app import load_served_model

    try:
        comparison = compare_revisions(
            load_served_model(rev),
            load_served_model(None),
            splits_at(rev),
            splits_at(None),
            load_params(),
            (label, "workspace"),
        )
    except (UserError, OSError) as error:
        return f"<p>No comparison on unseen loans: {html.escape(str(error))}.</p>"
    return unseen_paragraph(comparison)


def _read_file(path: str) -> bytes | None:
    target = Path(path)
    return target.read_bytes() if target.is_file() else None
