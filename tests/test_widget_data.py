"""The data behind the panels, checked without a browser: which runs a panel takes, table pages
with nested runs, series that stay small but keep their extremes, smoothing, what differs between
runs, parallel-coordinate axes and brushing, static versions and the pre-save hook."""

from __future__ import annotations

import math

import pytest

import jupyter_tracker as jt
from jupyter_tracker.server.saved_outputs import strip_widget_views
from jupyter_tracker.widgets import data, static


@pytest.fixture
def sweep(store_dir):
    """A parent run with four nested runs (lr × optimizer), each with a loss curve and an accuracy."""
    with jt.start_run(run_name="sweep", experiment="demo") as parent:
        for optimizer in ("sgd", "adam"):
            for lr in (0.1, 0.01):
                with jt.start_run(run_name=f"{optimizer}-{lr}", nested=True):
                    jt.log_params({"optimizer": optimizer, "lr": lr, "epochs": 10})
                    for step in range(10):
                        jt.log_metric("loss", 1 / (step + 1) + lr, step=step)
                    jt.log_metric("acc", 0.9 - lr + (0.05 if optimizer == "adam" else 0))
    return parent.run_id


def test_panels_take_ids_dataframes_tables_and_say_what_they_accept(sweep):
    frame = jt.search_runs("demo")
    assert data.run_ids_of(frame) == frame.run_id.tolist()
    assert data.run_ids_of("abc") == ["abc"]
    table = jt.runs("demo")
    table.selected = frame.run_id.tolist()[:2]
    assert data.run_ids_of(table) == frame.run_id.tolist()[:2]
    with pytest.raises(jt.TrackerError, match="run ids are strings"):
        data.run_ids_of([1, 2])
    with pytest.raises(jt.TrackerError, match="no run_id column"):
        data.run_ids_of(frame.drop(columns="run_id"))


def test_table_pages_put_children_under_their_parent_and_sort_flat(sweep):
    frame = jt.search_runs("demo")
    page = data.table_page(frame, limit=10)
    names = [(row["run_name"], row["depth"]) for row in page.rows]
    assert names[0] == ("sweep", 0) and all(depth == 1 for _, depth in names[1:]) and len(names) == 5
    assert [c.group for c in page.columns][:4] == ["run"] * 4
    assert {c.key for c in page.columns} >= {"params.lr", "params.optimizer", "metrics.acc", "metrics.loss"}
    by_acc = data.table_page(frame, sort_by="metrics.acc", descending=True)
    accs = [row["metrics.acc"] for row in by_acc.rows]
    assert accs[:4] == sorted(accs[:4], reverse=True) and accs[-1] is None  # the parent has no acc: last
    second = data.table_page(frame, offset=2, limit=2)
    assert [r["run_id"] for r in second.rows] == [r["run_id"] for r in page.rows[2:4]]
    hidden = data.table_page(frame, hidden={"params.lr"})
    assert "params.lr" not in {c.key for c in hidden.columns}


def test_run_table_filters_inline_and_reports_selection(sweep):
    table = jt.runs("demo")
    assert table.total == 5
    seen = []
    table.observe(lambda change: seen.append(change["new"]), "selected")
    table.filter = "metrics.acc >"                                   # what a user types in the box
    assert "position" in table.filter_error and table.total == 5    # error inline, rows kept
    table.filter = "params.optimizer = 'adam'"
    assert table.filter_error == "" and table.total == 2
    table.selected = [table.rows[0]["run_id"]]
    assert seen == [[table.rows[0]["run_id"]]]
    with pytest.raises(jt.TrackerError, match="position"):
        jt.runs("demo", filter="metrics.acc >")                     # a bad argument raises at once


