"""A user finds runs with MLflow's filter language, sorts them and caps the result."""

from __future__ import annotations

import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import ExperimentNotFoundError, InvalidFilterError, UnknownKeyWarning


@pytest.fixture
def grid(store_dir):
    """Six runs over two experiments with params, metrics and tags that vary."""
    specs = [("rf-1", "churn", "0.1", "rf", 0.80), ("rf-2", "churn", "0.01", "rf", 0.93),
             ("gb-1", "churn", "0.1", "gb", 0.95), ("gb-2", "churn", "0.001", "gb", 0.70),
             ("nn-1", "vision", "0.01", "nn", 0.99), ("nn-2", "vision", "0.5", "nn", float("nan"))]
    for name, experiment, lr, model, acc in specs:
        with jt.start_run(run_name=name, experiment=experiment, tags={"model": model}) as run:
            run.log_params({"lr": lr, "optimizer": "adam" if model != "rf" else "none"})
            run.log_metric("acc", acc, step=5)
            run.log_metric("acc", acc - 0.5, step=0)  # logged later but at an older step: latest stays acc
    with pytest.raises(ValueError):
        with jt.start_run(run_name="broken", experiment="churn"):
            raise ValueError("x")


def names(frame) -> list[str]:
    return sorted(frame.run_name)


@pytest.mark.parametrize("filter_text, expected", [
    ("metrics.acc > 0.9", ["gb-1", "nn-1", "rf-2"]),
    ("metrics.acc >= 0.95 and tags.model != 'gb'", ["nn-1"]),
    ("params.lr = '0.1'", ["gb-1", "rf-1"]),
    ("params.lr = 0.1", ["gb-1", "rf-1"]),
    ("params.lr < 0.05", ["gb-2", "nn-1", "rf-2"]),
    ("tags.model IN ('rf', 'nn')", ["nn-1", "nn-2", "rf-1", "rf-2"]),
    ("tags.model NOT IN ('rf', 'nn')", ["gb-1", "gb-2"]),
    ("run_name LIKE 'gb-%'", ["gb-1", "gb-2"]),
    ("attributes.run_name ILIKE 'NN%'", ["nn-1", "nn-2"]),
    ("attributes.status = 'FAILED'", ["broken"]),
    ("status != 'FINISHED'", ["broken"]),
    ("(tags.model = 'rf' or tags.model = 'gb') and metrics.acc < 0.9", ["gb-2", "rf-1"]),
    ("metrics.`acc` > 0.98", ["nn-1"]),
    ("experiment = 'vision'", ["nn-1", "nn-2"]),
    ("", ["broken", "gb-1", "gb-2", "nn-1", "nn-2", "rf-1", "rf-2"]),
])
def test_filters_select_the_expected_runs(grid, filter_text, expected):
    assert names(jt.search_runs(filter=filter_text)) == expected


def test_latest_metric_is_the_highest_step(grid):
    assert jt.search_runs(filter="run_name = 'rf-2'")["metrics.acc"].item() == 0.93


def test_experiment_argument_limits_the_search(grid):
    assert names(jt.search_runs(experiment="vision")) == ["nn-1", "nn-2"]
    assert len(jt.search_runs(experiment=["vision", "churn"])) == 7
    with pytest.raises(ExperimentNotFoundError, match="churn, vision"):
        jt.search_runs(experiment="chrun")


def test_order_by_and_max_results(grid):
    top = jt.search_runs(order_by="metrics.acc DESC", max_results=3)
    assert list(top.run_name) == ["nn-1", "gb-1", "rf-2"]
    assert jt.search_runs(order_by="metrics.acc DESC").run_name.iloc[-1] in ("nn-2", "broken")  # NaN, none last
    by_lr = jt.search_runs(experiment="churn", filter="params.lr != '0.1'", order_by=["params.lr ASC"])
    assert list(by_lr.run_name) == ["gb-2", "rf-2"]
    newest_first = jt.search_runs()
    assert newest_first.run_name.iloc[0] == "broken"
    assert list(jt.search_runs(order_by="attributes.run_name").run_name[:2]) == ["broken", "gb-1"]


