"""A window of a metric's history: the points of one x range at full resolution, downsampled to a
chart's point budget. What a zoomed chart asks for, so a one-step spike inside the window shows
even when the overview of 10,000,000 points could not draw it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import InvalidValueError, MetricNotFoundError
from ..store.current import resolve_store
from ..store.sql import fetch_one
from .arguments import check_run_id, check_text
from .runs import resolve_run

if TYPE_CHECKING:
    import pandas as pd

    from ..store.database import Store

WINDOW_AXES = ("step", "timestamp")


def get_metric_window(run_id: str, key: str, x_range: tuple[float, float], *, axis: str = "step",
                      max_points: int = 2000, store: Store | None = None) -> pd.DataFrame:
    """The points of ``key`` whose ``axis`` value (``"step"``, or ``"timestamp"`` in epoch
    milliseconds) lies in ``x_range`` (inclusive), as ``step, timestamp, value`` in step order.

    The range is filtered in SQL, so only the window is read, then downsampled like the overview
    (MinMaxLTTB, extremes kept) to at most ``max_points``: a 1,000-step window of a 10,000,000-point
    curve comes back whole. The nearest point just outside each end is included too, so a line
    drawn from the window reaches the edges of the zoomed plot.
    """
    import numpy as np
    import pandas as pd

    check_run_id(run_id)
    check_text(key, "key", "loss")
    if axis not in WINDOW_AXES:
        raise InvalidValueError(f"axis must be one of {', '.join(WINDOW_AXES)}, not {axis!r:.80}")
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 10:
        raise InvalidValueError(f"max_points must be an integer of at least 10, not {max_points!r:.80}")
    try:
        low, high = (float(value) for value in x_range)
    except (TypeError, ValueError):
        raise InvalidValueError(f"x_range must be two numbers (x0, x1), such as (1000, 2000), not "
                                f"{x_range!r:.80}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidValueError(f"x_range must be finite numbers, not {x_range!r:.80}")
    low, high = min(low, high), max(low, high)
    column = "step" if axis == "step" else "timestamp"
    with resolve_store(store).session(read_only=True) as con:
        run_key, full_id = resolve_run(con, run_id)
        key_row = fetch_one(con, "SELECT key_id FROM internal.metric_keys WHERE key = ?", [key])
        if key_row is None:
            raise MetricNotFoundError(f"run {full_id[:8]} has no metric {key!r}; list its metrics with "
                                      f"jt.get_run({full_id[:8]!r}).metrics")
        # The window plus the last point before it and the first after it (one each, by x).
        columns = con.execute(f"""
            WITH m AS (SELECT step, timestamp, value FROM internal.metrics WHERE run_key = ? AND key_id = ?)
            SELECT * FROM m WHERE {column} BETWEEN ? AND ?
            UNION ALL (SELECT * FROM m WHERE {column} < ? ORDER BY {column} DESC LIMIT 1)
            UNION ALL (SELECT * FROM m WHERE {column} > ? ORDER BY {column} LIMIT 1)""",
                              [run_key, key_row[0], low, high, low, high]).fetchnumpy()
    step, timestamp, value = (np.asarray(columns[name]) for name in ("step", "timestamp", "value"))
    order = np.lexsort((timestamp, step))
    step, timestamp, value = step[order], timestamp[order], value[order]
    if len(step) > max_points:
        from ..downsample import downsample_indices

        x = step if axis == "step" else timestamp
        inside = np.flatnonzero((x >= low) & (x <= high))
        # downsample_indices may add up to 4 extremes to what it picks, and the two outside
        # neighbours are always kept: ask for 6 fewer so the whole stays within max_points.
        chosen = inside[downsample_indices(x[inside], value[inside], max_points - 6)]
        outside = np.flatnonzero((x < low) | (x > high))
        keep = np.unique(np.concatenate([chosen, outside]))
        step, timestamp, value = step[keep], timestamp[keep], value[keep]
    return pd.DataFrame({"step": step, "timestamp": timestamp.astype("datetime64[ms]"), "value": value})
