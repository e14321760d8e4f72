"""Notebook 02 leaving the kernel: ``jupyter nbconvert --execute`` to a notebook, then to HTML (the
papermill / CI path), in a fresh store.

``python -m bench.exports`` prints JSON: ``execute_s`` and ``html_s`` (wall seconds of the two
nbconvert runs), ``ipynb_bytes`` and ``html_bytes`` (issue 18's goal: each at most 2 MB),
``static_panels`` (outputs carrying our static version) and ``widget_views`` (outputs a widget
view would win in: 0). Not part of ``python -m bench``; the suite checks the same properties on a
small notebook of every panel (``tests/test_widgets_kernel.py``), since notebook 02 takes a minute
or more to execute on a busy machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02-compare-runs.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def measure() -> dict[str, float | int]:
    """Execute and export a copy of notebook 02; sizes, times and what its outputs hold."""
    import nbformat

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        notebook = work / NOTEBOOK.name
        shutil.copy(NOTEBOOK, notebook)
        env = {**os.environ, "JUPYTER_TRACKER_DIR": str(work / "store"), "JPY_SESSION_NAME": str(notebook)}
        env.pop("JUPYTER_TRACKER_PANELS", None)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--output", "executed.ipynb", str(notebook)], check=True, capture_output=True, cwd=work,
                       env=env, timeout=900)
        execute_s = time.perf_counter() - started
        executed = work / "executed.ipynb"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)], check=True,
                       capture_output=True, cwd=work, timeout=300)
        html_s = time.perf_counter() - started
        outputs = [output.get("data", {}) for cell in nbformat.read(executed, as_version=4).cells
                   for output in cell.get("outputs", [])]
        return {"execute_s": round(execute_s, 1), "html_s": round(html_s, 1),
                "ipynb_bytes": executed.stat().st_size, "html_bytes": (work / "executed.html").stat().st_size,
                "static_panels": sum("data-jupyter-tracker-static" in data.get("text/html", "") for data in outputs),
                "widget_views": sum(WIDGET_VIEW in data for data in outputs)}


if __name__ == "__main__":
    print(json.dumps(measure()))
