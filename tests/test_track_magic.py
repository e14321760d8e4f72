"""A data scientist puts %%track on notebook cells, executed by a real kernel (nbclient)."""

from __future__ import annotations

import re
import threading

import nbformat
import pytest
from conftest import kernel_env, notebook_client, run_notebook
from nbclient.exceptions import CellExecutionError

import jupyter_tracker as jt

SETUP = "%load_ext jupyter_tracker\nimport jupyter_tracker as jt"

TRAINING = """%%track -e churn -n baseline -t model=rf -t owner=ana
lr = 0.01                # literal assignments are logged as params
max_depth = 5
layers: int = 3
name = "forest"
_private = 1
computed = lr * 2
results = {}             # accumulators and throwaway state are not params
losses = []
seen = 0
for epoch in range(20):
    jt.log_metric("loss", 1.0 / (epoch + 1), step=epoch)
    losses.append(1.0 / (epoch + 1))
    seen += 1
results["final"] = losses[-1]
print("training done")
lr * 100"""


def _texts(cell) -> str:
    parts = []
    for output in cell.outputs:
        parts.append(output.get("text") or output.get("data", {}).get("text/plain", "") or output.get("ename", ""))
    return "\n".join(parts)


def test_a_tracked_cell_becomes_a_complete_run(store_dir, tmp_path):
    notebook = run_notebook([SETUP, TRAINING], tmp_path, store_dir)
    cell = notebook.cells[1]
    assert "training done" in _texts(cell)                      # the output is still shown (tee)
    assert "1.0" in _texts(cell)                                # the last expression still displays
    assert "✓ baseline" in _texts(cell) and "FINISHED" in _texts(cell)

    runs = jt.search_runs(experiment="churn")
    run = jt.get_run(runs.run_id.item())
    assert run.run_name == "baseline" and run.status == "FINISHED"
    assert run.params == {"lr": "0.01", "max_depth": "5", "layers": "3", "name": "forest"}
    assert run.tags == {"model": "rf", "owner": "ana", "jt.reproducibility": "linear"}   # see test_reproducibility
    assert run.metrics == {"loss": 0.05}
    assert len(jt.get_metric_history(run.run_id, "loss")) == 20
    assert run.console == "training done\n"
    assert run.source["kind"] == "cell" and run.source["code"] == TRAINING
    assert run.source["execution_count"] == 2
    assert run.source["notebook_path"] == str(tmp_path / "analysis.ipynb")
    assert run.environment["packages"]["duckdb"]
    assert run.user and run.host and run.pid


def test_a_failing_cell_is_failed_and_still_stops_run_all(store_dir, tmp_path):
    cells = [SETUP, "%%track -n broken\nx = 1\nraise ValueError('bad column')", "print('never runs')"]
    with pytest.raises(CellExecutionError, match="bad column") as failure:
        run_notebook(cells, tmp_path, store_dir)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", failure.value.traceback)   # the traceback the notebook shows
    assert "1 %%track -n broken" in shown and "----> 3 raise ValueError" in shown
    assert "jupyter_tracker.magic" not in shown                           # the user's code, not our rewrite
    run = jt.get_run(jt.search_runs().run_id.item())
    assert run.status == "FAILED"
    assert run.error["type"] == "ValueError" and run.error["message"] == "bad column"
    assert "raise ValueError" in run.error["traceback"]
    assert run.params == {"x": "1"}


def test_every_execution_is_a_new_run_chained_to_the_previous_one(store_dir, tmp_path):
    same_cell = "%%track -n again -q\njt.log_metric('m', 1)"
    cells = [SETUP, same_cell, same_cell]   # the same cell executed twice
    notebook = run_notebook(cells, tmp_path, store_dir)
    assert "again" not in _texts(notebook.cells[1])             # -q hides the summary
    runs = jt.search_runs().sort_values("start_time")
    assert len(runs) == 2
    first, second = (jt.get_run(r) for r in runs.run_id)
    assert second.source["previous_run_id"] == first.run_id
    assert first.source["previous_run_id"] is None


