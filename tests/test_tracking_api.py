"""A user tracks runs from plain Python: nested runs, params, metrics, tags, artifacts, statuses."""

from __future__ import annotations

import json
import math

import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import NoActiveRunError, RunAlreadyActiveError, RunNotActiveError


def test_nested_sweep_is_recorded_with_lineage(store_dir):
    with jt.start_run(run_name="sweep", experiment="churn", tags={"intent": "tuning"}) as parent:
        for lr in (0.1, 0.01):
            with jt.start_run(run_name=f"lr={lr}", nested=True) as run:
                run.log_params({"lr": lr, "optimizer": "adam"})
                run.log_metrics({"loss": 0.3, "acc": 0.91}, step=3)

    runs = jt.search_runs(experiment="churn")
    assert sorted(runs.run_name) == ["lr=0.01", "lr=0.1", "sweep"]
    children = runs[runs.parent_run_id == parent.run_id]
    assert sorted(children["params.lr"]) == ["0.01", "0.1"]
    assert set(children["params.optimizer"]) == {"adam"}
    assert list(children["metrics.acc"]) == [0.91, 0.91]
    assert set(runs.status) == {"FINISHED"}
    assert runs.loc[runs.run_name == "sweep", "tags.intent"].item() == "tuning"
    assert set(runs.columns[:8]) == {"run_id", "run_name", "experiment", "status", "start_time",
                                      "end_time", "duration_s", "parent_run_id"}
    assert sorted(jt.get_run(parent.run_id).children) == sorted(children.run_id)


def test_module_functions_act_on_the_active_run(store_dir):
    with jt.start_run(run_name="fluent") as run:
        assert jt.active_run() is run
        jt.log_param("depth", 5)
        jt.log_params({"lr": 0.01})
        for step in range(5):
            jt.log_metric("loss", 1.0 / (step + 1))
        jt.log_metric("loss", 0.01, step=10, timestamp=1_700_000_000_000)
        jt.log_metrics({"acc": 0.5, "f1": 0.4})
        jt.set_tag("stage", "dev")
        jt.set_tags({"owner": "ana"})
    assert jt.active_run() is None

    record = jt.get_run(run.run_id)
    assert record.params == {"depth": "5", "lr": "0.01"}
    assert record.metrics == {"acc": 0.5, "f1": 0.4, "loss": 0.01}
    assert record.tags == {"owner": "ana", "stage": "dev"}
    history = jt.get_metric_history(run.run_id, "loss")
    assert list(history.columns) == ["step", "timestamp", "value"]
    assert list(history.step) == [0, 1, 2, 3, 4, 10]
    assert history.value.iloc[-1] == 0.01
    assert history.timestamp.iloc[-1].year == 2023


def test_special_float_values_survive_exactly(store_dir):
    values = [float("nan"), float("inf"), float("-inf"), 1e-300, 1.7e308, -0.0, 0.1 + 0.2]
    with jt.start_run() as run:
        for value in values:
            run.log_metric("x", value)
    stored = list(jt.get_metric_history(run.run_id, "x").value)
    assert math.isnan(stored[0])
    assert stored[1:] == values[1:]
    assert math.copysign(1, stored[5]) == -1


def test_status_follows_how_the_block_ended(store_dir):
    with pytest.raises(ValueError, match="bad data"):
        with jt.start_run(run_name="fails"):
            raise ValueError("bad data")
    with pytest.raises(KeyboardInterrupt):
        with jt.start_run(run_name="interrupted"):
            raise KeyboardInterrupt
    run = jt.start_run(run_name="manual")
    jt.end_run(status="KILLED")
    assert run.status == "KILLED"

    runs = jt.search_runs().set_index("run_name")
    assert runs.loc["fails", "status"] == "FAILED"
    assert runs.loc["interrupted", "status"] == "KILLED"
    assert runs.loc["manual", "status"] == "KILLED"
    error = jt.get_run(runs.loc["fails", "run_id"]).error
    assert error["type"] == "ValueError" and error["message"] == "bad data"
    assert "raise ValueError" in error["traceback"]


