"""``python -m bench.importers TOOL TASK JSON``: moving in from W&B, run like ``bench.worker`` tasks
(one fresh process per task, result printed as ``BENCH-RESULT {...}``).

- ``seed_wandb(root, runs, points)``: ``runs`` W&B offline runs (``WANDB_MODE=offline``) of ``points``
  points each (one ``loss`` per ``wandb.log`` call), written by W&B itself in one process.
- ``import_wandb(root, reps)``: ``jt.import_from("wandb", ...)`` of that folder into an empty store,
  ``reps`` times (a fresh store each time); the median time and points/s.

Registered in ``run.py`` as the ``importers`` workload (row ``import_wandb`` in ``rows.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path


def wandb_seed(root: str, runs: int, points: int) -> dict:
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    folder = Path(root) / "wandb-source"
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(runs):
        run = wandb.init(project="bench-import", name=f"run{index}", config={"index": index, "lr": 0.1},
                         dir=str(folder), reinit="finish_previous", settings=wandb.Settings(x_disable_stats=True))
        log = run.log
        for step in range(points):
            log({"loss": 1.0 / (step + 1)}, step=step)
        run.finish()
    return {"logs": len(list(folder.rglob("*.wandb")))}


def jt_import_wandb(root: str, reps: int) -> dict:
    import jupyter_tracker as jt
    from jupyter_tracker.store import get_store

    source = Path(root) / "wandb-source"
    times, points, runs = [], 0, 0
    for rep in range(reps):
        target = Path(root) / f"store-{rep}"
        shutil.rmtree(target, ignore_errors=True)
        store = get_store(target)
        start = time.perf_counter()
        result = jt.import_from("wandb", source, progress=False, store=store)
        times.append(time.perf_counter() - start)
        points, runs = result.metric_points, len(result.imported)
        shutil.rmtree(target, ignore_errors=True)
    median = statistics.median(times)
    return {"import_s": median, "points": points, "runs": runs, "points_per_s": points / median}


TASKS = {("wandb", "seed_wandb"): wandb_seed, ("jupyter_tracker", "import_wandb"): jt_import_wandb}


def workload(bench) -> None:
    """The ``importers`` workload of ``run.Bench``: seed with W&B, import with jupyter_tracker."""
    from .processes import call
    from .rows import Figure

    runs, points, reps = bench.settings["import_runs_n"], bench.settings["import_points_n"], bench.settings["proc_reps"]

    def one(tool: str) -> None:
        root = bench.workdir / tool / "import-wandb"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        call("wandb", "seed_wandb", root=str(root), runs=runs, points=points, worker="bench.importers")
        result = call(tool, "import_wandb", root=str(root), reps=reps, worker="bench.importers")
        bench.table.set("import_wandb", tool, Figure(
            result["import_s"], n=result["points"], reps=reps,
            detail=f"{result['runs']} runs × {points:,} points, {result['points_per_s']:,.0f} points/s"))

    bench.each(["jupyter_tracker"], "import W&B offline runs", one)


def main() -> None:
    tool, task, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    result = TASKS[tool, task](**arguments)
    sys.stdout.write("\nBENCH-RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
