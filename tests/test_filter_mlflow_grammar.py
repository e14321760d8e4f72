"""A user's MLflow filters work unchanged: every filter and order_by of MLflow's own SearchUtils test
tables (tests/utils/test_search_utils.py in MLflow's repository, ported here as data) is run through
MLflow's parser and ours over the same runs, and selects or orders the same runs; what MLflow refuses
we refuse too, except our documented extensions (OR, parentheses, numeric and ordered comparisons of
params and tags, lenient whitespace)."""

from __future__ import annotations

import math
import time

import pytest
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
)
from mlflow.exceptions import MlflowException
from mlflow.utils.search_utils import SearchUtils

from jupyter_tracker import query
from jupyter_tracker.errors import InvalidFilterError
from jupyter_tracker.filter import compile_filter, parse_order_by
from jupyter_tracker.mlflow_backend.tracking_store import JupyterTrackerStore
from jupyter_tracker.store.uri import run_artifact_uri

NOW = int(time.time() * 1000) - 60_000

#: Runs holding every key MLflow's cases name, with values that make each case select some runs and
#: not others (MLflow's test_correct_filtering runs are the first three columns of this data).
RUNS = [
    {"name": "r0", "status": "FAILED", "user": "user-id", "start": NOW, "end": NOW + 1,
     "metrics": {"key1": 121, "acc": 0.94, "legit name": 0.243, "XYZ": 3, "accuracy.2.0": 6, "spacey name": 4,
                 "a": 0.1, "rmse": 0.5},
     "params": {"my_param": "A", "m": "tf", "model": "LinearRegression", "cat dog": "pets", "p.a.r.a.m": "a",
                "model_class": "LR", "b": "val", "lr": "0.01"},
     "tags": {"version": "commit-hash", "source_name": "a notebook", "t.a.g": "a"},
     "datasets": [("name1", "digest1", "train")]},
    {"name": "r1", "status": "FINISHED", "user": "user-id", "start": NOW + 10, "end": NOW + 11,
     "metrics": {"key1": 123, "acc": 100, "XYZ": 2, "X-Y-Z": 3, "rmse": 2},
     "params": {"my_param": "A", "m": "LR", "model": "LR", "model_class": "LR"},
     "tags": {"tag1": "C", "a": "x"}, "datasets": [("name1", "digest1", None)]},
    {"name": "r2", "status": "FAILED", "user": "user-id2", "start": NOW + 20, "end": NOW + 22,
     "metrics": {"key1": 125, "acc": 0.5, "a": 0.2, "rmse": 0.9},
     "params": {"my_param": "B", "m": "L'Hosp", "b": "val"},
     "tags": {"tag1": "D"}, "datasets": [("name2", "digest2", None)]},
]
#: test_order_by_metric_with_nans_infs_nones: one run per value, "None" logs no metric.
NAN_RUNS = ["nan", "inf", "-inf", "-1000", "0", "1000", "None"]