def test_series_are_bounded_and_keep_extremes(store_dir):
    with jt.start_run(run_name="long") as run:
        for step in range(100_000):
            value = math.sin(step / 500)
            if step == 51_234:
                value = 40.0      # one spike a chart must not lose
            if step == 77_777:
                value = -25.0
            jt.log_metric("signal", value, step=step)
    (series,) = data.metric_series([run.run_id], ["signal"], max_points=1000)
    assert len(series.x) <= 1000 and series.total_points == 100_000
    assert max(series.y) == 40.0 and min(series.y) == -25.0
    assert series.x[0] == 0 and series.x[-1] == 99_999
    (relative,) = data.metric_series([run.run_id], ["signal"], x="relative", max_points=50)
    assert relative.x[0] == 0 and relative.x == sorted(relative.x)
    with pytest.raises(jt.TrackerError, match="x must be one of"):
        data.metric_series([run.run_id], ["signal"], x="epoch")


def test_smoothing_is_a_debiased_moving_average_that_skips_nan():
    assert data.ema([1.0, 2.0, 3.0], 0) == [1.0, 2.0, 3.0]
    smoothed = data.ema([10.0, 10.0, float("nan"), 10.0], 0.9)
    assert smoothed[0] == pytest.approx(10.0) and math.isnan(smoothed[2]) and smoothed[3] == pytest.approx(10.0)
    rising = data.ema([0.0, 10.0, 10.0, 10.0], 0.5)
    assert rising[1] < 10.0 and rising[-1] < 10.0 and rising == sorted(rising)
    with pytest.raises(jt.TrackerError, match=r"\[0, 1\)"):
        data.ema([1.0], 1.0)


def test_diff_shows_only_what_differs_and_axes_code_categories(sweep):
    frame = data.comparison_frame(jt.search_runs("demo", "params.lr = '0.1'").run_id.tolist())
    rows = data.diff_table(frame)
    keys = {row["key"] for row in rows}
    assert "params.optimizer" in keys and "params.lr" not in keys and "params.epochs" not in keys
    assert len(data.diff_table(frame, include_same=True)) > len(rows)
    full = data.comparison_frame(jt.search_runs("demo", "params.lr IN ('0.1', '0.01')").run_id.tolist())
    axes, colors = data.parallel_axes(full, color="metrics.acc")
    by_key = {axis.key: axis for axis in axes}
    assert by_key["params.optimizer"].ticktext == ["adam", "sgd"] and by_key["params.lr"].tickvals is None
    assert "params.epochs" not in by_key                   # the same in every run: no axis
    assert colors == [pytest.approx(v) for v in full["metrics.acc"]]
    kept = data.kept_by_constraints(axes, {"params.optimizer": [-0.5, 0.5]}, full.run_id.tolist())
    assert set(kept) == set(full[full["params.optimizer"] == "adam"].run_id)
    with pytest.raises(jt.TrackerError, match="choose one of"):
        data.parallel_axes(full, color="metrics.nope")


def test_comparison_reports_brushed_runs_and_follows_a_table(sweep):
    children = jt.search_runs("demo", "params.optimizer IN ('sgd', 'adam')")
    comparison = jt.compare(children, color="metrics.acc")
    assert set(comparison.kept) == set(children.run_id)
    acc_axis = [axis.key for axis in comparison.axes].index("metrics.acc")
    comparison._repr_mimebundle_()                                   # shown: brushing comes back from now on
    # what plot.js sends when a brush is dragged on the acc axis (plotly's plotly_restyle event)
    comparison.parcoords_plot._on_message(comparison.parcoords_plot, {
        "type": "restyle", "data": {f"dimensions[{acc_axis}].constraintrange": [[0.85, 1.0]]}, "traces": [0]}, [])
    assert set(comparison.kept) == set(children[children["metrics.acc"] >= 0.85].run_id)
    table = jt.runs("demo")
    follower = jt.compare(table, color="metrics.acc")
    assert follower.run_ids == [] and "Select runs" in follower.message.value
    table.selected = children.run_id.tolist()[:2]
    assert follower.run_ids == children.run_id.tolist()[:2] and len(follower.parcoords.data) == 1


