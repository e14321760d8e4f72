"""``python -m bench.scaling [--quick] [--out DIR] [--tools ...] [--only ...]``: how cost grows.

Five workloads, each at 4+ sizes for jupyter_tracker and for every peer that can run it, every
measurement in fresh processes (``bench.worker``, the same task functions as ``python -m bench``):

- ``search``: ``search_runs`` → DataFrame, and the filtered search, against the number of runs;
- ``history``: a whole metric history against its number of points;
- ``merge``: the first read after a writer left N points in its journal, minus the first read of
  a store with nothing to merge (ours only: the peers write into their database on every call);
- ``disk``: store size against the number of points (the same noisy curve for every tool);
- ``track``: ``%%track`` on an empty cell against the size of the saved notebook (ours only).

Sizes are capped per tool (``SIZES``) so that a full run stays near 30 minutes on this 2-core machine;
a peer's cap is where one more size would cost minutes. Results go to ``DIR/scaling.json``,
``DIR/scaling.md`` and one log–log chart per workload, ``DIR/scaling_<workload>.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .run import OURS, WorkerError, call
from .servers import REPO, process_env
from .tools import TOOLS

#: Sizes per workload and tool. The caps, and why: seeding 1,000,000 runs through our API takes about
#: 10 min here (0.6 ms per run), so our search stops at 100,000; MLflow's listing costs ~1 ms per run
#: (30,000 runs: ~40 s per query); Trackio's ``bulk_log`` seeds at ~12 ms per run; MLflow's history read
#: costs ~75 µs per point and Aim's and W&B's logging ~0.2-0.4 ms per point.
SIZES = {
    "search": {"jupyter_tracker": [1_000, 3_000, 10_000, 30_000, 100_000], "mlflow": [1_000, 3_000, 10_000, 30_000],
               "trackio": [100, 300, 1_000, 3_000]},
    "history": {"jupyter_tracker": [10_000, 100_000, 1_000_000, 10_000_000],
                "mlflow": [1_000, 10_000, 30_000, 100_000], "aim": [1_000, 10_000, 30_000, 100_000],
                "trackio": [1_000, 10_000, 100_000, 300_000]},
    "disk_only": {"wandb": [1_000, 3_000, 10_000, 30_000]},
    "merge": {"jupyter_tracker": [10_000, 100_000, 1_000_000, 3_000_000]},
    "track": {"jupyter_tracker": [10, 100, 300, 1_000]},
}
QUICK_SIZES = {
    "search": {"jupyter_tracker": [30, 100], "mlflow": [30, 100], "trackio": [30, 100]},
    "history": {"jupyter_tracker": [1_000, 3_000], "mlflow": [1_000, 3_000], "aim": [300, 1_000],
                "trackio": [1_000, 3_000]},
    "disk_only": {"wandb": [300, 1_000]},
    "merge": {"jupyter_tracker": [1_000, 10_000]},
    "track": {"jupyter_tracker": [10, 30]},
}
WORKLOADS = ("history", "merge", "track", "search")
NAMES = {"jupyter_tracker": "jupyter_tracker", "mlflow": "MLflow", "wandb": "W&B (offline)", "aim": "Aim",
         "trackio": "Trackio"}

#: What each design implies, stated beside the measured slopes (a slope of 1 on the log–log chart is linear).
COMPLEXITY = {
    "search": [
        "jupyter_tracker: one DuckDB scan of the runs table plus a columnar PIVOT of the params/metrics/tags long "
        "tables into the wide frame: O(runs × columns) with a vectorised constant; the filter is compiled to SQL, "
        "so a filtered search is O(runs) scanned + O(matches × columns) built.",
        "MLflow (SQLite + SQLAlchemy): the query is SQL, but every matching run becomes ORM objects with its params, "
        "metrics and tags before the DataFrame is built: O(runs × columns) with a per-object Python constant "
        "(about 1 ms per run here).",
        "Trackio: lists run names from SQLite (no params/metrics columns, no filter): O(runs), small constant.",
    ],
    "history": [
        "jupyter_tracker: the run's points are columnar chunks read as numpy arrays: O(points), a few ns each, "
        "plus a fixed cost per query (connection, lookup).",
        "MLflow: one SQL row per point turned into a `Metric` object: O(points), ~75 µs each.",
        "Aim: the run's sequence is read from its RocksDB container and decoded value by value: O(points).",
        "Trackio: one SQLite row of JSON per logged step, parsed in Python: O(points).",
    ],
    "merge": [
        "jupyter_tracker: a writer appends to its journal and the next reader merges what is unmerged: "
        "O(backlog) work (decode + one bulk DuckDB append), paid once, by the first reader after the writes. "
        "The peers have no backlog: MLflow, Aim and Trackio pay their database write on (or shortly after) every "
        "call, which is what their log-loop rows show.",
    ],
    "disk": [
        "Every store grows O(points); what differs is the constant: ours stores points in compressed columnar "
        "chunks (bytes/point falls as runs get longer, down to what the noise in the values costs); MLflow and "
        "Trackio keep one SQLite row per point (+ indexes), Aim a RocksDB key-value per point, W&B one protobuf "
        "record per logged step.",
    ],
    "track": [
        "jupyter_tracker: each tracked cell snapshots the saved notebook (read, hash, store when changed): "
        "O(notebook bytes) per execution, plus a constant for the run itself.",
    ],
}


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(cost) on log(size): 1 is linear, 0 flat, 2 quadratic."""
    points = [(x, y) for x, y in points if x > 0 and y is not None and y > 0]
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    denominator = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / denominator if denominator else None


