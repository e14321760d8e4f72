"""The panels in Voilà, light and dark. Voilà is a front end that is not Lab: its own page renders
widgets through the standalone widget manager, as VS Code does, and it loads every installed lab
extension, ours included, into a page that shares only a short list of JupyterLab packages.

A real ``voila`` server runs a notebook of 4 runs (``lr = 0.1 * (i + 1)``, so ``0.1 * 3`` is among
them) that shows ``jt.runs``, ``jt.plot_metrics`` and ``jt.compare``. What a user must see: each run
once in the table, the param as 0.3, every curve panel with one line of data per run, the parallel
coordinates with one line per run, no "Error displaying widget", and no browser error of ours: our
extension's remoteEntry loads and its plugin activates, doing nothing outside Lab and Notebook 7.
Screenshots: test-artifacts/voila-{light,dark}.png.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import luminance, screenshot, serve_this_build, serving
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from bench.servers import free_port

RUNS = 4
CELLS = [
    "import math\nimport jupyter_tracker as jt\nids = []\nfor index in range(4):\n"
    "    with jt.start_run(f'EXPERIMENT-{index}', experiment='EXPERIMENT', snapshot=False) as run:\n"
    "        jt.log_params({'lr': 0.1 * (index + 1), 'seed': index})\n"
    "        for step in range(20):\n"
    "            jt.log_metrics({'loss': math.exp(-step * 0.1 * (index + 1)), 'acc': step / 20}, step=step)\n"
    "    ids.append(run.run_id)",
    "jt.runs('EXPERIMENT')",
    "jt.plot_metrics(ids, ['loss', 'acc'])",
    "jt.compare(ids)",
]
PLUGIN_ID = "jupyter-tracker:plugin"


def _ours(text: str) -> bool:
    """A message from our extension or our panels' widgets (Voilà logs other extensions' failures
    too: nbdime's and Notebook 7's lab extensions need packages its page does not share)."""
    text = text.lower()
    return "jupyter-tracker" in text or "jupyter_tracker" in text or "jt-" in text or (
        "tracker" in text and "failed to initialize model" not in text)


@pytest.fixture(scope="module")
def voila_server(tmp_path_factory):
    """``voila`` serving a folder of notebooks on 127.0.0.1: yields (base_url, notebook_dir, remote_entry).

    The editable install copied the built extension to share/jupyter/labextensions, where Voilà (like
    Lab) finds it; that copy is from install time, so this checkout's build is put first on
    JUPYTER_PATH, the same search path. A copy, not a symlink: Voilà's file handler answers 403 for
    a file whose real path is outside the folder it serves.
    """
    root = tmp_path_factory.mktemp("voila")
    notebook_dir = root / "notebooks"
    notebook_dir.mkdir()
    env = {**os.environ, "JUPYTER_TRACKER_DIR": str(root / "store")}
    served = serve_this_build(root, env, copy=True) or (
        Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyter-tracker")
    remote_entry = json.loads((served / "package.json").read_text())["jupyterlab"]["_build"]["load"]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "voila", str(notebook_dir), "--no-browser", f"--port={port}",
                  "--Voila.ip=127.0.0.1", "--Voila.port_retries=0"],
                 env=env, cwd=notebook_dir, log_path=root / "voila.log", ready_url=f"{base_url}/", timeout=60):
        yield base_url, notebook_dir, remote_entry


def _write_notebook(notebook_dir, experiment: str) -> str:
    nbformat.write(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source.replace("EXPERIMENT", experiment)) for source in CELLS],
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3 (ipykernel)"}}),
        notebook_dir / f"{experiment}.ipynb")
    return f"{experiment}.ipynb"


#: How many lines of a parallel-coordinates figure cross the vertical at ``fraction`` of the way from
#: its first axis to its second: runs of drawn pixels down that column of its WebGL canvas.
LINES_CROSSING = """(gd, fraction) => {
    const canvas = gd.querySelector('canvas.gl-canvas-focus');
    const axes = [...gd.querySelectorAll('.parcoords .y-axis')].map(axis => axis.getBoundingClientRect().x);
    const box = canvas.getBoundingClientRect();
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const context = copy.getContext('2d');
    context.drawImage(canvas, 0, 0);
    const x = Math.round((axes[0] + (axes[1] - axes[0]) * fraction - box.x) * canvas.width / box.width);
    const column = context.getImageData(x, 0, 1, canvas.height).data;
    let runs = 0, inside = false;
    for (let y = 0; y < canvas.height; y++) {
        const drawn = column[4 * y + 3] > 40;
        if (drawn && !inside) runs++;
        inside = drawn;
    }
    return runs;
}"""


def _fills_its_panel(page, plot) -> None:
    """Wait until a plotly figure is as wide as the output it sits in: drawn before Voilà laid the
    page out, a figure is plotly's default 700 px, half a wide page, until it follows its container."""
    try:
        page.wait_for_function("gd => Math.abs(gd._fullLayout.width - gd.parentElement.clientWidth) <= 2",
                               arg=plot.element_handle(), timeout=10000)
    except PlaywrightTimeoutError as error:
        widths = plot.evaluate("gd => [gd._fullLayout.width, gd.parentElement.clientWidth]")
        raise AssertionError(f"a figure {widths[0]} px wide in a panel {widths[1]} px wide") from error


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_panels_render_in_voila(page, voila_server, theme):
    base_url, notebook_dir, remote_entry = voila_server
    experiment = f"voila-{theme}"  # its own experiment: every page load runs the notebook again
    name = _write_notebook(notebook_dir, experiment)
    errors: list[str] = []

    def on_console(message) -> None:
        # Voilà logs a lab extension that fails to load as a warning naming the package.
        if message.type == "error" and _ours(message.text) or "jupyter-tracker" in message.text:
            errors.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}")
            if _ours(f"{error}\n{error.stack}") else None)
    page.on("requestfailed", lambda request: errors.append(f"{request.url}: {request.failure}")
            if "jupyter-tracker" in request.url else None)
    ours_served: list[int] = []
    page.on("response", lambda response: ours_served.append(response.status)
            if response.url.endswith(remote_entry) else None)
    page.set_viewport_size({"width": 1400, "height": 2400})  # the whole dashboard in one screenshot
    page.goto(f"{base_url}/voila/render/{name}?theme={theme}")

    # Each run once, in one table; 0.1 * 3 reads 0.3 and its tooltip keeps the stored text.
    table = page.locator(".jt-table")
    expect(table.locator(".jt-row")).to_have_count(RUNS, timeout=60000)
    expect(table).to_have_count(1)
    names = table.locator(".jt-row td.jt-name").all_inner_texts()
    assert sorted(text.strip() for text in names) == [f"{experiment}-{index}" for index in range(RUNS)], names
    keys = table.locator("th.jt-sortable").evaluate_all("ths => ths.map(th => th.dataset.key)")
    third = table.locator(".jt-row", has_text=f"{experiment}-2").locator("td").nth(keys.index("params.lr") + 1)
    expect(third).to_have_text("0.3")
    expect(third).to_have_attribute("title", "0.30000000000000004")

    # Every curve panel (the plot's and the comparison's) has one line of data per run.
    plots = page.locator(".jt-metric-curves .js-plotly-plot")
    expect(plots).to_have_count(2, timeout=60000)
    for index in range(2):
        subplots = plots.nth(index).locator(".cartesianlayer .subplot")
        expect(subplots).to_have_count(2, timeout=60000)
        for panel in range(2):
            traces = subplots.nth(panel).locator(".scatterlayer .trace")
            expect(traces).to_have_count(RUNS, timeout=30000)
            paths = traces.locator("path.js-line").evaluate_all("paths => paths.map(p => p.getAttribute('d'))")
            assert len(paths) == RUNS and all(path and path.count(",") >= 2 for path in paths), paths
        points = plots.nth(index).evaluate("gd => gd._fullData.map(trace => trace._length)")
        assert points == [20] * (2 * RUNS), points
    # The legend's tooltips (and the curves' hover) name each run's differing params as the table shows them.
    legend = page.locator(".jt-curves-legend").first.locator(".jt-legend-entry", has_text=f"{experiment}-2")
    expect(legend).to_have_attribute("title", "lr=0.3, seed=2")

    # Parallel coordinates: one line per run, drawn.
    parcoords = page.locator(".jt-comparison .js-plotly-plot:has(.parcoords)")
    expect(parcoords).to_have_count(1, timeout=60000)
    expect(parcoords.locator(".parcoords .y-axis")).to_have_count(3)  # lr, seed, loss
    assert parcoords.evaluate("gd => gd.data[0].dimensions.map(d => d.values.length)") == [RUNS] * 3
    _fills_its_panel(page, parcoords)
    # Between the lr and seed axes no two runs' lines meet (both grow with the run's index).
    handle = parcoords.element_handle()
    try:
        page.wait_for_function(f"gd => ({LINES_CROSSING})(gd, 0.25) === {RUNS}", arg=handle, timeout=10000)
    except PlaywrightTimeoutError as error:
        raise AssertionError(f"parallel coordinates: {parcoords.evaluate(LINES_CROSSING, 0.25)} lines drawn "
                             f"where {RUNS} runs should cross") from error

    # Readable in the theme asked for.
    body = page.locator("body")
    expect(body).to_have_attribute("data-jp-theme-light", "false" if theme == "dark" else "true")
    text_color = luminance(table.locator(".jt-row td.jt-name").first.evaluate("td => getComputedStyle(td).color"))
    assert text_color > 0.6 if theme == "dark" else text_color < 0.4, text_color

    shown = body.inner_text()
    assert "Error displaying widget" not in shown
    assert "0.30000000000000004" not in shown
    assert "Traceback" not in shown
    screenshot(page, f"voila-{theme}")

    # Our extension was served and its plugin activated (harmlessly: nothing of ours threw).
    assert not errors, errors
    assert ours_served == [200], ours_served
    activated = page.evaluate("id => window.jupyterapp?.isPluginActivated(id)", PLUGIN_ID)
    assert activated is True, activated
