"""A user compares runs by a metric's best value and its value at a step, not only its last one:
``search_runs(summaries=[...])`` adds min, max and value-at-step columns beside each metric's latest,
and filters and order_by name the same summaries (``metrics.loss.min < 0.2``)."""

from __future__ import annotations

import math

import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import InvalidFilterError

#: Per run: its loss curve, one point per step (a NaN spike in "noisy").
CURVES = {
    "steady": [1.0, 0.6, 0.4, 0.32, 0.25],
    "overfit": [0.9, 0.2, 0.1, 0.5, 0.8],        # best loss early, worse at the end
    "noisy": [1.2, float("nan"), 0.35, 0.3, 0.28],
    "short": [0.7, 0.65],                        # never reaches step 3
}


@pytest.fixture
def curves(store_dir):
    for name, losses in CURVES.items():
        with jt.start_run(run_name=name, experiment="summaries") as run:
            for step, loss in enumerate(losses):
                run.log_metric("loss", loss, step=step)
                run.log_metric("acc", 1 - loss if not math.isnan(loss) else loss, step=step)
    with jt.start_run(run_name="nan-only", experiment="summaries") as run:
        run.log_metric("loss", float("nan"), step=0)


def by_name(frame):
    return frame.set_index("run_name")


def test_summary_columns_sit_beside_each_latest_value(curves):
    frame = jt.search_runs("summaries", summaries=["min", "max", "step=3"])
    metric_columns = [c for c in frame.columns if c.startswith("metrics.")]
    assert metric_columns == ["metrics.acc", "metrics.acc.min", "metrics.acc.max", "metrics.acc@step=3",
                              "metrics.loss", "metrics.loss.min", "metrics.loss.max", "metrics.loss@step=3"]
    rows = by_name(frame)
    for name, losses in CURVES.items():
        real = [v for v in losses if not math.isnan(v)]
        assert rows.loc[name, "metrics.loss"] == losses[-1]
        assert rows.loc[name, "metrics.loss.min"] == min(real)  # NaN points are skipped
        assert rows.loc[name, "metrics.loss.max"] == max(real)
    assert rows.loc["overfit", "metrics.loss@step=3"] == 0.5
    assert math.isnan(rows.loc["short", "metrics.loss@step=3"])  # nothing logged at step 3
    assert math.isnan(rows.loc["nan-only", "metrics.loss.min"])
    assert "metrics.loss.min" not in jt.search_runs("summaries").columns  # only when asked


def test_summaries_agree_with_sql_over_the_metrics_view(curves):
    frame = by_name(jt.search_runs("summaries", summaries=["max"]))
    expected = jt.sql("SELECT r.run_name, max(m.value) AS best FROM metrics m JOIN runs r USING (run_id) "
                      "WHERE m.key = 'acc' AND NOT isnan(m.value) GROUP BY r.run_name")
    for name, best in zip(expected.run_name, expected.best):
        assert frame.loc[name, "metrics.acc.max"] == best


@pytest.mark.parametrize("filter_text, expected", [
    ("metrics.loss.min < 0.2", ["overfit"]),
    ("metrics.loss < 0.3", ["noisy", "steady"]),              # latest, unchanged
    ("metrics.loss.max >= 1", ["noisy", "steady"]),
    ("metrics.acc.max > 0.85", ["overfit"]),
    ("metrics.loss@step=3 > 0.4", ["overfit"]),
    ("metrics.loss@step=3 < 1 and metrics.loss.min > 0.2", ["noisy", "steady"]),
    ("metrics.`loss`.min < 0.2 or metrics.loss@step=1 > 0.6", ["overfit", "short"]),
    ("metrics.loss.min > -1", ["noisy", "overfit", "short", "steady"]),  # all NaN: no minimum, no match
])
def test_filters_compare_summaries(curves, filter_text, expected):
    assert sorted(jt.search_runs("summaries", filter=filter_text).run_name) == expected


def test_order_by_a_summary(curves):
    assert list(jt.search_runs("summaries", order_by=["metrics.loss.min ASC"]).run_name) == \
        ["overfit", "steady", "noisy", "short", "nan-only"]
    assert list(jt.search_runs("summaries", order_by="metrics.acc.max DESC").run_name)[:2] == ["overfit", "steady"]
    assert list(jt.search_runs("summaries", order_by=["metrics.loss@step=3 DESC"]).run_name)[:3] == \
        ["overfit", "steady", "noisy"]


def test_a_key_that_ends_in_min_is_still_reachable_quoted(store_dir):
    with jt.start_run(run_name="dotted", experiment="dots") as run:
        run.log_metric("lr.min", 0.001)
        run.log_metric("lr", 0.1)
    assert list(jt.search_runs("dots", filter='metrics."lr.min" < 0.01').run_name) == ["dotted"]
    assert list(jt.search_runs("dots", filter="metrics.lr.min < 0.01").run_name) == []  # lr's own minimum: 0.1


@pytest.mark.parametrize("summaries, message", [
    (["mean"], "unknown summary 'mean'"), (["step=-1"], "unknown summary"), ("min", "is a list"),
])
def test_unknown_summaries_are_refused(curves, summaries, message):
    with pytest.raises(InvalidFilterError, match=message):
        jt.search_runs("summaries", summaries=summaries)


@pytest.mark.parametrize("filter_text, message", [
    ("params.lr@step=3 > 1", "only a metric"), ("metrics.loss@epoch=3 > 1", "expected step=N"),
    ("metrics.loss@step=1.5 > 1", "step number"), ("metrics.loss.min@step=2 > 1", "only a metric"),
])
def test_summary_mistakes_in_filters_are_reported(curves, filter_text, message):
    with pytest.raises(InvalidFilterError, match=message):
        jt.search_runs("summaries", filter=filter_text)
