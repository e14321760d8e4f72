"""The Markdown table of a benchmark result: absolute figures, N, the best value of each row in bold,
and how we compare with MLflow and with the best peer."""

from __future__ import annotations

from .rows import ROWS

NAMES = {"jupyter_tracker": "jupyter_tracker", "mlflow": "MLflow", "wandb": "W&B (offline)", "aim": "Aim",
         "trackio": "Trackio"}
OURS = "jupyter_tracker"


def _number(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value:.0%}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _ratio(ours: float | None, other: float | None, better: str) -> str:
    """'12× better' / '2.0× worse' / 'same'; blank when either side is missing."""
    if ours is None or other is None or better not in ("lower", "higher"):
        return ""
    if ours == other:
        return "same"
    if better == "lower":
        if ours == 0:
            return "∞× better"
        factor = other / ours
    else:
        if other == 0:
            return "∞× better" if ours > 0 else "same"
        factor = ours / other
    if factor >= 1:
        return f"{factor:,.1f}× better" if factor < 100 else f"{factor:,.0f}× better"
    return f"{1 / factor:,.1f}× worse"


def best_tool(values: dict[str, float], better: str) -> str | None:
    if not values or better not in ("lower", "higher"):
        return None
    chooser = min if better == "lower" else max
    return chooser(values, key=values.get)


def comparisons(result: dict) -> list[dict]:
    """Per row: our value, MLflow's, the best peer's, and the ratios (used by the README headline)."""
    cells = result["table"]["cells"]
    rows = []
    for spec in ROWS:
        by_tool = cells.get(spec.row_id, {})
        values = {tool: cell["value"] for tool, cell in by_tool.items() if cell.get("value") is not None}
        peers = {tool: value for tool, value in values.items() if tool != OURS}
        best_peer = best_tool(peers, spec.better)
        only = len(peers) == 1
        rows.append({"only_peer": only, "row": spec.row_id, "label": spec.label, "unit": spec.unit,
                     "ours": values.get(OURS),
                     "mlflow": values.get("mlflow"), "best_peer": best_peer,
                     "best_peer_value": peers.get(best_peer) if best_peer else None,
                     "vs_mlflow": _ratio(values.get(OURS), values.get("mlflow"), spec.better),
                     "vs_best_peer": _ratio(values.get(OURS), peers.get(best_peer) if best_peer else None,
                                            spec.better)})
    return rows


DRIVEN = [
    "- jupyter_tracker: public API only (`jt.start_run`, `jt.log_metric`, `jt.search_runs`, "
    "`jt.get_metric_history(max_points=2000)`); a reader in another process sees points once its `search_runs` / "
    "`get_metric_history` merged the writers' journals, so the end-to-end rows include that merge. Its polling "
    "readers count every exception; `ExperimentNotFoundError`, `RunNotFoundError` and `MetricNotFoundError` "
    "(polled before the writer's run existed) are listed by name as \"not there yet\", not as errors.",
    "- MLflow: default local store `sqlite:///…/mlflow.db` (store created before timing), `mlflow.log_metric` "
    "synchronous (its default) and, on its own row, `synchronous=False` (async logging; `end_run` waits for the "
    "queue, shown under the figure). Run search seeds its rows with SQL inserts into MLflow's own tables (through "
    "its API 100,000 runs would take about 40 min); history points go in with `log_batch`; chart series via the "
    "store's `get_metric_history_bulk_interval`. Same N as every tool; one repetition where it is slow. Its "
    "readers count every exception the same way; `RESOURCE_DOES_NOT_EXIST` answers are \"not there yet\".",
    "- W&B: `WANDB_MODE=offline`, no account. Offline W&B has no local read API, so history, search and "
    "visibility rows do not apply; disk rows measure its run directory; crash counts decode its `.wandb` log with "
    "W&B's own protobufs.",
    "- Aim: local repo, `Run.track`; a reader indexes runs first (`RepoIndexManager.index`, what `aim up` does). "
    "Creating 10,000 Aim runs (about 2 s each) is out of reach, so Aim has no search row; a live run is not "
    "readable from another process before it is indexed, so no visibility row.",
    "- Trackio: local SQLite (`TRACKIO_DIR`), `trackio.log` (buffered, a background thread writes); reads through "
    "`SQLiteStorage` (what its dashboard uses), also for the visibility row; runs for the listing row go in with "
    "`SQLiteStorage.bulk_log`. Trackio has no run status (no FINISHED to wait for) and no filter.",
]


def peer_text(row: dict) -> str:
    """"3.1× better (Trackio)" naming the best peer that ran the row, "(MLflow only)" when it was the
    only peer that did, blank when no peer ran it."""
    if not row["vs_best_peer"]:
        return ""
    name = NAMES[row["best_peer"]]
    return f"{row['vs_best_peer']} ({name} only)" if row["only_peer"] else f"{row['vs_best_peer']} ({name})"


