"""The plotly figures of our panels reach the browser in their widget's opening message: a real
kernel displays curves and a comparison, and each plotly model's ``comm_open`` already carries its
traces and layout. (Sent as updates after the opening, as plotly's own FigureWidget does, they were
dropped by anywidget when plotly.js took over two seconds to load: ``jupyter_tracker/widgets/plot.py``.)
The opening state carries no plotly.js: the browser asks for it once per page."""

from __future__ import annotations

import os

from jupyter_client.manager import start_new_kernel

CODE = """
import math
import jupyter_tracker as jt
ids = []
for index in range(2):
    with jt.start_run(f'run-{index}', experiment='opening', snapshot=False) as run:
        jt.log_params({'lr': 0.1 * (index + 1)})
        for step in range(5):
            jt.log_metrics({'loss': math.exp(-step * (index + 1)), 'acc': step / 5}, step=step)
    ids.append(run.run_id)
display(jt.plot_metrics(ids, ['loss', 'acc']))
display(jt.compare(ids))
"""


def test_panel_figures_open_with_their_traces_and_layout(tmp_path):
    seen = []
    env_store = tmp_path / "store"
    # execute_interactive hands every iopub message to output_hook: collect the comm openings there
    env = {**os.environ, "JUPYTER_TRACKER_DIR": str(env_store), "JUPYTER_TRACKER_PANELS": "widgets"}
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        reply = client.execute_interactive(CODE, timeout=120, output_hook=seen.append)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", [m["content"] for m in seen if m["msg_type"] == "error"]
    figures = [m["content"]["data"]["state"]["figure"] for m in seen if m["msg_type"] == "comm_open"
               and "figure" in m["content"]["data"]["state"]]
    assert all(len(str(figure)) < 100_000 for figure in figures)  # traces, not plotly.js
    assert len(figures) == 3, len(figures)  # the curves, the comparison's parallel coordinates and curves
    parcoords = next(state for state in figures if state["data"][0]["type"] == "parcoords")
    for curves in (state for state in figures if state is not parcoords):
        assert len(curves["data"]) == 4  # 2 runs x 2 metric panels, drawn from the first message
        assert {trace["type"] for trace in curves["data"]} == {"scatter"}
        assert curves["layout"]["height"] >= 2 * 200 and "yaxis2" in curves["layout"]
    assert [trace["type"] for trace in parcoords["data"]] == ["parcoords"]
