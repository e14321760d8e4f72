"""A live curve on a slow machine: with the browser's CPU throttled 6× (plotly.js then takes far
longer than anywidget's two-second module timeout to load and run), a curve drawn while its run
is still logging receives every later update, and the last drawing holds every point logged.
(plotly's own FigureWidget lost these updates: ``jupyter_tracker/widgets/plot.py``.)"""

from __future__ import annotations

import nbformat
from conftest import open_and_run_all, screenshot
from playwright.sync_api import expect

STEPS = 40
CELLS = [
    "import math, time\nimport jupyter_tracker as jt\n"
    "run = jt.start_run('throttled', experiment='throttled', snapshot=False)\n"
    "for step in range(5):\n    run.log_metric('loss', math.exp(-step / 10), step=step)",
    "curves = jt.plot_metrics(run.run_id, 'loss')\ncurves",
    f"for step in range(5, {STEPS}):\n    run.log_metric('loss', math.exp(-step / 10), step=step)\n"
    "    time.sleep(0.1)\nrun.end()",
]


def test_a_live_curve_draws_every_update_on_a_throttled_cpu(page, lab_server):
    base_url, token, notebook_dir, _ = lab_server
    nbformat.write(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CELLS],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3 (ipykernel)"}}),
        notebook_dir / "throttled.ipynb")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 6})
    panel = open_and_run_all(page, base_url, token, "throttled.ipynb")
    curve = panel.locator(".jp-Cell").nth(1).locator(".jp-tracker-plot .scatterlayer .trace path.js-line")
    expect(curve).to_have_count(1, timeout=180000)  # the first drawing
    # every update after it drawn: the line plotly drew ends with every logged step
    expect(panel.locator(".jp-Cell").nth(2).locator(".jp-InputArea-prompt")).not_to_have_text("[*]:", timeout=180000)
    page.wait_for_function(
        """([steps]) => {
            const plot = document.querySelector('.jp-tracker-plot');
            return plot && plot.data && plot.data.length === 1 && plot.data[0].x.length === steps
                && plot.querySelector('.scatterlayer .trace path.js-line') !== null;
        }""", arg=[STEPS], timeout=120000)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    screenshot(page, "plot-throttled-live-curve")