def test_options_params_nested_and_opt_outs(store_dir, tmp_path):
    cells = [SETUP,
             "run = jt.start_run(run_name='sweep')",
             "%%track --nested -n child -p score,alpha --no-auto-params --no-capture --no-snapshot\n"
             "alpha = 0.5\nscore = 0.75 + alpha\nprint('hidden from store')",
             "jt.end_run()"]
    run_notebook(cells, tmp_path, store_dir)
    runs = jt.search_runs().set_index("run_name")
    child = jt.get_run(runs.loc["child", "run_id"])
    assert child.parent_run_id == runs.loc["sweep", "run_id"]
    assert child.params == {"score": "1.25", "alpha": "0.5"}
    assert child.console == ""
    notebook = run_notebook([SETUP, "%%track -q -p defined,undefined\ndefined = 1"], tmp_path, store_dir,
                            name="missing.ipynb")
    assert "-p names undefined, which the cell did not define" in _texts(notebook.cells[1])
    from jupyter_tracker.errors import SnapshotNotFoundError

    with pytest.raises(SnapshotNotFoundError, match="no 'executed' snapshot"):
        jt.load_snapshot(child.run_id)


@pytest.mark.parametrize("line, message", [
    ("%%track --bogus", "unrecognized arguments"),
    ("%%track --experimnt x", "--experimnt: did you mean --experiment?"),
    ("%%track -t notakeyvalue", "KEY=VALUE"),
    ("%%track -p 'a b'", "variable names"),
    ("%%track -e 'bad;name'", "may only use"),
    ("%%track --nested", "needs an active run"),
])
def test_malformed_options_get_a_usage_error_and_no_run(store_dir, tmp_path, line, message):
    with pytest.raises(CellExecutionError) as excinfo:
        run_notebook([SETUP, f"{line}\nprint('body')"], tmp_path, store_dir)
    assert message in str(excinfo.value)
    assert jt.search_runs().empty


def test_a_kernel_interrupt_marks_the_run_killed(store_dir, tmp_path):
    import os
    import signal

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(
        "%%track -n long\nimport time\nfor i in range(3000):\n    jt.log_metric('x', i)\n    time.sleep(0.01)")]
    client = notebook_client(notebook, tmp_path, allow_errors=True)
    timer = None
    with client.setup_kernel(env=kernel_env(store_dir)):
        client.execute_cell(notebook.cells[0], 0)
        kernel_pid = client.km.provisioner.process.pid
        # What Jupyter's "interrupt kernel" does for a local kernel: SIGINT to its process.
        timer = threading.Timer(2.0, lambda: os.kill(kernel_pid, signal.SIGINT))
        timer.start()
        client.execute_cell(notebook.cells[1], 1)
    timer.join()
    run = jt.get_run(jt.search_runs().run_id.item())
    assert run.status == "KILLED"
    assert run.error["type"] == "KeyboardInterrupt"
    assert 50 < len(jt.get_metric_history(run.run_id, "x")) < 3000


def test_the_snapshot_holds_what_ran_even_unsaved(store_dir, tmp_path):
    cells = [SETUP, "data = [1, 2, 3]\nlen(data)", "%%track -n snap\nprint(sum(data))"]
    run_notebook(cells, tmp_path, store_dir, name="unsaved.ipynb")
    (tmp_path / "unsaved.ipynb").unlink()                       # as if it had never been saved
    run_id = jt.search_runs().run_id.item()
    notebook = jt.load_snapshot(run_id)
    sources = [cell.source for cell in notebook.cells]
    assert sources == [SETUP, "data = [1, 2, 3]\nlen(data)", "%%track -n snap\nprint(sum(data))"]
    assert notebook.cells[1].outputs[0]["data"]["text/plain"] == "3"
    assert notebook.cells[2].outputs[0]["text"] == "6\n"
    assert notebook.cells[2].metadata["jupyter_tracker"]["tracked"] is True
    nbformat.validate(notebook)
    saved = jt.load_snapshot(run_id, kind="saved")
    assert [c.source for c in saved.cells] == sources

    restored = jt.restore_snapshot(run_id, tmp_path / "restored.ipynb")
    from jupyter_tracker.errors import PathExistsError

    with pytest.raises(PathExistsError):
        jt.restore_snapshot(run_id, restored)
    rerun = run_notebook([c.source for c in nbformat.read(restored, as_version=4).cells], tmp_path, store_dir,
                         name="rerun.ipynb")
    assert "6" in _texts(rerun.cells[2])
    assert len(jt.search_runs()) == 2


def test_snapshots_of_an_unchanged_notebook_are_stored_once(store_dir, tmp_path):
    big_cell = "payload = '" + "x" * 200_000 + "'"
    cells = [SETUP, big_cell] + ["%%track -q\njt.log_metric('m', 1)"] * 15
    run_notebook(cells, tmp_path, store_dir)
    objects = store_dir / "objects"
    total = sum(p.stat().st_size for p in objects.rglob("*") if p.is_file())
    assert len(jt.search_runs()) == 15
    # 15 snapshots (executed + saved) each containing the 200 kB cell: stored once per kind.
    assert total < 3 * 210_000, total


