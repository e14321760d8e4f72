"""One run: ``get_run`` (everything about it), its metric history, values for the lab's run
rows, and which run a kernel is running."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import now_ms
from ..errors import (
    ArtifactNotFoundError,
    InvalidValueError,
    MetricNotFoundError,
    RunNotFoundError,
)
from ..store.current import resolve_store
from ..store.sql import fetch_one
from .arguments import check_run_id, check_text

if TYPE_CHECKING:
    import pandas as pd
    from duckdb import DuckDBPyConnection

    from ..store.database import Store


@dataclass
class Artifact:
    """A file stored with a run."""

    path: str
    size: int
    media_type: str
    sha256: str
    local_path: Path


@dataclass
class RunRecord:
    """Everything stored about one run (what ``jt.get_run`` returns)."""

    run_id: str
    run_name: str
    experiment: str
    status: str
    start_time: datetime
    end_time: datetime | None
    duration_s: float
    parent_run_id: str | None
    user: str | None
    host: str | None
    pid: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] | None = None
    git: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    console: str = ""
    children: list[str] = field(default_factory=list)

    def artifact(self, path: str) -> Artifact:
        """The stored artifact at ``path`` (its ``local_path`` is the file to open)."""
        for item in self.artifacts:
            if item.path == path:
                return item
        raise ArtifactNotFoundError(f"run {self.run_id[:8]} has no artifact {path!r}; it has: "
                               f"{', '.join(a.path for a in self.artifacts) or '(none)'}")


def resolve_run(con: DuckDBPyConnection, run_id: str, include_deleted: bool = False) -> tuple[int, str]:
    """(run_key, full run_id) for a full id or a unique prefix of at least 4 characters; a deleted run
    (not yet purged) only with ``include_deleted``."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise RunNotFoundError(f"run ids are hex strings such as '3f2a9c1e…', not {run_id!r}")
    run_id = run_id.strip()
    visible = "" if include_deleted else " AND NOT deleted"
    row = fetch_one(con, f"SELECT run_key, run_id FROM internal.runs WHERE run_id = ?{visible}", [run_id])
    if row:
        return row
    if len(run_id) >= 4:
        rows = con.execute(f"SELECT run_key, run_id FROM internal.runs WHERE starts_with(run_id, ?){visible} "
                           "LIMIT 6", [run_id]).fetchall()
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise RunNotFoundError(f"run id prefix {run_id!r} matches several runs "
                                   f"({', '.join(r[1][:12] for r in rows)}…); give more characters")
    raise RunNotFoundError(f"no run with id {run_id!r} in the store {con_store_hint(con)}; "
                           f"list runs with jt.search_runs()")


def con_store_hint(con: DuckDBPyConnection) -> str:
    try:
        # No row raises TypeError, which the except below answers.
        return fetch_one(con, "SELECT file FROM pragma_database_list WHERE name = current_database()")[0]  # type: ignore[index,no-any-return]
    except Exception:  # noqa: BLE001 - only a hint for an error message
        return ""


