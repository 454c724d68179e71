"""The HTML report: one self-contained page (inline CSS and SVG drawn here; no script, font, stylesheet or image
is fetched) comparing two revisions' metrics, plots and model cards: pure functions over the reports' data, and
`write_report`, which reads them from the workspace and a revision and writes the page."""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline import metrics as metric_rules
from pipeline import paths
from pipeline.errors import UserError
from pipeline.experiments.compare import compare_revisions, splits_at
from pipeline.experiments.metrics_file import REVISION_REPORTS_HINT, is_finite_number, read_metrics, workspace_hint
from pipeline.experiments.settings import Run, flat_params, judged_changes
from pipeline.params import load_params
from pipeline.serving import registry
from pipeline.serving.app import load_served_model
from pipeline.versioning import dvc_seam
from pipeline.versioning.output_paths import check_output_path, output_path, write_atomically
from pipeline.versioning.pipeline_status import stale_stages

PLOTS = {
    "roc": ("ROC curve", "fpr", "tpr", "false positive rate", "true positive rate"),
    "precision_recall": ("Precision-recall", "recall", "precision", "recall", "precision"),
    "calibration": ("Calibration", "prob_pred", "prob_true", "predicted probability", "observed frequency"),
}
COLORS = ("#1f77b4", "#d62728")  # workspace, reference
WIDTH, HEIGHT, MARGIN = 360, 300, 46
MAX_POINTS = 400


@dataclass
class Reports:
    metrics: dict = field(default_factory=dict)
    plots: dict[str, list[dict]] = field(default_factory=dict)
    model_card: str = ""
    params: dict = field(default_factory=dict)  # flat, as comparisons read them; {} when unknown


def read_reports(read: Callable[[str], bytes | None], revision: str | None = None) -> Reports:
    """A revision's reports through `read(path) -> bytes | None` (the working tree or `git show`); `revision` names
    it in a refusal (None: the workspace)."""

    def source(path: str) -> tuple[str, str]:  # how a refusal names the file, and how to mend it
        return (path, workspace_hint(path)) if revision is None else (f"{revision}'s {path}", REVISION_REPORTS_HINT)

    metrics = read_metrics(read(paths.METRICS), *source(paths.METRICS))
    plots = {}
    for name in (*PLOTS, "confusion_matrix", "importance"):
        path = f"reports/plots/{name}.json"
        data = read(path)
        if data:
            plots[name] = plot_rows(data, name, *source(path))
    card = read("reports/model_card.md")
    return Reports(metrics, plots, card.decode() if card else "")


def plot_rows(data: bytes, name: str, where: str, hint: str) -> list[dict]:
    """The rows of plot file `name` (found at `where`), refused when the charts cannot draw them: a hand-broken file
    ended the report in a traceback."""
    try:
        rows = json.loads(data).get(name, [])
    except (ValueError, UnicodeDecodeError, AttributeError):  # not JSON, or no object
        rows = None
    if not isinstance(rows, list) or not all(isinstance(row, dict) and _drawable(name, row) for row in rows):
        raise UserError(f"{where} is not {name} plot data of finite numbers", hint=hint)
    return rows


def _drawable(name: str, row: dict) -> bool:
    if name in PLOTS:
        return all(is_finite_number(row.get(key)) for key in PLOTS[name][1:3])
    if name == "importance":
        return isinstance(row.get("feature"), str) and is_finite_number(row.get("importance"))
    return is_finite_number(row.get("count", 1))  # older revisions wrote one row per loan, without a count


def render(current: Reports, reference: Reports, current_label: str, reference_label: str, unseen: str = "") -> str:
    """The page; `unseen` is the paragraph on both models scored on the loans neither trained on."""
    labels = (current_label, reference_label)
    both = (current, reference)
    charts = [line_chart(name, both, labels) for name in PLOTS]
    charts.append(confusion_matrices(both, labels))
    charts.append(importance_chart(both, labels))
    body = REPORT_BODY.format(
        legend=legend(labels),
        table=metric_table(current, reference, labels) + unseen,
        charts="\n".join(f'<figure class="chart">{chart}</figure>' for chart in charts),
        card_current=markdown_to_html(current.model_card) or "<p>(no model card)</p>",
        card_reference=markdown_to_html(reference.model_card) or "<p>(no model card)</p>",
        current=html.escape(current_label),
        reference=html.escape(reference_label),
    )
    return page(f"Model report: {current_label} vs {reference_label}", body)


