"""``python -m bench.sharing TOOL TASK JSON``: the sharing workloads, run like ``bench.worker`` tasks
(one fresh process per task, result printed as ``BENCH-RESULT {...}``).

- ``seed_sharing(root, runs, points)`` / ``export_import(root, reps)``: jupyter_tracker only (MLflow has
  no bundle format of its own): ``jt.export_runs`` of every run into one file, ``jt.import_runs`` of it
  into an empty store.
- ``push_points(root, run_id, tracking_uri)``: copy one run's metric points (seeded by the tool's
  ``seed_history``) to a real ``mlflow server``: ``jt.push`` for us, for MLflow its own copy: read the
  history from its local store, ``log_batch`` 1,000 points per call to the server.
- ``mirror_points(root, run_id, tracking_uri)``: the same copy by team sync (``sync_once``: what the
  background mirror does for a finished run, its end phase included); MLflow's figure is its ``log_batch``
  copy above.
- ``log_with_sync(root, n, tracking_uri)``: ``log_metric`` per call while the mirror sends the same run
  to the server (``tracking_uri`` None: no mirror), ours only.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from .tools import jt as jt_tool
from .tools import mlflow_ as mlflow_tool
from .tools.common import training_curve


def jt_seed_sharing(root: str, runs: int, points: int) -> dict:
    """``runs`` finished runs of ``points`` points each, 5 params and a small artifact."""
    jt = jt_tool._jt(root)
    for index in range(runs):
        with jt.start_run(run_name=f"share{index}", experiment="sharing") as run:
            run.log_params({f"p{j}": j for j in range(5)})
            log_metric = run.log_metric
            values = training_curve(points, seed=index)
            for step in range(points):
                log_metric("loss", values[step], step=step)
            run.log_text(f"run {index}", "notes.txt")
    jt.search_runs(max_results=1)  # journals merged before anything is timed
    return {}


def jt_export_import(root: str, reps: int) -> dict:
    from jupyter_tracker.store import get_store

    jt = jt_tool._jt(root)
    runs = jt.search_runs(experiment="sharing")
    warm = jt.export_runs(runs.head(1), Path(root) / "warm-up.jtrack", overwrite=True)   # imports, untimed
    jt.import_runs(warm.path, store=get_store(Path(root) / "warm-up"))
    exports, imports = [], []
    for rep in range(reps):
        path = Path(root) / f"bundle{rep}.jtrack"
        start = time.perf_counter()
        exported = jt.export_runs(runs, path, overwrite=True)
        exports.append(time.perf_counter() - start)
        target = get_store(Path(root) / f"colleague{rep}")   # an empty store each time
        shutil.rmtree(target.root, ignore_errors=True)
        start = time.perf_counter()
        imported = jt.import_runs(path, store=target)
        imports.append(time.perf_counter() - start)
        assert imported.metric_points == exported.metric_points
    return {"export_s": statistics.median(exports), "import_s": statistics.median(imports),
            "bundle_bytes": exported.bytes}


def _warm_up(tracking_uri: str) -> None:
    """Touch every endpoint a copy uses once, untimed: a fresh server spends seconds on its first
    requests (lazy imports, first database connections), the same for both tools."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("bench-warm-up")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("bench-warm-up")
    run = client.create_run(experiment_id, run_name="warm-up")
    client.log_batch(run.info.run_id, metrics=[Metric("m", 1.0, 0, 0)], tags=[RunTag("t", "1")])
    client.search_runs([experiment_id], filter_string="tags.t = '1'")
    client.list_artifacts(run.info.run_id)
    client.set_terminated(run.info.run_id)


def jt_push_points(root: str, run_id: str, tracking_uri: str) -> dict:
    jt = jt_tool._jt(root)
    _warm_up(tracking_uri)   # also imports MLflow's client before the clock starts
    start = time.perf_counter()
    result = jt.push(run_id, tracking_uri, experiment="bench-push")
    return {"push_s": time.perf_counter() - start, "points": result.points_sent}


def mlflow_push_points(root: str, run_id: str, tracking_uri: str) -> dict:
    mlflow = mlflow_tool._mlflow(root)
    source = mlflow.MlflowClient()
    target = mlflow.MlflowClient(tracking_uri=tracking_uri)
    _warm_up(tracking_uri)
    start = time.perf_counter()
    run = source.get_run(run_id)
    experiment = target.get_experiment_by_name("bench-push")
    experiment_id = experiment.experiment_id if experiment else target.create_experiment("bench-push")
    copy = target.create_run(experiment_id, start_time=run.info.start_time, run_name=run.info.run_name)
    points = 0
    for key in run.data.metrics:
        history = source.get_metric_history(run_id, key)
        for first in range(0, len(history), 1000):
            target.log_batch(copy.info.run_id, metrics=history[first:first + 1000])
        points += len(history)
    target.set_terminated(copy.info.run_id, status=run.info.status, end_time=run.info.end_time)
    return {"push_s": time.perf_counter() - start, "points": points}


def jt_mirror_points(root: str, run_id: str, tracking_uri: str) -> dict:
    from jupyter_tracker.sharing.sync import sync_once

    jt_tool._jt(root)
    _warm_up(tracking_uri)
    start = time.perf_counter()
    report = sync_once(tracking_uri)
    return {"mirror_s": time.perf_counter() - start, "points": report.points_sent}


def jt_log_with_sync(root: str, n: int, tracking_uri: str | None) -> dict:
    from jupyter_tracker.sharing.sync import start_mirror, stop_mirror

    jt = jt_tool._jt(root)
    values = training_curve(n)
    if tracking_uri:
        _warm_up(tracking_uri)
        start_mirror(tracking_uri)
    with jt.start_run(run_name="synced", experiment="sync-cost") as run:
        log_metric = run.log_metric
        start = time.perf_counter()
        for step in range(n):
            log_metric("loss", values[step], step=step)
        elapsed = time.perf_counter() - start
    stop_mirror()
    return {"us_per_call": elapsed / n * 1e6}


TASKS = {("jupyter_tracker", "seed_sharing"): jt_seed_sharing, ("jupyter_tracker", "export_import"): jt_export_import,
         ("jupyter_tracker", "push_points"): jt_push_points, ("mlflow", "push_points"): mlflow_push_points,
         ("jupyter_tracker", "mirror_points"): jt_mirror_points, ("mlflow", "mirror_points"): mlflow_push_points,
         ("jupyter_tracker", "log_with_sync"): jt_log_with_sync}


def main() -> None:
    tool, task, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    result = TASKS[tool, task](**arguments)
    sys.stdout.write("\nBENCH-RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
