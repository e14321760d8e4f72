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
from .rows import Figure, Table
from .servers import REPO, mlflow_server, process_env
from .tools import IMPORTS, TOOLS

OURS = "jupyter_tracker"

FULL = {
    "reps": 5, "proc_reps": 3, "import_reps": 5,
    "log_n": {"jupyter_tracker": 10_000, "mlflow": 1_000, "wandb": 10_000, "aim": 10_000, "trackio": 10_000},
    "visible_n": 10_000, "visible_n_mlflow": 1_000,
    "create_n": 500, "create_n_mlflow": 200,
    "search_n": (10_000, 100_000), "search_reps": 3, "search_reps_mlflow_large": 1,
    "mlflow_large_search": False,
    "history_big": 1_000_000, "history_peer": 100_000,
    "disk_n_wandb": 10_000,
    "crash_n": 5_000,
    "writers": (1, 2, 4, 8), "writer_n": 20_000, "writer_n_mlflow": 500,
    "track_reps": 30,
    "share_runs": 100, "share_points": 10_000, "push_points": 1_000_000, "push_server_per_tool": True,
    "import_runs_n": 100, "import_points_n": 10_000,
}
QUICK = {
    "reps": 2, "proc_reps": 1, "import_reps": 2,
    "log_n": {"jupyter_tracker": 1_000, "mlflow": 50, "wandb": 200, "aim": 200, "trackio": 500},
    "visible_n": 1_000, "visible_n_mlflow": 50,
    "create_n": 20, "create_n_mlflow": 5,
    "search_n": (300, 1_000), "search_reps": 1, "search_reps_mlflow_large": 1,
    "mlflow_large_search": True,
    "history_big": 20_000, "history_peer": 2_000,
    "disk_n_wandb": 200,
    "crash_n": 300,
    "writers": (1, 2, 4, 8), "writer_n": 1_000, "writer_n_mlflow": 20,   # every row of the table, small N
    "track_reps": 3,
    "share_runs": 5, "share_points": 1_000, "push_points": 10_000, "push_server_per_tool": False,
    "import_runs_n": 3, "import_points_n": 200,
}


class WorkerError(RuntimeError):
    """A task failed in its worker process; the message carries the end of its output."""


