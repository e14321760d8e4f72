"""Zooming a long curve is truthful: a window of a 10,000,000-point metric comes back at full
resolution, a one-step spike included, within the chart's point budget; the overview of the same
curve stays within the budget too, and the widget's ``zoom`` does the same from Python."""

from __future__ import annotations

import pytest

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.store import get_store

TOTAL = 10_000_000
SPIKE_STEP = 3_456_789
BUDGET = 2000


@pytest.fixture(scope="module")
def long_curve(tmp_path_factory):
    """A run whose ``loss`` has 10,000,000 points, a smooth decay with one spike at one step.

    The points are written by DuckDB in one statement (the bulk path: 10M ``log_metric`` calls
    would take minutes); the run and its key come through the ordinary API. Shared by the tests
    of this module, which only read it."""
    store_dir = tmp_path_factory.mktemp("zoom") / "store"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_TRACKER_DIR", str(store_dir))
        config.set_store_override(None)
        with jt.start_run("long", experiment="zoom", snapshot=False) as run:
            run.log_metric("loss", 1.0, step=0)
        yield from _fill(run.run_id, get_store(store_dir))
    config.set_store_override(None)


def _fill(run_id: str, store):
    with store.session() as con:
        run_key, key_id = con.execute(
            """SELECT m.run_key, m.key_id FROM internal.metrics m JOIN internal.runs r USING (run_key)
               WHERE r.run_id = ?""", [run_id]).fetchone()
        con.execute("DELETE FROM internal.metrics WHERE run_key = ? AND key_id = ?", [run_key, key_id])
        con.execute(f"""INSERT INTO internal.metrics
            SELECT ?, ?, i, 1700000000000 + i, CASE WHEN i = {SPIKE_STEP} THEN 50.0
                                                    ELSE 1.0 / (1 + i / 1e5) + 0.01 * sin(i) END
            FROM range({TOTAL}) t(i)""", [run_key, key_id])
    yield run_id


def test_a_zoomed_window_of_ten_million_points_is_full_resolution_with_its_spike(long_curve):
    overview = jt.get_metric_history(long_curve, "loss", max_points=BUDGET)
    assert len(overview) <= BUDGET + 4  # the overview keeps its extremes, so the spike is there...
    # ...but a 1,000-step neighbourhood of it is a handful of points in the overview:
    around = overview[(overview.step >= SPIKE_STEP - 500) & (overview.step <= SPIKE_STEP + 500)]
    assert len(around) < 20

    window = jt.query.get_metric_window(long_curve, "loss", (SPIKE_STEP - 500, SPIKE_STEP + 499), max_points=BUDGET)
    inside = window[(window.step >= SPIKE_STEP - 500) & (window.step <= SPIKE_STEP + 499)]
    assert inside.step.tolist() == list(range(SPIKE_STEP - 500, SPIKE_STEP + 500))  # every step, in order
    assert len(window) <= BUDGET
    assert window.set_index("step").value[SPIKE_STEP] == 50.0
    # the neighbours just outside, so the line reaches both edges of the zoomed plot
    assert window.step.min() == SPIKE_STEP - 501 and window.step.max() == SPIKE_STEP + 500

    wide = jt.query.get_metric_window(long_curve, "loss", (3_000_000, 4_000_000), max_points=BUDGET)
    assert len(wide) <= BUDGET and 50.0 in wide.value.tolist()  # downsampled, the spike kept


def test_the_curves_widget_zooms_from_python_and_resets_to_the_overview(long_curve):
    curves = jt.plot_metrics(long_curve, "loss", max_points=BUDGET, live=False)
    overview_x = list(curves.series[0].x)
    curves.zoom(SPIKE_STEP - 500, SPIKE_STEP + 499)
    zoomed = curves.series[0]
    assert len(zoomed.x) <= BUDGET and SPIKE_STEP in zoomed.x
    assert zoomed.y[zoomed.x.index(SPIKE_STEP)] == 50.0
    assert [x for x in zoomed.x if SPIKE_STEP - 500 <= x <= SPIKE_STEP + 499] == list(
        range(SPIKE_STEP - 500, SPIKE_STEP + 500))
    assert list(curves.figure.layout.xaxis.range) == [SPIKE_STEP - 500, SPIKE_STEP + 499]
    curves.zoom()
    assert list(curves.series[0].x) == overview_x
    assert curves.figure.layout.xaxis.autorange is True


def test_a_window_names_what_it_needs(store_dir):
    with jt.start_run("short", experiment="zoom", snapshot=False) as run:
        for step in range(20):
            run.log_metric("loss", 1 / (step + 1), step=step)
    with pytest.raises(jt.TrackerError, match="x_range must be two numbers"):
        jt.query.get_metric_window(run.run_id, "loss", "0-10")
    with pytest.raises(jt.TrackerError, match="axis must be one of step, timestamp"):
        jt.query.get_metric_window(run.run_id, "loss", (0, 10), axis="epoch")
    with pytest.raises(jt.TrackerError, match="no metric 'nosuch'"):
        jt.query.get_metric_window(run.run_id, "nosuch", (0, 10))
    window = jt.query.get_metric_window(run.run_id, "loss", (12, 5))  # either order
    assert window.step.tolist() == list(range(4, 14))  # 5..12 and one neighbour each side
