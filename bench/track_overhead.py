"""What ``%%track`` adds to a cell, measured through a real kernel (jupyter_client), snapshot included.

The kernel runs with ``JPY_SESSION_NAME`` pointing at a saved notebook holding the same cells, so
each tracked execution also snapshots the saved notebook, as in JupyterLab.
"""

from __future__ import annotations

import os
import statistics
import time

SETUP = "%load_ext jupyter_tracker\nimport jupyter_tracker as jt\ndef _noop(*args, **kwargs):\n    pass"
CELLS = {
    "empty_plain": "pass",
    "empty_tracked": "%%track\npass",
    "metrics_plain": "for i in range(100):\n    _noop(f'm{i}', i * 0.5, step=i)",
    "metrics_tracked": "%%track\nfor i in range(100):\n    jt.log_metric(f'm{i}', i * 0.5, step=i)",
}


def measure(root: str, reps: int) -> dict:
    """Median wall time of each cell, in ms, from execute request to idle."""
    import nbformat
    from jupyter_client.manager import start_new_kernel

    notebook_path = os.path.join(root, "overhead.ipynb")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)]
                                        + [nbformat.v4.new_code_cell(code) for code in CELLS.values()])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, notebook_path)
    env = {**os.environ, "JUPYTER_TRACKER_DIR": os.path.join(root, "store"), "JPY_SESSION_NAME": notebook_path}
    manager, client = start_new_kernel(kernel_name="python3", cwd=root, env=env)
    try:
        _execute(client, SETUP)
        times: dict[str, list[float]] = {name: [] for name in CELLS}
        for round_number in range(reps + 3):
            for name, code in CELLS.items():
                elapsed = _execute(client, code)
                if round_number >= 3:  # the first rounds warm imports and caches
                    times[name].append(elapsed * 1e3)
        reply = _execute(client, "import jupyter_tracker as jt; assert len(jt.search_runs()) > 0")
        del reply
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {**medians, "empty_added_ms": medians["empty_tracked"] - medians["empty_plain"],
            "metrics_added_ms": medians["metrics_tracked"] - medians["metrics_plain"]}


def _execute(client, code: str) -> float:
    start = time.perf_counter()
    reply = client.execute_interactive(code, timeout=120, output_hook=lambda message: None)
    elapsed = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed in the kernel: {reply['content'].get('evalue')}\n{code}")
    return elapsed


def measure_notebook_size(root: str, cells: int, reps: int) -> dict:
    """``%%track`` on an empty cell of a saved notebook of ``cells`` code cells (a few lines each), so
    the snapshot each tracked execution takes grows with the notebook: median ms added over ``pass``."""
    import nbformat
    from jupyter_client.manager import start_new_kernel

    notebook_path = os.path.join(root, f"cells{cells}.ipynb")
    body = [nbformat.v4.new_code_cell(f"# cell {index}\nx{index} = {index} * 2\nfor i in range(3):\n"
                                      f"    x{index} += i\nprint(x{index})") for index in range(cells)]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), *body])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, notebook_path)
    env = {**os.environ, "JUPYTER_TRACKER_DIR": os.path.join(root, "store"), "JPY_SESSION_NAME": notebook_path}
    manager, client = start_new_kernel(kernel_name="python3", cwd=root, env=env)
    try:
        _execute(client, SETUP)
        plain, tracked = [], []
        for round_number in range(reps + 2):
            elapsed_plain = _execute(client, CELLS["empty_plain"])
            elapsed_tracked = _execute(client, CELLS["empty_tracked"])
            if round_number >= 2:  # the first rounds warm imports and caches
                plain.append(elapsed_plain * 1e3)
                tracked.append(elapsed_tracked * 1e3)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"added_ms": statistics.median(tracked) - statistics.median(plain),
            "notebook_bytes": os.path.getsize(notebook_path)}
