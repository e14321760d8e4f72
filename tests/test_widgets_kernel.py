"""The panels in a real kernel: a notebook of every panel executed by nbconvert (the papermill / CI
path) keeps static versions only and stays small, its HTML export shows every panel offline, and the live card
of %%track ends as a static card with the final status (or is absent with -q)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest

# imported at import time: inside a test, 'conftest' may be tests/ui's
from conftest import kernel_env, run_notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _outputs(cell) -> list[dict]:
    return [output.get("data", {}) for output in cell.get("outputs", []) if "data" in output]


# Every kind of panel of notebook 02, over small data (notebook 02 itself, executed and exported,
# is measured by ``python -m bench.exports``: it takes a minute or more on a busy machine).
PANELS_NOTEBOOK = [
    "%load_ext jupyter_tracker\nimport math\nimport jupyter_tracker as jt",
    "%%track -e exports -n sweep\nfor optimizer in ['sgd', 'adam']:\n    for lr in [0.01, 0.1]:\n"
    "        with jt.start_run(run_name=f'{optimizer} lr={lr}', nested=True):\n"
    "            jt.log_params({'optimizer': optimizer, 'lr': lr})\n"
    "            for step in range(20):\n"
    "                jt.log_metrics({'loss': math.exp(-lr * step), 'acc': 1 - math.exp(-lr * step)}, step=step)",
    "table = jt.runs('exports')\ntable",
    "children = jt.search_runs('exports', 'attributes.run_name != \\'sweep\\'')\n"
    "jt.plot_metrics(children, ['loss', 'acc'])",
    "jt.plot_metrics(children, ['loss', 'acc'], group_by='params.optimizer')",
    "%%track -e exports -n long -q\nfor step in range(3_000):\n"
    "    jt.log_metric('grad_norm', 1.0 + (25.0 if step == 1_729 else 0.0), step=step)",
    "long_run = jt.search_runs('exports', \"attributes.run_name = 'long'\").run_id[0]\n"
    "curves = jt.plot_metrics(long_run, 'grad_norm', max_points=200)\ncurves.zoom(1_700, 1_760)",
    "comparison = jt.compare(children)\ncomparison",
    "picker = jt.runs('exports', \"attributes.run_name != 'sweep'\")\njt.compare(picker, color='metrics.acc')",
]


def test_panels_executed_by_nbconvert_are_small_and_static_offline(tmp_path):
    """The papermill / CI path: ``jupyter nbconvert --execute`` to a notebook, then to HTML. Its
    kernel has no widget front end, so every panel is its static version alone (no widget view to
    win over it, no plotly.js in the saved widget state): both files stay small and an offline
    browser shows every panel."""
    notebook_path = tmp_path / "panels.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in PANELS_NOTEBOOK],
                                        metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                 "display_name": "Python 3"}})
    nbformat.write(notebook, notebook_path)
    env = kernel_env(tmp_path / "store", notebook_path)
    env.pop("JUPYTER_TRACKER_PANELS", None)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--output", "panels-executed.ipynb", str(notebook_path)], check=True, capture_output=True,
                   cwd=tmp_path, env=env, timeout=300)
    executed = tmp_path / "panels-executed.ipynb"
    notebook = nbformat.read(executed, as_version=4)
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert executed.stat().st_size <= 500_000, f"{executed.stat().st_size:,} bytes"
    saved = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    # no plotly.js (a FigureWidget's front-end module, ~5 MB) in the saved state
    assert not any(len(model.get("state", {}).get("_esm", "")) > 200_000 for model in saved.get("state", {}).values())

    code = notebook.cells
    panels = [data for cell in code for data in _outputs(cell) if "data-jupyter-tracker-static" in
              data.get("text/html", "")]
    assert len(panels) >= 6  # table, curves, grouped curves, zoomed curves, comparison, table + comparison
    assert not any(WIDGET_VIEW in data for data in _outputs_of(code))
    table_html = next(data["text/html"] for data in panels
                      if " runs" in data["text/html"] and "<table" in data["text/html"])
    assert "sweep" in table_html and "adam lr=0.1" in table_html
    assert any("<polyline" in data["text/html"] for data in panels)  # a static chart
    zoomed = next(data["text/html"] for cell in code if "curves.zoom(1_700" in cell.source
                  for data in _outputs(cell))
    # the window's axis starts at step 1,699 (the neighbour outside it) and its y axis reaches the spike (25 + 1)
    assert ">1,699<" in zoomed and ">26<" in zoomed

    sweep_cell = code[1]
    card = [data for data in _outputs(sweep_cell) if "jt-card-static" in data.get("text/html", "")]
    assert card, "the %%track cell's card should end as a static card"
    assert "FINISHED" in card[0]["text/html"]

    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)], check=True,
                   capture_output=True, cwd=tmp_path)
    page = tmp_path / "panels-executed.html"
    assert page.stat().st_size <= 1_000_000, f"{page.stat().st_size:,} bytes"
    html = page.read_text(encoding="utf-8")
    assert "Error displaying widget" not in html
    assert "jt-static-curves" in html and "What differs between" in html and "jt-card-static" in html
    if shutil.which("chromium"):
        dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                              page.as_uri()], capture_output=True, text=True, timeout=60).stdout
        assert "What differs between" in dom and "<polyline" in dom


def _outputs_of(cells) -> list[dict]:
    return [data for cell in cells for data in _outputs(cell)]


def test_track_card_shows_failure_and_quiet_hides_it(tmp_path, store_dir):

    notebook = run_notebook([
        "%load_ext jupyter_tracker\nimport jupyter_tracker as jt",
        "%%track -n will-fail\nfor step in range(5):\n    jt.log_metric('loss', 1 / (step + 1), step=step)\n"
        "raise ValueError('diverged at step 5')",
        "%%track -q -n silent\njt.log_metric('loss', 0.5)",
    ], tmp_path, store_dir, allow_errors=True)
    failed, silent = notebook.cells[1], notebook.cells[2]
    card = next(data["text/html"] for data in _outputs(failed) if "jt-card-static" in data.get("text/html", ""))
    assert "FAILED" in card and "ValueError: diverged at step 5" in card and "loss" in card
    assert not any("jt-card" in data.get("text/html", "") or WIDGET_VIEW in data for data in _outputs(silent))


@pytest.mark.parametrize("points", [200_000])
def test_live_card_does_not_slow_a_logging_loop(tmp_path, store_dir, points):
    """The card samples Run.latest_metrics from a thread: the loop's time per log call stays close to
    the same loop with the card hidden (-q)."""

    loop = (f"import time\nstarted = time.perf_counter()\nfor step in range({points}):\n"
            "    jt.log_metric('loss', 1.0 / (step + 1), step=step)\n"
            "print('per_call_us', (time.perf_counter() - started) / {points} * 1e6)").replace("{points}", str(points))
    notebook = run_notebook([
        "%load_ext jupyter_tracker\nimport jupyter_tracker as jt",
        "%%track -q -n without-card\n" + loop,
        "%%track -n with-card\n" + loop,
    ], tmp_path, store_dir)

    def per_call(cell) -> float:
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
        return float(text.split("per_call_us", 1)[1].split()[0])

    without, with_card = per_call(notebook.cells[1]), per_call(notebook.cells[2])
    print(f"log_metric: {without:.2f} us without card, {with_card:.2f} us with card")
    assert with_card < without * 1.5 + 1.0
