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
- ``log_with_sync(root, n, tracking_uri)``: ``log_metric`` per call while the mirror process sends a
  backlog run to the server (``tracking_uri`` None: no mirror), ours only.
- ``sync_lag(root, seconds, rate, tracking_uri)``: seconds from ``log_metric`` until the point is in the
  server's ``get_metric_history`` (p50/p95), ours only.
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


def _mirror_progress(client, run_id: str) -> float:
    """The highest step of ``run_id``'s ``loss`` the server holds (values are their steps): how far the
    mirror got, without reading a long history."""
    found = client.search_runs([e.experiment_id for e in client.search_experiments()],
                               filter_string=f"tags.`jt.run_id` = '{run_id}'", max_results=1)
    return found[0].data.metrics.get("loss", -1.0) if found else -1.0


def jt_log_with_sync(root: str, n: int, tracking_uri: str | None) -> dict:
    """``log_metric`` per call, ``n`` calls, while the mirror process sends a backlog run of ``n`` points
    (``tracking_uri`` None: the same backlog, no mirror). The clock starts once the mirror is seen
    sending; ``backlog_sent_during`` says how far it got while the loop ran. ``cpu_us_per_call`` is the
    loop thread's own CPU time per call: on a 2-core machine the wall figure also holds the time the loop
    waits for a core while the mirror process and the server work, which CPU time leaves out."""
    from mlflow.tracking import MlflowClient  # imported in both cases: the same process either way

    from jupyter_tracker.sharing.sync import start_mirror, stop_mirror

    jt = jt_tool._jt(root)
    values = training_curve(n)
    with jt.start_run(run_name="backlog", experiment="sync-cost") as backlog:
        for step in range(n):
            jt.log_metric("loss", float(step), step=step)
    client = MlflowClient(tracking_uri=tracking_uri) if tracking_uri else None
    if tracking_uri:
        _warm_up(tracking_uri)
        start_mirror(tracking_uri)
        deadline = time.monotonic() + 120
        while _mirror_progress(client, backlog.run_id) < 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the mirror process sent nothing in 120 s")
            time.sleep(0.05)
    before = _mirror_progress(client, backlog.run_id) if client else 0.0
    with jt.start_run(run_name="synced", experiment="sync-cost") as run:
        log_metric = run.log_metric
        start, cpu_start = time.perf_counter(), time.thread_time()
        for step in range(n):
            log_metric("loss", values[step], step=step)
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    after = _mirror_progress(client, backlog.run_id) if client else 0.0
    stop_mirror()
    return {"us_per_call": elapsed / n * 1e6, "cpu_us_per_call": cpu / n * 1e6, "backlog_sent_during": after - before}


def jt_sync_lag(root: str, seconds: float, rate: float, tracking_uri: str) -> dict:
    """Mirror lag while logging: ``rate`` points a second for ``seconds`` with the mirror on; the server's
    ``get_metric_history`` is polled every 0.1 s and each point's lag is the time from its
    ``log_metric`` returning to the first poll that shows it. Percentiles over every point."""
    from mlflow.tracking import MlflowClient

    from jupyter_tracker.sharing.sync import start_mirror, stop_mirror

    jt = jt_tool._jt(root)
    _warm_up(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    start_mirror(tracking_uri)
    logged: dict[int, float] = {}
    lags: dict[int, float] = {}
    run = jt.start_run(run_name="lag", experiment="sync-lag")
    total = int(seconds * rate)
    mlflow_run_id = None
    start = time.monotonic()
    next_poll = start
    step = 0
    while step < total or (len(lags) < total and time.monotonic() - start < seconds + 120):
        now = time.monotonic()
        if step < total and now >= start + step / rate:
            jt.log_metric("loss", float(step), step=step)
            logged[step] = time.monotonic()
            step += 1
            continue
        if now >= next_poll:
            next_poll = now + 0.1
            if mlflow_run_id is None:
                found = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                           filter_string=f"tags.`jt.run_id` = '{run.run_id}'", max_results=1)
                mlflow_run_id = found[0].info.run_id if found else None
            if mlflow_run_id is not None:
                seen = time.monotonic()
                for metric in client.get_metric_history(mlflow_run_id, "loss"):
                    if metric.step not in lags and metric.step in logged:
                        lags[metric.step] = seen - logged[metric.step]
        time.sleep(0.002)
    jt.end_run()
    stop_mirror()
    ordered = sorted(lags.values())
    if len(ordered) < total:
        raise RuntimeError(f"only {len(ordered)} of {total} points reached the server")
    return {"p50_s": statistics.median(ordered), "p95_s": ordered[int(0.95 * (len(ordered) - 1))],
            "points": len(ordered)}


TASKS = {("jupyter_tracker", "seed_sharing"): jt_seed_sharing, ("jupyter_tracker", "export_import"): jt_export_import,
         ("jupyter_tracker", "push_points"): jt_push_points, ("mlflow", "push_points"): mlflow_push_points,
         ("jupyter_tracker", "mirror_points"): jt_mirror_points, ("mlflow", "mirror_points"): mlflow_push_points,
         ("jupyter_tracker", "log_with_sync"): jt_log_with_sync, ("jupyter_tracker", "sync_lag"): jt_sync_lag}


def main() -> None:
    tool, task, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    result = TASKS[tool, task](**arguments)
    sys.stdout.write("\nBENCH-RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
