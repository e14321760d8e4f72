"""The clean-up workload: delete 90% of a 1,000,000-point store, ``gc``, compact, and measure what the
store takes on disk before and after (the whole store directory), checking the rest is intact.

``python -m bench.cleanup TOOL TASK JSON`` runs one task in a fresh process, like ``bench.worker``:
``seed_cleanup(root, runs, points)`` logs ``runs`` runs of ``points`` points; ``delete_compact(root, runs)``
deletes nine in ten of them by filter, runs ``gc`` and compaction, and compares the kept runs'
points with what they held before. jupyter_tracker only: the peers have no compaction of their own to
compare (MLflow's ``gc`` leaves its database file as large as it was).
"""

from __future__ import annotations

import json
import os
import sys
import time

from .rows import Figure
from .tools import jt as jt_tool
from .tools.common import dir_size

OURS = "jupyter_tracker"


def jt_seed_cleanup(root: str, runs: int, points: int) -> dict:
    jt = jt_tool._jt(root)
    for index in range(runs):
        with jt.start_run(run_name=f"run{index}", experiment="cleanup") as run:
            run.log_params({"index": index, "group": "keep" if index % 10 == 0 else "drop"})
            log_metric = run.log_metric
            for step in range(points):
                log_metric("loss", index + 1.0 / (step + 1), step=step)
    jt.search_runs(max_results=1)  # merged before anything is measured
    return {}


def _kept_points(jt) -> tuple[int, str]:
    """How many points the kept runs hold, and a digest of every (run, step, value) in order."""
    frame = jt.sql("SELECT count(*) AS n, md5(string_agg(concat_ws(':', m.run_id, m.step, m.value), ',' "
                   "ORDER BY m.run_id, m.step)) AS digest FROM metrics m JOIN params p USING (run_id) "
                   "WHERE p.key = 'group' AND p.value = 'keep'")
    return int(frame["n"][0]), str(frame["digest"][0])


def jt_delete_compact(root: str, runs: int) -> dict:
    jt = jt_tool._jt(root)
    store = os.path.join(root, "store")
    kept = len(range(0, runs, 10))
    before_points = _kept_points(jt)
    before = dir_size(store)
    start = time.perf_counter()
    deleted = jt.delete_runs("cleanup", "params.group = 'drop'")
    delete_s = time.perf_counter() - start
    start = time.perf_counter()
    garbage = jt.gc(grace_seconds=0)
    gc_s = time.perf_counter() - start
    start = time.perf_counter()
    jt.compact()
    compact_s = time.perf_counter() - start
    after = dir_size(store)
    after_points = _kept_points(jt)
    intact = (after_points == before_points and len(jt.search_runs("cleanup")) == kept)
    return {"before_bytes": before, "after_bytes": after, "deleted_runs": len(deleted.run_ids),
            "purged_points": garbage.purged_metric_points, "kept_points": after_points[0], "intact": intact,
            "delete_s": delete_s, "gc_s": gc_s, "compact_s": compact_s}


def measure(bench) -> None:
    """The workload as ``python -m bench`` runs it: one repetition (it destroys its store)."""
    from .processes import WorkerError, call

    total = bench.settings["history_big"]          # 1,000,000 points in the full run
    runs = 100
    points = total // runs

    def one(tool: str) -> None:
        root = bench.root(tool, "cleanup")
        call(tool, "seed_cleanup", root=root, runs=runs, points=points, worker="bench.cleanup")
        result = call(tool, "delete_compact", root=root, runs=runs, worker="bench.cleanup")
        if not result["intact"]:
            raise WorkerError(f"the kept runs changed: {result}")
        share = result["after_bytes"] / result["before_bytes"]
        bench.table.set("cleanup_size", tool, Figure(share, n=runs * points, reps=1, detail=(
            f"{result['before_bytes'] / 1e6:.1f} MB → {result['after_bytes'] / 1e6:.1f} MB; "
            f"{result['kept_points']:,} kept points intact")))
        bench.table.set("cleanup_time", tool, Figure(result["delete_s"] + result["gc_s"] + result["compact_s"],
                                                     n=runs * points, reps=1, detail=(
            f"rm {result['delete_s']:.2f} s, gc {result['gc_s']:.2f} s, compact {result['compact_s']:.2f} s")))
        bench.log(f"  cleanup: {json.dumps(result)}")

    bench.each([OURS], "delete 90% and compact", one)


TASKS = {(OURS, "seed_cleanup"): jt_seed_cleanup, (OURS, "delete_compact"): jt_delete_compact}


def main() -> None:
    tool, task, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    result = TASKS[tool, task](**arguments)
    sys.stdout.write("\nBENCH-RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
