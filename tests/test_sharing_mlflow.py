"""The team outgrows one laptop: runs go to a real `mlflow server` and come back, never a mock.

One server (SQLite backend, local artifact root) is started on 127.0.0.1 for this module.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_example, execute_notebook
from sharing_story import run_ids, team_store

import jupyter_tracker as jt
from bench.servers import free_port, mlflow_server
from jupyter_tracker.errors import SyncError


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    """A real MLflow tracking server on loopback for this module (started as the benchmark starts it:
    ``python -m mlflow server``, SQLite backend, local artifacts, waited for until idle)."""
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as uri:
        yield uri


@pytest.fixture(autouse=True)
def quiet_mlflow(monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Path:
    return team_store(tmp_path_factory)


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _remote_run(client, experiment: str, run_id: str):
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    (found,) = client.search_runs([experiment_id], filter_string=f"tags.`jt.run_id` = '{run_id}'")
    return found


def _cli(*args, check=True, env=None):
    executable = Path(sys.executable).parent / "jupyter-tracker"
    return subprocess.run([executable, *args], capture_output=True, text=True, check=check,
                          env={**os.environ, **(env or {})})


def test_push_sends_everything_and_pull_brings_it_back(story, store_dir, tracking_uri):
    jt.set_store(story)
    ids = run_ids(story)
    family = [ids["sweep"], ids["sweep/depth=2"], ids["sweep/depth=4"]]
    result = jt.push(ids["sweep"], tracking_uri, experiment="team")
    assert sorted(result.mlflow_run_ids) == sorted(family) and result.points_sent == 30 + 6 + 2
    assert {(p["value"], p["step"]) for p in result.clamped} == {("inf", 3), ("-inf", 4)}

    client = _client(tracking_uri)
    sweep = _remote_run(client, "team", ids["sweep"])
    assert sweep.data.params == {"lr": "0.1", "epochs": "30"} and sweep.data.tags["team"] == "ml"
    assert sweep.info.status == "FINISHED" and sweep.info.run_name == "sweep"
    loss = client.get_metric_history(sweep.info.run_id, "loss")
    local_loss = jt.get_metric_history(ids["sweep"], "loss")
    assert [(m.step, m.value) for m in loss] == list(zip(local_loss.step, local_loss.value))
    assert [m.timestamp for m in loss] == [int(t.timestamp() * 1000) for t in local_loss.timestamp]
    child = _remote_run(client, "team", ids["sweep/depth=2"])
    assert child.data.tags["mlflow.parentRunId"] == sweep.info.run_id
    files = {f.path for f in client.list_artifacts(sweep.info.run_id, "model")} | {
        f.path for f in client.list_artifacts(sweep.info.run_id)}
    assert {"config.json", "model/MLmodel.json", "jt_snapshot"} <= files
    (version,) = client.search_model_versions("name = 'doubler'")
    assert version.run_id == sweep.info.run_id and version.tags["jt.stage"] == "Staging"
    assert client.get_model_version_by_alias("doubler", "champion").version == version.version
    assert jt.get_run(ids["sweep"]).tags["jt.mlflow_run_id"] == sweep.info.run_id

    again = jt.push(ids["sweep"], tracking_uri, experiment="team")
    assert again.points_sent == 0 and sorted(again.skipped) == sorted(family) and again.model_versions == 0
    assert len(client.search_model_versions("name = 'doubler'")) == 1

    before = jt.search_runs(filter=f"attributes.run_id IN ({', '.join(repr(r) for r in family)})")
    histories = {(r, k): jt.get_metric_history(r, k) for r in family for k in jt.get_run(r).metrics}
    executed = jt.load_snapshot(ids["sweep"])
    verdict = jt.get_run(ids["sweep"]).tags["jt.reproducibility"]

    jt.set_store(store_dir)                     # a teammate's empty store
    pulled = jt.pull(tracking_uri, "team")
    assert sorted(pulled.imported) == sorted(family)
    after = jt.search_runs()
    columns = ["run_id", "run_name", "status", "start_time", "end_time", "parent_run_id", "params.lr",
               "params.depth", "metrics.loss", "metrics.extreme", "metrics.acc", "tags.team",
               "tags.jt.mlflow_run_id"]
    pd.testing.assert_frame_equal(before[columns].sort_values("run_id").reset_index(drop=True),
                                  after[columns].sort_values("run_id").reset_index(drop=True))
    for (run_id, key), history in histories.items():
        pd.testing.assert_frame_equal(history, jt.get_metric_history(run_id, key), check_exact=True)
    extreme = jt.get_metric_history(ids["sweep"], "extreme")["value"].tolist()
    assert extreme[3:5] == [math.inf, -math.inf] and math.isnan(extreme[2]) and extreme[5] == 5e-324
    assert [c.source for c in jt.load_snapshot(ids["sweep"]).cells] == [c.source for c in executed.cells]
    assert jt.get_run(ids["sweep"]).artifact("model-notes/weights.txt").local_path.read_text() == "w = 0.5"
    # The reproducibility verdict and the slice come back too (a tag and an artifact).
    assert jt.get_run(ids["sweep"]).tags["jt.reproducibility"] == verdict
    assert jt.query.load_slice(ids["sweep"])["executions"][-1]["source"].startswith("%%track -e sharing -n sweep")
    assert jt.pull(tracking_uri, "team").imported == []
    assert jt.sql("SELECT DISTINCT origin FROM runs")["origin"].tolist() == [f"mlflow:{tracking_uri}#"
                                                                             f"{sweep.info.experiment_id}"]


PUSH_THEN_DIE = textwrap.dedent("""
    # Push a run and SIGKILL this process right after the server stored the 7th metric batch:
    # a real interruption half way, at a point the test can reason about.
    import os, signal, sys
    from mlflow.tracking import MlflowClient
    import jupyter_tracker as jt

    log_batch = MlflowClient.log_batch
    batches = 0

    def log_batch_then_maybe_die(self, run_id, metrics=(), params=(), tags=(), **options):
        global batches
        log_batch(self, run_id, metrics=metrics, params=params, tags=tags, **options)
        batches += bool(metrics)
        if batches == 7:
            os.kill(os.getpid(), signal.SIGKILL)

    MlflowClient.log_batch = log_batch_then_maybe_die
    jt.push(sys.argv[1], sys.argv[2], experiment="resume")