def call(tool: str, task: str, timeout: float = 3600, worker: str = "bench.worker", **arguments) -> dict:
    """Run ``task`` of ``tool`` in a fresh process (``python -m WORKER``) and return its result dict."""
    command = [sys.executable, "-m", worker, tool, task, json.dumps(arguments)]
    process = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=process_env(),
                             check=False)
    for line in reversed(process.stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT "):])
    tail = (process.stderr or process.stdout).strip().splitlines()[-6:]
    raise WorkerError(f"{tool}.{task} exited {process.returncode}: " + " | ".join(tail))


def median_of(results: list[dict], key: str) -> float | None:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


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

        def timed(code: str) -> float:
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], check=True, cwd=self.workdir, env=process_env(),
                               capture_output=True)
                times.append(time.perf_counter() - start)
            return statistics.median(times)

        bare = timed("pass")
        self.table.note("import", f"bare `python -c pass`: {bare * 1e3:.0f} ms (subtracted)")

        def one(tool: str) -> None:
            self.table.set("import", tool, Figure((timed(f"import {IMPORTS[tool]}") - bare) * 1e3, n=1, reps=reps))

        self.each(TOOLS, "import", one)

    def log_loop(self) -> None:
        reps = self.settings["proc_reps"]

        def one(tool: str) -> None:
            n = self.settings["log_n"][tool]
            root = self.root(tool, "log_loop")
            results = [call(tool, "log_loop", root=root, n=n) for _ in range(reps)]
            self.table.set("log_metric", tool, Figure(median_of(results, "us_per_call"), n=n, reps=reps))
            self.table.set("run_init", tool, Figure(median_of(results, "init_s") * 1e3, n=1, reps=reps))
            self.table.set("run_finish", tool, Figure(median_of(results, "finish_s") * 1e3, n=1, reps=reps))

        self.each(TOOLS, "log_metric loop", one)

    def visible(self) -> None:
        reps = self.settings["proc_reps"]

        def one(tool: str) -> None:
            n = self.settings["visible_n_mlflow" if tool == "mlflow" else "visible_n"]
            latencies = []
            for rep in range(reps):
                root = self.root(tool, f"visible{rep}")
                signal_file = os.path.join(root, "written")
                arguments = json.dumps({"root": root, "n": n, "signal_file": signal_file})
                reader = subprocess.Popen([sys.executable, "-m", "bench.worker", tool, "visible_reader", arguments],
                                          cwd=REPO, env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True)
                writer = subprocess.Popen([sys.executable, "-m", "bench.worker", tool, "visible_writer", arguments],
                                          cwd=REPO, env=process_env(), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                try:
                    out, err = reader.communicate(timeout=600)
                finally:
                    writer.kill()
                    writer.wait()
                line = [x for x in out.splitlines() if x.startswith("BENCH-RESULT ")]
                if not line:
                    raise WorkerError(f"visibility reader failed: {err.strip().splitlines()[-3:]}")
                latencies.append(json.loads(line[-1][13:])["visible_after_s"])
            self.table.set("visible", tool, Figure(statistics.median(latencies) * 1e3, n=n, reps=reps))

        self.each(["jupyter_tracker", "mlflow"], "visible to a reader", one)

    def create_runs(self) -> None:
        reps = self.settings["proc_reps"]

        def one(tool: str) -> None:
            n = self.settings["create_n_mlflow" if tool == "mlflow" else "create_n"]
            root = self.root(tool, "create")
            results = [call(tool, "create_runs", root=root, n=n) for _ in range(reps)]
            self.table.set("run_create", tool, Figure(median_of(results, "ms_per_run"), n=n, reps=reps))

        self.each(["jupyter_tracker", "mlflow"], "run creation", one)

    def track_overhead(self) -> None:
        def one(tool: str) -> None:
            root = self.root(tool, "track_overhead", prepared=False)
            reps = self.settings["track_reps"]
            command = [sys.executable, "-c",
                       "import json, sys; from bench.track_overhead import measure; "
                       f"print('BENCH-RESULT ' + json.dumps(measure({root!r}, {reps})))"]
            process = subprocess.run(command, cwd=REPO, env=process_env(), capture_output=True, text=True, timeout=1200,
                                     check=False)
            lines = [x for x in process.stdout.splitlines() if x.startswith("BENCH-RESULT ")]
            if not lines:
                raise WorkerError(f"track overhead failed: {process.stderr.strip().splitlines()[-4:]}")
            result = json.loads(lines[-1][13:])
            self.table.set("track_empty", tool, Figure(result["empty_added_ms"], n=1, reps=reps,
                                                       detail=f"{result['empty_plain']:.2f} → "
                                                              f"{result['empty_tracked']:.2f} ms"))
            self.table.set("track_metrics", tool, Figure(result["metrics_added_ms"], n=100, reps=reps,
                                                         detail=f"{result['metrics_plain']:.2f} → "
                                                                f"{result['metrics_tracked']:.2f} ms"))

        self.each([OURS], "%%track overhead", one)

    def search(self) -> None:
        for n in self.settings["search_n"]:
            def one(tool: str, n: int = n) -> None:
                root = self.root(tool, f"search{n}")
                seeded = call(tool, "seed_runs", root=root, n=n)
                large = n >= 100_000 and tool == "mlflow"
                reps = self.settings["search_reps_mlflow_large" if large else "search_reps"]
                result = call(tool, "search", root=root, n=n, reps=reps)
                suffix = "" if n == self.settings["search_n"][0] else "_large"
                for key, row in (("all_s", "search_all"), ("filter_s", "search_filter"), ("order_s", "search_order")):
                    if result.get(key) is not None:
                        self.table.set(row + suffix, tool, Figure(result[key] * 1e3, n=n, reps=reps))
                per_run = (call(tool, "store_bytes", root=root)["bytes"] - seeded["empty_bytes"]) / n
                self.table.set("disk_runs", tool, Figure(per_run * 10_000 / 1e6, n=n, reps=1))

            tools = ["jupyter_tracker", "mlflow", "trackio"]
            if n != self.settings["search_n"][0]:
                tools.remove("trackio")  # the large-store rows are ours and MLflow's (Trackio has no filter)
            if n != self.settings["search_n"][0] and not self.settings["mlflow_large_search"]:
                tools.remove("mlflow")
                for row in ("search_all_large", "search_filter_large", "search_order_large"):
                    self.table.note(row, f"MLflow is not run at {n:,} runs in the full benchmark: here its "
                                    "listing of 100,000 runs ran over 35 minutes and the filtered search over 14 "
                                    "minutes without finishing (SQLite store, seeded with SQL in seconds). Compare "
                                    "it at 10,000 runs in the rows above.")
            self.each(tools, f"search {n:,} runs", one)

    def history(self) -> None:
        reps = self.settings["reps"]
        big, peer = self.settings["history_big"], self.settings["history_peer"]

        def one(tool: str) -> None:
            sizes = [peer, big] if tool == OURS else [peer]
            for n in sizes:
                root = self.root(tool, f"history{n}")
                seeded = call(tool, "seed_history", root=root, n=n)
                result = call(tool, "read_history", root=root, n=n, reps=reps, run_id=seeded["run_id"])
                suffix = "_big" if n == big else ""
                self.table.set("history_full" + suffix, tool, Figure(result["full_s"] * 1e3, n=n, reps=reps))
                if result.get("downsampled_s") is not None:
                    self.table.set("history_sampled" + suffix, tool,
                                   Figure(result["downsampled_s"] * 1e3, n=n, reps=reps))
                if n == max(sizes):
                    per_point = (call(tool, "store_bytes", root=root)["bytes"] - seeded["empty_bytes"]) / n
                    self.table.set("disk_points", tool, Figure(per_point, n=n, reps=1))

        self.each(["jupyter_tracker", "mlflow", "aim", "trackio"], "metric history", one)

        def wandb_disk(tool: str) -> None:
            n = self.settings["disk_n_wandb"]
            root = self.root(tool, "disk")
            seeded = call(tool, "seed_history", root=root, n=n)
            per_point = (call(tool, "store_bytes", root=root)["bytes"] - seeded["empty_bytes"]) / n
            self.table.set("disk_points", tool, Figure(per_point, n=n, reps=1))

        self.each(["wandb"], "disk per point", wandb_disk)

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
        def one(tool: str) -> None:
            n = self.settings["writer_n_mlflow" if tool == "mlflow" else "writer_n"]
            for writers in self.settings["writers"]:
                root = self.root(tool, f"writers{writers}")
                stop_file = os.path.join(root, "stop")
                reader = subprocess.Popen(
                    [sys.executable, "-m", "bench.worker", tool, "reader",
                     json.dumps({"root": root, "stop_file": stop_file})],
                    cwd=REPO, env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                start_at = time.time() + 3.0 + (2.5 if tool == "mlflow" else 0.5) * writers
                processes = [subprocess.Popen(
                    [sys.executable, "-m", "bench.worker", tool, "writer",
                     json.dumps({"root": root, "n": n, "start_at": start_at, "index": index})],
                    cwd=REPO, env=process_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for index in range(writers)]
                results, failures = [], 0
                for process in processes:
                    out, err = process.communicate(timeout=1800)
                    lines = [x for x in out.splitlines() if x.startswith("BENCH-RESULT ")]
                    if lines:
                        results.append(json.loads(lines[-1][13:]))
                    else:
                        failures += 1
                Path(stop_file).touch()
                out, _err = reader.communicate(timeout=600)
                reader_lines = [x for x in out.splitlines() if x.startswith("BENCH-RESULT ")]
                reader_errors = json.loads(reader_lines[-1][13:])["errors"] if reader_lines else 1
                if not results:
                    raise WorkerError(f"every writer failed ({writers} writers)")
                elapsed = max(r["end"] for r in results) - min(r["begin"] for r in results)
                errors = sum(r["errors"] for r in results) + failures * n + reader_errors
                points = sum(n - r["errors"] for r in results)
                self.table.set(f"writers_{writers}", tool, Figure(points / elapsed, n=n * writers, reps=1,
                                                                  detail=f"{errors:,} errors"))
                self.table.set(f"writers_{writers}_errors", tool, Figure(float(errors), n=n * writers, reps=1))

        self.each(["jupyter_tracker", "mlflow"], "concurrent writers", one)

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


    def importers(self) -> None:
        from . import importers

        importers.workload(self)


def versions(tools: list[str]) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("jupyter_tracker", "duckdb", "mlflow", "wandb", "aim", "trackio", "pandas", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


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
                        help="workloads to run: imports log_loop visible create_runs track_overhead search "
                             "history crash concurrency sharing importers")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    tools = [OURS] + [t for t in args.tools if t != OURS]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="jt-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(message, flush=True)

    bench = Bench(settings, tools, workdir, log)
    bench.check_installed()
    workloads = ["imports", "log_loop", "visible", "create_runs", "track_overhead", "search", "history", "crash",
                 "concurrency", "sharing", "importers"]
    started = time.time()
    for name in args.only or workloads:
        log(f"{name}:")
        getattr(bench, name)()
    result = {
        "mode": "quick" if args.quick else "full", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_s": round(time.time() - started, 1), "machine": machine(), "versions": versions(tools),
        "settings": settings, "table": bench.table.to_json(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / "latest.md").write_text(report.markdown(result))
    print(report.markdown(result))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0