@pytest.mark.parametrize("filter_text, message", [
    ("metrics.acc >", "expected a value"),
    ("metrics.acc > 'high'", "compare it with a number"),
    ("params.lr == '1'", "expected a value"),
    ("foo = 1", "unknown attribute 'foo'"),
    ("metrics.acc > 0.9 and", "expected a field"),
    ("(metrics.acc > 0.9", r"expected '\)'"),
    ("params.lr = '1' params.x = '2'", "expected 'and', 'or'"),
    ("tags.model IN ('a', 1)", "only numbers or only strings"),
    ("metrics acc > 1", "expected '.'"),
])
def test_filter_mistakes_are_reported_with_their_position(grid, filter_text, message):
    with pytest.raises(InvalidFilterError, match=message) as excinfo:
        jt.search_runs(filter=filter_text)
    assert "position" in str(excinfo.value) and "^" in str(excinfo.value)


def test_bad_order_by_and_max_results_are_refused(grid):
    with pytest.raises(InvalidFilterError):
        jt.search_runs(order_by="metrics.acc SIDEWAYS")
    with pytest.raises(ValueError, match="max_results"):
        jt.search_runs(max_results=0)


def test_documented_views_answer_sql(grid):
    frame = jt.sql("select r.run_name, m.value from runs r join latest_metrics m using (run_id) "
                   "where m.key = 'acc' and not isnan(m.value) and m.value > ? order by m.value desc", [0.94])
    assert list(frame.run_name) == ["nn-1", "gb-1"]
    assert jt.sql("select count(*) as n from metrics").n[0] == 12
    assert set(jt.sql("select experiment from experiments").experiment) == {"churn", "vision"}


def test_a_filter_naming_a_key_no_run_has_warns_with_the_keys_there_are(grid):
    """A typo no longer returns nothing silently: the warning names the key and the closest real ones."""
    with pytest.warns(UnknownKeyWarning) as caught:
        assert names(jt.search_runs(filter="params.missing = 'x'")) == []
    assert "params.missing" in str(caught[0].message)
    with pytest.warns(UnknownKeyWarning, match=r"metrics\.acx.*closest first: metrics\.acc"):
        assert names(jt.search_runs("churn", filter="metrics.acx > 0.9")) == []
    with pytest.warns(UnknownKeyWarning, match=r"closest first: params\.lr, params\.optimizer"):
        jt.search_runs(filter="params.lrate = '0.1' or metrics.acc > 0.98")
    # A tag only the vision runs have is unknown when searching churn: the scope is the experiments searched.
    with jt.start_run(run_name="tagged", experiment="vision", tags={"gpu": "a100"}):
        pass
    assert names(jt.search_runs("vision", filter="tags.gpu = 'a100'")) == ["tagged"]
    with pytest.warns(UnknownKeyWarning, match="experiment 'churn'.*tags.model"):
        jt.search_runs("churn", filter="tags.gpu = 'a100'")
    with pytest.warns(UnknownKeyWarning, match="metrics.nosuch"):  # a summary names its metric
        jt.search_runs(filter="metrics.nosuch.min < 1")


def test_keys_some_run_has_give_no_warning(grid):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownKeyWarning)
        jt.search_runs(filter="params.lr = '0.1' and tags.model = 'rf' and metrics.acc.max > 0")
        jt.search_runs(filter="params.missing = 'x'", warn_unknown_keys=False)


@pytest.mark.parametrize("stretches", [3, 200])  # few runs of one key in a merge, and many (interleaved)
def test_latest_metric_breaks_ties_by_timestamp_then_by_the_last_logged(store_dir, stretches):
    with jt.start_run(run_name="ties", experiment="latest") as run:
        for index in range(stretches):
            run.log_metric("other", float(index), step=index)
            run.log_metric("loss", 5.0, step=7, timestamp=1_000)
            run.log_metric("loss", 1.0, step=3, timestamp=9_000)  # newer, at an older step
        run.log_metric("loss", 6.0, step=7, timestamp=2_000)  # same step, newer: wins
        run.log_metric("acc", 0.1, step=2, timestamp=5_000)
        run.log_metric("acc", 0.2, step=2, timestamp=5_000)  # same step and time: the last logged wins
    metrics = jt.get_run(run.run_id).metrics
    assert (metrics["loss"], metrics["acc"], metrics["other"]) == (6.0, 0.2, float(stretches - 1))
    assert jt.search_runs("latest")["metrics.loss"].tolist() == [6.0]
