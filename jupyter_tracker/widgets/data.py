"""The data behind the inline panels, as plain Python (no widgets, testable without a browser).

Every panel reads the store through ``query.py`` only; this module turns its DataFrames into what
a panel shows: table pages with nested runs under their parents, metric series (downsampled by the
query layer, smoothed here), the params/metrics diff of a few runs and parallel-coordinate axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidValueError
from ..query import run_ids_of  # noqa: F401 - the panels take runs in the same forms as everything else
from .static import format_value

BASE_COLUMNS = ("status", "run_name", "start_time", "duration_s")
X_AXES = ("step", "relative", "wall")


# -- run table ------------------------------------------------------------------------------------
@dataclass
class Column:
    """One table column: its DataFrame name, its label, its group (run, params, metrics, tags)."""

    key: str
    label: str
    group: str
    numeric: bool


#: The reproducibility verdict (capture/reproducibility.py's tag), shown as the run's own column.
VERDICT_COLUMN = "tags.jt.reproducibility"


def table_columns(frame) -> list[Column]:
    """Columns in display order: the run's own (its name first: the column that stays in view while a
    wide table scrolls; its reproducibility verdict when some run has one), then params, metrics and tags
    in ``search_runs``' order (keys sorted, each metric's summaries right after its latest value)."""
    columns = [Column("run_name", "name", "run", False), Column("status", "status", "run", False),
               Column("start_time", "start", "run", False), Column("duration_s", "duration", "run", True)]
    if VERDICT_COLUMN in frame.columns:
        columns.insert(2, Column(VERDICT_COLUMN, "reproducible", "run", False))
    for group in ("params", "metrics", "tags"):
        keys = [c for c in frame.columns if c.startswith(group + ".") and c != VERDICT_COLUMN]
        columns += [Column(key, key[len(group) + 1:], group, group == "metrics") for key in keys]
    return columns


def nested_order(frame) -> list[tuple[int, int]]:
    """(row position, depth) with every child right under its parent, parents in ``frame`` order.

    A child whose parent is not listed is shown at top level (depth 0) where it falls."""
    ids = frame["run_id"].tolist()
    parents = frame["parent_run_id"].tolist() if "parent_run_id" in frame.columns else [None] * len(ids)
    position = {run_id: index for index, run_id in enumerate(ids)}
    children: dict[str, list[int]] = {}
    roots = []
    for index, parent in enumerate(parents):
        if isinstance(parent, str) and parent in position and parent != ids[index]:
            children.setdefault(parent, []).append(index)
        else:
            roots.append(index)
    order: list[tuple[int, int]] = []
    seen: set[int] = set()

    def visit(index: int, depth: int) -> None:
        if index in seen:  # a cycle cannot happen in a store, but never loop forever
            return
        seen.add(index)
        order.append((index, depth))
        for child in children.get(ids[index], []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return order


def cell_value(value: Any) -> Any:
    """A JSON-safe cell: NaN and missing become None, timestamps ISO text, numpy scalars Python."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat(sep=" ", timespec="seconds")
        except (TypeError, ValueError):
            return str(value)
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


@dataclass
class TablePage:
    rows: list[dict]
    total: int
    running: int
    columns: list[Column] = field(default_factory=list)


def table_page(frame, *, sort_by: str | None = None, descending: bool = True, offset: int = 0, limit: int = 100,
               hidden: set[str] | None = None) -> TablePage:
    """One page of the run table. Without ``sort_by`` children follow their parents (newest parent
    first); sorting by a column sorts every run by it, flat, NaN/missing last."""
    hidden = hidden or set()
    columns = [c for c in table_columns(frame) if c.key not in hidden or c.key in ("status", "run_name")]
    if sort_by and sort_by in frame.columns:
        ordered = frame.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")
        order = [(position, 0) for position in ordered.index.map(frame.index.get_loc)]
    else:
        order = nested_order(frame)
    running = int((frame["status"] == "RUNNING").sum()) if len(frame) else 0
    page = order[offset:offset + limit]
    keys = [c.key for c in columns]
    wanted = ["run_id", "parent_run_id", *keys] if "parent_run_id" in frame.columns else ["run_id", *keys]
    # One take of the page's rows and columns, not a pandas row lookup per cell (100 rows x 50
    # columns of a 10,000-run frame: ~1 s row by row, ~10 ms this way).
    records = frame.iloc[[position for position, _ in page]][wanted].to_dict("records")
    rows = []
    for (_, depth), record in zip(page, records):
        row = {"run_id": record["run_id"], "depth": depth,
               "parent_run_id": cell_value(record.get("parent_run_id"))}
        for key in keys:
            row[key] = cell_value(record.get(key))
        rows.append(row)
    return TablePage(rows=rows, total=len(frame), running=running, columns=columns)