def legend(labels: tuple[str, str]) -> str:
    return " ".join(
        f'<span class="key" style="border-color:{color}">{html.escape(label)}</span>'
        for color, label in zip(COLORS, labels, strict=True)
    )


def metric_table(current_reports: Reports, reference_reports: Reports, labels: tuple[str, str]) -> str:
    """Each metric of both revisions, its change in words: no verdict where they measured apart (another seed,
    target or costs), as in `mlops exp compare`, whose rule this is."""
    current, reference = current_reports.metrics, reference_reports.metrics
    changes = judged_changes(
        Run(labels[0], current_reports.params, current),
        Run(labels[1], reference_reports.params, reference),
        metric_rules.judged_metrics(),
    )
    rows = []
    for row in changes:
        change = "" if row.change is None else f"{row.change:+.4f}"
        shown_before = "-" if row.reference is None else f"{row.reference:.4f}"
        rows.append(
            f'<tr class="{row.word.replace(" ", "-")}"><td>{row.metric.name}</td><td>{row.current:.4f}</td>'
            f"<td>{shown_before}</td><td>{change}</td><td>{row.word}</td></tr>"
        )
    head = (
        f"<tr><th>metric</th><th>{html.escape(labels[0])}</th><th>{html.escape(labels[1])}</th>"
        "<th>change</th><th></th></tr>"
    )
    noise = ""
    beyond = metric_rules.beyond_noise(current, reference)
    apart = next((row.word for row in changes if row.metric is metric_rules.PRIMARY), "")
    if apart.startswith("other"):  # other test loans, another target
        noise = f"<p>No verdict on the recorded metrics: {apart} (see both models on the same loans below).</p>"
    elif beyond is not None:
        low, high = metric_rules.NOISE_INTERVAL.interval_keys
        noise = (
            f"<p>The {metric_rules.PRIMARY.label} change is {'more' if beyond else 'less'} than half the width of "
            f"the {html.escape(labels[1])} DeLong interval [{reference[low]:.3f}, {reference[high]:.3f}].</p>"
        )
    return f'<table class="metrics">{head}{"".join(rows)}</table>{noise}'


def unseen_paragraph(comparison) -> str:
    """Both models on the same unseen loans: the count, the paired ROC AUC interval and its word."""
    if comparison is None:
        return ""
    primary = metric_rules.PRIMARY
    if not comparison.enough:
        return f"<p><b>Both models on unseen loans:</b> {html.escape(comparison.too_few())}.</p>"
    return (
        f"<p><b>Both models {html.escape(comparison.basis())}:</b> {primary.label} "
        f"{comparison.reference[primary.name]:.4f} -> {comparison.candidate[primary.name]:.4f}, "
        f"{html.escape(comparison.interval())}: <b>{comparison.word}</b>.</p>"
    )


# --- SVG charts ---------------------------------------------------------------------------------------------


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    step = max(1, len(points) // MAX_POINTS)
    return points[::step] + ([points[-1]] if points and (len(points) - 1) % step else [])


def _scale(value: float, low: float, high: float, size: float) -> float:
    return (value - low) / ((high - low) or 1.0) * size


def _axes(title: str, x_label: str, y_label: str, high: float = 1.0) -> list[str]:
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    parts = [
        f'<text x="{WIDTH / 2}" y="18" class="title">{html.escape(title)}</text>',
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{inner_w}" height="{inner_h}" class="frame"/>',
    ]
    for i in range(6):
        fraction = i / 5
        x = MARGIN + fraction * inner_w
        y = HEIGHT - MARGIN - fraction * inner_h
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - MARGIN + 14}" class="tick">{fraction * high:.2g}</text>')
        parts.append(f'<text x="{MARGIN - 6}" y="{y + 4:.1f}" class="tick end">{fraction * high:.2g}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" class="label">{html.escape(x_label)}</text>')
    parts.append(
        f'<text x="12" y="{HEIGHT / 2}" class="label" transform="rotate(-90 12 {HEIGHT / 2})">'
        f"{html.escape(y_label)}</text>"
    )
    return parts


