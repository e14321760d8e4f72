"""``python -m bench [--quick] [--out DIR] [--tools ...]``: every workload, every tool, one table.

Each figure is the median of several repetitions; where start-up matters each repetition is a
fresh process (``bench.worker``). Tools that are not installed, or fail, appear in the table as
such; nothing is dropped silently. Results go to ``DIR/latest.json`` and ``DIR/latest.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from . import report
from .processes import WorkerError, call, finish_pair, pair, result_of, worker_process
from .rows import READERS, SEARCHERS, VISIBLE, Figure, Table
from .servers import REPO, mlflow_server, process_env
from .tools import IMPORTS, TOOLS

OURS = "jupyter_tracker"
#: off/on pairs of the sync cost row (median of each side)
SYNC_COST_PAIRS = 5

# Every row runs every tool at the same N; where a peer is slow it gets fewer repetitions, never a
# smaller N (``mlflow_reps``). Sizes are capped so that a full run stays near 30 min on 2 busy cores.
#: Every workload of a full run, in the order they run.
WORKLOADS = ("imports", "log_loop", "visible", "create_runs", "track_overhead", "table_paint", "slices",
             "search", "summaries", "history", "crash", "concurrency", "sharing", "mirror", "cleanup",
             "mlflow_backend", "importers")

FULL = {
    "reps": 5, "proc_reps": 3, "mlflow_reps": 1, "import_reps": 5,
    "log_n": 10_000,
    "visible_n": 1_000,
    "create_n": 200, "create_visible_n": 30,
    "search_n": (10_000, 100_000), "search_reps": 3, "summaries_n": (10_000, 100),
    "history_big": 1_000_000, "history_n": 100_000, "disk_n": 10_000,
    "crash_n": 5_000,
    "writers": (1, 2, 4, 8), "writer_n": 500, "writer_n_large": 50_000, "start_delay": (3.0, 0.5),
    "track_reps": 30, "slice_reps": 7,
    "share_runs": 100, "share_points": 10_000, "push_points": 100_000, "push_server_per_tool": True,
    "mirror_points": 1_000_000, "sync_cost_n": 2_000_000, "sync_lag": (30.0, 20.0),
    "mlflow_api_log_n": 1_000, "mlflow_api_writer_n": 500,   # bench/mlflow_backend.py: both columns are MLflow's API
    "import_runs_n": 100, "import_points_n": 10_000,
    "paint_n": 10_000, "paint_reps": 5,
}
QUICK = {
    "reps": 2, "proc_reps": 1, "mlflow_reps": 1, "import_reps": 1,
    "log_n": 1_000,
    "visible_n": 100,
    "create_n": 10, "create_visible_n": 3,
    "search_n": (100, 300), "search_reps": 1, "summaries_n": (200, 20),
    "history_big": 20_000, "history_n": 2_000, "disk_n": 1_000,
    "crash_n": 300,
    "writers": (1, 2), "writer_n": 200, "writer_n_large": 2_000, "start_delay": (1.0, 0.3),
    "track_reps": 2, "slice_reps": 2,
    "share_runs": 3, "share_points": 500, "push_points": 2_000, "push_server_per_tool": False,
    "mirror_points": 2_000, "sync_cost_n": 5_000, "sync_lag": (5.0, 20.0),
    "mlflow_api_log_n": 50, "mlflow_api_writer_n": 20,
    "import_runs_n": 3, "import_points_n": 200,
    "paint_n": 100, "paint_reps": 1,
}


def _not_yet_text(names: dict[str, int]) -> str | None:
    """The reader's expected "not there yet" answers, by name (None when there were none)."""
    if not names:
        return None
    return "not there yet: " + ", ".join(f"{name} ×{count:,}" for name, count in names.items())


def _add_counts(total: dict[str, int], counts: dict[str, int]) -> None:
    for name, count in counts.items():
        total[name] = total.get(name, 0) + count


