"""What slice recording costs: the post-run hook on a 200-line cell, and ``%%track`` in a 300-cell session.

``python -m bench.slices [--reps N]`` prints JSON (all times in ms):

* ``hook_ms``: the post-run hook as every new cell pays it: recording a 200-line cell with its names,
  taken in one pass over the tree IPython parsed to run it (IPython's parse is not counted: the kernel
  does it anyway); ``hook_cached_ms``: the same cell run again (cache by source);
  ``hook_typical_ms``: a new 4-line cell;
* ``analysis_lazy_ms``: a 200-line cell recorded without a tree (outside IPython), parsed when a
  slice is needed;
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
    import ast

    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_tracker.capture import slices

    shell = InteractiveShell.instance()
    log = slices.ExecutionLog()
    hook, cached, typical, lazy = [], [], [], []
    for rep in range(reps):
        fresh = two_hundred_line_cell(str(rep))           # a new source: nothing cached
        tree = ast.parse(fresh)
        start = time.perf_counter()
        log.record(3 * rep + 1, f"cell-{rep}", fresh, tree=tree)
        hook.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        log.record(3 * rep + 2, f"cell-{rep}", fresh, tree=tree)
        cached.append((time.perf_counter() - start) * 1e3)
        small = f"x{rep} = load(path)\ny{rep} = x{rep} * 2 + offset\nmodel.fit(x{rep}, y{rep})\nprint(y{rep})"
        small_tree = ast.parse(small)
        start = time.perf_counter()
        log.record(3 * rep + 3, f"small-{rep}", small, tree=small_tree)
        typical.append((time.perf_counter() - start) * 1e3)
        unseen = two_hundred_line_cell(f"lazy{rep}")
        start = time.perf_counter()
        slices.names_of(unseen, shell.transform_cell)
        lazy.append((time.perf_counter() - start) * 1e3)
    return {"hook_ms": statistics.median(hook), "hook_cached_ms": statistics.median(cached),
            "hook_typical_ms": statistics.median(typical), "analysis_lazy_ms": statistics.median(lazy)}


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


def measure(reps: int) -> dict:
    """Every figure above (what ``run.Bench.slices`` puts in the table)."""
    figures = measure_in_process(reps)
    with tempfile.TemporaryDirectory() as root:
        figures.update(measure_kernel(root, reps))
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    arguments = parser.parse_args(argv)
    figures = measure(arguments.reps)
    print(json.dumps({k: round(v, 4) for k, v in figures.items()}, indent=1))
    return figures


if __name__ == "__main__":
    main()