def _extent(name: str, series: list[list[tuple[float, float]]]) -> float:
    """The axes' upper end: 1 for ROC and precision-recall, the data's range (to 0.1) for calibration."""
    if name != "calibration":
        return 1.0
    highest = max((max(x, y) for points in series for x, y in points), default=1.0)
    return min(1.0, math.ceil(highest * 10 + 1e-9) / 10)


def line_chart(name: str, reports: tuple[Reports, Reports], labels: tuple[str, str]) -> str:
    title, x_key, y_key, x_label, y_label = PLOTS[name]
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    series = [_thin([(float(p[x_key]), float(p[y_key])) for p in report.plots.get(name, [])]) for report in reports]
    high = _extent(name, series)
    parts = _axes(title, x_label, y_label, high)
    if name in ("roc", "calibration"):
        parts.append(f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{MARGIN}" class="diag"/>')
    for points, color, label in reversed(list(zip(series, COLORS, labels, strict=True))):
        if not points:
            continue
        if name == "precision_recall":
            points.sort()
        coords = " ".join(
            f"{MARGIN + _scale(x, 0, high, inner_w):.1f},{HEIGHT - MARGIN - _scale(y, 0, high, inner_h):.1f}"
            for x, y in points
        )
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2">'
            f"<title>{html.escape(label)}</title></polyline>"
        )
    return _svg(parts, title)


def confusion_counts(records: list[dict]) -> Counter:
    """Counts per (actual, predicted): records carry a `count` (older revisions wrote one record per loan)."""
    counts: Counter = Counter()
    for r in records:
        counts[(str(r.get("actual")), str(r.get("predicted")))] += int(r.get("count", 1))
    return counts


def confusion_matrices(reports: tuple[Reports, Reports], labels: tuple[str, str]) -> str:
    parts = [f'<text x="{WIDTH / 2}" y="18" class="title">Confusion matrix at the threshold</text>']
    for index, (report, color, label) in enumerate(zip(reports, COLORS, labels, strict=True)):
        counts = confusion_counts(report.plots.get("confusion_matrix", []))
        actual = sorted({a for a, _ in counts})
        predicted = sorted({p for _, p in counts})
        top = 40 + index * 130
        parts.append(f'<text x="10" y="{top + 4}" class="small" fill="{color}">{html.escape(label)}</text>')
        for col, p in enumerate(predicted):
            parts.append(f'<text x="{130 + col * 100}" y="{top + 4}" class="small">{html.escape(p)}</text>')
        total = max(counts.values(), default=1)
        for row, a in enumerate(actual):
            y = top + 12 + row * 50
            parts.append(f'<text x="10" y="{y + 30}" class="small">actual {html.escape(a)}</text>')
            for col, p in enumerate(predicted):
                n = counts.get((a, p), 0)
                shade = 0.15 + 0.85 * n / total
                parts.append(
                    f'<rect x="{110 + col * 100}" y="{y}" width="96" height="46" fill="{color}" '
                    f'fill-opacity="{shade:.2f}"/>'
                )
                parts.append(f'<text x="{158 + col * 100}" y="{y + 29}" class="count">{n}</text>')
    return _svg(parts, "Confusion matrix", height=300)


def importance_chart(reports: tuple[Reports, Reports], labels: tuple[str, str], top: int = 12) -> str:
    tables = [{r["feature"]: float(r["importance"]) for r in report.plots.get("importance", [])} for report in reports]
    features = sorted(tables[0] or tables[1], key=lambda f: -(tables[0] or tables[1])[f])[:top]
    high = max([v for table in tables for f, v in table.items() if f in features] + [1e-9])
    width, left, row_h = 520, 170, 22
    height = 50 + row_h * len(features)
    parts = [f'<text x="{width / 2}" y="18" class="title">Permutation importance (top {len(features)})</text>']
    for i, feature in enumerate(features):
        y = 34 + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 13}" class="small end">{html.escape(feature)}</text>')
        for j, (table, color) in enumerate(zip(tables, COLORS, strict=True)):
            value = max(table.get(feature, 0.0), 0.0)
            bar = _scale(value, 0, high, width - left - 20)
            parts.append(
                f'<rect x="{left}" y="{y + j * 9}" width="{bar:.1f}" height="8" fill="{color}">'
                f"<title>{html.escape(labels[j])}: {value:.4f}</title></rect>"
            )
    return _svg(parts, "Permutation importance", width=width, height=height)


def _svg(parts: list[str], label: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(label)}">' + "".join(parts) + "</svg>"
    )