#: MLflow's accepted filters (test_filter, test_correct_quote_trimming, test_correct_filtering,
#: test_filter_runs_by_start_time/user_id/end_time, test_filter_runs_by_tag_and_param_is_null).
ACCEPTED = [
    "metric.acc >= 0.94", "metric.acc>=100", "params.m!='tf'", 'params."m"!="tf"', 'metric."legit name" >= 0.243',
    "metrics.XYZ = 3", 'params."cat dog" = "pets"', 'metrics."X-Y-Z" = 3', 'metrics."X//Y#$$@&Z" = 3',
    "params.model = 'LinearRegression'", "metrics.rmse < 1 and params.model_class = 'LR'", "",
    "`metric`.a >= 0.1", "tags.version = 'commit-hash'",
    "`tags`.source_name = 'a notebook'", 'metrics."accuracy.2.0" > 5', "metrics.`spacey name` > 5",
    'params."p.a.r.a.m" != "a"', 'tags."t.a.g" = "a"', "attribute.artifact_uri = '1/23/4'",
    "attribute.start_time >= 1234", "run.status = 'RUNNING'", "dataset.name = 'my_dataset'",
    "tags.version IS NULL", "tags.version IS NOT NULL", "params.lr IS NULL", "params.lr IS NOT NULL",
    "tags.a IS NULL AND params.b = 'val'",
    "params.m = 'LR'", 'params.m = "LR"', 'params.m = "L\'Hosp"',
    "attributes.status = 'FAILED'", "metrics.key1 = 123", "metrics.key1 != 123", "metrics.key1 >= 123",
    "params.my_param = 'A'", "tags.tag1 = 'D'", "tags.tag1 != 'D'",
    "params.my_param = 'A' AND attributes.status = 'FAILED'", "datasets.name = 'name1'",
    "datasets.name IN ('name1', 'name2')", "datasets.digest IN ('digest1', 'digest2')",
    "datasets.name = 'name1' AND datasets.digest = 'digest2'", "datasets.context = 'train'",
    "datasets.name = 'name1' AND datasets.context = 'train'",
    f"attribute.start_time >= {NOW}", f"attribute.start_time > {NOW + 10}", f"attribute.start_time = {NOW + 20}",
    "attribute.user_id = 'user-id2'", f"attribute.end_time >= {NOW}", f"attribute.end_time > {NOW + 11}",
    f"attribute.end_time = {NOW + 22}", "tags.env IS NOT NULL", "tags.tag1 IS NULL", "params.lr IS NOT NULL",
    # MLflow's other spellings (SearchUtils' identifier and attribute aliases)
    "parameter.m = 'tf'", "parameters.m = 'tf'", "attr.status = 'FINISHED'", "created >= 0",
    "`Run name` = 'r1'", "attributes.run_name LIKE 'r%'", "attributes.run_name ILIKE 'R_'",
    "params.model LIKE '%Regression'", "tags.tag1 ILIKE 'c'", "attributes.run_id IN ('nope')",
    "attributes.run_id NOT IN ('nope')", "datasets.digest LIKE 'digest%'",
]

#: MLflow's refused filters (test_error_filter, test_error_comparison_clauses, test_bad_quotes,
#: test_invalid_clauses, test_bad_comparators' bad comparators).
REFUSED = [
    "metric.acc >= 0.94; metrics.rmse < 1", "m.acc >= 0.94", "acc >= 0.94", "p.model >= 'LR'", "attri.x != 1",
    "a.x != 1", "model >= 'LR'", "metrics.A > 0.1 OR params.B = 'LR'", "metrics.A > 0.1 NAND params.B = 'LR'",
    "metrics.A > 0.1 AND (params.B = 'LR')", "`metrics.A > 0.1", "param`.A > 0.1", "`dummy.A > 0.1",
    "dummy`.A > 0.1", "attribute.start != 1", "attribute.experiment_id != 1", "attribute.lifecycle_stage = 'ACTIVE'",
    "attribute.name != 1", "attribute.time != 1", "attribute._status != 'RUNNING'", "attribute.status = true",
    "dataset.status = 'true'", "dataset.profile = 'num_rows: 10'", "metrics.acc IS NULL", "attribute.status IS NULL",
    "metric.model = 'LR'", "metric.model = '5'", "params.acc = 5", "tags.acc = 5", "metrics.acc != metrics.acc",
    "1.0 > metrics.acc", "attribute.status = 1",
    "params.acc = LR", "tags.acc = LR", "params.acc = `LR`", "params.'acc = LR", "params.acc = 'LR",
    "params.acc = LR'", "params.acc = \"LR'", "tags.acc = \"LR'", "tags.acc = = 'LR'", "attribute.status IS 'RUNNING'",
    "params.acc LR !=", "params.acc LR", "metric.acc !=", "acc != 1.0", "foo is null", "1=1", "1==2",
    *[f"metrics.abc {op} 1.0" for op in ("~", "~=")],
    *[f"{entity}.{key} {op} {value}" for entity, key, value in (
        ("params", "abc", "'my-param-value'"), ("tags", "abc", "'my-tag-value'"),
        ("attributes", "status", "'my-tag-value'"), ("datasets", "name", "'my-dataset-name'"))
      for op in (">", "<", ">=", "<=", "~")],
    *[f"attributes.start_time {op} 1234" for op in ("LIKE", "ILIKE")],
    "attributes.status NOT IN ('FAILED')",
]
#: Refused by MLflow, accepted by us on purpose (see filter.py's docstring).
EXTENSIONS = {
    "attributes.status NOT IN ('FAILED')", "metrics.A > 0.1 OR params.B = 'LR'",
    "metrics.A > 0.1 AND (params.B = 'LR')", "params.acc = 5", "tags.acc = 5",
    *[f"{entity}.{key} {op} {value}" for entity, key, value in (
        ("params", "abc", "'my-param-value'"), ("tags", "abc", "'my-tag-value'"),
        ("attributes", "status", "'my-tag-value'"), ("datasets", "name", "'my-dataset-name'"))
      for op in (">", "<", ">=", "<=")],
}