# -- metric series --------------------------------------------------------------------------------
def ema(values: list[float], smoothing: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing, so the first points are not pulled
    toward zero. ``smoothing`` in [0, 1): 0 returns the values unchanged; NaN points stay NaN and
    do not poison the average."""
    if not 0 <= smoothing < 1:
        raise InvalidValueError(f"smoothing is a number in [0, 1), not {smoothing!r}")
    if smoothing == 0:
        return list(values)
    smoothed, last, count = [], 0.0, 0
    for value in values:
        if value is None or math.isnan(value) or math.isinf(value):
            smoothed.append(value)
            continue
        count += 1
        last = last * smoothing + (1 - smoothing) * value
        smoothed.append(last / (1 - smoothing ** count))
    return smoothed


@dataclass
class Series:
    run_id: str
    run_name: str
    key: str
    x: list
    y: list[float]
    total_points: int
    status: str
    first_ms: int = 0  # the run's first timestamp of this key (epoch ms): where "relative" x starts


def metric_series(run_ids: list[str], keys: list[str] | None, *, x: str = "step", max_points: int = 2000,
                  store=None) -> list[Series]:
    """One series per run and key (every key of each run when ``keys`` is None), downsampled to at
    most ``max_points`` by the query layer's shape-preserving MinMaxLTTB. ``x`` is ``step``,
    ``relative`` (seconds since the run's first point) or ``wall`` (timestamps)."""
    from .. import query

    if x not in X_AXES:
        raise InvalidValueError(f"x must be one of {', '.join(X_AXES)}, not {x!r}")
    if keys is not None:
        keys = [keys] if isinstance(keys, str) else list(keys)
    series = []
    for run_id in run_ids:
        record = query.get_run(run_id, store=store)
        run_keys = sorted(k for k in record.metrics if not k.startswith("system/")) if keys is None else keys
        for key in run_keys:
            if key not in record.metrics:
                continue
            history = query.get_metric_history(record.run_id, key, max_points=max_points, store=store)
            total = _total_points(record.run_id, key, store)
            first_ms = int(history["timestamp"].iloc[0].value // 1_000_000) if len(history) else 0
            xs = _x_values(history, x, first_ms)
            series.append(Series(record.run_id, record.run_name, key, xs,
                                 [float(v) for v in history["value"].tolist()], total, record.status, first_ms))
    return series


def _x_values(history, x: str, first_ms: int) -> list:
    if x == "step":
        return history["step"].tolist()
    if x == "relative":
        return [(t.value // 1_000_000 - first_ms) / 1000.0 for t in history["timestamp"]]
    return [t.isoformat() for t in history["timestamp"]]


def series_window(item: Series, x_range: tuple, *, x: str = "step", max_points: int = 2000, store=None) -> Series:
    """``item`` re-read for the x range ``x_range`` only (in the units of ``x``: steps, seconds since
    the first point, or wall-clock times as plotly reports them), at full resolution up to
    ``max_points``: what a zoomed chart draws, so nothing inside the window is sampled away."""
    import pandas as pd

    from .. import query

    if x == "step":
        bounds, axis = (float(x_range[0]), float(x_range[1])), "step"
    elif x == "relative":
        bounds, axis = (item.first_ms + 1000.0 * float(x_range[0]), item.first_ms + 1000.0 * float(x_range[1])), \
            "timestamp"
    else:
        bounds = tuple(pd.Timestamp(value).value / 1_000_000 for value in x_range)
        axis = "timestamp"
    history = query.get_metric_window(item.run_id, item.key, bounds, axis=axis, max_points=max_points, store=store)
    return Series(item.run_id, item.run_name, item.key, _x_values(history, x, item.first_ms),
                  [float(v) for v in history["value"].tolist()], item.total_points, item.status, item.first_ms)


def differing_params(run_ids: list[str], store=None) -> dict[str, str]:
    """Per run, ``"lr=0.1, optimizer=sgd"``: the params whose values differ between these runs
    (what tells the curves of a sweep apart on hover); empty text for a single run. Values read as
    the run table shows them (a logged ``0.1 * 3`` is ``lr=0.3``, not ``lr=0.30000000000000004``)."""
    from .. import query

    values = query.run_values(list(run_ids), store=store)
    params = {run_id: item["params"] for run_id, item in values.items()}
    keys = sorted({key for run in params.values() for key in run})
    differing = [key for key in keys if len({repr(run.get(key)) for run in params.values()}) > 1]
    return {run_id: ", ".join(f"{key}={format_value(run[key])}" for key in differing if key in run)
            for run_id, run in params.items()}


@dataclass
class GroupSeries:
    """The runs of one group and key on a common x: their mean, min and max at each x."""

    label: str
    key: str
    x: list
    mean: list[float]
    low: list[float]
    high: list[float]
    runs: int


def group_series(series: list[Series], group_of: dict[str, str]) -> list[GroupSeries]:
    """Mean line and min–max band per group and key (``group_of`` maps run id → group label).

    Each run is interpolated onto the union of its group's x values, only inside its own x range,
    so a shorter run neither drags the mean toward zero nor stretches past its last point."""
    import numpy as np

    members: dict[tuple[str, str], list[Series]] = {}
    for item in series:
        if item.run_id in group_of and item.x and all(isinstance(v, (int, float)) for v in item.x):
            members.setdefault((group_of[item.run_id], item.key), []).append(item)
    groups = []
    for (label, key), items in sorted(members.items()):
        grid = np.unique(np.concatenate([np.asarray(item.x, dtype=np.float64) for item in items]))
        stacked = np.full((len(items), len(grid)), np.nan)
        for row, item in enumerate(items):
            xs, ys = np.asarray(item.x, dtype=np.float64), np.asarray(item.y, dtype=np.float64)
            inside = (grid >= xs.min()) & (grid <= xs.max())
            stacked[row, inside] = np.interp(grid[inside], xs, ys)
        counted = np.isfinite(stacked).any(axis=0)
        grid, stacked = grid[counted], stacked[:, counted]
        groups.append(GroupSeries(label, key, grid.tolist(), np.nanmean(stacked, axis=0).tolist(),
                                  np.nanmin(stacked, axis=0).tolist(), np.nanmax(stacked, axis=0).tolist(),
                                  len(items)))
    return groups


def group_labels(run_ids: list[str], group_by: str, store=None) -> dict[str, str]:
    """``{run_id: "sgd"}``: each run's value of ``group_by`` (``params.X``, ``tags.X`` or
    ``attributes.X``), ``"(none)"`` where the run has none."""
    from .. import query

    group, _, name = group_by.partition(".")
    if group not in ("params", "tags", "attributes") or not name:
        raise InvalidValueError(f"group_by names a param, tag or attribute, such as 'params.optimizer' or "
                                f"'tags.seed', not {group_by!r}")
    if group == "attributes":
        return {run_id: str(getattr(query.get_run(run_id, store=store), name, "(none)")) for run_id in run_ids}
    values = query.run_values(list(run_ids), store=store)
    labels = {run_id: item[group].get(name) for run_id, item in values.items()}
    if all(label is None for label in labels.values()):
        known = sorted({f"{group}.{key}" for item in values.values() for key in item[group]})
        raise InvalidValueError(f"group_by={group_by!r}: no plotted run has it; these runs have: "
                                f"{', '.join(known) or '(nothing of that kind)'}")
    return {run_id: "(none)" if label is None else str(label) for run_id, label in labels.items()}


def _total_points(run_id: str, key: str, store) -> int:
    from .. import query

    frame = query.sql("SELECT count(*) AS n FROM metrics WHERE run_id = ? AND key = ?", [run_id, key], store=store)
    return int(frame["n"].iloc[0])


# -- comparison -----------------------------------------------------------------------------------
def comparison_frame(run_ids: list[str], store=None):
    """``search_runs`` rows of exactly these runs, in the order given."""
    from .. import query

    if not run_ids:
        raise InvalidValueError("compare needs at least one run id")
    quoted = ", ".join("'" + run_id.replace("'", "''") + "'" for run_id in run_ids)
    frame = query.search_runs(filter=f"attributes.run_id IN ({quoted})", max_results=max(1, len(run_ids)),
                              store=store)
    if len(frame) < len(set(run_ids)):
        # prefixes: resolve each through get_run, which accepts unique prefixes
        full = [query.get_run(run_id, store=store).run_id for run_id in run_ids]
        quoted = ", ".join("'" + run_id + "'" for run_id in full)
        frame = query.search_runs(filter=f"attributes.run_id IN ({quoted})", max_results=len(full), store=store)
        run_ids = full
    rank = {run_id: index for index, run_id in enumerate(run_ids)}
    frame = frame.assign(_rank=frame["run_id"].map(rank)).sort_values("_rank").drop(columns="_rank")
    return frame.reset_index(drop=True)


def diff_table(frame, include_same: bool = False) -> list[dict]:
    """Rows ``{"key", "group", "values": [...per run], "differs": bool}`` for params, metrics and tags
    of the compared runs; by default only the keys whose values differ (missing counts as different)."""
    rows = []
    for group in ("params", "metrics", "tags"):
        for column in sorted(c for c in frame.columns if c.startswith(group + ".")):
            values = [cell_value(v) for v in frame[column].tolist()]
            distinct = {repr(v) for v in values}
            differs = len(distinct) > 1
            if differs or include_same:
                rows.append({"key": column, "group": group, "values": values, "differs": differs})
    return rows


@dataclass
class Axis:
    """One parallel-coordinates axis: numeric values, or categories coded 0..n-1 with their labels."""

    key: str
    label: str
    values: list[float]
    tickvals: list[int] | None = None
    ticktext: list[str] | None = None


def parallel_axes(frame, *, color: str | None = None, max_axes: int = 20) -> tuple[list[Axis], list[float] | None]:
    """Axes over the params and metrics that vary between the runs (numeric params as numbers,
    other params as categories; missing values as NaN), and the values of ``color``."""
    import pandas as pd

    if color is not None and color not in frame.columns:
        options = [c for c in frame.columns if c.startswith("metrics.")]
        raise InvalidValueError(f"color={color!r} is not a column of these runs; choose one of: "
                                f"{', '.join(options) or '(no metrics logged)'}")
    axes = []
    for group in ("params", "metrics"):
        for column in sorted(c for c in frame.columns if c.startswith(group + ".")):
            series = frame[column]
            if series.nunique(dropna=False) <= 1 and len(frame) > 1:
                continue
            numeric = pd.to_numeric(series, errors="coerce")
            if group == "metrics" or numeric.notna().sum() == series.notna().sum():
                axes.append(Axis(column, column, [float(v) for v in numeric.tolist()]))
            else:
                labels = sorted({str(v) for v in series.dropna().tolist()})
                code = {label: index for index, label in enumerate(labels)}
                axes.append(Axis(column, column, [float(code[str(v)]) if v is not None and v == v else math.nan
                                                  for v in series.tolist()],
                                 tickvals=list(range(len(labels))), ticktext=labels))
            if len(axes) >= max_axes:
                break
    color_values = [float(v) for v in pd.to_numeric(frame[color], errors="coerce").tolist()] if color else None
    return axes, color_values


def kept_by_constraints(axes: list[Axis], constraints: dict[str, Any], run_ids: list[str]) -> list[str]:
    """The runs inside every brushed range: ``constraints`` maps an axis key to ``[lo, hi]`` or a
    list of such ranges (what plotly's parcoords reports as ``constraintrange``)."""
    kept = []
    by_key = {axis.key: axis for axis in axes}
    for index, run_id in enumerate(run_ids):
        inside = True
        for key, ranges in constraints.items():
            if not ranges or key not in by_key:
                continue
            spans = ranges if isinstance(ranges[0], (list, tuple)) else [ranges]
            value = by_key[key].values[index]
            if value != value or not any(lo <= value <= hi for lo, hi in spans):
                inside = False
                break
        if inside:
            kept.append(run_id)
    return kept
