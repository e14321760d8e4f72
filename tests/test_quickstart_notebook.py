"""The quickstart notebook runs top to bottom in a real kernel and leaves the runs it promises."""

from __future__ import annotations

from conftest import copy_example, execute_notebook

import jupyter_tracker as jt


def test_quickstart_produces_a_baseline_and_a_sweep(store_dir, tmp_path):
    notebook = execute_notebook(copy_example("01-quickstart.ipynb", tmp_path), store_dir, timeout=180)

    runs = jt.search_runs(experiment="quickstart").set_index("run_name")
    assert set(runs.index) == {"baseline", "lr-sweep", "lr=0.01", "lr=0.1", "lr=1.0"}
    assert set(runs.status) == {"FINISHED"}
    baseline = jt.get_run(runs.loc["baseline", "run_id"])
    assert baseline.params == {"lr": "0.5", "epochs": "60"}
    assert {k: v for k, v in baseline.tags.items() if not k.startswith("jt.")} == {"model": "logreg"}
    assert baseline.metrics["acc"] > 0.8
    assert len(jt.get_metric_history(baseline.run_id, "loss")) == 60
    assert baseline.console.startswith("weights")
    sweep_children = runs[runs.parent_run_id == runs.loc["lr-sweep", "run_id"]]
    assert sorted(sweep_children["params.lr"]) == ["0.01", "0.1", "1.0"]
    losses = sweep_children.set_index("params.lr")["metrics.loss"]
    assert losses["1.0"] < losses["0.01"]                       # learning happened
    snapshot_output = notebook.cells[-1].outputs[0]["text"]
    assert snapshot_output.startswith("%%track -e quickstart -n baseline")
