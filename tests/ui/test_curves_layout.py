"""Curves and comparison at a real size, in JupyterLab and chromium: 12 runs × 3 metrics draw one
panel per metric (each at least 200 px tall), a legend per run that covers no plot and no axis
title and folds into "+k more" with the rest on hover, the same colour for a run in the table,
the curves and the comparison; hover names run, key, step, value and the differing params; a
zoom dragged in the browser re-reads that range at full resolution in the kernel."""

from __future__ import annotations

import json
import re

import nbformat
from conftest import open_and_run_all, screenshot
from playwright.sync_api import expect

SETUP = """import math
import jupyter_tracker as jt
ids = []
for index in range(12):
    with jt.start_run(f'run-{index:02d} lr={0.01 * (index + 1):.2f}', experiment='layout', snapshot=False) as run:
        jt.log_params({'lr': round(0.01 * (index + 1), 2), 'seed': index % 3})
        for step in range(30):
            jt.log_metrics({'loss': math.exp(-step * 0.01 * (index + 1)), 'acc': 1 - math.exp(-step / (5 + index)),
                            'grad_norm': 1 + math.sin(step / 3 + index)}, step=step)
        ids.append(run.run_id)
with jt.start_run('long', experiment='layout-long', snapshot=False) as long_run:
    for step in range(20_000):
        jt.log_metric('grad_norm', 1.0 + (30.0 if step == 12_345 else 0.0), step=step)
"""


def _notebook(path):
    cells = [SETUP, "table = jt.runs('layout')\ntable",
             "curves = jt.plot_metrics(ids, ['loss', 'acc', 'grad_norm'])\ncurves",
             "jt.compare(ids[:4])",
             "long_curves = jt.plot_metrics(long_run.run_id, 'grad_norm', max_points=500)\nlong_curves",
             "print(json.dumps({'window': long_curves.window, 'points': len(long_curves.series[0].x), "
             "'spike': 30.0 + 1.0 in long_curves.series[0].y}))"]
    cells[-1] = "import json\n" + cells[-1]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells],
                                        metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                 "display_name": "Python 3 (ipykernel)"}})
    nbformat.write(notebook, path)


def _overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def _rgb(hex_color: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_color[i:i + 2], 16) for i in (1, 3, 5)))


