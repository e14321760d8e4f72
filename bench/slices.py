"""What slice recording costs: the post-run hook on a 200-line cell, and ``%%track`` in a 300-cell session.

``python -m bench.slices [--reps N]`` prints JSON (all times in ms):

* ``hook_ms``: the post-run hook as every cell pays it (one dict insert; the cell is not parsed);
* ``analysis_cold_ms`` / ``analysis_cached_ms``: working out a 200-line cell's names, the first time
  (IPython's transform and ``ast``) and for a cell run again (cache by source);
* through a real kernel (jupyter_client), after 300 executed cells whose names chain into the tracked
  one (the worst case: a 301-execution slice): ``track_first_no_slices_ms`` (the first tracked cell,
  which snapshots the 300 executions, with ``%tracker slices=False``), ``track_first_slices_ms`` (the
  next one, slices on: it analyses the 300 pending executions), ``track_slices_ms`` (the same cell
  again) and ``track_no_slices_ms`` (again with slices off).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

CELL_LINES = 200
SESSION_CELLS = 300


def two_hundred_line_cell(tag: str = "") -> str:
    """200 lines of ordinary notebook code: imports, assignments, a loop, a function, method calls."""
    lines = ["import math", f"rows_{tag} = [math.sqrt(i) for i in range(10)]", "def scale(x, factor=2):",
             "    return x * factor + offset", "offset = 1"]
    i = 0
    while len(lines) < CELL_LINES - 1:
        if i % 4 == 3:
            lines += [f"for k in range({i}):", f"    total_{i} = scale(k) + value_{i - 1}"]
        else:
            lines.append(f"value_{i} = rows_{tag}[{i % 10}] * {i} + len(rows_{tag}) + scale(value_{max(i - 1, 0)})"
                         if i else "value_0 = 0")
        i += 1
    lines.append("rows_{tag}.append(value_1)".replace("{tag}", tag))
    return "\n".join(lines[:CELL_LINES])


def measure_in_process(reps: int) -> dict:
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_tracker.capture import slices

    shell = InteractiveShell.instance()
    cell = two_hundred_line_cell()
    log = slices.ExecutionLog()
    hook, cold, cached = [], [], []
    for rep in range(reps):
        start = time.perf_counter()
        log.record(rep + 1, f"cell-{rep}", cell)
        hook.append((time.perf_counter() - start) * 1e3)
        fresh = two_hundred_line_cell(str(rep))           # a new source: nothing cached
        start = time.perf_counter()
        slices.names_of(fresh, shell.transform_cell)
        cold.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        slices.names_of(fresh, shell.transform_cell)
        cached.append((time.perf_counter() - start) * 1e3)
    return {"hook_ms": statistics.median(hook), "analysis_cold_ms": statistics.median(cold),
            "analysis_cached_ms": statistics.median(cached)}


def measure_kernel(root: str, reps: int) -> dict:
    import nbformat
    from jupyter_client.manager import start_new_kernel

    from .track_overhead import _execute

    setup = "%load_ext jupyter_tracker\nimport jupyter_tracker as jt\nv0 = 0"
    cells = [f"v{i} = v{i - 1} + {i}\nnote_{i} = 'cell {i}'\nfor k in range(3):\n    part_{i} = k * v{i}"
             for i in range(1, SESSION_CELLS + 1)]
    tracked = f"%%track -q\njt.log_metric('last', v{SESSION_CELLS})"
    path = os.path.join(root, "session.ipynb")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [setup, *cells, tracked]])
    nbformat.write(notebook, path)
    env = {**os.environ, "JUPYTER_TRACKER_DIR": os.path.join(root, "store"), "JPY_SESSION_NAME": path}
    manager, client = start_new_kernel(kernel_name="python3", cwd=root, env=env)
    try:
        _execute(client, setup)
        for code in cells:
            _execute(client, code)
        # The first tracked cell also snapshots the 300 executions: pay that once with slices off, so
        # the first one with slices on shows only the slice's own cost (analysing the 300 pending cells).
        _execute(client, "%tracker slices=False")
        first_without = _execute(client, tracked) * 1e3
        _execute(client, "%tracker slices=True")
        first = _execute(client, tracked) * 1e3
        with_slices = [_execute(client, tracked) * 1e3 for _ in range(reps)]
        _execute(client, "%tracker slices=False")
        without = [_execute(client, tracked) * 1e3 for _ in range(reps)]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"track_first_no_slices_ms": first_without, "track_first_slices_ms": first,
            "track_slices_ms": statistics.median(with_slices),
            "track_no_slices_ms": statistics.median(without)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    arguments = parser.parse_args(argv)
    figures = measure_in_process(arguments.reps)
    with tempfile.TemporaryDirectory() as root:
        figures.update(measure_kernel(root, arguments.reps))
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}, indent=1))
    return figures


if __name__ == "__main__":
    main()
