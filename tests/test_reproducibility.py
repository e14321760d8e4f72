"""Can this run be reproduced? A data scientist runs cells out of order, edits, deletes and execs in a real
kernel; each tracked run gets a verdict whose reasons name the variable and the cell."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from conftest import kernel_env, run_notebook

import jupyter_tracker as jt
from jupyter_tracker.store import get_store

SETUP = "%load_ext jupyter_tracker\nimport jupyter_tracker as jt"


class LabKernel:
    """A kernel driven as JupyterLab drives it: each execute request carries the cell's id, and the
    notebook file is whatever was last saved."""

    def __init__(self, store: Path, folder: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        self.folder = folder
        self.manager, self.client = start_new_kernel(kernel_name="python3", env=kernel_env(store), cwd=str(folder))

    def open(self, name: str) -> Path:
        """Start working on notebook ``name`` (what Jupyter's session path tells the kernel)."""
        path = self.folder / name
        self.execute(f"__session__ = {str(path)!r}", None, silent=True)
        return path

    def execute(self, code: str, cell_id: str | None, silent: bool = False) -> str:
        message = self.client.session.msg("execute_request", {
            "code": code, "silent": silent, "store_history": not silent, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}, metadata={"cellId": cell_id} if cell_id else {})
        self.client.shell_channel.send(message)
        reply = self.client.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != message["header"]["msg_id"]:   # e.g. a late kernel_info
            reply = self.client.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        text = []
        while True:
            output = self.client.get_iopub_msg(timeout=60)
            if output["parent_header"].get("msg_id") != message["header"]["msg_id"]:
                continue
            if output["msg_type"] == "stream":
                text.append(output["content"]["text"])
            if output["msg_type"] == "status" and output["content"]["execution_state"] == "idle":
                return "".join(text)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def save(path: Path, cells: list[tuple[str, str]]) -> None:
    """Save the notebook as the user sees it: (cell id, source) from the top."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in cells]
    nbformat.write(notebook, str(path))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    store = folder / "store"
    kernel = LabKernel(store, folder)
    kernel.execute(SETUP, "setup")
    yield kernel, store
    kernel.close()


def _verdict(store: Path, name: str) -> tuple[str, str]:
    runs = jt.search_runs(filter=f"run_name = '{name}'", store=get_store(store))
    run = jt.get_run(runs.run_id.item(), store=get_store(store))
    return run.tags.get("jt.reproducibility", ""), run.tags.get("jt.reproducibility.reasons", "")


def test_a_name_from_a_cell_below_is_named(lab):
    kernel, store = lab
    path = kernel.open("order.ipynb")
    cells = [("setup", SETUP), ("train", "%%track -n out-of-order\nresult = threshold * 2"),
             ("define", "threshold = 0.5")]
    save(path, cells)
    kernel.execute(cells[2][1], "define")
    printed = kernel.execute(cells[1][1], "train")
    verdict, reasons = _verdict(store, "out-of-order")
    assert verdict == "warnings"
    assert "`threshold` came from cell 3" in reasons and "below cell 2" in reasons, reasons
    assert "⚠ not reproducible as saved: `threshold` came from cell 3" in printed


def test_runs_started_with_start_run_in_a_cell_get_the_cells_slice_and_verdict(lab):
    kernel, store = lab
    path = kernel.open("with-block.ipynb")
    sweep = ("with jt.start_run(run_name='sweep'):\n    for lr in (0.1, 0.2):\n"
             "        with jt.start_run(run_name=f'child-{lr}', nested=True):\n"
             "            jt.log_metric('score', alpha * lr)")
    cells = [("setup", SETUP), ("base", "beta = 3"), ("fit", "with jt.start_run(run_name='with-linear'):\n"
                                                               "    jt.log_metric('b', beta * 2)"),
             ("sweep", sweep), ("define", "alpha = 0.25")]
    save(path, cells)
    kernel.execute(cells[1][1], "base")
    kernel.execute(cells[2][1], "fit")
    assert _verdict(store, "with-linear") == ("linear", "")
    kernel.execute(cells[4][1], "define")             # run out of order: alpha comes from the cell below
    kernel.execute(cells[3][1], "sweep")
    for name in ("sweep", "child-0.1", "child-0.2"):
        verdict, reasons = _verdict(store, name)
        assert verdict == "warnings", name
        assert "`alpha` came from cell 5" in reasons and "below cell 4" in reasons, reasons
    run = jt.get_run(jt.search_runs(filter="run_name = 'with-linear'", store=get_store(store)).run_id.item(),
                     store=get_store(store))
    recorded = json.loads(run.artifact("jupyter_tracker/slice.json").local_path.read_text())
    assert recorded["executions"][-1]["source"] == cells[2][1]
    assert recorded["executions"][-1]["depends"]["beta"] == recorded["executions"][-2]["execution_count"]


def test_a_run_started_in_one_cell_and_ended_in_another_gets_the_slice_of_every_cell_it_spanned(lab):
    kernel, store = lab
    path = kernel.open("spanning.ipynb")
    cells = [("setup", SETUP), ("start", "run = jt.start_run(run_name='spanning')\nbatch = 32"),
             ("log", "jt.log_metric('loss', base_loss / batch)"), ("end", "jt.end_run()"),
             ("define", "base_loss = 2.0")]
    save(path, cells)
    kernel.execute(cells[4][1], "define")             # run first: the middle cell's base_loss comes from below
    for cell_id, source in cells[1:4]:
        kernel.execute(source, cell_id)
    verdict, reasons = _verdict(store, "spanning")
    assert verdict == "warnings"
    assert "`base_loss` came from cell 5" in reasons and "below cell 3" in reasons, reasons
    run = jt.get_run(jt.search_runs(filter="run_name = 'spanning'", store=get_store(store)).run_id.item(),
                     store=get_store(store))
    recorded = json.loads(run.artifact("jupyter_tracker/slice.json").local_path.read_text())
    by_source = {e["source"]: e for e in recorded["executions"]}
    assert {source for _, source in cells[1:]} <= set(by_source), list(by_source)
    spanned = [by_source[source]["execution_count"] for _, source in cells[1:4]]
    assert recorded["run_executions"] == spanned
    assert [by_source[source]["cell_id"] for _, source in cells[1:4]] == ["start", "log", "end"]
    middle = by_source[cells[2][1]]["depends"]
    assert middle["batch"] == spanned[0] and middle["base_loss"] == by_source[cells[4][1]]["execution_count"]


def test_a_cell_edited_and_run_again_under_the_same_id_is_named(lab):
    kernel, store = lab
    path = kernel.open("edited.ipynb")
    kernel.execute("rows = [1, 2, 3]", "load")
    kernel.execute("total = sum(rows)", "sum")
    kernel.execute("rows = [10]", "load")          # the user edits the first cell and runs it again
    cells = [("setup", SETUP), ("load", "rows = [10]"), ("sum", "total = sum(rows)"),
             ("report", "%%track -q -n after-edit\nshare = total / 2")]
    save(path, cells)
    kernel.execute(cells[3][1], "report")
    verdict, reasons = _verdict(store, "after-edit")
    assert verdict == "warnings"
    # total came from cell 3's execution, which read rows from the first version of cell 2.
    assert "`rows` came from execution [" in reasons and "whose cell 2 was edited since it ran" in reasons, reasons


def test_a_deleted_cell_is_named(lab):
    kernel, store = lab
    path = kernel.open("deleted.ipynb")
    kernel.execute("learning_rate = 0.1", "scratch")
    cells = [("setup", SETUP), ("fit", "%%track -q -n after-delete\nstep = learning_rate * 10")]
    save(path, cells)                                   # the scratch cell is gone from the notebook
    kernel.execute(cells[1][1], "fit")
    verdict, reasons = _verdict(store, "after-delete")
    assert verdict == "warnings"
    assert "`learning_rate` came from execution [" in reasons and "whose cell was deleted since it ran" in reasons


def test_a_name_made_by_exec_has_no_visible_definition(lab):
    kernel, store = lab
    path = kernel.open("exec.ipynb")
    cells = [("setup", SETUP), ("make", "exec('magic_number = 41')"),
             ("use", "%%track -q -n via-exec\nanswer = magic_number + 1")]
    save(path, cells)
    kernel.execute(cells[1][1], "make")
    kernel.execute(cells[2][1], "use")
    verdict, reasons = _verdict(store, "via-exec")
    assert verdict == "warnings"
    assert "`magic_number` (read by cell 3" in reasons and "has no visible definition" in reasons
    assert "ran exec()" in reasons, reasons


def test_a_clean_notebook_run_top_to_bottom_is_linear_and_unseeded_draws_are_flagged(store_dir, tmp_path):
    cells = [SETUP, "import random\nbase = 3\ndef double(value):\n    return value * factor\nfactor = 2",
             "%%track -q -n clean\nresult = double(base)",
             "%%track -q -n noisy\nnoise = random.random() + base"]
    run_notebook(cells, tmp_path, store_dir)
    assert _verdict(store_dir, "clean") == ("linear", "")
    verdict, reasons = _verdict(store_dir, "noisy")
    assert verdict == "warnings" and "draws random numbers (random.random) with no visible seed call" in reasons
    flagged = jt.search_runs(filter="attributes.reproducibility != 'linear'")
    assert list(flagged.run_name) == ["noisy"]
    assert list(jt.search_runs(filter="attributes.reproducibility = 'linear'").run_name) == ["clean"]
    run = jt.get_run(jt.search_runs(filter="run_name = 'clean'").run_id.item())
    recorded = json.loads(run.artifact("jupyter_tracker/slice.json").local_path.read_text())
    # The slice: the cell defining base, double and factor, and the tracked cell (which does not use jt).
    assert [e["execution_count"] for e in recorded["executions"]] == [2, 3]
    assert recorded["executions"][-1]["depends"] == {"base": 2, "double": 2}


def test_the_run_table_shows_each_runs_verdict_as_its_own_column(store_dir, tmp_path):
    from jupyter_tracker.widgets import data

    cells = [SETUP, "import random", "%%track -q -e table -n clean\nside = 4", "with jt.start_run(run_name='drawn', "
             "experiment='table'):\n    jt.log_metric('draw', random.random())"]
    run_notebook(cells, tmp_path, store_dir)
    page = data.table_page(jt.search_runs("table"))
    run_columns = [(c.key, c.label) for c in page.columns if c.group == "run"]
    assert ("tags.jt.reproducibility", "reproducible") in run_columns
    assert "tags.jt.reproducibility" not in [c.key for c in page.columns if c.group == "tags"]
    assert {row["run_name"]: row["tags.jt.reproducibility"] for row in page.rows} == \
        {"clean": "linear", "drawn": "warnings"}


def test_the_verdict_and_the_slice_travel_in_a_bundle_and_show_in_the_shared_page(store_dir, tmp_path):
    cells = [SETUP, "import numpy as np\nweights = np.random.rand(3)", "%%track -q -n unseeded\nscore = weights.sum()"]
    run_notebook(cells, tmp_path, store_dir)
    run_id = jt.search_runs().run_id.item()
    jt.export_runs([run_id], tmp_path / "share.jtrack")
    colleague = get_store(tmp_path / "colleague")
    jt.import_runs(tmp_path / "share.jtrack", store=colleague)
    imported = jt.get_run(run_id, store=colleague)
    assert imported.tags["jt.reproducibility"] == "warnings"
    assert "draws random numbers (np.random.rand)" in imported.tags["jt.reproducibility.reasons"]
    recorded = json.loads(imported.artifact("jupyter_tracker/slice.json").local_path.read_text())
    assert [e["source"] for e in recorded["executions"]] == cells[1:]
    page = jt.share_snapshot(run_id, tmp_path / "run.html")
    assert "Reproducibility: warnings" in Path(page).read_text() and "np.random.rand" in Path(page).read_text()