def get_run(run_id: str, *, store: Store | None = None, include_deleted: bool = False) -> RunRecord:
    """Everything about one run: params, latest metrics, tags, artifacts, inputs, environment, source.
    A deleted run (hidden until ``gc`` purges it) only with ``include_deleted``: what a registered
    model version made from it loads from."""
    check_run_id(run_id)
    store = resolve_store(store)
    with store.session(read_only=True) as con:
        run_key, full_id = resolve_run(con, run_id, include_deleted)
        row = fetch_one(con, """
            SELECT r.run_id, r.run_name, e.name, r.status, r.start_time, r.end_time, r.last_seen,
                   r.parent_run_id, r.user_name, r.host, r.pid, r.source_kind, r.source_code, r.cell_id,
                   r.execution_count, r.notebook_path, r.script_path, r.env_sha, r.git_commit, r.git_branch,
                   r.git_remote, r.git_dirty, r.error_type, r.error_message, r.error_traceback
            FROM internal.runs r JOIN internal.experiments e USING (experiment_id) WHERE r.run_key = ?""",
                          [run_key])
        (run_id_, name, experiment, status, start, end, last_seen, parent, user, host, pid, kind, code,
         cell_id, count, nb_path, script_path, env_sha, commit, branch, remote, dirty, err_type, err_msg,
         err_tb) = row  # type: ignore[misc]  # resolve_run just found this run, so its row exists
        params = dict(con.execute("SELECT key, value FROM internal.params WHERE run_key = ? ORDER BY key",
                                  [run_key]).fetchall())
        metrics = dict(con.execute("""SELECT k.key, m.value FROM internal.latest_metrics m
            JOIN internal.metric_keys k USING (key_id) WHERE m.run_key = ? ORDER BY k.key""", [run_key]).fetchall())
        tags = dict(con.execute("SELECT key, value FROM internal.tags WHERE run_key = ? ORDER BY key",
                                [run_key]).fetchall())
        artifacts = [Artifact(p, s, m, h, store.objects.path(h)) for p, s, m, h in con.execute(
            "SELECT path, size, media_type, sha256 FROM internal.artifacts WHERE run_key = ? ORDER BY path",
            [run_key]).fetchall()]
        inputs = [dict(zip(("name", "digest", "source", "context", "schema", "profile", "num_rows"), r))
                  for r in con.execute("""SELECT name, digest, source, context, schema_json, profile_json, num_rows
                                          FROM internal.inputs WHERE run_key = ?""", [run_key]).fetchall()]
        env_row = fetch_one(con, "SELECT content FROM internal.environments WHERE env_sha = ?", [env_sha])
        console = "".join(t for (t,) in con.execute(
            "SELECT text FROM internal.console WHERE run_key = ? ORDER BY seq", [run_key]).fetchall())
        children = [c for (c,) in con.execute(
            "SELECT run_id FROM internal.runs WHERE parent_run_id = ? AND NOT deleted ORDER BY start_time",
            [full_id]).fetchall()]
        previous = fetch_one(con, "SELECT previous_run_id FROM main.runs WHERE run_id = ?", [full_id])
    end_ms = end if end is not None else max(last_seen or start, now_ms() if status == "RUNNING" else 0)
    return RunRecord(
        run_id=run_id_, run_name=name, experiment=experiment, status=status,
        start_time=_datetime(start), end_time=_datetime(end) if end is not None else None,
        duration_s=(end_ms - start) / 1000.0, parent_run_id=parent, user=user, host=host, pid=pid,
        params=params, metrics=metrics, tags=tags, artifacts=artifacts, inputs=inputs,
        environment=json.loads(env_row[0]) if env_row else None,
        git={"commit": commit, "branch": branch, "remote": remote, "dirty": dirty} if commit else None,
        source={"kind": kind, "code": code, "cell_id": cell_id, "execution_count": count,
                "notebook_path": nb_path, "script_path": script_path,
                "previous_run_id": previous[0] if previous else None},
        error={"type": err_type, "message": err_msg, "traceback": err_tb} if err_type else None,
        console=console, children=children)


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)