def test_static_versions_are_marked_and_the_save_hook_keeps_only_them(sweep):
    table = jt.runs("demo")
    curves = jt.plot_metrics(jt.search_runs("demo"), "loss")
    bundles = [table._repr_mimebundle_()[0], curves._repr_mimebundle_()]
    for bundle in bundles:
        assert "data-jupyter-tracker-static" in bundle["text/html"]
        assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "<svg" in bundles[1]["text/html"] and "sgd-0.1" in bundles[1]["text/html"]
    foreign = {"application/vnd.jupyter.widget-view+json": {"model_id": "ab12cd34ef"}, "text/plain": "IntSlider()"}
    ours_id = bundles[1]["application/vnd.jupyter.widget-view+json"]["model_id"]
    # widget state as a front end saves it: our curves box, its figure child, and someone's slider
    states = {ours_id: {"state": {"children": ["IPY_MODEL_0123456789abcdef"]}},
              "0123456789abcdef": {"state": {"_esm": "x" * 1000}}, "ab12cd34ef": {"state": {"value": 3}}}
    model = {"type": "notebook", "content": {
        "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": states}}},
        "cells": [{"cell_type": "code", "outputs": [
            {"output_type": "display_data", "data": dict(bundles[1])},
            {"output_type": "display_data", "data": dict(foreign)}]}]}}
    strip_widget_views(model)
    ours, theirs = model["content"]["cells"][0]["outputs"]
    assert "application/vnd.jupyter.widget-view+json" not in ours["data"] and "text/html" in ours["data"]
    assert theirs["data"] == foreign                         # other widgets are none of our business
    assert list(states) == ["ab12cd34ef"]  # our models' saved state (the figure's plotly.js) is gone too
    assert static.sparkline([1, 2, float("nan"), 3]).startswith("<svg")


TRAINER = """
import sys, time
import jupyter_tracker as jt
with jt.start_run(run_name="trainer", experiment="live") as run:
    print(run.run_id, flush=True)
    sys.stdin.readline()                      # the test is watching: start logging
    for step in range(40):
        jt.log_metric("loss", 1 / (step + 1), step=step)
        time.sleep(0.05)
    sys.stdin.readline()                      # the test saw points arrive: finish the run
"""


def test_curves_and_table_follow_a_run_logging_in_another_kernel(store_dir):
    """A training loop in another process: the open curves gain its points while it logs, and the
    run table sees it finish, both without being asked to refresh."""
    import subprocess
    import sys
    import time

    from jupyter_tracker.widgets import curves, table

    trainer = subprocess.Popen([sys.executable, "-c", TRAINER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    widgets = []
    try:
        run_id = trainer.stdout.readline().strip()
        chart = curves.MetricCurves([run_id], ["loss"], poll_interval=0.1)
        runs = table.runs("live", refresh_interval=0.2)
        widgets += [chart, runs]
        assert runs.running == 1 and chart.running()
        trainer.stdin.write("go\n")
        trainer.stdin.flush()
        deadline = time.monotonic() + 60
        while not (chart.figure.data and len(chart.figure.data[0].y) >= 5):
            assert time.monotonic() < deadline, "the curves never showed the other process's points"
            time.sleep(0.05)
        assert trainer.poll() is None  # seen while the other process is still logging
        trainer.stdin.write("done\n")
        trainer.stdin.flush()
        assert trainer.wait(timeout=60) == 0
        while runs.running or len(chart.figure.data[0].y) < 40:
            assert time.monotonic() < deadline, f"running={runs.running}, points={len(chart.figure.data[0].y)}"
            time.sleep(0.05)
        assert runs.rows[0]["status"] == "FINISHED"
    finally:
        for widget in widgets:
            widget.close()  # their refresh threads stop here, pass or fail
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
        trainer.stdin.close()
        trainer.stdout.close()


def test_a_static_chart_of_values_near_the_float64_limit_draws_every_point():
    """Coordinates and ticks are computed without overflowing (a range of 1.7e308 and 5e-324 made
    every coordinate but the lowest -inf, so the saved chart showed an empty box)."""
    from jupyter_tracker.widgets.static import line_chart

    svg = line_chart([("extreme", [0, 1, 5], [1e-300, 1.7e308, 5e-324])], title="extreme")
    assert "inf" not in svg and "polyline" in svg
    assert svg.count('text-anchor="end">') == 5  # five y ticks, each at a finite position