def _counts_text(errors: dict[str, int], not_yet: dict[str, int]) -> str | None:
    """A reader's errors (every exception but the expected ones) and its "not there yet" answers."""
    parts = []
    if errors:
        parts.append(f"{sum(errors.values()):,} errors: " + ", ".join(f"{name} ×{count:,}"
                                                                  for name, count in errors.items()))
    if not_yet:
        parts.append(_not_yet_text(not_yet) or "")
    return "; ".join(parts) or None


def _number(value: float | None) -> str:
    return "?" if value is None else report._number(value, "")


def median_of(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def _measure_in_fresh_process(module: str, arguments: str, what: str) -> dict:
    """``bench.<module>.measure(<arguments>)`` run in a fresh Python process (so nothing this process
    imported or cached helps it), its JSON result read from the ``BENCH-RESULT`` line it prints."""
    command = [sys.executable, "-c", f"import json; from bench.{module} import measure; "
               f"print('BENCH-RESULT ' + json.dumps(measure({arguments})))"]
    process = subprocess.run(command, cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=1200,
                             check=False)
    lines = [x for x in process.stdout.splitlines() if x.startswith("BENCH-RESULT ")]
    if not lines:
        raise WorkerError(f"{what} failed: {process.stderr.strip().splitlines()[-4:]}")
    return json.loads(lines[-1][13:])


class Bench:
    def __init__(self, settings: dict, tools: list[str], workdir: Path, log) -> None:
        self.settings = settings
        self.tools = tools
        self.workdir = workdir
        self.log = log
        self.table = Table(tools=tools)
        self.missing: dict[str, str] = {}

    # -- helpers --------------------------------------------------------------------------------
    def root(self, tool: str, name: str, prepared: bool = True) -> str:
        path = self.workdir / tool / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        if prepared:
            call(tool, "prepare", root=str(path))
        return str(path)

    def reps_for(self, tool: str, key: str = "proc_reps") -> int:
        """Repetitions of a process-level figure: MLflow's slow rows run once, at the same N."""
        return min(self.settings[key], self.settings["mlflow_reps"]) if tool == "mlflow" else self.settings[key]

    def each(self, tools: list[str], what: str, function) -> None:
        """Run ``function(tool)`` for every available tool; a failure becomes an error cell."""
        for tool in tools:
            if tool not in self.tools:
                continue
            if tool in self.missing:
                continue
            started = time.perf_counter()
            try:
                function(tool)
                self.log(f"  {what:<28} {tool:<16} {time.perf_counter() - started:6.1f} s")
            except Exception as error:  # noqa: BLE001 - reported in the table, never dropped
                self.log(f"  {what:<28} {tool:<16} FAILED: {error}")
                self.table.fail(what, tool, f"{type(error).__name__}: {error}")

    # -- workloads ------------------------------------------------------------------------------
    def check_installed(self) -> None:
        for tool in self.tools:
            if importlib.util.find_spec(IMPORTS[tool]) is None:
                self.missing[tool] = f"not installed (pip install -e '.[bench]' installs {IMPORTS[tool]})"
                self.table.missing(tool, self.missing[tool])

    def imports(self) -> None:
        reps = self.settings["import_reps"]

        # Every tool imports from its bytecode cache, as after `pip install` (which compiles every peer's
        # modules): PYTHONDONTWRITEBYTECODE in the caller's environment would leave only ours (an editable
        # checkout) compiling from source in each fresh process. One untimed run writes the cache.
        env = {name: value for name, value in process_env().items() if name != "PYTHONDONTWRITEBYTECODE"}

        def timed(code: str) -> float:
            subprocess.run([sys.executable, "-c", code], check=True, cwd=self.workdir, env=env, capture_output=True)
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, cwd=self.workdir, env=env,
                               capture_output=True)
                times.append(time.perf_counter() - start)
            return statistics.median(times)

        bare = timed("pass")
        self.table.note("import", f"bare `python -c pass`: {bare * 1e3:.0f} ms (subtracted)")

        def one(tool: str) -> None:
            self.table.set("import", tool, Figure((timed(f"import {IMPORTS[tool]}") - bare) * 1e3, n=1, reps=reps))

        self.each(TOOLS, "import", one)

    def log_loop(self) -> None:
        n = self.settings["log_n"]

        def one(tool: str) -> None:
            reps = self.reps_for(tool)
            root = self.root(tool, "log_loop")
            results = [call(tool, "log_loop", root=root, n=n) for _ in range(reps)]
            first = median_of(results, "first_us_per_call")
            self.table.set("log_metric", tool, Figure(median_of(results, "us_per_call"), n=n, reps=reps,
                                                      detail=f"first 1,000 calls: {_number(first)} µs each"))
            self.table.set("run_init", tool, Figure(median_of(results, "init_s") * 1e3, n=1, reps=reps))
            self.table.set("run_finish", tool, Figure(median_of(results, "finish_s") * 1e3, n=1, reps=reps))
            if tool == OURS:
                ours = self.table.cells["log_metric"][OURS]
                self.table.set("log_metric_async", OURS, Figure(ours.value, n=n, reps=reps,
                                                                detail="the loop above: one mode"))
            if tool == "mlflow":
                root = self.root(tool, "log_loop_async")
                results = [call(tool, "log_loop", root=root, n=n, synchronous=False) for _ in range(reps)]
                per_call, finish = median_of(results, "us_per_call"), median_of(results, "finish_s")
                self.table.set("log_metric_async", tool, Figure(
                    per_call, n=n, reps=reps, detail=f"end_run waits {finish:.1f} s for the queue: "
                    f"{_number(per_call + finish / n * 1e6)} µs per point written"))

        self.each(TOOLS, "log_metric loop", one)

    def visible(self) -> None:
        n = self.settings["visible_n"]

        def one(tool: str) -> None:
            reps = self.settings["proc_reps"]
            latencies, not_yet, errors = [], {}, {}
            for rep in range(reps):
                root = self.root(tool, f"visible{rep}")
                signal_file = os.path.join(root, "written")
                reader, writer = pair(tool, "visible_reader", "visible_writer",
                                      {"root": root, "n": n, "signal_file": signal_file})
                result = finish_pair(reader, [writer], "visibility reader")
                latencies.append(result["visible_after_s"])
                _add_counts(errors, result["error_names"])
                _add_counts(not_yet, result["not_yet_names"])
            self.table.set("visible", tool, Figure(statistics.median(latencies) * 1e3, n=n, reps=reps,
                                                   detail=_counts_text(errors, not_yet)))

        self.each(list(VISIBLE), "visible to a reader", one)

    def create_runs(self) -> None:
        def one(tool: str) -> None:
            n, reps = self.settings["create_n"], self.reps_for(tool)
            root = self.root(tool, "create")
            results = [call(tool, "create_runs", root=root, n=n) for _ in range(reps)]
            self.table.set("run_create", tool, Figure(median_of(results, "ms_per_run"), n=n, reps=reps))
            n = self.settings["create_visible_n"]
            root = self.root(tool, "create_visible")
            ack = Path(root) / "ack"
            ack.mkdir()
            reader, writer = pair(tool, "create_visible_reader", "create_visible_writer",
                                  {"root": root, "n": n, "ack_dir": str(ack)})
            result = finish_pair(reader, [], "create-visible reader")
            out, err = writer.communicate(timeout=600)
            written = result_of(out, err, "create-visible writer")
            self.table.set("run_create_visible", tool, Figure(
                written["ms_per_run"], n=n, reps=1, detail=_counts_text(result["error_names"],
                                                                         result["not_yet_names"])))

        self.each(["jupyter_tracker", "mlflow"], "run creation", one)

    def track_overhead(self) -> None:
        def one(tool: str) -> None:
            root = self.root(tool, "track_overhead", prepared=False)
            reps = self.settings["track_reps"]
            result = _measure_in_fresh_process("track_overhead", f"{root!r}, {reps}", "track overhead")
            self.table.set("track_empty", tool, Figure(result["empty_added_ms"], n=1, reps=reps,
                                                       detail=f"{result['empty_plain']:.2f} → "
                                                              f"{result['empty_tracked']:.2f} ms"))
            self.table.set("track_metrics", tool, Figure(result["metrics_added_ms"], n=100, reps=reps,
                                                         detail=f"{result['metrics_plain']:.2f} → "
                                                                f"{result['metrics_tracked']:.2f} ms"))

        self.each([OURS], "%%track overhead", one)

    def slices(self) -> None:
        """Slice recording (bench/slices.py): the post-run hook on a 200-line cell, %%track in a 300-cell
        session with slices on and off (a real kernel), in a fresh process."""
        reps = self.settings["slice_reps"]

        def one(tool: str) -> None:
            result = _measure_in_fresh_process("slices", f"{reps}", "slices")
            self.table.set("slice_hook", tool, Figure(
                result["hook_ms"], n=1, reps=reps,
                detail=f"run again {result['hook_cached_ms'] * 1e3:.1f} µs, a new 4-line cell "
                       f"{result['hook_typical_ms'] * 1e3:.1f} µs"))
            self.table.set("track_slices", tool, Figure(
                result["track_slices_ms"] - result["track_no_slices_ms"], n=300, reps=reps,
                detail=f"{result['track_no_slices_ms']:.1f} → {result['track_slices_ms']:.1f} ms; first tracked cell "
                       f"{result['track_first_slices_ms']:.1f} ms"))

        self.each([OURS], "slice recording", one)

    def table_paint(self) -> None:
        def one(tool: str) -> None:
            n, reps = self.settings["paint_n"], self.settings["paint_reps"]
            root = self.root(tool, "table_paint", prepared=False)
            result = _run_module_function("bench.table_paint", "seed", root=root, n=n)
            result = _run_module_function("bench.table_paint", "measure", root=root, n=n, reps=reps)
            self.table.set("table_paint", tool, Figure(
                result["total_ms"], n=n, reps=reps,
                detail=f"build {result['build_ms']:.0f} ms + paint {result['paint_ms']:.0f} ms "
                       f"({result['rows']} rows × {result['cells']} cells)"))
            self.table.note("table_paint", "Build: `jt.runs()` in the kernel's process (search_runs of every run, "
                            "the first page as the widget's state). Paint: a static page in Chromium (Playwright) "
                            "that renders the widget's own ESM and CSS over that state, from navigation start to "
                            "the frame after the rows are in the DOM; not JupyterLab (bench/table_paint.py).")

        self.each([OURS], "run table paint", one)

    def search(self) -> None:
        small, large = self.settings["search_n"]
        for n in (small, large):
            def one(tool: str, n: int = n) -> None:
                root = self.root(tool, f"search{n}")
                seeded = call(tool, "seed_runs", root=root, n=n)
                reps = self.reps_for(tool, "search_reps")
                result = call(tool, "search", root=root, n=n, reps=reps)
                suffix = "" if n == small else "_large"
                for key, row in (("all_s", "search_all"), ("filter_s", "search_filter"), ("order_s", "search_order")):
                    if result.get(key) is not None:
                        self.table.set(row + suffix, tool, Figure(result[key] * 1e3, n=n, reps=reps))
                per_run = (call(tool, "store_bytes", root=root)["bytes"] - seeded["empty_bytes"]) / n
                self.table.set("disk_runs" + suffix, tool, Figure(per_run * 10_000 / 1e6, n=n, reps=1))

            if n == small:
                self.each(list(SEARCHERS), f"search {n:,} runs", one)
            else:
                self.table.note("search_all_large", f"{n:,} runs: ours only. MLflow's listing of 100,000 runs ran "
                                "over 35 minutes here (and its filtered search over 14 minutes) without finishing; "
                                "seeding 100,000 Trackio runs took 20 minutes. The scaling section "
                                "(bench/results/scaling.md) has every tool at 4+ sizes up to its cap.")
                self.each([OURS], f"search {n:,} runs", one)

    def summaries(self) -> None:
        """Ours only (no peer's search computes a metric's min, max or value at a step): ``search_runs``
        over runs with ``points`` per metric, without and with summary columns, and a filter and an
        order_by on a summary; compare the rows with each other."""
        runs, points = self.settings["summaries_n"]

        def one(tool: str) -> None:
            root = self.root(tool, "summaries")
            call(tool, "seed_summaries", root=root, n=runs, points=points)
            reps = self.reps_for(tool, "search_reps")
            result = call(tool, "search_summaries", root=root, n=runs, reps=reps)
            for key, row in (("plain_s", "search_points_plain"), ("summaries_s", "search_summaries"),
                             ("filter_s", "search_filter_summary"), ("order_s", "search_order_summary")):
                self.table.set(row, tool, Figure(result[key] * 1e3, n=runs, reps=reps,
                                                 detail=f"{runs:,} runs × 2 metrics × {points} points"))

        self.each([OURS], f"summaries over {runs:,} runs × {points} points", one)

    def history(self) -> None:
        """Every tool at the same N: the disk rows at ``disk_n`` and ``history_n`` points (every tool),
        history reads at ``history_n`` (every tool with a local reader), ours also at ``history_big``."""
        disk_n, n, big = self.settings["disk_n"], self.settings["history_n"], self.settings["history_big"]

        def seeded_store(tool: str, size: int) -> tuple[str, dict]:
            root = self.root(tool, f"history{size}")
            seeded = call(tool, "seed_history", root=root, n=size)
            seeded["per_point"] = (call(tool, "store_bytes", root=root)["bytes"] - seeded["empty_bytes"]) / size
            return root, seeded

        def one(tool: str) -> None:
            _root, seeded = seeded_store(tool, disk_n)
            self.table.set("disk_points", tool, Figure(seeded["per_point"], n=disk_n, reps=1))
            sizes = [n, big] if tool == OURS else [n]
            for size in sizes:
                root, seeded = seeded_store(tool, size)
                if size == n:
                    self.table.set("disk_points_large", tool, Figure(seeded["per_point"], n=size, reps=1))
                if tool not in READERS:
                    continue
                tool_reps = self.reps_for(tool, "reps")
                result = call(tool, "read_history", root=root, n=size, reps=tool_reps, run_id=seeded["run_id"])
                suffix = "_big" if size == big else ""
                self.table.set("history_full" + suffix, tool, Figure(result["full_s"] * 1e3, n=size, reps=tool_reps))
                if result.get("downsampled_s") is not None:
                    self.table.set("history_sampled" + suffix, tool,
                                   Figure(result["downsampled_s"] * 1e3, n=size, reps=tool_reps))

        self.each(list(TOOLS), "metric history + disk", one)

    def crash(self) -> None:
        n = self.settings["crash_n"]

        def one(tool: str) -> None:
            root = self.root(tool, "crash")
            command = [sys.executable, "-m", "bench.worker", tool, "crash_child", json.dumps({"root": root, "n": n})]
            child = subprocess.run(command, cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=600,
                                   check=False)
            if f"LOGGED {n}" not in child.stdout or child.returncode != -9:
                raise WorkerError(f"crash child did not log and die (exit {child.returncode}): "
                                  f"{child.stderr.strip().splitlines()[-3:]}")
            time.sleep(0.5)
            result = call(tool, "crash_read", root=root, n=n)
            self.table.set("crash_kept", tool, Figure(result["kept"] / n, n=n, reps=1,
                                                      detail=f"{result['kept']:,} / {n:,}"))
            self.table.set("crash_status", tool, Figure(None, n=n, reps=1, text=result["status"]))

        self.each(TOOLS, "crash safety", one)

    def concurrency(self) -> None:
        """Writers and one polling reader, each in its own process, the same N for every tool. Every
        exception of writers and reader counts as an error, the same way for every tool; the reader's
        expected "not there yet" answers (its poll came before the experiment or run existed) are
        listed by name beside the count. Two figures: points/s until the log calls returned, and
        until the reader in another process saw every point (end-to-end)."""
        def run_writers(tool: str, writers: int, n: int, suffix: str) -> None:
            root = self.root(tool, f"writers{writers}{suffix}")
            stop_file = os.path.join(root, "stop")
            reader = worker_process(tool, "reader", {"root": root, "stop_file": stop_file, "writers": writers,
                                                     "n": n})
            delay, per_writer = self.settings["start_delay"]
            start_at = time.time() + delay + (2.5 if tool == "mlflow" else per_writer) * writers
            processes = [worker_process(tool, "writer", {"root": root, "n": n, "start_at": start_at, "index": index})
                         for index in range(writers)]
            results, failures = [], 0
            for process in processes:
                out, err = process.communicate(timeout=1800)
                try:
                    results.append(result_of(out, err, "writer"))
                except WorkerError:
                    failures += 1
            deadline = time.time() + 120
            while reader.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            Path(stop_file).touch()
            out, err = reader.communicate(timeout=600)
            seen = result_of(out, err, "reader")
            if not results:
                raise WorkerError(f"every writer failed ({writers} writers)")
            begin = min(r["begin"] for r in results)
            errors = sum(r["errors"] for r in results) + failures * n + seen["errors"]
            names: dict[str, int] = {}
            for part in [*results, seen]:
                for name, count in part["error_names"].items():
                    names[name] = names.get(name, 0) + count
            points = sum(n - r["errors"] for r in results)
            total = n * writers
            row = f"writers_{writers}{suffix}"
            self.table.set(row, tool, Figure(points / (max(r["end"] for r in results) - begin), n=total, reps=1))
            if seen["visible_at"] is not None:
                self.table.set(row + "_visible", tool, Figure(points / (seen["visible_at"] - begin), n=total, reps=1))
            else:
                self.table.set(row + "_visible", tool, Figure(None, n=total, reps=1, text="not all seen in 120 s"))
            detail = "; ".join(f"{name} ×{count}" for name, count in names.items())
            not_yet = _not_yet_text(seen["not_yet_names"])
            self.table.set(row + "_errors", tool, Figure(float(errors), n=total, reps=1,
                                                         detail="; ".join(x for x in (detail, not_yet) if x) or None))

        def one(tool: str) -> None:
            for writers in self.settings["writers"]:
                run_writers(tool, writers, self.settings["writer_n"], "")
            if tool == OURS:
                run_writers(tool, 4, self.settings["writer_n_large"], "_large")

        self.each(["jupyter_tracker", "mlflow"], "concurrent writers", one)

    def cleanup(self) -> None:
        from .cleanup import measure

        measure(self)

    def sharing(self) -> None:
        runs, points, reps = self.settings["share_runs"], self.settings["share_points"], self.settings["proc_reps"]

        def bundles(tool: str) -> None:
            root = self.root(tool, "sharing")
            call(tool, "seed_sharing", root=root, runs=runs, points=points, worker="bench.sharing")
            result = call(tool, "export_import", root=root, reps=reps, worker="bench.sharing")
            detail = f"{runs} runs × {points:,} points, bundle {result['bundle_bytes'] / 1e6:.2f} MB"
            self.table.set("export_runs", tool, Figure(result["export_s"], n=runs * points, reps=reps, detail=detail))
            self.table.set("import_runs", tool, Figure(result["import_s"], n=runs * points, reps=reps, detail=detail))

        self.each([OURS], "export/import a bundle", bundles)
        n = self.settings["push_points"]

        def push(tool: str, shared_uri: str | None = None) -> None:
            root = self.root(tool, "push")
            seeded = call(tool, "seed_history", root=root, n=n)
            with ExitStack() as stack:
                uri = shared_uri or stack.enter_context(mlflow_server(self.workdir / tool / "push-server"))
                result = call(tool, "push_points", root=root, run_id=seeded["run_id"], tracking_uri=uri,
                              worker="bench.sharing")
            if result["points"] != n:
                raise WorkerError(f"{tool} copied {result['points']:,} of {n:,} points")
            self.table.set("push_points", tool, Figure(result["push_s"], n=n, reps=1,
                                                       detail=f"{n / result['push_s']:,.0f} points/s"))

        if self.settings["push_server_per_tool"]:   # the full run: no tool pushes into the other's database
            self.each(["jupyter_tracker", "mlflow"], "push to an MLflow server", push)
        else:                                        # --quick: one server start instead of two
            with mlflow_server(self.workdir / "push-server") as uri:
                self.each(["jupyter_tracker", "mlflow"], "push to an MLflow server",
                          lambda tool: push(tool, uri))

    def mirror(self) -> None:
        """Team sync: a run's points mirrored to a fresh MLflow server (MLflow: its own ``log_batch`` copy),
        and ``log_metric``'s cost while the mirror sends (ours: sync on vs off)."""
        n = self.settings["mirror_points"]

        def copy(tool: str) -> None:
            root = self.root(tool, "mirror")
            seeded = call(tool, "seed_history", root=root, n=n)
            with mlflow_server(self.workdir / tool / "mirror-server") as uri:
                result = call(tool, "mirror_points", root=root, run_id=seeded["run_id"], tracking_uri=uri,
                              worker="bench.sharing")
            seconds = result.get("mirror_s", result.get("push_s"))
            self.table.set("mirror_points", tool, Figure(seconds, n=n, reps=1, detail=f"{n / seconds:,.0f} points/s"))

        self.each(["jupyter_tracker", "mlflow"], "mirror to an MLflow server", copy)
        calls = self.settings["sync_cost_n"]

        def cost(tool: str) -> None:
            offs, ons = [], []
            for rep in range(SYNC_COST_PAIRS):   # alternate off/on so drifting load hits both alike
                offs.append(call(tool, "log_with_sync", root=self.root(tool, f"sync-off-{rep}"), n=calls,
                                 tracking_uri=None, worker="bench.sharing"))
                # The team's server runs on another machine: its CPU is not the training machine's.
                with mlflow_server(self.workdir / tool / f"sync-cost-server-{rep}", remote_stand_in=True) as uri:
                    ons.append(call(tool, "log_with_sync", root=self.root(tool, f"sync-on-{rep}"), n=calls,
                                    tracking_uri=uri, worker="bench.sharing"))
            off = {k: statistics.median(r[k] for r in offs) for k in offs[0]}
            on = {k: statistics.median(r[k] for r in ons) for k in ons[0]}
            self.table.set("sync_log_metric", tool, Figure(
                on["us_per_call"], n=calls, reps=SYNC_COST_PAIRS,
                detail=f"sync off: {off['us_per_call']:.2f} µs ({on['us_per_call'] / off['us_per_call']:.2f}×); "
                       f"CPU of the loop's thread {on['cpu_us_per_call']:.2f} µs on, {off['cpu_us_per_call']:.2f} "
                       f"off ({on['cpu_us_per_call'] / off['cpu_us_per_call']:.2f}×); the mirror sent "
                       f"{on['backlog_sent_during']:,.0f} points meanwhile"))

        self.each([OURS], "log_metric with sync on", cost)
        seconds, rate = self.settings["sync_lag"]

        def lag(tool: str) -> None:
            with mlflow_server(self.workdir / tool / "sync-lag-server") as uri:
                result = call(tool, "sync_lag", root=self.root(tool, "sync-lag"), seconds=seconds, rate=rate,
                              tracking_uri=uri, worker="bench.sharing")
            detail = f"{result['points']:,} points at {rate:g}/s"
            self.table.set("sync_lag_p50", tool, Figure(result["p50_s"], n=result["points"], reps=1, detail=detail))
            self.table.set("sync_lag_p95", tool, Figure(result["p95_s"], n=result["points"], reps=1, detail=detail))

        self.each([OURS], "mirror lag while logging", lag)

    def mlflow_backend(self) -> None:
        from .mlflow_backend import workload

        workload(self)

    def importers(self) -> None:
        from . import importers

        importers.workload(self)


