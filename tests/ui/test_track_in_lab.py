"""In a real JupyterLab, a %%track cell records its cell id and notebook path, and shows its summary."""

from __future__ import annotations

import re

import nbformat
from conftest import open_and_run_all, screenshot
from playwright.sync_api import expect

import jupyter_tracker as jt
from jupyter_tracker.store import get_store


def test_run_all_in_jupyterlab_records_cell_ids_and_the_notebook(page, lab_server):
    base_url, token, notebook_dir, store_dir = lab_server
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext jupyter_tracker\nimport jupyter_tracker as jt"),
        nbformat.v4.new_code_cell("%%track -e lab -n from-lab\nlr = 0.3\nfor i in range(5):\n"
                                  "    jt.log_metric('loss', 1 / (i + 1))\nprint('done training')"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = notebook_dir / "track-in-lab.ipynb"
    nbformat.write(notebook, str(path))

    panel = open_and_run_all(page, base_url, token, path.name)
    # The one-line summary under the live card: "✓ from-lab (3f2a9c1e) FINISHED in ..."
    summary = panel.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output",
                                                        has_text=re.compile(r"✓ from-lab \(\w+\) FINISHED"))
    expect(summary).to_be_visible(timeout=60000)
    expect(panel.locator(".jp-Cell").nth(1).locator(".jt-card-static")).to_contain_text("FINISHED")
    expect(panel.locator(".jp-Cell").nth(1)).to_contain_text("done training")
    screenshot(page, "track-in-lab")

    store = get_store(store_dir)
    runs = jt.search_runs(experiment="lab", store=store)
    record = jt.get_run(runs.run_id.item(), store=store)
    assert record.status == "FINISHED" and record.params == {"lr": "0.3"}
    assert record.source["cell_id"] == notebook.cells[1].id          # JupyterLab sent the cell's id
    assert record.source["notebook_path"] == str(path)
    saved = jt.load_snapshot(record.run_id, kind="saved", store=store)
    assert saved.cells[1].source.startswith("%%track -e lab")