def test_cell_id_sent_by_the_front_end_is_recorded(store_dir, tmp_path):
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env=kernel_env(store_dir))
    try:
        for code, cell_id in ((SETUP, "setup-cell"), ("%%track -q\njt.log_metric('m', 1)", "cell-abc"),
                              ("%%track -q\njt.log_metric('m', 2)", "cell-abc")):
            message = client.session.msg("execute_request", {
                "code": code, "silent": False, "store_history": True, "user_expressions": {},
                "allow_stdin": False, "stop_on_error": True}, metadata={"cellId": cell_id})
            client.shell_channel.send(message)
            reply = client.get_shell_msg(timeout=60)
            while reply["parent_header"].get("msg_id") != message["header"]["msg_id"]:
                reply = client.get_shell_msg(timeout=60)   # start_new_kernel may leave kernel_info replies
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    runs = jt.search_runs().sort_values("start_time")
    first, second = (jt.get_run(r) for r in runs.run_id)
    assert first.source["cell_id"] == second.source["cell_id"] == "cell-abc"
    assert second.source["previous_run_id"] == first.run_id


def test_track_on_tracks_every_following_cell(store_dir, tmp_path):
    cells = [SETUP, "%track on -e auto -q", "a = 1", "b = 2\njt.log_metric('b', b)", "%track off", "c = 3"]
    run_notebook(cells, tmp_path, store_dir)
    runs = jt.search_runs(experiment="auto")
    assert len(runs) == 2
    assert sorted(runs["params.a"].dropna()) == ["1"] and runs["metrics.b"].max() == 2


def test_tracker_magic_shows_and_changes_settings(store_dir, tmp_path):
    other = tmp_path / "other-store"
    cells = [SETUP, "%tracker", f"%tracker store {other}", "%tracker experiment demo",
             "%tracker auto_params=False quiet=True", "%%track\nlr = 0.1\njt.log_metric('m', 1)"]
    notebook = run_notebook(cells, tmp_path, store_dir)
    shown = _texts(notebook.cells[1])
    assert "auto_params" in shown and f"store: {store_dir}" in shown
    assert shown.count(str(store_dir)) == 1 and shown.count("experiment:") == 1   # each setting once
    assert _texts(notebook.cells[5]) == ""
    other_run = jt.search_runs(store=__import__("jupyter_tracker.store", fromlist=["get_store"]).get_store(other))
    assert other_run.experiment.item() == "demo"
    assert "params.lr" not in other_run.columns


def test_config_works_through_percent_config(store_dir, tmp_path):
    cells = [SETUP, "%config TrackerConfig.auto_params = False", "%%track -q\nlr = 0.1"]
    run_notebook(cells, tmp_path, store_dir)
    assert "params.lr" not in jt.search_runs().columns


def test_settings_in_a_jupyter_config_file_apply(store_dir, tmp_path):
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        "c.TrackerConfig.auto_params = False\nc.TrackerConfig.experiment = 'from-config'\n")
    run_notebook([SETUP, "%%track -q\nlr = 0.1"], tmp_path, store_dir, env={"IPYTHONDIR": str(tmp_path / "ipython")})
    runs = jt.search_runs()
    assert runs.experiment.item() == "from-config"
    assert "params.lr" not in runs.columns


def test_without_cell_ids_re_runs_chain_by_position_in_the_saved_notebook(store_dir, tmp_path):
    # Two different cells with the same first line: each re-run must chain to its own cell.
    cells = [SETUP, "%%track -q\nx = 1", "%%track -q\ny = 2", "%%track -q\nx = 1"]
    run_notebook(cells, tmp_path, store_dir)
    runs = jt.search_runs().sort_values("start_time").reset_index(drop=True)
    first_x, only_y, third = (jt.get_run(r) for r in runs.run_id)
    assert only_y.source["previous_run_id"] is None
    assert third.source["previous_run_id"] == first_x.run_id  # the same saved cell (position 1)


def test_top_level_await_works_in_a_tracked_cell(store_dir, tmp_path):
    cells = [SETUP, "%%track -q\nimport asyncio\nawait asyncio.sleep(0.01)\njt.log_metric('awaited', 1)"]
    run_notebook(cells, tmp_path, store_dir)
    assert jt.search_runs()["metrics.awaited"].item() == 1