def _run_module_function(module: str, function: str, **arguments) -> dict:
    """``module.function(**arguments)`` in a fresh process (the repository importable); its JSON result."""
    code = (f"import json; from {module} import {function}; "
            f"print('BENCH-RESULT ' + json.dumps({function}(**json.loads({json.dumps(json.dumps(arguments))}))))")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=process_env(), capture_output=True,
                             text=True, timeout=3600, check=False)
    lines = [line for line in process.stdout.splitlines() if line.startswith("BENCH-RESULT ")]
    if not lines:
        raise WorkerError(f"{module}.{function} failed: {process.stderr.strip().splitlines()[-4:]}")
    return json.loads(lines[-1][13:]) or {}


def merged(previous: dict, result: dict) -> dict:
    """``previous`` with every cell, note and failure this run measured replaced by this run's.
    ``previous`` is left as it was: a run saves after every workload, each time over the same
    ``previous``, so changing it would repeat the rerun note once per workload."""
    previous = json.loads(json.dumps(previous))
    table = previous["table"]
    for row, by_tool in result["table"]["cells"].items():
        table["cells"].setdefault(row, {}).update(by_tool)
    table["notes"].update(result["table"]["notes"])
    table["tool_notes"].update(result["table"]["tool_notes"])
    reran = ", ".join(result["workloads"])
    table["notes"]["rerun"] = (table["notes"].get("rerun", "") + f" {result['date']}: reran {reran} (`--only "
                               f"{' '.join(result['workloads'])} --update`, load average "
                               f"{result['load']['start'][0]:.1f}).").strip()
    return {**previous, "table": table, "partial": previous.get("partial", False) or result["partial"]}