def test_artifacts_of_every_kind_are_stored_content_addressed(store_dir, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import plotly.graph_objects as go

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "config.json").write_text("{}")
    (tmp_path / "confusion.png").write_bytes(b"\x89PNG fake")
    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    with jt.start_run() as run:
        assert jt.log_artifact(tmp_path / "confusion.png") == "confusion.png"
        jt.log_artifact(tmp_path / "confusion.png", artifact_path="plots")
        assert jt.log_artifacts(tmp_path / "model", "model") == ["model/sub/config.json", "model/weights.bin"]
        jt.log_text("hello", "notes/readme.txt")
        jt.log_dict({"a": 1, "b": [1, 2]}, "config.json")
        jt.log_dict({"a": 1}, "config.yaml")
        jt.log_figure(figure, "curve.png")
        jt.log_figure(go.Figure(go.Scatter(y=[1, 3, 2])), "curve.json")
        jt.log_table(pd.DataFrame({"x": [1, 2], "y": ["a", "b"]}), "predictions.parquet")
    plt.close(figure)

    record = jt.get_run(run.run_id)
    paths = {a.path: a for a in record.artifacts}
    assert set(paths) == {"confusion.png", "plots/confusion.png", "model/sub/config.json", "model/weights.bin",
                          "notes/readme.txt", "config.json", "config.yaml", "curve.png", "curve.json",
                          "predictions.parquet"}
    assert paths["confusion.png"].sha256 == paths["plots/confusion.png"].sha256
    assert paths["notes/readme.txt"].local_path.read_text() == "hello"
    assert paths["notes/readme.txt"].media_type == "text/plain"
    assert json.loads(paths["config.json"].local_path.read_text()) == {"a": 1, "b": [1, 2]}
    assert paths["config.yaml"].local_path.read_text().strip() == "a: 1"
    assert paths["curve.png"].local_path.read_bytes().startswith(b"\x89PNG")
    assert json.loads(paths["curve.json"].local_path.read_text())["data"][0]["y"] == [1, 3, 2]
    table = pd.read_parquet(paths["predictions.parquet"].local_path) if _has_parquet_engine() else None
    if table is not None:
        assert list(table.y) == ["a", "b"]
    import duckdb

    parquet_path = paths["predictions.parquet"].local_path
    assert duckdb.sql(f"select y from read_parquet('{parquet_path}')").fetchall() == [("a",), ("b",)]
    assert paths["model/weights.bin"].size == 200


def _has_parquet_engine() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def test_calls_without_an_active_run_explain_what_to_do(store_dir):
    with pytest.raises(NoActiveRunError, match="%%track"):
        jt.log_metric("loss", 1.0)
    with pytest.raises(NoActiveRunError):
        jt.end_run()


def test_a_second_top_level_run_needs_nested_or_end(store_dir):
    with jt.start_run(run_name="outer"):
        with pytest.raises(RunAlreadyActiveError, match="nested=True"):
            jt.start_run(run_name="inner")


def test_logging_to_an_ended_run_is_refused(store_dir):
    with jt.start_run() as run:
        pass
    with pytest.raises(RunNotActiveError, match="already ended"):
        run.log_metric("loss", 1.0)


def test_a_plain_script_records_its_path_and_code(store_dir, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text("import jupyter_tracker as jt\nwith jt.start_run(run_name='script') as r:\n"
                      "    jt.log_metric('loss', 0.5)\n")
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path)
    record = jt.get_run(jt.search_runs().run_id[0])
    assert record.source["kind"] == "script"
    assert record.source["script_path"] == str(script)
    assert "jt.start_run" in record.source["code"]
    assert record.environment["python"]["version"].count(".") == 2
    assert record.status == "FINISHED"


def test_an_unfinished_script_run_ends_with_the_process(store_dir, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "crash.py"
    script.write_text("import jupyter_tracker as jt\njt.start_run(run_name='crashes')\n"
                      "jt.start_run(run_name='ok-child', nested=True)\nraise SystemError('boom')\n")
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True)
    clean = tmp_path / "clean.py"
    clean.write_text("import jupyter_tracker as jt\njt.start_run(run_name='forgot-end')\n")
    subprocess.run([sys.executable, str(clean)], cwd=tmp_path, check=True)
    runs = jt.search_runs().set_index("run_name")
    assert runs.loc["crashes", "status"] == "FAILED"
    assert runs.loc["forgot-end", "status"] == "FINISHED"
    assert jt.get_run(runs.loc["crashes", "run_id"]).error["type"] == "SystemError"


def test_run_ids_can_be_shortened_to_a_unique_prefix(store_dir):
    with jt.start_run(run_name="prefixed") as run:
        pass
    assert jt.get_run(run.run_id[:8]).run_name == "prefixed"


def test_history_is_in_step_order_even_when_logged_out_of_order(store_dir):
    with jt.start_run() as run:
        for step, value in ((5, 0.5), (3, 0.3), (4, 0.4), (3, 0.31)):
            run.log_metric("loss", value, step=step, timestamp=1_700_000_000_000 + int(value * 1000))
    history = jt.get_metric_history(run.run_id, "loss")
    assert list(history.step) == [3, 3, 4, 5]
    assert list(history.value) == [0.3, 0.31, 0.4, 0.5]
    assert jt.get_run(run.run_id).metrics["loss"] == 0.5