# --- The model card: Markdown through markdown-it-py (CommonMark plus tables; raw HTML in it is escaped) --------


def markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = renderer.parse(text)
    for token in tokens:  # the card's headings sit below the page's own
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 2, 6)}"
    page = renderer.renderer.render(tokens, renderer.options, {})
    return page.replace("<table>", '<table class="card">').strip()


_SHELL = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
h1 {{ font-size: 22px; }}
.key {{ border-left: 14px solid; padding-left: 6px; margin-right: 16px; }}
table {{ border-collapse: collapse; margin: 12px 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.better td:last-child {{ color: #1a7f37; font-weight: bold; }}
tr.worse td:last-child {{ color: #cf222e; font-weight: bold; }}
tr.worse.all td {{ color: #cf222e; font-weight: bold; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.chart {{ margin: 0; border: 1px solid #ddd; padding: 4px; background: #fff; }}
svg text {{ font-size: 11px; text-anchor: middle; fill: #333; }}
svg text.title {{ font-size: 13px; font-weight: bold; }}
svg text.end {{ text-anchor: end; }}
svg text.small {{ text-anchor: start; }}
svg text.small.end {{ text-anchor: end; }}
svg text.count {{ font-size: 14px; font-weight: bold; }}
svg .frame {{ fill: #fafafa; stroke: #999; }}
svg .diag {{ stroke: #bbb; stroke-dasharray: 4 4; }}
.cards {{ display: flex; gap: 24px; flex-wrap: wrap; }}
.cards section {{ flex: 1 1 480px; border-top: 3px solid #ddd; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""

REPORT_BODY = """<p>{legend}</p>
<h2>Test metrics</h2>
{table}
<h2>Plots</h2>
<div class="charts">
{charts}
</div>
<h2>Model cards</h2>
<div class="cards">
<section><h3>{current}</h3>
{card_current}
</section>
<section><h3>{reference}</h3>
{card_reference}
</section>
</div>
"""


def page(title: str, body: str) -> str:
    """One self-contained page in the style of the project's reports (inline CSS; the CSP forbids any fetch)."""
    return _SHELL.format(title=html.escape(title), body=body)


# --- side effects: the page of the workspace against a revision, written -------------------------------------


REPORT_NAME = "report.html"


@dataclass(frozen=True)
class Written:
    path: Path
    size: int  # bytes
    stale: list[str] = field(default_factory=list)  # the workspace's stages changed since its last run


def write_report(out_text: str, against: str) -> Written:
    """The page comparing the workspace with revision `against`, written atomically to `--out`."""
    out = output_path(out_text, REPORT_NAME)
    dvc_seam.require_repo()
    check_output_path(out, folder_made=True, example=REPORT_NAME)
    rev = registry.against_commit(against)
    workspace = replace(read_reports(_read_file), params=flat_params(load_params()))
    reference = replace(read_reports(lambda path: dvc_seam.read_at(rev, path), against), params=params_at(rev))
    if not workspace.metrics:
        raise UserError(f"the workspace has no {paths.METRICS}", hint="run `mlops repro` first")
    label = f"{against} ({rev[:12]})"  # 12 characters, as every message names a commit
    page_text = render(workspace, reference, "workspace", label, unseen_section(rev, against, label))
    write_atomically(out, page_text)
    return Written(out, len(page_text), stale_stages("mlops report"))


def unseen_section(rev: str, against: str, label: str) -> str:
    """The paragraph comparing both models on the workspace's test loans neither trained on (or why not); a
    refusal names the revision as typed (`against`, where `rev` is its commit)."""
    try:
        comparison = compare_revisions(
            load_served_model(rev, against),
            load_served_model(None),
            splits_at(rev, typed=against),
            splits_at(None),
            load_params(),
            (label, "workspace"),
        )
    except (UserError, OSError) as error:
        return f"<p>No comparison on unseen loans: {html.escape(str(error))}.</p>"
    return unseen_paragraph(comparison)


def params_at(rev: str) -> dict:
    """A revision's flat params, or {} when this schema refuses them (an old revision): its changes then get the
    plain noise-band words."""
    try:
        return flat_params(dvc_seam.params_at(rev))
    except UserError:
        return {}


def _read_file(path: str) -> bytes | None:
    target = Path(path)
    return target.read_bytes() if target.is_file() else None
