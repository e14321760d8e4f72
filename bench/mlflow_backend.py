"""``python -m bench.mlflow_backend TOOL TASK JSON``: unchanged MLflow code logging into a store, run like
``bench.worker`` tasks. TOOL picks the tracking URI: ``jupyter_tracker`` is MLflow's API into
``jupyter-tracker:///<root>/.jupyter_tracker`` (our plugin), ``mlflow`` is its SQLite default.

- ``log_loop(root, n)``: ``mlflow.log_metric`` per-call cost in one run.
- ``crash_child(root, n)`` / ``crash_read(root, n)``: SIGKILL after the calls returned, then what survived.
- ``writer(root, n, start_at, index)``: one of several writer processes to one store; errors counted.

``workload(bench)`` runs them all and fills the table's "MLflow API" rows (``bench.run``'s
``mlflow_backend`` workload).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .tools.common import announce_and_die, wait_until


def _mlflow(tool: str, root: str):
    """``mlflow`` pointed at the tool's store. Before the package is reinstalled with its entry points,
    a throwaway dist-info (tests/mlflow_plugin.py) makes the plugin visible."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.chdir(root)
    if tool == "jupyter_tracker":
        from tests.mlflow_plugin import ensure_entry_points

        ensure_entry_points(Path(root) / "devplugin")
    import mlflow

    uri = f"jupyter-tracker://{Path(root) / '.jupyter_tracker'}" if tool == "jupyter_tracker" else \
        f"sqlite:///{Path(root) / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return mlflow


def prepare(tool: str, root: str) -> dict:
    mlflow = _mlflow(tool, root)
    for name in ("loop", "crash", "concurrency"):
        if mlflow.get_experiment_by_name(name) is None:
            mlflow.create_experiment(name)
    return {}


def log_loop(tool: str, root: str, n: int) -> dict:
    mlflow = _mlflow(tool, root)
    mlflow.set_experiment("loop")
    with mlflow.start_run(run_name="loop"):
        mlflow.log_metric("warmup", 0.0)
        start = time.perf_counter()
        for step in range(n):
            mlflow.log_metric("loss", step * 0.001, step=step)
        looped = time.perf_counter()
    return {"us_per_call": (looped - start) / n * 1e6}


def crash_child(tool: str, root: str, n: int) -> dict:
    mlflow = _mlflow(tool, root)
    mlflow.set_experiment("crash")
    mlflow.start_run(run_name="crash")
    for step in range(n):
        mlflow.log_metric("loss", float(step), step=step)
    announce_and_die(f"LOGGED {n}")
    return {}


def crash_read(tool: str, root: str, n: int) -> dict:
    mlflow = _mlflow(tool, root)
    runs = mlflow.search_runs(experiment_names=["crash"])
    if runs.empty:
        return {"kept": 0, "status": "missing"}
    run_id = runs.iloc[0]["run_id"]
    kept = len(mlflow.MlflowClient().get_metric_history(run_id, "loss"))
    return {"kept": kept, "status": str(runs.iloc[0]["status"])}


def writer(tool: str, root: str, n: int, start_at: float, index: int) -> dict:
    mlflow = _mlflow(tool, root)
    mlflow.set_experiment("concurrency")
    errors = 0
    with mlflow.start_run(run_name=f"writer{index}") as run:
        wait_until(start_at)
        begin = time.time()
        for step in range(n):
            try:
                mlflow.log_metric("loss", step * 0.5, step=step)
            except Exception:  # noqa: BLE001 - "database is locked" and friends, counted
                errors += 1
        end = time.time()
    kept = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    return {"begin": begin, "end": end, "errors": errors + (n - errors - kept)}


def workload(bench) -> None:
    """The "MLflow API" rows: our plugin's column is ``jupyter_tracker``, MLflow's SQLite default ``mlflow``."""
    from .processes import WorkerError, call
    from .rows import Figure
    from .servers import REPO, process_env

    settings = bench.settings
    worker = "bench.mlflow_backend"

    def one(tool: str) -> None:
        n = settings["mlflow_api_log_n"]
        root = bench.root(tool, "mlflow_api", prepared=False)
        call(tool, "prepare", root=root, worker=worker)
        results = [call(tool, "log_loop", root=root, n=n, worker=worker) for _ in range(settings["proc_reps"])]
        values = sorted(r["us_per_call"] for r in results)
        bench.table.set("mlflow_api_log_metric", tool, Figure(values[len(values) // 2], n=n, reps=len(values)))
        crash_n = settings["crash_n"]
        child = subprocess.run([sys.executable, "-m", worker, tool, "crash_child",
                                json.dumps({"root": root, "n": crash_n})], cwd=REPO, env=process_env(),
                               capture_output=True, text=True, timeout=600, check=False)
        if f"LOGGED {crash_n}" not in child.stdout or child.returncode != -9:
            raise WorkerError(f"crash child did not log and die (exit {child.returncode}): "
                              f"{child.stderr.strip().splitlines()[-3:]}")
        time.sleep(0.5)
        survived = call(tool, "crash_read", root=root, n=crash_n, worker=worker)
        bench.table.set("mlflow_api_crash_kept", tool, Figure(survived["kept"] / crash_n, n=crash_n, reps=1,
                                                              detail=f"{survived['kept']:,} / {crash_n:,}"))
        bench.table.set("mlflow_api_crash_status", tool, Figure(None, n=crash_n, reps=1, text=survived["status"]))
        writers, writer_n = 4, settings["mlflow_api_writer_n"]
        start_at = time.time() + 3.0 + 2.5 * writers
        processes = [subprocess.Popen([sys.executable, "-m", worker, tool, "writer", json.dumps(
            {"root": root, "n": writer_n, "start_at": start_at, "index": index})], cwd=REPO, env=process_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in range(writers)]
        errors = 0
        for process in processes:
            out, _ = process.communicate(timeout=1800)
            lines = [line for line in out.splitlines() if line.startswith("BENCH-RESULT ")]
            errors += json.loads(lines[-1][13:])["errors"] if lines else writer_n
        bench.table.set("mlflow_api_writers_4_errors", tool, Figure(float(errors), n=writer_n * writers, reps=1))

    bench.each(["jupyter_tracker", "mlflow"], "MLflow API, both stores", one)


def main() -> None:
    tool, task, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    result = globals()[task](tool, **arguments)
    sys.stdout.write("\nBENCH-RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