#: test_correct_sorting, test_order_by_metric_with_nans_infs_nones and test_space_order_by_search_runs.
ORDERS = [
    None, [], ["tags.noSuchTag"], ["attributes.status"], ["attributes.start_time"], ["metrics.key1 asc"],
    ['metrics."key1"  desc'], ["params.my_param"], ["params.my_param aSc", "attributes.status  ASC"],
    ["params.my_param", "attributes.status DESC"], ["params.my_param DESC", "attributes.status   DESC"],
    ["params.`my_param` DESC", "attributes.status DESC"], ["tags.tag1"], ["tags.tag1    DESC"],
    ["metrics.`legit name`"], ["metrics.`legit name` DESC"], ["attributes.run_name DESC"], ["attributes.end_time"],
]
REFUSED_ORDERS = ["m.acc", "acc", "attri.x", "`metrics.A", "`metrics.A`", "attribute.start",
                  "attribute.experiment_id", "metrics.A != 1", "attribute.run_id ACS", "attribute.run_id decs"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The runs written through our MLflow backend, and the same runs as MLflow entities."""
    root = tmp_path_factory.mktemp("grammar") / ".jupyter_tracker"
    backend = JupyterTrackerStore(f"jupyter-tracker://{root}")
    experiment_id = backend.create_experiment("grammar")
    nan_experiment = backend.create_experiment("nans")
    entities: dict[str, list[Run]] = {"grammar": [], "nans": []}
    specs = [("grammar", experiment_id, spec) for spec in RUNS] + [
        ("nans", nan_experiment, {"name": text, "status": "FINISHED", "user": "user", "start": NOW + index,
                                  "end": NOW + index + 1, "metrics": {} if text == "None" else {"x": float(text)},
                                  "params": {}, "tags": {}, "datasets": []})
        for index, text in enumerate(NAN_RUNS)]
    for experiment, experiment_key, spec in specs:
        created = backend.create_run(experiment_key, spec["user"], spec["start"], [], spec["name"])
        run_id = created.info.run_id
        metrics = [Metric(k, v, spec["start"], 0) for k, v in spec["metrics"].items()]
        params = [Param(k, v) for k, v in spec["params"].items()]
        backend.log_batch(run_id, metrics, params, [RunTag(k, v) for k, v in spec["tags"].items()])
        inputs = [DatasetInput(Dataset(name, digest, "my_source_type", "source"),
                               [InputTag("mlflow.data.context", context)] if context else [])
                  for name, digest, context in spec["datasets"]]
        backend.log_inputs(run_id, inputs)
        backend.update_run_info(run_id, spec["status"], spec["end"], None)
        info = RunInfo(run_id, experiment_key, spec["user"], spec["status"], spec["start"], spec["end"],
                       LifecycleStage.ACTIVE, artifact_uri=run_artifact_uri(root, run_id), run_name=spec["name"])
        data = RunData(metrics, params, [RunTag(k, v) for k, v in {**spec["tags"], "mlflow.runName": spec["name"]}
                                         .items()])
        entities[experiment].append(Run(info, data, RunInputs(inputs)))
    return backend, entities


def ours(backend, experiment, filter=None, order_by=None):
    # MLflow's cases name keys no run has on purpose (they must select nothing): no typo warning.
    frame = query.search_runs(experiment, filter=filter, order_by=order_by, warn_unknown_keys=False,
                              store=backend.store)
    return list(frame["run_name"]) if len(frame) else []


@pytest.mark.parametrize("filter_text", ACCEPTED)
def test_filters_mlflow_accepts_select_the_same_runs(stores, filter_text):
    backend, entities = stores
    expected = sorted(run.info.run_name for run in SearchUtils.filter(entities["grammar"], filter_text))
    assert sorted(ours(backend, "grammar", filter_text)) == expected


def test_an_artifact_uri_filter_names_the_run_it_is_the_uri_of(stores):
    backend, entities = stores
    first = entities["grammar"][0]
    text = f"attributes.artifact_uri = '{first.info.artifact_uri}'"
    assert [r.info.run_name for r in SearchUtils.filter(entities["grammar"], text)] == ours(backend, "grammar", text)
    assert ours(backend, "grammar", text) == ["r0"]


def test_mlflow_parses_but_cannot_match_ordered_param_comparisons_which_we_compare_as_text(stores):
    """MLflow's test_filter parses "`params`.model >= 'LR'" but refuses >= for params when it matches;
    we compare the text (an extension)."""
    backend, _ = stores
    with pytest.raises(MlflowException, match="Invalid comparator"):
        _mlflow_matches("`params`.model >= 'LR'")
    assert sorted(ours(backend, "grammar", "`params`.model >= 'LR'")) == sorted(
        spec["name"] for spec in RUNS if spec["params"].get("model", "") >= "LR" and "model" in spec["params"])


def _mlflow_matches(filter_text: str) -> None:
    """Parse ``filter_text`` with MLflow and match it against one run (MLflow checks comparators while
    matching)."""
    SearchUtils.parse_search_filter(filter_text)
    run = Run(RunInfo("x", "0", "u", "FAILED", 0, 1, LifecycleStage.ACTIVE), RunData([], [], []))
    SearchUtils.filter([run], filter_text)


@pytest.mark.parametrize("filter_text", REFUSED)
def test_filters_mlflow_refuses_are_refused_unless_they_are_our_extensions(filter_text):
    with pytest.raises(MlflowException):
        _mlflow_matches(filter_text)
    if filter_text in EXTENSIONS:
        compile_filter(filter_text)
    else:
        with pytest.raises(InvalidFilterError):
            compile_filter(filter_text)


@pytest.mark.parametrize("order_by", ORDERS, ids=str)
def test_order_by_orders_runs_as_mlflow_does(stores, order_by):
    backend, entities = stores
    expected = [run.info.run_name for run in SearchUtils.sort(entities["grammar"], order_by)]
    assert ours(backend, "grammar", order_by=order_by) == expected


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_nan_inf_and_missing_metrics_order_as_in_mlflow(stores, direction):
    backend, entities = stores
    expected = [run.info.run_name for run in SearchUtils.sort(entities["nans"], [f"metrics.x {direction}"])]
    assert expected[-2:] == ["nan", "None"] and not math.isnan(float(expected[0]))
    assert ours(backend, "nans", order_by=[f"metrics.x {direction}"]) == expected


@pytest.mark.parametrize("order_by", REFUSED_ORDERS)
def test_order_bys_mlflow_refuses_are_refused(order_by):
    with pytest.raises(MlflowException):
        SearchUtils.parse_order_by_for_search_runs(order_by)
    with pytest.raises(InvalidFilterError):
        parse_order_by(order_by)


def test_backend_pages_through_runs_with_mlflow_page_tokens(stores):
    backend, _ = stores
    experiment_id = backend.get_experiment_by_name("grammar").experiment_id
    seen, token = [], None
    for _ in range(4):
        page = backend.search_runs([experiment_id], "", 1, max_results=1, order_by=["attributes.run_name"],
                                   page_token=token)
        seen += [run.info.run_name for run in page]
        token = page.token
        if token is None:
            break
    assert seen == ["r0", "r1", "r2"] and token is None