def get_metric_history(run_id: str, key: str, *, max_points: int | None = None,
                       store: Store | None = None) -> pd.DataFrame:
    """A metric's points as a DataFrame ``step, timestamp, value`` in step order.

    Points still in the writers' journals are read there, without merging them (see
    ``store/tails.py``): a live run's latest points are visible at the cost of reading them.
    ``max_points`` downsamples for charts with a shape-preserving method (MinMaxLTTB), keeping
    the first, last, minimum and maximum points.
    """
    check_run_id(run_id)
    check_text(key, "key", "loss")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 1):
        raise InvalidValueError(f"max_points must be a positive integer or None for every point, not "
                                f"{max_points!r:.80}")
    store = resolve_store(store)
    frame = _history_without_merging(store, run_id.strip(), key)
    if frame is None:  # a large backlog, or no such run or key: merge, then answer or say what exists
        with store.session(read_only=True) as con:
            run_key, full_id = resolve_run(con, run_id)
            key_row = fetch_one(con, "SELECT key_id FROM internal.metric_keys WHERE key = ?", [key])
            if key_row:
                frame = _history_frame(*_merged_points(con, run_key, key_row[0]))
            if frame is None or frame.empty:
                keys = [k for (k,) in con.execute("""SELECT DISTINCT k.key FROM internal.latest_metrics m
                    JOIN internal.metric_keys k USING (key_id) WHERE m.run_key = ? ORDER BY 1""",
                                                  [run_key]).fetchall()]
                raise MetricNotFoundError(f"run {full_id[:8]} has no metric {key!r}; its metrics are: "
                                          f"{', '.join(keys) or '(none)'}")
    if max_points is not None and len(frame) > max_points:
        from ..downsample import downsample_indices

        frame = frame.iloc[downsample_indices(frame["step"].to_numpy(), frame["value"].to_numpy(), max_points)]
        frame = frame.reset_index(drop=True)
    return frame


def _history_without_merging(store: Store, run_id: str, key: str) -> pd.DataFrame | None:
    """The history from the merged rows and the journals' unmerged tails, read in one session that
    writes nothing; None when that cannot answer (no such run or key yet, an ambiguous prefix, a
    backlog a merge should take), so the caller merges and answers, or says what is missing."""
    import numpy as np

    from ..store.tails import read_tails

    with store.session(merge=False, read_only=True) as con:
        # Scalar subqueries always return one row: one query for the ids and where provisional ones start.
        run_key, key_id, max_run_key, max_key_id = fetch_one(con, """SELECT
            (SELECT run_key FROM internal.runs WHERE run_id = ? AND NOT deleted),
            (SELECT key_id FROM internal.metric_keys WHERE key = ?),
            (SELECT coalesce(max(run_key), 0) FROM internal.runs),
            (SELECT coalesce(max(key_id), 0) FROM internal.metric_keys)""", [run_id, key])  # type: ignore[misc]
        merged_run, merged_key = run_key is not None, key_id is not None
        tails = read_tails(con, store.journal_dir, (max_run_key, max_key_id), key, key_id, run_key)
        if tails is None:
            return None
        if not merged_run:
            unmerged = tails.run_key(run_id)
            if unmerged is None or unmerged[1] != run_id:  # not an unmerged run's full id: a prefix?
                if len(run_id) < 4:
                    return None
                prefixed = [k for (k,) in con.execute("""SELECT run_key FROM internal.runs
                    WHERE starts_with(run_id, ?) AND NOT deleted LIMIT 2""", [run_id]).fetchall()]
                if len(prefixed) + len(tails.run_ids(run_id)) != 1:
                    return None  # none, or several: the merging path names them
                merged_run = bool(prefixed)
            run_key = prefixed[0] if merged_run else unmerged[0]  # type: ignore[index]  # one of them matched
        if key_id is None:
            key_id = tails.key_id(key)
            if key_id is None:
                return None
        parts = [_merged_points(con, run_key, key_id)] if merged_run and merged_key else []
    tail_points = tails.metric_points(run_key, key_id)
    if len(tail_points[0]) or not parts:  # no empty tail concatenated: a copy of every merged point for nothing
        parts.append(tail_points)
    step, timestamp, value = (np.concatenate(columns) if len(parts) > 1 else columns[0] for columns in zip(*parts))
    return _history_frame(step, timestamp, value) if len(step) else None


def _merged_points(con: DuckDBPyConnection, run_key: int, key_id: int) -> tuple[Any, Any, Any]:
    """(step, timestamp ms, value) NumPy arrays of a run's merged points of one key, in insertion
    order. Through a relation (``con.sql``), which DuckDB converts to NumPy as it scans; ``execute``
    first materialises the whole result and takes two to three times as long for 1,000,000 points."""
    import numpy as np

    columns = con.sql("SELECT step, timestamp, value FROM internal.metrics WHERE run_key = ? AND key_id = ?",
                      params=[run_key, key_id]).fetchnumpy()
    return tuple(np.asarray(columns[name]) for name in ("step", "timestamp", "value"))  # type: ignore[return-value]


