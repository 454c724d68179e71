"""The drift report as one self-contained HTML page (inline CSS and SVG, nothing fetched), in the style of
`mlops report`: a table of PSI per feature and a bar chart of training vs live shares per bin. Pure functions."""

from __future__ import annotations

import html

from pipeline.experiments.report import COLORS, page

BAR_WIDTH, CHART_HEIGHT, MAX_BINS = 12, 120, 24


def render(report: dict) -> str:
    rows = [report["score"], *report["features"]] if report.get("score") else report["features"]
    threshold = report["thresholds"]["psi"]
    charts = "\n".join(f'<figure class="chart">{distribution_chart(row)}</figure>' for row in rows)
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in report["findings"]) or "<li>none</li>"
    findings += "".join(f"<li>not checked: {html.escape(reason)}</li>" for reason in report.get("not_run", []))
    title = f"Drift: {report['window']['loans']} live loans vs the training data of {report['model']['rev']}"
    body = BODY.format(
        findings=findings,
        table=psi_table(rows, threshold),
        performance=html.escape(str(report.get("performance") or "no outcomes joined yet")),
        charts=charts,
        train=COLORS[1],
        live=COLORS[0],
    )
    return page(title, body)


def psi_table(rows: list[dict], threshold: float) -> str:
    body = "".join(
        f'<tr class="{"worse all" if row["psi"] > threshold else ""}"><td>{html.escape(row["name"])}</td>'
        f"<td>{row['psi']:.3f}</td><td>{row['missing_train']:.1%}</td><td>{row['missing_live']:.1%}</td>"
        f"<td>{row['unseen_share']:.1%}</td></tr>"
        for row in sorted(rows, key=lambda r: -r["psi"])
    )
    head = "<tr><th>feature</th><th>PSI</th><th>missing (train)</th><th>missing (live)</th><th>unseen</th></tr>"
    return f"<table>{head}{body}</table>"


def distribution_chart(row: dict) -> str:
    """Side-by-side bars of the training and live share of each bin (the largest bins when there are many)."""
    names = sorted(row["train_shares"], key=lambda n: -(row["train_shares"][n] + row["live_shares"].get(n, 0)))
    names = [n for n in row["train_shares"] if n in names[:MAX_BINS]]
    top = max([*row["train_shares"].values(), *row["live_shares"].values(), 1e-9])
    width = max(len(names) * (2 * BAR_WIDTH + 4) + 20, 160)
    bars = []
    for i, name in enumerate(names):
        x = 10 + i * (2 * BAR_WIDTH + 4)
        for j, (shares, color) in enumerate(((row["train_shares"], COLORS[1]), (row["live_shares"], COLORS[0]))):
            height = CHART_HEIGHT * shares.get(name, 0.0) / top
            bars.append(
                f'<rect x="{x + j * BAR_WIDTH}" y="{20 + CHART_HEIGHT - height:.1f}" width="{BAR_WIDTH - 1}" '
                f'height="{height:.1f}" fill="{color}"><title>{html.escape(name)}: {shares.get(name, 0.0):.1%}'
                "</title></rect>"
            )
    title = html.escape(f"{row['name']} (PSI {row['psi']:.3f})")
    return (
        f'<svg width="{width}" height="{CHART_HEIGHT + 30}" role="img"><text class="title" x="{width / 2}" y="13">'
        f"{title}</text>{''.join(bars)}</svg>"
    )


BODY = """<h2>Findings</h2>
<ul>{findings}</ul>
<h2>Population stability</h2>
{table}
<h2>Live performance</h2>
<p>{performance}</p>
<h2>Distributions</h2>
<p><span class="key" style="border-color:{train}">training data</span>
<span class="key" style="border-color:{live}">live traffic</span></p>
<div class="charts">
{charts}
</div>
"""
