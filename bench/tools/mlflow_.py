"""MLflow with its default local store (SQLite), through ``mlflow`` and ``MlflowClient``.

Store creation (Alembic migrations) is done once in ``prepare`` and never timed. The search
workload seeds runs with plain SQL inserts into MLflow's own tables: creating 100,000 runs
through the API would take about 40 minutes here (23 ms per run), and what is measured is
the search, which reads the same rows either way.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from pathlib import Path

from .common import (
    ErrorTally,
    announce_and_die,
    announce_done,
    dir_size,
    done_writers,
    median_time,
    poll_pause,
    run_values,
    stop_requested,
    training_curve,
    wait_until,
)

FIRST_CALLS = 1_000
ACK_TIMEOUT_S = 300  # a run not seen FINISHED in this long fails the row instead of hanging the benchmark


def _not_there_yet(error: BaseException) -> bool:
    """MLflow's answer for a run, experiment or metric that does not exist (yet)."""
    return getattr(error, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def _uri(root: str) -> str:
    return f"sqlite:///{os.path.join(root, 'mlflow.db')}"


def _mlflow(root: str):
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.chdir(root)  # artifacts default to ./mlartifacts
    import mlflow

    mlflow.set_tracking_uri(_uri(root))
    return mlflow


def prepare(root: str) -> dict:
    mlflow = _mlflow(root)
    for name in ("bench", "create", "create_visible", "history", "search", "crash", "concurrency"):
        if mlflow.get_experiment_by_name(name) is None:
            mlflow.create_experiment(name)
    mlflow.set_experiment("bench")
    with mlflow.start_run(run_name="prepare"):
        mlflow.log_metric("warmup", 1.0)
    return {"bytes": dir_size(root)}


def log_loop(root: str, n: int, synchronous: bool = True) -> dict:
    """``mlflow.log_metric`` from the run's first call; ``synchronous=False`` is MLflow's async
    logging (calls queue, a background thread writes them; ``end_run`` waits for the queue)."""
    start = time.perf_counter()
    mlflow = _mlflow(root)
    imported = time.perf_counter()
    mlflow.set_experiment("bench")
    run = mlflow.start_run(run_name="loop")
    started = time.perf_counter()
    first = min(FIRST_CALLS, n)
    for step in range(first):
        mlflow.log_metric("loss", step * 0.001, step=step, synchronous=synchronous)
    first_done = time.perf_counter()
    for step in range(first, n):
        mlflow.log_metric("loss", step * 0.001, step=step, synchronous=synchronous)
    looped = time.perf_counter()
    mlflow.end_run()
    ended = time.perf_counter()
    if not synchronous:
        kept = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
        assert kept == n, f"async logging kept {kept} of {n} points"
    return {"import_s": imported - start, "init_s": started - imported, "us_per_call": (looped - started) / n * 1e6,
            "first_us_per_call": (first_done - started) / first * 1e6, "finish_s": ended - looped,
            "run_id": run.info.run_id}


def visible_writer(root: str, n: int, signal_file: str) -> dict:
    mlflow = _mlflow(root)
    mlflow.set_experiment("bench")
    run = mlflow.start_run(run_name="visible")
    while not os.path.exists(signal_file + ".ready"):
        time.sleep(0.001)
    for step in range(n):
        mlflow.log_metric("loss", step * 0.001, step=step)
    with open(signal_file + ".tmp", "w") as handle:
        handle.write(f"{run.info.run_id} {time.time()!r}")
    os.replace(signal_file + ".tmp", signal_file)
    time.sleep(30)
    mlflow.end_run()
    return {}


def visible_reader(root: str, n: int, signal_file: str) -> dict:
    mlflow = _mlflow(root)
    client = mlflow.MlflowClient()
    client.search_runs([mlflow.get_experiment_by_name("bench").experiment_id], max_results=1)
    Path(signal_file + ".ready").touch()  # the writer starts its loop only now
    while not os.path.exists(signal_file):
        time.sleep(0.001)
    run_id, written = Path(signal_file).read_text().split()
    tally = ErrorTally()
    while True:
        try:
            if len(client.get_metric_history(run_id, "loss")) >= n:
                break
        except Exception as error:  # noqa: BLE001 - every error is counted, "not there yet" by name
            tally.add(error, _not_there_yet(error))
        time.sleep(0.001)
    return {"visible_after_s": time.time() - float(written), **tally.to_json()}


def create_visible_writer(root: str, n: int, ack_dir: str) -> dict:
    mlflow = _mlflow(root)
    mlflow.set_experiment("create_visible")
    ack = Path(ack_dir)
    while not (ack / "ready").exists():
        time.sleep(0.001)
    times = []
    for index in range(n):
        params, _metrics, _tags = run_values(index)
        start = time.perf_counter()
        with mlflow.start_run(run_name=f"v{index}") as run:
            mlflow.log_params(params)
            mlflow.log_metric("acc", index / n)
        (ack / f"{index}.tmp").write_text(run.info.run_id)
        os.replace(ack / f"{index}.tmp", ack / f"{index}.run")
        give_up = time.monotonic() + ACK_TIMEOUT_S
        while not (ack / f"{index}.seen").exists():
            if time.monotonic() > give_up:
                raise TimeoutError(f"run {index} not reported FINISHED by the reader in {ACK_TIMEOUT_S} s")
            time.sleep(0.0005)
        times.append(time.perf_counter() - start)
    return {"ms_per_run": sum(times) / n * 1e3}


def create_visible_reader(root: str, n: int, ack_dir: str) -> dict:
    mlflow = _mlflow(root)
    ack = Path(ack_dir)
    mlflow.search_runs(experiment_names=["create_visible"], max_results=1)
    (ack / "ready").touch()
    tally = ErrorTally()
    for index in range(n):
        while not (ack / f"{index}.run").exists():
            time.sleep(0.0005)
        run_id = (ack / f"{index}.run").read_text()
        give_up = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < give_up:
            try:
                runs = mlflow.search_runs(experiment_names=["create_visible"], max_results=n + 10)
                if not runs.empty and list(runs.loc[runs["run_id"] == run_id, "status"]) == ["FINISHED"]:
                    break
            except Exception as error:  # noqa: BLE001 - every error is counted, "not there yet" by name
                tally.add(error, _not_there_yet(error))
            time.sleep(0.0005)
        else:
            tally.errors[f"run not shown FINISHED within {ACK_TIMEOUT_S} s"] += 1
        (ack / f"{index}.seen").touch()
    return tally.to_json()


def create_runs(root: str, n: int) -> dict:
    mlflow = _mlflow(root)
    mlflow.set_experiment("create")
    start = time.perf_counter()
    for index in range(n):
        params, _metrics, _tags = run_values(index)
        with mlflow.start_run(run_name=f"r{index}"):
            mlflow.log_params(params)
            mlflow.log_metric("acc", index / n)
    return {"ms_per_run": (time.perf_counter() - start) / n * 1e3}


def seed_history(root: str, n: int) -> dict:
    """Points go in through ``log_batch`` (1,000 per call), MLflow's fastest documented path."""
    mlflow = _mlflow(root)
    from mlflow.entities import Metric

    client = mlflow.MlflowClient()
    empty = dir_size(root)
    experiment_id = mlflow.get_experiment_by_name("history").experiment_id
    run = client.create_run(experiment_id, run_name="history")
    now = int(time.time() * 1000)
    values = training_curve(n)
    for first in range(0, n, 1000):
        client.log_batch(run.info.run_id, metrics=[Metric("loss", values[step], now + step, step)
                                                   for step in range(first, min(n, first + 1000))])
    client.set_terminated(run.info.run_id)
    return {"run_id": run.info.run_id, "empty_bytes": empty}


def read_history(root: str, n: int, reps: int, run_id: str) -> dict:
    """Full history through ``get_metric_history``; a 2,000-point chart series through the tracking
    store's ``get_metric_history_bulk_interval`` (SQL-side sampling, what MLflow's UI charts use)."""
    mlflow = _mlflow(root)
    client = mlflow.MlflowClient()
    full = median_time(lambda: client.get_metric_history(run_id, "loss"), reps)
    assert len(client.get_metric_history(run_id, "loss")) == n
    from mlflow.tracking._tracking_service.utils import _get_store

    store = _get_store()
    sampled = median_time(lambda: store.get_metric_history_bulk_interval([run_id], "loss", 2000, None, None), reps)
    return {"full_s": full, "downsampled_s": sampled}


def seed_runs(root: str, n: int) -> dict:
    """``n`` runs inserted with SQL into MLflow's tables, modelled on a run made through the API."""
    mlflow = _mlflow(root)
    experiment_id = mlflow.get_experiment_by_name("search").experiment_id
    empty = dir_size(root)
    connection = sqlite3.connect(os.path.join(root, "mlflow.db"))
    template = connection.execute("SELECT * FROM runs LIMIT 1").fetchone()
    columns = [row[1] for row in connection.execute("PRAGMA table_info(runs)")]
    metric_columns = [row[1] for row in connection.execute("PRAGMA table_info(metrics)")]
    latest_columns = [row[1] for row in connection.execute("PRAGMA table_info(latest_metrics)")]
    now = int(time.time() * 1000)
    runs, params, metrics, latest, tags = [], [], [], [], []
    for index in range(n):
        run_id = uuid.uuid4().hex
        row = dict(zip(columns, template))
        row.update(run_uuid=run_id, name=f"r{index}", experiment_id=int(experiment_id), status="FINISHED",
                   start_time=now + index, end_time=now + index + 1, lifecycle_stage="active",
                   artifact_uri=f"{root}/mlartifacts/{experiment_id}/{run_id}/artifacts")
        runs.append(tuple(row[c] for c in columns))
        run_params, run_metrics, run_tags = run_values(index)
        params += [(key, value, run_id) for key, value in run_params.items()]
        tags += [(key, value, run_id) for key, value in run_tags.items()] + [("mlflow.runName", f"r{index}", run_id)]
        for key, value in run_metrics.items():
            point = {"key": key, "value": value, "timestamp": now, "run_uuid": run_id, "step": 0, "is_nan": False}
            metrics.append(tuple(point[c] for c in metric_columns))
            latest.append(tuple(point[c] for c in latest_columns))
    with connection:
        connection.executemany(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                               runs)
        connection.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
        connection.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        connection.executemany(f"INSERT INTO metrics ({', '.join(metric_columns)}) "
                               f"VALUES ({', '.join('?' * len(metric_columns))})", metrics)
        connection.executemany(f"INSERT INTO latest_metrics ({', '.join(latest_columns)}) "
                               f"VALUES ({', '.join('?' * len(latest_columns))})", latest)
    connection.close()
    return {"empty_bytes": empty}


def store_bytes(root: str) -> dict:
    return {"bytes": dir_size(root)}


def search(root: str, n: int, reps: int) -> dict:
    mlflow = _mlflow(root)
    found = []
    warmup = lambda: mlflow.search_runs(experiment_names=["search"], max_results=1)  # noqa: E731
    everything = median_time(lambda: found.append(mlflow.search_runs(experiment_names=["search"],
                                                                     max_results=n + 10)), reps, warmup)
    assert len(found[-1]) == n
    filtered = median_time(lambda: mlflow.search_runs(
        experiment_names=["search"], filter_string="metrics.m0 > 0.5 and params.p0 = 'a'", max_results=n + 10),
        reps, warmup)
    ordered = median_time(lambda: mlflow.search_runs(experiment_names=["search"], order_by=["metrics.m1 DESC"],
                                                     max_results=10), reps, warmup)
    return {"all_s": everything, "filter_s": filtered, "order_s": ordered}


def crash_child(root: str, n: int) -> dict:
    mlflow = _mlflow(root)
    mlflow.set_experiment("crash")
    mlflow.start_run(run_name="crash")
    for step in range(n):
        mlflow.log_metric("loss", float(step), step=step)
    announce_and_die(f"LOGGED {n}")
    return {}


def crash_read(root: str, n: int) -> dict:
    mlflow = _mlflow(root)
    runs = mlflow.search_runs(experiment_names=["crash"])
    if runs.empty:
        return {"kept": 0, "status": "missing"}
    run_id = runs.iloc[0]["run_id"]
    kept = len(mlflow.MlflowClient().get_metric_history(run_id, "loss"))
    return {"kept": kept, "status": str(runs.iloc[0]["status"])}


def writer(root: str, n: int, start_at: float, index: int) -> dict:
    mlflow = _mlflow(root)
    mlflow.set_experiment("concurrency")
    tally = ErrorTally()
    with mlflow.start_run(run_name=f"writer{index}") as run:
        wait_until(start_at)
        begin = time.time()
        for step in range(n):
            try:
                mlflow.log_metric("loss", step * 0.5, step=step)
            except Exception as error:  # noqa: BLE001 - "database is locked" and friends, counted
                tally.add(error)
        end = time.time()
        announce_done(root, index, run.info.run_id)
    return {"begin": begin, "end": end, **tally.to_json()}


def reader(root: str, stop_file: str, writers: int, n: int) -> dict:
    """The same polling reader as jupyter_tracker's: ``search_runs`` every 50 ms, then each done
    writer's history until all ``n`` points are visible."""
    mlflow = _mlflow(root)
    client = mlflow.MlflowClient()
    polls = 0
    tally = ErrorTally()
    pending = set(range(writers))
    visible_at = None
    while not stop_requested(stop_file) and visible_at is None:
        try:
            mlflow.search_runs(experiment_names=["concurrency"])
            for index, run_id in done_writers(root, pending):
                if len(client.get_metric_history(run_id, "loss")) >= n:
                    pending.discard(index)
            if not pending:
                visible_at = time.time()
        except Exception as error:  # noqa: BLE001 - every error is counted, "not there yet" by name
            tally.add(error, _not_there_yet(error))
        polls += 1
        poll_pause(root, pending)
    return {"polls": polls, "visible_at": visible_at, **tally.to_json()}
