"""A run as one file a colleague can open anywhere: ``share_snapshot(run_id, "report.html")``.

The HTML is self-contained: a header card (params, final metrics, status, environment, git),
static SVG charts of the run's metrics drawn here (a few hundred points each, downsampled with
the store's MinMaxLTTB), and the notebook as it ran rendered by nbconvert's ``basic`` template
(cells only, no require.js or MathJax from a CDN) inside our own page with inline CSS. It loads
nothing from the network. ``.ipynb`` gives the same notebook with the card and charts as a
first markdown cell (charts as SVG attachments).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from ..errors import InvalidValueError, PathExistsError, SnapshotNotFoundError
from ..store.current import resolve_store
from ..widgets.static import format_value, line_chart

CHART_POINTS = 400
_WIDTH, _HEIGHT = 360, 170

_PAGE_CSS = """
body{font-family:-apple-system,"Segoe UI",DejaVu Sans,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;
color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
.jt-card{background:#fff;border:1px solid #d9dde5;border-radius:8px;padding:18px 22px;margin-bottom:20px}
.jt-card h1{font-size:22px;margin:0 0 4px} .jt-sub{color:#5a6475;font-size:13px;margin-bottom:14px}
.jt-status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.jt-FINISHED{background:#2e8540}.jt-FAILED{background:#c0392b}.jt-KILLED{background:#8e44ad}.jt-RUNNING{background:#2471a3}
.jt-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:14px}
.jt-card table{border-collapse:collapse;font-size:13px;width:100%}
.jt-card td,.jt-card th{border-bottom:1px solid #eceff3;padding:3px 6px;text-align:left;vertical-align:top}
.jt-card th{color:#5a6475;font-weight:600;width:40%}
.jt-charts{display:flex;flex-wrap:wrap;gap:12px}.jt-chart{border:1px solid #eceff3;border-radius:6px;padding:4px}
.jt-notebook{background:#fff;border:1px solid #d9dde5;border-radius:8px;padding:12px 18px}
.cell{margin:10px 0}.input,.output_area{display:flex;gap:8px;align-items:flex-start}
.prompt{min-width:64px;text-align:right;color:#8a94a6;font-family:monospace;font-size:12px;padding-top:6px}
.input_area{flex:1;min-width:0;background:#f3f5f8;border:1px solid #e1e5ec;border-radius:4px;padding:6px 8px;
overflow-x:auto}
.output_subarea{flex:1;min-width:0;overflow-x:auto;padding:4px 8px} pre{margin:0;font-size:13px;white-space:pre-wrap}
.output_stderr{background:#fdecea}.output_error pre{color:#8b1a1a} .text_cell_render{padding:0 8px} img{max-width:100%}
"""


def metric_svg(key: str, steps, values) -> str:
    """A small static line chart of one metric, drawn by the panels' own static chart (the one
    saved notebooks show); non-finite points are left out and the title counts them."""
    dropped = sum(1 for v in values if not (isinstance(v, (int, float)) and math.isfinite(v)))
    title = key + (f" ({dropped} non-finite point(s) not drawn)" if dropped else "")
    return line_chart([(key, list(steps), list(values))], title=title, width=_WIDTH, height=_HEIGHT)


def _charts(record, store) -> dict[str, str]:
    from ..query import get_metric_history

    charts = {}
    for key in sorted(record.metrics):
        history = get_metric_history(record.run_id, key, max_points=CHART_POINTS, store=store)
        charts[key] = metric_svg(key, history["step"].tolist(), history["value"].tolist())
    return charts


def _environment_summary(record) -> dict[str, str]:
    env = record.environment or {}
    summary = {}
    if env.get("python", {}).get("version"):
        summary["python"] = str(env["python"]["version"]).split()[0]
    if env.get("platform", {}).get("platform"):
        summary["platform"] = str(env["platform"]["platform"])
    packages = env.get("packages") or {}
    if isinstance(packages, dict):
        for name in ("numpy", "pandas", "scikit-learn", "torch", "xgboost"):
            if name in packages:
                summary[name] = str(packages[name])
    if record.git:
        dirty = " (uncommitted changes)" if record.git.get("dirty") else ""
        summary["git commit"] = f"{(record.git.get('commit') or '')[:12]}{dirty}"
        if record.git.get("branch"):
            summary["git branch"] = str(record.git["branch"])
    else:
        summary["git commit"] = "none (not run in a git repository)"
    return summary


def _table(rows: dict) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    return "<table>" + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(format_value(v))}</td></tr>"
                               for k, v in rows.items()) + "</table>"


def header_card(record, charts: dict[str, str]) -> str:
    """The HTML card on top of a shared run: name, status, times, params, metrics, environment, charts."""
    started = f"{record.start_time:%Y-%m-%d %H:%M:%S} UTC"
    tags = {k: v for k, v in record.tags.items() if not k.startswith("jt.")}
    chart_html = "".join(f'<div class="jt-chart">{svg}</div>' for svg in charts.values())
    error = ""
    if record.error:
        error = (f"<p><strong>{html.escape(record.error['type'])}</strong>: "
                 f"{html.escape(record.error['message'] or '')}</p>")
    status = html.escape(record.status)
    parent = f" · parent {html.escape(record.parent_run_id)}" if record.parent_run_id else ""
    return f"""<section class="jt-card" id="jt-run-card">
<h1>{html.escape(record.run_name)} <span class="jt-status jt-{status}">{status}</span></h1>
<div class="jt-sub">run {html.escape(record.run_id)} · experiment {html.escape(record.experiment)} · started {started}
 · {record.duration_s:.1f} s{parent}</div>
{error}
<div class="jt-grid">
<div><h3>Params</h3>{_table(record.params)}</div>
<div><h3>Final metrics</h3>{_table(record.metrics)}</div>
<div><h3>Environment</h3>{_table(_environment_summary(record))}</div>
<div><h3>Tags</h3>{_table(tags)}</div>
</div>
{_reproducibility_block(record.tags)}
<h3>Metrics</h3><div class="jt-charts">{chart_html or '<p><em>no metrics</em></p>'}</div>
</section>"""


def _reproducibility_block(tags: dict) -> str:
    """The run's reproducibility verdict, its reasons and the latest reproduction, for a colleague to read
    before running anything (nothing when the run has no verdict)."""
    from ..capture.reproducibility import REASONS_TAG, REPRODUCTION_DETAIL_TAG, REPRODUCTION_TAG, VERDICT_TAG

    if VERDICT_TAG not in tags and REPRODUCTION_TAG not in tags:
        return ""
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in tags.get(REASONS_TAG, "").splitlines())
    latest = (f"<p>Latest reproduction: <strong>{html.escape(tags[REPRODUCTION_TAG])}</strong> "
              f"({html.escape(tags.get(REPRODUCTION_DETAIL_TAG, ''))})</p>") if REPRODUCTION_TAG in tags else ""
    verdict = html.escape(tags.get(VERDICT_TAG, "unknown"))
    return (f'<div class="jt-reproducibility"><h3>Reproducibility: {verdict}</h3>'
            f'{f"<ul>{reasons}</ul>" if reasons else ""}{latest}</div>')


def _notebook_or_none(run_id: str, store):
    from ..query import load_snapshot

    for kind in ("executed", "saved"):
        try:
            return load_snapshot(run_id, kind, store=store)
        except SnapshotNotFoundError:
            continue
    return None


def share_snapshot(run_id: str, path: str | Path, *, overwrite: bool = False, store=None) -> Path:
    """Write the run's notebook with a header card and static metric charts to ``path``.

    ``.html``: one self-contained page that needs no Jupyter and no network. ``.ipynb``: the
    notebook with the card as its first cell. The file is written atomically; an existing file
    is kept unless ``overwrite=True``."""
    import nbformat

    from ..query import get_run

    target = Path(path)
    if target.suffix not in (".html", ".htm", ".ipynb"):
        raise InvalidValueError(f"share_snapshot writes .html or .ipynb, not {str(path)!r}; pick one of those suffixes")
    if target.exists() and not overwrite:
        raise PathExistsError(f"{target} already exists; choose another path or pass overwrite=True")
    store = resolve_store(store)
    record = get_run(run_id, store=store)
    charts = _charts(record, store)
    notebook = _notebook_or_none(record.run_id, store)
    if target.suffix == ".ipynb":
        content = nbformat.writes(_card_notebook(record, charts, notebook))
    else:
        content = _html_page(record, charts, notebook)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(content, encoding="utf-8")
    temporary.replace(target)
    return target


def _html_page(record, charts: dict[str, str], notebook) -> str:
    if notebook is not None:
        from nbconvert import HTMLExporter
        from pygments.formatters import HtmlFormatter

        exporter = HTMLExporter(template_name="basic")
        exporter.exclude_input_prompt = False
        body, _ = exporter.from_notebook_node(notebook)
        notebook_html = f'<section class="jt-notebook"><h2>Notebook as it ran</h2>{body}</section>'
        highlight_css = HtmlFormatter().get_style_defs(".highlight")
    else:
        notebook_html = '<section class="jt-notebook"><p><em>This run has no notebook snapshot.</em></p></section>'
        highlight_css = ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{html.escape(record.run_name)} · jupyter_tracker run {html.escape(record.run_id[:8])}</title>
<style>{_PAGE_CSS}{highlight_css}</style></head>
<body><main>{header_card(record, charts)}{notebook_html}
<footer class="jt-sub">Shared with jupyter_tracker · run {html.escape(record.run_id)}</footer></main></body></html>
"""


def _card_notebook(record, charts: dict[str, str], notebook):
    import nbformat

    def rows(values: dict) -> str:
        if not values:
            return "_none_\n"
        return "| key | value |\n|---|---|\n" + "".join(
            f"| {str(k).replace('|', '/')} | {format_value(v).replace('|', '/')} |\n" for k, v in values.items())

    lines = [f"# {record.run_name} — {record.status}\n",
             f"run `{record.run_id}` · experiment **{record.experiment}** · started "
             f"{record.start_time:%Y-%m-%d %H:%M:%S} UTC · {record.duration_s:.1f} s\n",
             "## Params\n", rows(record.params), "## Final metrics\n", rows(record.metrics),
             "## Environment\n", rows(_environment_summary(record)), "## Metrics\n"]
    attachments = {}
    for index, (key, svg) in enumerate(charts.items()):
        name = f"metric-{index}.svg"
        # Jupyter and nbconvert turn attachments into base64 data: URIs, also for SVG
        attachments[name] = {"image/svg+xml": base64.b64encode(svg.encode("utf-8")).decode("ascii")}
        lines.append(f"![{key}](attachment:{name})\n")
    card = nbformat.v4.new_markdown_cell("\n".join(lines))
    card.attachments = attachments
    result = notebook if notebook is not None else nbformat.v4.new_notebook()
    result.cells.insert(0, card)
    nbformat.validate(result)
    return result