def markdown(result: dict) -> str:
    table = result["table"]
    tools = table["tools"]
    cells = table["cells"]
    versions = result["versions"]
    machine = result["machine"]
    lines = [
        f"# Benchmark: jupyter_tracker side by side with its peers ({result['mode']} run, {result['date']})",
        "",
        *([f"**Partial run**: only these workloads finished: {', '.join(result.get('workloads', []))}.", ""]
          if result.get("partial") else []),
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['platform']}; "
        f"Python {machine['python']}. Versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items() if version) + ".",
        f"Command: `python -m bench{' --quick' if result['mode'] == 'quick' else ''}` (wall time "
        f"{result['wall_s'] / 60:.1f} min). Each cell: median of `reps` repetitions over N operations "
        "(`N×reps` under the value); start-up-sensitive figures come from fresh processes. **Bold** = best in "
        "the row. Ratios compare jupyter_tracker with MLflow and with the best peer that ran that row "
        "(\"MLflow only\" where no other peer did). Every tool runs each row at the same N; a slow peer gets "
        "fewer repetitions instead. Metric points are a decaying loss curve with seeded gaussian noise, the same "
        "values for every tool.",
        f"Environment: the benchmark's own venv, {result.get('packages', '?')} installed distributions (every "
        "peer installed), so start_run's environment capture runs at a realistic size; log loops are timed from "
        "the run's first call (the first 1,000 calls are also shown alone). "
        + (f"The machine was shared with other work (load average {result['load']['start'][0]:.1f} at the start, "
           f"{result['load']['end'][0]:.1f} at the end): compare ratios, rerun a row that looks off "
           "(`python -m bench --only WORKLOAD`)." if result.get("load") else ""),
        "",
    ]
    for tool in tools:
        if tool in table["tool_notes"]:
            lines.append(f"- **{NAMES[tool]}**: {table['tool_notes'][tool]}")
    if table["tool_notes"]:
        lines.append("")
    header = ["measure", "unit"] + [NAMES[t] for t in tools] + ["ours vs MLflow", "ours vs best peer"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    section = None
    compared = {row["row"]: row for row in comparisons(result)}
    for spec in ROWS:
        by_tool = cells.get(spec.row_id, {})
        if not by_tool:
            continue
        if spec.section != section:
            section = spec.section
            lines.append(f"| **{section}** |" + " |" * (len(header) - 1))
        values = {tool: cell["value"] for tool, cell in by_tool.items() if cell.get("value") is not None}
        winner = best_tool(values, spec.better)
        row = [spec.label, spec.unit]
        for tool in tools:
            if tool not in spec.tools:
                row.append("—")
                continue
            cell = by_tool.get(tool)
            if cell is None:
                row.append("not measured" if tool not in table["tool_notes"] else "missing")
                continue
            if cell.get("text") is not None:
                row.append(cell["text"])
                continue
            text = _number(cell["value"], spec.unit)
            if tool == winner and len(values) > 1:
                text = f"**{text}**"
            extra = f"<br><sub>N={cell['n']:,}×{cell['reps']}</sub>"
            if cell.get("detail"):
                extra += f"<br><sub>{cell['detail']}</sub>"
            row.append(text + extra)
        row += [compared[spec.row_id]["vs_mlflow"], peer_text(compared[spec.row_id])]
        lines.append("| " + " | ".join(row) + " |")
    failures = {row: by_tool for row, by_tool in cells.items() if row.startswith("error:")}
    if failures:
        lines += ["", "## Failures", ""]
        for row, by_tool in failures.items():
            for tool, cell in by_tool.items():
                lines.append(f"- {row[6:]} / {NAMES[tool]}: {cell['error']}")
    if table["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {row}: {text}" for row, text in table["notes"].items()]
    lines += ["", "## How each tool is driven", "", *DRIVEN, ""]
    return "\n".join(lines)


HEADLINE_ROWS = ("log_metric", "log_metric_async", "run_init", "import", "visible", "run_create",
                 "run_create_visible", "track_empty", "search_all", "search_filter", "search_order", "history_full",
                 "history_full_big", "disk_points", "disk_points_large", "crash_kept", "writers_4",
                 "writers_4_visible")


def headline(result: dict) -> str:
    """README's headline: our figure on the rows users feel most, against MLflow and the best peer."""
    by_row = {row["row"]: row for row in comparisons(result)}
    cells = result["table"]["cells"]
    lines = ["| measure | jupyter_tracker | vs MLflow | vs the best peer |", "|---|---|---|---|"]
    for row_id in HEADLINE_ROWS:
        row = by_row.get(row_id)
        if row is None or row["ours"] is None:
            continue
        ours = cells[row_id]["jupyter_tracker"]
        unit = "" if row["unit"] in ("share", "") else f" {row['unit']}"
        peer = peer_text(row) or "—"
        lines.append(f"| {row['label']} (N={ours['n']:,}) | {_number(row['ours'], row['unit'])}{unit} | "
                     f"{row['vs_mlflow'] or '—'} | {peer} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json"
    print(headline(json.loads(path.read_text())))
