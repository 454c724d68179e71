"""The HTML page `dvc plots show` and `dvc plots diff` fill: the vega renderer inline, so the page works offline.

DVC's own page loads vega, vega-lite and vega-embed from a CDN and declares no charset. `.dvc/config` points
`plots.html_template` at the page written here, from the renderer bundle that the pinned `vl-convert-python`
package ships (BSD-3-Clause, as are vega, vega-lite and vega-embed). The page is generated, not committed: it
is about 1 MB of JavaScript that belongs to the package, so `mlops repro` and `mlops hooks install` write it
(again only when the package version changed) under `.dvc/tmp/`, which git ignores.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pipeline.errors import UserError

TEMPLATE = Path(".dvc/tmp/plots.html")  # `.dvc/config` names it relative to `.dvc/`: tmp/plots.html
VEGA_LITE = "5.21"  # the major version DVC's plot templates declare in their `$schema`
PACKAGE = "vl-convert-python"

PAGE = """<!DOCTYPE html>
<!-- {stamp} -->
<html>
<head>
    <meta charset="utf-8">
    {{refresh_tag}}
    <title>DVC plots</title>
    <script>(function () {{
{bundle}
}})();</script>
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def _stamp() -> str:
    """Which renderer the page carries. Read from the package's dist-info folder name: importlib.metadata would
    scan every installed distribution, a sixth of a second on each `mlops repro`."""
    spec = importlib.util.find_spec("vl_convert")
    if spec is None or spec.origin is None:
        raise UserError(f"{PACKAGE} is not installed", hint="pip install -c constraints.txt -e '.[dev]'")
    dist = next(Path(spec.origin).parents[1].glob("vl_convert_python-*.dist-info"), None)
    installed = dist.name.removeprefix("vl_convert_python-").removesuffix(".dist-info") if dist else "unknown"
    return f"renderer: {PACKAGE} {installed}, vega-lite {VEGA_LITE}"


def render_page() -> str:
    """The page: DVC's placeholders for the plots and the refresh tag, the renderer inline, no network."""
    import vl_convert

    # Inside an inline <script>, a literal "</script" would end the element early.
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE).replace("</script", "<\\/script")
    return PAGE.format(stamp=_stamp(), bundle=bundle)


def ensure_template(root: Path = Path(".")) -> Path:
    """Write the page under `root` unless it is already there for this version of the renderer package."""
    path = root / TEMPLATE
    if path.is_file():
        with path.open(encoding="utf-8") as page:
            page.readline()
            if _stamp() in page.readline():
                return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(render_page(), encoding="utf-8")
    partial.replace(path)
    return path