""")


def test_an_interrupted_push_resumes_with_only_what_is_missing(store_dir, tracking_uri, tmp_path):
    with jt.start_run(run_name="long", experiment="resume") as run:
        for step in range(8_000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_text("big enough", "notes.txt")
    script = tmp_path / "push_then_die.py"
    script.write_text(PUSH_THEN_DIE)
    killed = subprocess.run([sys.executable, str(script), run.run_id, tracking_uri], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    client = _client(tracking_uri)
    remote = _remote_run(client, "resume", run.run_id)
    assert remote.data.tags["jt.metric_points_sent"] == str(5 * 999)   # tagged every 5th batch
    assert "jt.push_complete" not in remote.data.tags and "jt.pushed_to" not in jt.get_run(run.run_id).tags

    resumed = _cli("push", run.run_id, "--tracking-uri", tracking_uri, "--mlflow-experiment", "resume", "--json")
    report = json.loads(resumed.stdout)
    assert report["points_sent"] == 8_000 - 5 * 999        # batches 6 and 7 again, then the rest
    assert report["mlflow_run_ids"] == {run.run_id: remote.info.run_id}
    history = client.get_metric_history(remote.info.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(s, 1.0 / (s + 1)) for s in range(8_000)]
    assert [f.path for f in client.list_artifacts(remote.info.run_id)] == ["jt_snapshot", "notes.txt"]
    assert [f.path for f in client.list_artifacts(remote.info.run_id, "jt_snapshot")] == [
        "jt_snapshot/environment.json"]                       # the run's environment rides along
    assert jt.get_run(run.run_id).tags["jt.pushed_to"] == tracking_uri


def test_offline_push_fails_fast_loses_nothing_and_works_once_the_server_is_back(store_dir, tracking_uri):
    with jt.start_run(run_name="offline", experiment="offline") as run:
        run.log_metric("acc", 0.75)
    before = jt.search_runs()
    unreachable = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SyncError, match="cannot reach the MLflow server.*Start the server or fix the URI"):
        jt.push(run.run_id, unreachable)
    pd.testing.assert_frame_equal(before, jt.search_runs())

    failed = _cli("push", run.run_id, "--tracking-uri", unreachable, check=False)
    assert failed.returncode == 3 and "Start the server or fix the URI" in failed.stderr

    assert jt.push(run.run_id, tracking_uri).points_sent == 1
    assert jt.get_run(run.run_id).tags["jt.pushed_to"] == tracking_uri


def test_pull_names_the_experiments_it_has(store_dir, tracking_uri):
    pulled = _cli("pull", "--tracking-uri", tracking_uri, "-e", "no-such-experiment", check=False)
    assert pulled.returncode == 1 and "no experiment 'no-such-experiment'" in pulled.stderr


def test_notebook_03_exports_shares_diffs_and_pushes(store_dir, tracking_uri, tmp_path):
    notebook = execute_notebook(copy_example("03-share-a-run.ipynb", tmp_path), store_dir, timeout=300,
                                env={"MLFLOW_TRACKING_URI": tracking_uri})

    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs if output.output_type == "stream")
    assert "share-demo.jtrack: 2 runs, 40 metric points" in printed
    assert "imported 2 runs; the second import added 0" in printed and "bundle:share-demo.jtrack@" in printed
    assert "baseline.html" in printed
    assert "pushed 2 runs (40 metric points) to " + tracking_uri in printed and "pushing again sent 0 points" in printed
    diff_cell = next(cell for cell in notebook.cells if cell.source.startswith("diff = jt.diff_snapshots"))
    diff_view = diff_cell.outputs[0]["data"]["text/html"]
    assert ">0.1</td>" in diff_view and ">0.01</td>" in diff_view      # the lr row of the params table
    assert "+lr = 0.01" in diff_view

    mlflow = _client(tracking_uri)
    experiment_id = mlflow.get_experiment_by_name("share-demo").experiment_id
    assert sorted(r.info.run_name for r in mlflow.search_runs([experiment_id])) == ["baseline", "lower-lr"]
    assert set(jt.search_runs(experiment="share-demo")["tags.jt.pushed_to"]) == {tracking_uri}


def test_infinities_come_back_even_when_too_many_for_a_tag(store_dir, tracking_uri, tmp_path):
    with jt.start_run(run_name="diverged", experiment="infinities") as run:
        for step in range(600):
            run.log_metric("loss", math.inf if step % 2 else -math.inf, step=step)
        run.log_metric("loss", 1.7976931348623157e308, step=600)       # a real max double stays one
    pushed = jt.push(run.run_id, tracking_uri)
    assert len(pushed.clamped) == 600
    jt.set_store(tmp_path / "teammate")
    jt.pull(tracking_uri, "infinities")
    values = jt.get_metric_history(run.run_id, "loss")["value"].tolist()
    assert values == [math.inf if step % 2 else -math.inf for step in range(600)] + [1.7976931348623157e308]
    assert jt.get_run(run.run_id).artifacts == []                   # the list is bookkeeping, not an artifact


def test_pull_brings_back_console_environment_and_registered_versions(tmp_path_factory, tracking_uri, tmp_path):
    store = team_store(tmp_path_factory)       # our own copy: the registry below is this test's alone
    jt.set_store(store)
    bob = run_ids(store)["sweep-bob"]
    jt.register_model(f"runs:/{bob}/model", "bob-doubler", description="Bob's lower learning rate")
    jt.transition_model_version_stage("bob-doubler", 1, "Staging", comment="first look")
    jt.transition_model_version_stage("bob-doubler", 1, "Production", comment="ship it")
    jt.set_model_alias("bob-doubler", "candidate", 1)
    before = jt.get_run(bob)
    version = jt.get_model_version("bob-doubler", 1)
    history = jt.get_stage_history("bob-doubler")
    console_rows = jt.sql(f"SELECT seq, stream, text, timestamp FROM console WHERE run_id = '{bob}' ORDER BY seq")
    assert "trained" in before.console and before.environment["packages"] and len(history) == 2

    pushed = jt.push(bob, tracking_uri, experiment="round-trip")
    assert pushed.model_versions == 1

    jt.set_store(tmp_path / "teammate")           # a fresh store
    pulled = jt.pull(tracking_uri, "round-trip")
    assert bob in pulled.imported and pulled.model_versions == 1
    after = jt.get_run(bob)
    assert after.console == before.console and after.environment == before.environment and after.git == before.git
    pd.testing.assert_frame_equal(console_rows, jt.sql(
        f"SELECT seq, stream, text, timestamp FROM console WHERE run_id = '{bob}' ORDER BY seq"))
    assert jt.get_model_version("bob-doubler", 1) == version       # stage, aliases, source, user, times
    pd.testing.assert_frame_equal(jt.get_stage_history("bob-doubler"), history)
    assert jt.load_model("models:/bob-doubler@candidate").predict([1, 2]) == [2, 4]
    assert {a.path for a in after.artifacts} == {a.path for a in before.artifacts}   # bookkeeping stays out

    again = jt.pull(tracking_uri, "round-trip")
    assert again.imported == [] and again.model_versions == 0
    assert len(jt.search_model_versions("bob-doubler")) == 1 and len(jt.get_stage_history("bob-doubler")) == 2
    assert jt.get_run(bob).console == before.console


def test_a_push_leaves_other_threads_mlflow_settings_alone(store_dir, tracking_uri, monkeypatch):
    """The push's quick-retry settings apply to the push's own MLflow calls only: another thread of
    the process (say, a training loop logging to MLflow) keeps os.environ and MLflow's defaults."""
    import threading

    import mlflow.environment_variables as variables
    from mlflow.tracking import MlflowClient

    from jupyter_tracker.sharing.mlflow_client import SCOPED_VARIABLES

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")        # what the user set is kept, even for the push
    with jt.start_run(run_name="threads", experiment="threads") as run:
        run.log_metric("acc", 0.5)
    environment_before = dict(os.environ)
    in_push, looked = threading.Event(), threading.Event()
    seen: dict[str, dict] = {}

    def look(who: str) -> dict:
        return {"environ": {name: os.environ.get(name) for name in SCOPED_VARIABLES},
                "mlflow": {name: getattr(variables, name).get() for name in SCOPED_VARIABLES}}

    def other_thread() -> None:
        in_push.wait(timeout=120)
        seen["other"] = look("other")
        seen["other_environ"] = dict(os.environ)
        looked.set()

    log_batch = MlflowClient.log_batch

    def log_batch_seen_from_both_threads(self, *args, **options):
        if not in_push.is_set():                 # the push is talking to the server right now
            seen["push"] = look("push")
            in_push.set()
            assert looked.wait(timeout=120)
        return log_batch(self, *args, **options)

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch_seen_from_both_threads)
    observer = threading.Thread(target=other_thread)
    observer.start()
    try:
        assert jt.push(run.run_id, tracking_uri).points_sent == 1
    finally:
        in_push.set()
        observer.join()

    defaults = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": variables.MLFLOW_HTTP_REQUEST_MAX_RETRIES.default,
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": variables.MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.default,
                "MLFLOW_HTTP_REQUEST_TIMEOUT": 77, "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": False}
    assert seen["other_environ"] == environment_before == dict(os.environ)
    assert seen["other"]["mlflow"] == defaults
    assert seen["push"]["environ"] == seen["other"]["environ"]      # the push did not write os.environ either
    assert seen["push"]["mlflow"] == {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": 2, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1,
                                      "MLFLOW_HTTP_REQUEST_TIMEOUT": 77,
                                      "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": True}
