"""One module per tool. Each exposes the same task functions (those it supports) with the same
arguments, so the runner can measure every tool on the same workload:

- ``prepare(root)``: create the tool's store with one finished run (store creation is not timed).
- ``log_loop(root, n)``: start a run, call the per-point log function ``n`` times, finish the run.
- ``create_runs(root, n)``: ``n`` runs, each with 10 params and 1 metric.
- ``seed_history(root, n)`` / ``read_history(root, n, reps)``: one run with ``n`` points, then read it back.
- ``seed_runs(root, n)`` / ``search(root, n, reps)``: ``n`` runs × (10 params, 5 metrics, 3 tags), then search.
- ``crash_child(root, n)`` / ``crash_read(root, n)``: log ``n`` points and SIGKILL; then count what is kept.
- ``writer(root, n, start_at, index)`` / ``reader(root, stop_file)``: concurrent writers and a polling reader.

Every task returns a dict of plain numbers; ``bench.worker`` prints it as JSON.
"""

TOOLS = ("jupyter_tracker", "mlflow", "wandb", "aim", "trackio")
MODULES = {"jupyter_tracker": "jt", "mlflow": "mlflow_", "wandb": "wandb_", "aim": "aim_", "trackio": "trackio_"}
IMPORTS = {"jupyter_tracker": "jupyter_tracker", "mlflow": "mlflow", "wandb": "wandb", "aim": "aim",
           "trackio": "trackio"}
