"""The rows of the benchmark table: what each measures, its unit and which way is better."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Figure:
    """One cell: a median ``value`` (or a ``text`` such as a run status), with its N and repetitions."""

    value: float | None
    n: int
    reps: int
    detail: str | None = None
    text: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RowSpec:
    row_id: str
    section: str
    label: str
    unit: str
    better: str  # "lower", "higher" or "" (not ranked)
    tools: tuple[str, ...]


ALL = ("jupyter_tracker", "mlflow", "wandb", "aim", "trackio")
OURS_MLFLOW = ("jupyter_tracker", "mlflow")
SEARCHERS = ("jupyter_tracker", "mlflow", "trackio")
READERS = ("jupyter_tracker", "mlflow", "aim", "trackio")

VISIBLE = ("jupyter_tracker", "mlflow", "trackio")

ROWS = [
    RowSpec("log_metric", "Logging in a loop", "log one metric point, per call, from the run's first call "
            "(MLflow: synchronous, its default)", "µs", "lower", ALL),
    RowSpec("log_metric_async", "Logging in a loop", "log one metric point, per call, MLflow "
            "`synchronous=False` (ours: the same loop as above, it has one mode)", "µs", "lower", OURS_MLFLOW),
    RowSpec("run_init", "Logging in a loop", "start a run (fresh process, store exists)", "ms", "lower", ALL),
    RowSpec("run_finish", "Logging in a loop", "finish the run", "ms", "lower", ALL),
    RowSpec("visible", "Logging in a loop", "points visible to a reader in another process, after the loop",
            "ms", "lower", VISIBLE),
    RowSpec("run_create", "Runs", "run with 10 params + 1 metric: start, log, end (the calls return)", "ms/run",
            "lower", OURS_MLFLOW),
    RowSpec("run_create_visible", "Runs", "the same run, until `search_runs` in another process shows it "
            "FINISHED", "ms/run", "lower", OURS_MLFLOW),
    RowSpec("import", "Start-up", "import in a fresh process, over bare Python", "ms", "lower", ALL),
    RowSpec("track_empty", "Notebook", "%%track added to an empty cell (real kernel, snapshot incl.)", "ms",
            "lower", ("jupyter_tracker",)),
    RowSpec("track_metrics", "Notebook", "%%track added to a cell logging 100 metrics", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("slice_hook", "Notebook", "post-run hook recording a new 200-line cell's definitions for slices "
            "(every cell pays it)", "ms", "lower", ("jupyter_tracker",)),
    RowSpec("track_slices", "Notebook", "slice and verdict added to %%track after a 300-cell session (real "
            "kernel)", "ms", "lower", ("jupyter_tracker",)),
    RowSpec("table_paint", "Notebook", "run table of 10,000 runs × 50 columns: `jt.runs()` built, first page "
            "painted in Chromium", "ms", "lower", ("jupyter_tracker",)),
    RowSpec("search_all", "Search", "search runs → DataFrame (trackio: list runs)", "ms", "lower", SEARCHERS),
    RowSpec("search_filter", "Search", "search with `metrics.m0 > 0.5 and params.p0 = 'a'`", "ms", "lower",
            OURS_MLFLOW),
    RowSpec("search_order", "Search", "order_by a metric, limit 10", "ms", "lower", OURS_MLFLOW),
    RowSpec("search_all_large", "Search", "search runs → DataFrame, large store", "ms", "lower", ("jupyter_tracker",)),
    RowSpec("search_filter_large", "Search", "search with the filter, large store", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("search_order_large", "Search", "order_by a metric, limit 10, large store", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("search_points_plain", "Search", "search runs with 100 points per metric → DataFrame (latest values)",
            "ms", "lower", ("jupyter_tracker",)),
    RowSpec("search_summaries", "Search", "the same with `summaries=['min', 'max', 'step=50']`", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("search_filter_summary", "Search", "filter `metrics.loss.min < 0.3` (no summary columns)", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("search_order_summary", "Search", "order_by `metrics.loss.min`, limit 10", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("history_full", "Metric history", "read a whole metric history", "ms", "lower", READERS),
    RowSpec("history_sampled", "Metric history", "read a 2,000-point chart series", "ms", "lower",
            ("jupyter_tracker", "mlflow", "trackio")),
    RowSpec("history_full_big", "Metric history", "read a whole metric history, big run", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("history_sampled_big", "Metric history", "read a 2,000-point chart series, big run", "ms", "lower",
            ("jupyter_tracker",)),
    RowSpec("disk_points", "Disk", "bytes on disk per metric point (noisy training curve)", "B", "lower", ALL),
    RowSpec("disk_points_large", "Disk", "bytes on disk per metric point, larger run", "B", "lower", ALL),
    RowSpec("disk_runs", "Disk", "disk per 10,000 runs (10 params, 5 metrics, 3 tags)", "MB", "lower", SEARCHERS),
    RowSpec("disk_runs_large", "Disk", "disk per 10,000 runs, large store", "MB", "lower", ("jupyter_tracker",)),
    RowSpec("export_runs", "Sharing", "export runs with their metric histories to one bundle file", "s", "lower",
            ("jupyter_tracker",)),
    RowSpec("import_runs", "Sharing", "import that bundle into an empty store", "s", "lower", ("jupyter_tracker",)),
    RowSpec("push_points", "Sharing", "copy a run's metric points to an MLflow server (MLflow: its own "
            "`log_batch` copy, 1,000 per call)", "s", "lower", OURS_MLFLOW),
    RowSpec("mirror_points", "Sharing", "team sync: mirror a run's metric points to an MLflow server "
            "(`jupyter-tracker sync --once`; MLflow: its own `log_batch` copy, 1,000 per call)", "s", "lower",
            OURS_MLFLOW),
    RowSpec("sync_log_metric", "Sharing", "`log_metric` per call while team sync's process mirrors a backlog "
            "(detail: sync off; the MLflow server, standing in for the team's remote one, in the idle "
            "scheduling class)", "µs", "lower", ("jupyter_tracker",)),
    RowSpec("sync_lag_p50", "Sharing", "team sync: seconds from `log_metric` until the point is in the server's "
            "`get_metric_history`, median", "s", "lower", ("jupyter_tracker",)),
    RowSpec("sync_lag_p95", "Sharing", "team sync: the same lag, 95th percentile", "s", "lower",
            ("jupyter_tracker",)),
    RowSpec("import_wandb", "Sharing", "import W&B offline runs (`jt.import_from`) into an empty store", "s",
            "lower", ("jupyter_tracker",)),
    RowSpec("crash_kept", "Crash safety", "SIGKILL after the log calls returned: points kept", "share", "higher",
            ALL),
    RowSpec("crash_status", "Crash safety", "status the run shows afterwards", "", "", ALL),
]
ROWS += [  # bench/mlflow_backend.py: the column is the store behind MLflow's own API
    RowSpec("mlflow_api_log_metric", "MLflow API", "mlflow.log_metric per call (jupyter_tracker: into "
            "jupyter-tracker:, MLflow: its SQLite default)", "µs", "lower", OURS_MLFLOW),
    RowSpec("mlflow_api_crash_kept", "MLflow API", "SIGKILL after mlflow.log_metric returned: points kept",
            "share", "higher", OURS_MLFLOW),
    RowSpec("mlflow_api_crash_status", "MLflow API", "status the run shows afterwards", "", "", OURS_MLFLOW),
    RowSpec("mlflow_api_writers_4_errors", "MLflow API", "4 MLflow writer processes to one store: errors "
            "(and points lost)", "", "lower", OURS_MLFLOW),
]
WRITERS = (1, 2, 4, 8)
for _writers in WRITERS:
    _who = f"{_writers} writer process{'es' if _writers > 1 else ''} + a polling reader"
    ROWS.append(RowSpec(f"writers_{_writers}", "Concurrency", f"{_who}: points/s while logging (log calls "
                        "returned)", "points/s", "higher", OURS_MLFLOW))
    ROWS.append(RowSpec(f"writers_{_writers}_visible", "Concurrency", f"{_who}: points/s until the reader sees "
                        "every point", "points/s", "higher", OURS_MLFLOW))
    ROWS.append(RowSpec(f"writers_{_writers}_errors", "Concurrency", f"{_writers} writers: errors (writers and "
                        "reader, every exception counted; expected \"not there yet\" answers listed by name)",
                        "", "lower", OURS_MLFLOW))
ROWS.append(RowSpec("writers_4_large", "Concurrency", "4 writers + a polling reader, larger N: points/s while "
                    "logging", "points/s", "higher", ("jupyter_tracker",)))
ROWS.append(RowSpec("writers_4_large_visible", "Concurrency", "4 writers + a polling reader, larger N: points/s "
                    "until the reader sees every point", "points/s", "higher", ("jupyter_tracker",)))
ROWS.append(RowSpec("writers_4_large_errors", "Concurrency", "4 writers, larger N: errors", "", "lower",
                    ("jupyter_tracker",)))
ROWS.append(RowSpec("cleanup_size", "Clean-up", "store on disk after deleting 90% of its runs, gc and compact, "
                    "share of before", "share", "lower", ("jupyter_tracker",)))
ROWS.append(RowSpec("cleanup_time", "Clean-up", "delete 90% of the runs by filter, gc and compact", "s", "lower",
                    ("jupyter_tracker",)))
ROW_BY_ID = {row.row_id: row for row in ROWS}


@dataclass
class Table:
    tools: list[str]
    cells: dict[str, dict[str, Figure]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    tool_notes: dict[str, str] = field(default_factory=dict)

    def set(self, row_id: str, tool: str, figure: Figure) -> None:
        if row_id not in ROW_BY_ID:
            raise KeyError(f"unknown benchmark row {row_id!r}")
        self.cells.setdefault(row_id, {})[tool] = figure

    def fail(self, workload: str, tool: str, message: str) -> None:
        self.tool_notes[tool] = (self.tool_notes.get(tool, "") + f" {workload} failed: {message}").strip()
        self.cells.setdefault(f"error:{workload}", {})[tool] = Figure(None, 0, 0, error=message)

    def missing(self, tool: str, reason: str) -> None:
        self.tool_notes[tool] = reason

    def note(self, row_id: str, text: str) -> None:
        self.notes[row_id] = text

    def to_json(self) -> dict:
        return {"tools": self.tools, "notes": self.notes, "tool_notes": self.tool_notes,
                "cells": {row: {tool: asdict(figure) for tool, figure in by_tool.items()}
                          for row, by_tool in self.cells.items()}}
