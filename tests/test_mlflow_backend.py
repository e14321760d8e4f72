"""A user with MLflow code points MLFLOW_TRACKING_URI at a jupyter-tracker store: the same script
gives the same answers as on MLflow's SQLite store, the runs show in ``jt``, and ``mlflow server``
serves our store (runs logged with ``jt`` included) to MLflow's REST API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import jupyter_tracker as jt
from bench.servers import mlflow_server
from tests.conftest import run_notebook
from tests.mlflow_plugin import ensure_entry_points

SCRIPT = Path(__file__).parent / "mlflow_scripts" / "realistic.py"


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory) -> str:
    """What a process needs on PYTHONPATH to find our entry points (the repository, and a throwaway
    dist-info until the package is reinstalled with them)."""
    ensure_entry_points(tmp_path_factory.mktemp("devplugin"))
    return os.environ.get("PYTHONPATH", "")


def run_script(tracking_uri: str, workdir: Path, plugin_path: str) -> subprocess.Popen:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONPATH": plugin_path,
           "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}
    env.pop("JUPYTER_TRACKER_DIR", None)
    return subprocess.Popen([sys.executable, str(SCRIPT)], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def answers_of(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-4000:]
    return json.loads(out)


def test_an_mlflow_script_answers_the_same_on_sqlite_and_on_our_store(tmp_path, plugin_path):
    store = tmp_path / "jt" / ".jupyter_tracker"
    sqlite = run_script(f"sqlite:///{tmp_path / 'sqlite' / 'mlflow.db'}", tmp_path / "sqlite", plugin_path)
    ours = run_script(f"jupyter-tracker://{store}", tmp_path / "jt", plugin_path)
    expected, found = answers_of(sqlite), answers_of(ours)
    assert found == expected
    assert found["same_as_model"] and found["search:children"] == ["child-2", "child-4"]
    frame = jt.search_runs("churn", store=jt.tracking.get_store(store), order_by="run_name")
    assert list(frame["run_name"]) == ["autolog", "child-2", "child-4", "parent"]
    assert frame.set_index("run_name").loc["parent", "metrics.loss"] == 0.2


def rest(uri: str, route: str, body: dict | None = None) -> dict:
    """One call of MLflow's REST API (GET with a query string, or POST with JSON)."""
    if body is None:
        request = urllib.request.Request(f"{uri}/api/2.0/mlflow/{route}")
    else:
        request = urllib.request.Request(f"{uri}/api/2.0/mlflow/{route}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_mlflow_server_serves_our_store_including_runs_logged_with_jt(tmp_path, plugin_path, store_dir):
    with jt.start_run("from-jt", experiment="churn") as run:
        run.log_params({"lr": "0.1"})
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_text("hello", "notes/readme.txt")
    with mlflow_server(tmp_path / "server", backend_store_uri=f"jupyter-tracker://{store_dir}", workers=2,
                       extra_env={"PYTHONPATH": plugin_path}) as uri:
        experiments = rest(uri, "experiments/search", {"max_results": 10})["experiments"]
        churn = next(e for e in experiments if e["name"] == "churn")
        assert churn["experiment_id"].isdigit()
        found = rest(uri, "runs/search", {"experiment_ids": [churn["experiment_id"]],
                                          "filter": "params.lr = '0.1'"})["runs"]
        assert [r["info"]["run_name"] for r in found] == ["from-jt"]
        assert found[0]["data"]["metrics"] == [{"key": "loss", "value": 1 / 3, "timestamp": found[0]["data"][
            "metrics"][0]["timestamp"], "step": 2}]
        history = rest(uri, "metrics/get-history?" + urllib.parse.urlencode(
            {"run_id": run.run_id, "metric_key": "loss"}))["metrics"]
        assert [(m["step"], m["value"]) for m in history] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
        listed = rest(uri, "artifacts/list?" + urllib.parse.urlencode({"run_id": run.run_id, "path": "notes"}))
        assert [f["path"] for f in listed["files"]] == ["notes/readme.txt"]
        created = rest(uri, "runs/create", {"experiment_id": churn["experiment_id"], "run_name": "over-rest"})
        rest_run = created["run"]["info"]["run_id"]
        for step in range(4):  # two workers: the run's creator and the other one both write to it
            rest(uri, "runs/log-metric", {"run_id": rest_run, "key": "acc", "value": step / 10, "step": step,
                                          "timestamp": 1_700_000_000_000 + step})
        rest(uri, "runs/update", {"run_id": rest_run, "status": "FINISHED"})
    names = sorted(jt.search_runs("churn")["run_name"])
    assert names == ["from-jt", "over-rest"]
    assert list(jt.get_metric_history(rest_run, "acc")["value"]) == [0.0, 0.1, 0.2, 0.3]


def test_mlflow_calls_inside_a_track_cell_log_into_the_cells_run(tmp_path, plugin_path, store_dir):
    cells = ["%load_ext jupyter_tracker\nimport jupyter_tracker as jt\nimport mlflow\n"
             "mlflow.set_tracking_uri('jupyter-tracker:')",
             "%%track -e churn -n cell-run\n"
             "with mlflow.start_run() as active:\n"
             "    mlflow.log_param('lr', 0.1)\n"
             "    mlflow.log_metric('acc', 0.9)\n"
             "jt.log_metric('loss', 0.2)\n"
             "print(active.info.run_id == jt.active_run().run_id)"]
    notebook = run_notebook(cells, tmp_path, store_dir, env={"PYTHONPATH": plugin_path})
    printed = "".join(output.get("text", "") for output in notebook.cells[1].outputs)
    assert "True\n" in printed and "acc=0.9" in printed
    frame = jt.search_runs()
    assert list(frame["run_name"]) == ["cell-run"]
    assert frame.loc[0, "params.lr"] == "0.1" and frame.loc[0, "metrics.acc"] == 0.9
    assert frame.loc[0, "metrics.loss"] == 0.2 and frame.loc[0, "status"] == "FINISHED"


CAREFUL_SCRIPT = '''
import json, time
import mlflow, numpy
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

client = MlflowClient()
experiment_id = client.create_experiment("careful")
refused = {}
def attempt(name, call):
    try:
        call()
    except MlflowException as exc:
        refused[name] = str(exc)

run_id = client.create_run(experiment_id, run_name="kept").info.run_id
attempt("end time in ns", lambda: client.set_terminated(run_id, end_time=time.time_ns()))
attempt("start time in ns", lambda: client.create_run(experiment_id, run_name="born-late", start_time=time.time_ns()))
with mlflow.start_run(run_id=run_id):
    attempt("dataset name", lambda: mlflow.log_input(mlflow.data.from_numpy(numpy.zeros(3), name="caf\\udce9")))
    attempt("experiment tag", lambda: client.set_experiment_tag(experiment_id, "k", "caf\\udce9"))
    mlflow.log_metric("loss", 0.5)
print(json.dumps(refused))
'''


def test_mlflow_calls_with_times_in_ns_or_undecodable_text_are_refused_and_the_store_stays_readable(
        tmp_path, plugin_path):
    store = tmp_path / ".jupyter_tracker"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"jupyter-tracker://{store}", "PYTHONPATH": plugin_path,
           "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}
    env.pop("JUPYTER_TRACKER_DIR", None)
    done = subprocess.run([sys.executable, "-c", CAREFUL_SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    refused = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(refused) == ["dataset name", "end time in ns", "experiment tag", "start time in ns"], refused
    assert "nanoseconds" in refused["end time in ns"] and "nanoseconds" in refused["start time in ns"]
    assert "lone surrogate" in refused["dataset name"] and "lone surrogate" in refused["experiment tag"]
    runs = jt.search_runs("careful", store=jt.tracking.get_store(store))   # every query still works
    assert runs["run_name"].tolist() == ["kept"] and runs["metrics.loss"].tolist() == [0.5]
    assert not (store / "quarantine").exists() or not list((store / "quarantine").iterdir())