class Scaling:
    def __init__(self, sizes: dict, tools: list[str], workdir: Path, reps: int) -> None:
        self.sizes = sizes
        self.tools = tools
        self.workdir = workdir
        self.reps = reps
        #: series[(workload, measure)][tool] = [(size, value), ...]
        self.series: dict[str, dict[str, list[tuple[int, float]]]] = {}
        self.failures: list[str] = []

    def add(self, measure: str, tool: str, size: int, value: float) -> None:
        self.series.setdefault(measure, {}).setdefault(tool, []).append((size, value))
        print(f"  {measure:<16} {tool:<16} {size:>12,} {value:12.4g}", flush=True)

    def root(self, tool: str, name: str, prepared: bool = True) -> str:
        path = self.workdir / tool / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        if prepared:
            call(tool, "prepare", root=str(path))
        return str(path)

    def each(self, workload: str, function) -> None:
        for tool, sizes in self.sizes[workload].items():
            if tool not in self.tools:
                continue
            for size in sizes:
                started = time.perf_counter()
                try:
                    function(tool, size)
                except Exception as error:  # noqa: BLE001 - reported, never dropped
                    self.failures.append(f"{workload} / {NAMES[tool]} at {size:,}: {type(error).__name__}: {error}")
                    print(f"  {workload} {tool} {size:,} FAILED: {error}", flush=True)
                    break  # a larger size of the same tool would fail or time out too
                print(f"    ({time.perf_counter() - started:.1f} s)", flush=True)

    def search(self) -> None:
        def one(tool: str, n: int) -> None:
            root = self.root(tool, f"search{n}")
            call(tool, "seed_runs", root=root, n=n)
            result = call(tool, "search", root=root, n=n, reps=self.reps)
            self.add("search_all", tool, n, result["all_s"] * 1e3)
            if result.get("filter_s") is not None:
                self.add("search_filter", tool, n, result["filter_s"] * 1e3)
            shutil.rmtree(root, ignore_errors=True)

        self.each("search", one)

    def history(self) -> None:
        """History reads and store size from the same seeded stores; W&B (no local reader) size only."""
        def one(tool: str, n: int, read: bool = True) -> None:
            root = self.root(tool, f"history{n}")
            seeded = call(tool, "seed_history", root=root, n=n)
            size = call(tool, "store_bytes", root=root)["bytes"] - seeded["empty_bytes"]
            self.add("disk_bytes", tool, n, float(size))
            if read:
                result = call(tool, "read_history", root=root, n=n, reps=self.reps, run_id=seeded["run_id"])
                self.add("history_full", tool, n, result["full_s"] * 1e3)
            shutil.rmtree(root, ignore_errors=True)

        self.each("history", one)
        self.each("disk_only", lambda tool, n: one(tool, n, read=False))

    def merge(self) -> None:
        def one(tool: str, n: int) -> None:
            root = self.root(tool, f"merge{n}")
            call(tool, "first_read", root=root)     # the store is merged and warm on disk
            floors = [call(tool, "first_read", root=root)["first_s"] for _ in range(self.reps)]
            call(tool, "backlog_writer", root=root, n=n, timeout=7200)
            with_backlog = call(tool, "first_read", root=root)["first_s"]
            floor = sorted(floors)[len(floors) // 2]
            self.add("merge", tool, n, max(with_backlog - floor, 1e-6) * 1e3)
            shutil.rmtree(root, ignore_errors=True)

        self.each("merge", one)

    def track(self) -> None:
        def one(tool: str, cells: int) -> None:
            root = self.root(tool, f"track{cells}", prepared=False)
            command = [sys.executable, "-c",
                       "import json; from bench.track_overhead import measure_notebook_size as m; "
                       f"print('BENCH-RESULT ' + json.dumps(m({root!r}, {cells}, {max(self.reps, 3) * 3})))"]
            process = subprocess.run(command, cwd=REPO, env=process_env(), capture_output=True, text=True,
                                     timeout=1200, check=False)
            lines = [x for x in process.stdout.splitlines() if x.startswith("BENCH-RESULT ")]
            if not lines:
                raise WorkerError(f"track overhead failed: {process.stderr.strip().splitlines()[-4:]}")
            self.add("track", tool, cells, json.loads(lines[-1][13:])["added_ms"])

        self.each("track", one)


CHARTS = {
    "search": (("search_all", "search → DataFrame"), ("search_filter", "filtered search")),
    "history": (("history_full", "whole history"),),
    "merge": (("merge", "merge on first read"),),
    "disk": (("disk_bytes", "store size"),),
    "track": (("track", "%%track added"),),
}
AXES = {"search": ("runs", "ms"), "history": ("points", "ms"), "merge": ("points in the journal backlog", "ms"),
        "disk": ("points", "bytes"), "track": ("code cells in the saved notebook", "ms added")}
COLOURS = {"jupyter_tracker": "#1f77b4", "mlflow": "#d62728", "wandb": "#ff7f0e", "aim": "#2ca02c",
           "trackio": "#9467bd"}


def charts(series: dict, out: Path) -> list[str]:
    """One log–log PNG per workload, one line per tool (and per measure); returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for chart, measures in CHARTS.items():
        if not any(series.get(measure) for measure, _label in measures):
            continue
        figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        for style, (measure, label) in zip(("-o", "--s"), measures):
            for tool, measured in series.get(measure, {}).items():
                points = sorted(p for p in measured if p[1] > 0)
                if not points:
                    continue
                slope = _slope(points)
                axes.plot([p[0] for p in points], [p[1] for p in points], style, color=COLOURS[tool],
                          label=f"{NAMES[tool]}: {label}" + (f" (slope {slope:.2f})" if slope is not None else ""))
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel(AXES[chart][0])
        axes.set_ylabel(AXES[chart][1])
        axes.set_title(f"How cost grows: {chart}")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=7)
        figure.tight_layout()
        name = f"scaling_{chart}.png"
        figure.savefig(out / name)
        plt.close(figure)
        written.append(name)
    return written


def markdown(result: dict) -> str:
    series = result["series"]
    lines = [f"# How cost grows ({result['mode']} run, {result['date']})", "",
             f"Command: `python -m bench.scaling{' --quick' if result['mode'] == 'quick' else ''}` (wall time "
             f"{result['wall_s'] / 60:.1f} min; load average {result['load'][0]:.1f} at the start, "
             f"{result['load_end'][0]:.1f} at the end, on a 2-core machine shared with other work: compare slopes "
             "and ratios, not single figures). Each point is a fresh seeded store measured in fresh processes "
             f"(median of {result['reps']} reads where a read is timed). Slope = least-squares slope of log(cost) "
             "on log(size): 1 is linear. Sizes are capped per tool so the whole run stays near 30 min: "
             "`bench/scaling.py` `SIZES` says each cap and why.", ""]
    if result.get("partial"):
        lines += [f"**Partial run**: only these workloads finished: {', '.join(result['workloads'])}.", ""]
    for chart, measures in CHARTS.items():
        present = [(m, label) for m, label in measures if series.get(m)]
        if not present:
            continue
        x_name, unit = AXES[chart]
        lines += [f"## {chart}", "", f"![{chart}](scaling_{chart}.png)", "",
                  f"| tool | measure | {x_name} → {unit} | slope |", "|---|---|---|---|"]
        for measure, label in present:
            for tool, points in series[measure].items():
                slope = _slope(points)
                cells = ", ".join(f"{size:,} → {_short(value)}" for size, value in sorted(points))
                lines.append(f"| {NAMES[tool]} | {label} | {cells} | {'' if slope is None else f'{slope:.2f}'} |")
        lines += ["", "What the designs imply:", ""]
        lines += [f"- {text}" for text in COMPLEXITY[chart]]
        lines.append("")
    if result["failures"]:
        lines += ["## Failures", ""] + [f"- {failure}" for failure in result["failures"]] + [""]
    lines += ["Not measured, and why: W&B offline has no local reader (no search or history curve, its store "
              "size is); Aim has no search curve (creating a run costs ~2 s); merge and %%track are "
              "jupyter_tracker's alone (no peer has a journal to merge or a cell magic).", ""]
    return "\n".join(lines)


def _short(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes per tool: the test suite runs this")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="where scaling.* go")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="jt-scaling-"))
    workdir.mkdir(parents=True, exist_ok=True)
    reps = 1 if args.quick else 3
    scaling = Scaling(QUICK_SIZES if args.quick else SIZES, [OURS] + [t for t in args.tools if t != OURS], workdir,
                      reps)
    started, load = time.time(), list(os.getloadavg())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(args.only):
        print(f"{name}:", flush=True)
        getattr(scaling, name)()
        # written after every workload, so an interrupted run still leaves what it measured
        result = {"mode": "quick" if args.quick else "full",
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "wall_s": round(time.time() - started, 1), "load": load, "load_end": list(os.getloadavg()),
                  "reps": reps, "series": scaling.series, "failures": scaling.failures,
                  "sizes": QUICK_SIZES if args.quick else SIZES, "workloads": args.only[:index + 1],
                  "partial": index + 1 < len(args.only)}
        result["charts"] = charts(scaling.series, out)
        (out / "scaling.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / "scaling.md").write_text(markdown(result))
    print(markdown(result))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