def test_curves_of_12_runs_are_readable_consistent_and_zoom_truthfully(page, lab_server):
    base_url, token, notebook_dir, _ = lab_server
    _notebook(notebook_dir / "layout.ipynb")
    panel = open_and_run_all(page, base_url, token, "layout.ipynb")
    cells = panel.locator(".jp-Cell")
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle").first).to_be_visible(timeout=120000)

    # One panel per metric, each plot area at least 200 px tall, under a legend that covers nothing.
    curves = cells.nth(2)
    curves.scroll_into_view_if_needed()
    plots = curves.locator(".js-plotly-plot .draglayer .nsewdrag")
    try:
        expect(plots).to_have_count(3, timeout=60000)
    finally:
        screenshot(page, "curves-12-runs")
    # every curve is drawn: 12 runs x 3 panels of SVG line paths (once empty axes: figure.py)
    lines = curves.locator(".js-plotly-plot .scatterlayer .trace path.js-line")
    expect(lines).to_have_count(36, timeout=30000)
    assert all(len(d or "") > 20 for d in lines.evaluate_all("paths => paths.map(p => p.getAttribute('d'))"))
    boxes = [plots.nth(i).bounding_box() for i in range(3)]
    assert all(box["height"] >= 200 for box in boxes), boxes
    titles = curves.locator(".js-plotly-plot .g-xtitle, .js-plotly-plot .g-ytitle, .js-plotly-plot .annotation")
    title_boxes = [titles.nth(i).bounding_box() for i in range(titles.count())]
    assert len(title_boxes) >= 4  # three panel titles and the x axis title
    legend = curves.locator(".jt-legend")
    legend_box = legend.bounding_box()
    for box in boxes + title_boxes:
        assert not _overlap(legend_box, box), (legend_box, box)
    # 12 runs: 7 entries and "+5 more" whose tooltip lists the rest
    expect(legend.locator(".jt-legend-entry")).to_have_count(7)
    more = legend.locator(".jt-legend-more")
    expect(more).to_have_text("+5 more")
    assert "run-11" in more.get_attribute("title") and "run-07" in more.get_attribute("title")
    screenshot(page, "curves-12-runs")

    # A run has one colour everywhere: table swatch, legend, curve strokes, comparison header.
    table = cells.nth(1)
    legend_colors = {entry.inner_text().strip(): entry.get_attribute("data-color")
                     for entry in legend.locator(".jt-legend-entry").all()}
    swatches = {}
    for row in table.locator(".jt-row").all():
        swatches[row.locator(".jt-name").inner_text().strip()] = row.locator(".jt-swatch").evaluate(
            "node => getComputedStyle(node).backgroundColor")
    for name, color in legend_colors.items():
        assert swatches[name] == _rgb(color), (name, swatches[name], color)
    strokes = set(curves.locator(".js-plotly-plot .scatterlayer .trace path.js-line").evaluate_all(
        "paths => paths.map(p => getComputedStyle(p).stroke)"))
    assert {_rgb(color) for color in legend_colors.values()} <= strokes
    comparison = cells.nth(3)
    comparison.scroll_into_view_if_needed()
    expect(comparison.locator(".js-plotly-plot .parcoords")).to_have_count(1, timeout=30000)
    headers = comparison.locator("th[data-color]")
    expect(headers).to_have_count(4)
    for header in headers.all():
        name = header.inner_text().strip()
        assert name in legend_colors and header.get_attribute("data-color") == legend_colors[name], name
    compare_legend = {entry.inner_text().strip(): entry.get_attribute("data-color")
                      for entry in comparison.locator(".jt-legend-entry").all()}
    assert compare_legend and all(legend_colors[name] == color for name, color in compare_legend.items())
    screenshot(page, "compare-4-runs")

    # Hover: run name, key, step, value and the run's differing params.
    curves.scroll_into_view_if_needed()
    box = boxes[0]
    for fraction in (0.02, 0.05, 0.1):
        page.mouse.move(box["x"] + 3, box["y"] + box["height"] * fraction)
        page.mouse.move(box["x"] + 4, box["y"] + box["height"] * fraction + 1)
        hover = curves.locator(".hoverlayer .hovertext")
        if hover.count():
            break
    expect(hover.first).to_be_visible(timeout=5000)
    text = hover.first.text_content()
    assert re.search(r"run-\d\d lr=0\.\d\d(loss|acc|grad_norm)step \d+value [\d.]+lr=0\.\d+, seed=\d", text), text
    screenshot(page, "curves-hover")

    # Zoom: drag a narrow window over the spike; the kernel re-reads it at full resolution.
    long_cell = cells.nth(4)
    long_cell.scroll_into_view_if_needed()
    drag = long_cell.locator(".js-plotly-plot .draglayer .nsewdrag")
    expect(drag).to_have_count(1, timeout=30000)
    area = drag.bounding_box()
    x_at = lambda step: area["x"] + area["width"] * step / 19_999  # noqa: E731 - the axis is 0..19,999
    middle = area["y"] + area["height"] / 2
    page.mouse.move(x_at(12_200), middle)
    page.mouse.down()
    page.mouse.move(x_at(12_300), middle, steps=4)
    page.mouse.move(x_at(12_500), middle, steps=4)
    page.mouse.up()
    page.wait_for_timeout(1500)
    screenshot(page, "curves-zoomed")
    report = cells.nth(5)
    report.click()
    page.keyboard.press("Shift+Enter")
    output = report.locator(".jp-OutputArea-output")
    expect(output).to_contain_text('"window"', timeout=15000)
    shown = json.loads(re.search(r"\{.*\}", output.inner_text()).group(0))
    low, high = shown["window"]
    assert 12_000 < low < 12_345 < high < 12_700, shown
    assert shown["points"] >= high - low - 2 and shown["spike"], shown  # every step of the window
    assert "Error displaying widget" not in panel.inner_text()
