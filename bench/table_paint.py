"""The run table of 10,000 runs x 50 columns: from ``jt.runs()`` to its first rows painted in Chromium.

Two parts, both timed: the build in Python (``jt.runs()``: ``search_runs`` of every run, then the
first page as the widget's synced state), and the paint in a real Chromium (Playwright, the same
browser the UI tests drive): a static page that loads the widget's own ESM (``widgets/table.js``)
and CSS from a blob URL and renders it over that state, behind the anywidget model interface
(``get``/``set``/``on``/``save_changes``), timed from the page's navigation start to the frame after
the rows are in the DOM (two ``requestAnimationFrame``: the browser has painted). A static page, not
JupyterLab, so that the figure is the table's own cost and not the lab's start-up or the kernel's
comm round trip (a few ms on loopback, and the same for every widget).
Ours only: no peer has a notebook run table. ``python -m bench --only table_paint``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path

COLUMNS = {"params": 20, "metrics": 15, "tags": 7}  # + 8 run columns = 50
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>{css}</style></head>
<body><div id="cell" class="jt-bench-cell"></div><script type="module">
const begun = performance.now();
const state = {state};
const listeners = {{}};
const model = {{
  get: (name) => state[name],
  set: (name, value) => {{ state[name] = value; }},
  on: (event, callback) => {{ (listeners[event] ||= []).push(callback); }},
  off: () => {{}},
  save_changes: () => {{}},
  send: () => {{}},
}};
const url = URL.createObjectURL(new Blob([{esm}], {{ type: "text/javascript" }}));
const widget = (await import(url)).default;
const cell = document.getElementById("cell");
widget.render({{ model, el: cell }});
const rendered = performance.now();
requestAnimationFrame(() => requestAnimationFrame(() => {{
  window.jtPainted = {{ ms: performance.now(), begun, rendered, rows: cell.querySelectorAll("tbody tr").length,
                        cells: cell.querySelectorAll("tbody tr:first-child td").length }};
}}));
</script></body></html>"""


def seed(root: str, n: int) -> dict:
    """``n`` finished runs with 20 params, 15 metrics and 7 tags each (50 table columns in all)."""
    import jupyter_tracker as jt

    jt.set_store(os.path.join(root, "store"))
    for index in range(n):
        params = {f"p{j}": f"v{(index + j) % 7}" for j in range(COLUMNS["params"])}
        metrics = {f"m{j}": ((index * 7919 + j * 104729) % 1000) / 1000.0 for j in range(COLUMNS["metrics"])}
        tags = {f"t{j}": f"tag{(index + j) % 10}" for j in range(COLUMNS["tags"])}
        with jt.start_run(run_name=f"r{index}", experiment="paint", tags=tags):
            jt.log_params(params)
            jt.log_metrics(metrics)
    jt.search_runs("paint", max_results=1)  # merge the journal now, not inside the first timed build
    return {}


def measure(root: str, n: int, reps: int) -> dict:
    """Median build (ms), paint (ms) and their sum over ``reps``; the rows and cells the page drew."""
    from playwright.sync_api import sync_playwright

    import jupyter_tracker as jt
    from jupyter_tracker.widgets.table import RunTable

    jt.set_store(os.path.join(root, "store"))
    jt.search_runs("paint", max_results=1)
    here = Path(jt.__file__).parent / "widgets"
    esm, css = (here / "table.js").read_text(encoding="utf-8"), (here / "table.css").read_text(encoding="utf-8")
    synced = list(RunTable.class_own_traits(sync=True))  # the table's own state, as the kernel sends it
    builds, paints, drawn = [], [], {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            for rep in range(reps + 1):
                started = time.perf_counter()
                table = RunTable("paint", max_results=n + 10, refresh_interval=3600)
                state = table.get_state(synced)
                built = time.perf_counter() - started
                table.close()
                if len(table.frame) != n:
                    raise RuntimeError(f"the table holds {len(table.frame)} runs, not {n}")
                path = Path(root) / f"paint{rep}.html"
                path.write_text(PAGE.format(css=css, state=json.dumps(state), esm=json.dumps(esm)),
                                encoding="utf-8")
                page.goto(path.as_uri())
                page.wait_for_function("window.jtPainted !== undefined", timeout=60_000)
                drawn = page.evaluate("window.jtPainted")
                if rep:  # the first round warms the browser's and Python's caches
                    builds.append(built * 1e3)
                    paints.append(drawn["ms"])
            page.screenshot(path=str(Path(root) / "table_paint.png"))  # to look at: the table drew its rows
        finally:
            browser.close()
    build, paint = statistics.median(builds), statistics.median(paints)
    return {"build_ms": build, "paint_ms": paint, "total_ms": build + paint, "rows": drawn["rows"],
            "cells": drawn["cells"], "rendered_ms": drawn["rendered"]}