def _history_frame(step: Any, timestamp: Any, value: Any) -> pd.DataFrame:
    """The history DataFrame, in (step, timestamp, log order). Points come in insertion order,
    which is almost always step order already, so they are sorted in NumPy only when needed
    (DuckDB's ORDER BY tripled the time of a 1,000,000-point read). The columns are the arrays
    themselves (``copy=False``; the timestamps a datetime view of the milliseconds)."""
    import numpy as np
    import pandas as pd

    if len(step) > 1:
        rising = step[1:] > step[:-1]  # the usual history: one pass says it is in order
        if not rising.all() and not (np.all(step[1:] >= step[:-1])
                                     and np.all(rising | (timestamp[1:] >= timestamp[:-1]))):
            order = np.lexsort((timestamp, step))
            step, timestamp, value = step[order], timestamp[order], value[order]
    timestamp = np.ascontiguousarray(timestamp, dtype=np.int64).view("datetime64[ms]")
    return pd.DataFrame({"step": step, "timestamp": timestamp, "value": value}, copy=False)


def run_values(run_ids: list[str], *, store: Store | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{run_id: {"params": {...}, "metrics": {...}, "tags": {...}}}`` for full run ids, in long
    form: unlike search_runs' wide DataFrame, a metric logged as NaN stays distinguishable from a
    metric the run never logged."""
    if not isinstance(run_ids, (list, tuple)):
        raise InvalidValueError(f"run_ids must be a list of full run ids, not {type(run_ids).__name__} "
                                f"{run_ids!r:.80}")
    for run_id in run_ids:
        check_run_id(run_id, "each of run_ids")
    values: dict[str, dict[str, dict[str, Any]]] = {run_id: {"params": {}, "metrics": {}, "tags": {}}
                                                    for run_id in run_ids}
    if not run_ids:
        return values
    with resolve_store(store).session(read_only=True) as con:
        rows = con.execute("""
            WITH chosen AS (SELECT run_key, run_id FROM internal.runs WHERE run_id IN (SELECT unnest(?)))
            SELECT c.run_id, 'params', p.key, p.value, NULL::DOUBLE FROM internal.params p JOIN chosen c USING (run_key)
            UNION ALL
            SELECT c.run_id, 'tags', t.key, t.value, NULL FROM internal.tags t JOIN chosen c USING (run_key)
            UNION ALL
            SELECT c.run_id, 'metrics', k.key, NULL, m.value FROM internal.latest_metrics m
                JOIN internal.metric_keys k USING (key_id) JOIN chosen c USING (run_key)
            ORDER BY 1, 2, 3""", [list(run_ids)]).fetchall()
    for run_id, kind, key, text, number in rows:
        values[run_id][kind][key] = number if kind == "metrics" else text
    return values


def running_run_id(pid: int | None = None, notebook_path: str | None = None, *,
                   store: Store | None = None) -> str | None:
    """The newest RUNNING run logged by process ``pid`` (a kernel), else by the notebook at the
    absolute ``notebook_path``; None when there is none. With nested runs that is the innermost."""
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        raise InvalidValueError(f"pid must be a process id (an integer) or None, not {pid!r:.80}")
    check_text(notebook_path, "notebook_path", "/home/me/project/train.ipynb", optional=True)
    if pid is None and not notebook_path:
        return None
    row: tuple[str] | None
    with resolve_store(store).session(read_only=True) as con:
        for column, value in (("pid", pid), ("notebook_path", notebook_path)):
            if not value:
                continue
            row = fetch_one(con, f"""SELECT run_id FROM internal.runs WHERE status = 'RUNNING' AND NOT deleted
                                     AND {column} = ? ORDER BY start_time DESC, run_key DESC LIMIT 1""", [value])
            if row:
                return row[0]
    return None