def versions(tools: list[str]) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("jupyter_tracker", "duckdb", "mlflow", "wandb", "aim", "trackio", "pandas", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def package_count() -> int:
    """Distributions installed in the benchmark's environment (its size is what start_run's capture pays)."""
    from importlib.metadata import distributions

    return len({dist.metadata["Name"] for dist in distributions()})


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        import psutil

        memory = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory,
            "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, one repetition: a few minutes")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"), help="where latest.json/.md go")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), help="tools to measure")
    parser.add_argument("--only", nargs="+", default=None,
                        help="workloads to run: " + " ".join(WORKLOADS))
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--update", action="store_true",
                        help="keep the other rows of DIR/latest.json and replace only those this run measures "
                             "(to rerun a noisy workload with --only)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    tools = [OURS] + [t for t in args.tools if t != OURS]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="jt-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(message, flush=True)

    bench = Bench(settings, tools, workdir, log)
    bench.check_installed()
    workloads = list(WORKLOADS)
    chosen = args.only or workloads
    previous = json.loads((out / "latest.json").read_text()) if args.update and (out / "latest.json").exists() \
        else None
    started = time.time()
    load_at_start = list(os.getloadavg())
    for index, name in enumerate(chosen):
        log(f"{name}:")
        getattr(bench, name)()
        # written after every workload, so an interrupted run still leaves what it measured
        result = {
            "mode": "quick" if args.quick else "full",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "wall_s": round(time.time() - started, 1), "machine": machine(), "versions": versions(tools),
            "settings": settings, "table": bench.table.to_json(), "packages": package_count(),
            "load": {"start": load_at_start, "end": list(os.getloadavg())},
            "workloads": chosen[:index + 1], "partial": index + 1 < len(chosen),
        }
        if previous is not None:
            result = merged(previous, result)
        (out / "latest.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        (out / "latest.md").write_text(report.markdown(result))
    print(report.markdown(result))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
