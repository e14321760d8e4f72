"""Reading the store: the one query layer behind the Python API, the widgets and the server.

Every function opens a short session (journals merged first, so what any process has logged is
visible), queries, and closes. Filters are compiled to parameterised SQL by ``filter.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import (
    ArtifactNotFoundError,
    ExperimentNotFoundError,
    InvalidFilterError,
    InvalidQueryError,
    InvalidValueError,
    MetricNotFoundError,
    PathExistsError,
    RunNotFoundError,
    SnapshotNotFoundError,
)
from .filter import ATTRIBUTES, compile_filter, parse_order_by
from .store.current import resolve_store
from .store.sql import fetch_one

BASE_COLUMNS = ["run_id", "run_name", "experiment", "status", "start_time", "end_time", "duration_s",
                "parent_run_id"]
DEFAULT_MAX_RESULTS = 100_000





# -- argument checks: a wrong type is a TrackerError naming the argument, never a TypeError ------
def _check_run_id(run_id: Any, name: str = "run_id") -> None:
    if not isinstance(run_id, str):
        raise InvalidValueError(f"{name} must be a run id string such as '3f2a9c1e' (or a unique prefix of "
                                f"at least 4 characters), not {type(run_id).__name__} {run_id!r:.80}")


def _check_text(value: Any, name: str, example: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidValueError(f"{name} must be a string such as {example!r}"
                                f"{' or None' if optional else ''}, not {type(value).__name__} {value!r:.80}")


def _check_flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise InvalidValueError(f"{name} must be True or False, not {type(value).__name__} {value!r:.80}")


def _experiment_names(experiment: Any) -> list[str]:
    """The experiment names of search_runs' ``experiment``: None or "" (all), a name or a list of names."""
    if experiment is None:
        return []
    if isinstance(experiment, str):
        return [experiment] if experiment else []
    if isinstance(experiment, (list, tuple, set, frozenset)) and all(isinstance(n, str) for n in experiment):
        return list(experiment)
    raise InvalidValueError(f"experiment must be an experiment name such as 'mnist', a list of names, or None "
                            f"for every experiment; not {type(experiment).__name__} {experiment!r:.80}")


# DuckDB's errors about a query's text or values (not about the store: IO, catalog, locks).
_QUERY_ERRORS = ("BinderException", "ConversionException", "InvalidInputException", "OutOfRangeException",
                 "ParserException", "TypeMismatchException")


def _run_filtered(con, sql: str, arguments: list, filter: Any, order_by: Any, fetch: Callable[[Any], Any]):
    """``fetch(cursor)`` of a search's SQL; a DuckDB error caused by the filter or order_by becomes
    an InvalidFilterError (the parser refuses what it knows to fail, this catches what it does not)."""
    import duckdb

    try:
        return fetch(con.execute(sql, arguments))
    except tuple(getattr(duckdb, name) for name in _QUERY_ERRORS) as exc:
        raise InvalidFilterError(
            f"the search filter={filter!r:.200} order_by={order_by!r:.200} could not be evaluated: "
            f"{str(exc).splitlines()[0]}. Check the values' types: metrics and times compare with numbers, "
            f"text attributes with quoted strings") from None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- which runs: the forms every public function accepts ----------------------------------------
def run_ids_of(runs: Any) -> list[str]:
    """Run ids from a list of ids, a ``search_runs`` DataFrame, a run table (its ``selected``), a
    ``Run``/``RunRecord`` or one id; refuses anything else with the accepted forms."""
    if runs is None:
        raise InvalidValueError("give the runs: run ids, a search_runs() DataFrame or table.selected")
    if isinstance(runs, str):
        return [runs]
    selected = getattr(runs, "selected", None)
    if selected is not None and not callable(selected):
        return list(selected)
    if hasattr(runs, "columns") and hasattr(runs, "__getitem__"):
        if "run_id" not in runs.columns:
            raise InvalidValueError("the DataFrame has no run_id column; pass the result of jt.search_runs()")
        return [str(run_id) for run_id in runs["run_id"].tolist()]
    if hasattr(runs, "run_id"):
        return [runs.run_id]
    try:
        ids = list(runs)
    except TypeError:
        raise InvalidValueError(f"runs must be run ids, a search_runs() DataFrame or table.selected, "
                                f"not {type(runs).__name__}") from None
    bad = [item for item in ids if not isinstance(item, str)]
    if bad:
        raise InvalidValueError(f"run ids are strings such as '3f2a9c1e'; got {bad[0]!r}")
    return ids


# -- search ---------------------------------------------------------------------------------------
def search_runs(experiment: str | list[str] | None = None, filter: str | None = None,
                order_by: str | list[str] | None = None, max_results: int = DEFAULT_MAX_RESULTS,
                *, include_deleted: bool = False, offset: int = 0, store=None):
    """Runs as a pandas DataFrame: one row per run, newest first unless ``order_by`` says otherwise.

    Columns: run_id, run_name, experiment, status, start_time, end_time, duration_s,
    parent_run_id, then ``params.<k>``, ``metrics.<k>`` (latest value) and ``tags.<k>``.
    ``experiment`` None means every experiment. ``filter`` uses the language in filter.py.
    ``offset`` skips that many matching runs first (paging, e.g. the lab sidebar's run table).
    """
    import pandas as pd

    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidValueError(f"max_results must be a positive integer, not {max_results!r:.80}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidValueError(f"offset must be a non-negative integer, not {offset!r:.80}")
    _check_flag(include_deleted, "include_deleted")
    where, params, experiments = _run_conditions(filter, experiment, include_deleted)
    order_keys = parse_order_by(order_by)
    with resolve_store(store).session() as con:
        _check_experiments(con, experiments)
        joins, order_sql, order_params = _order_clauses(order_keys)
        now = _now_ms()
        sql = f"""
            SELECT r.run_key, r.run_id, r.run_name, e.name AS experiment, r.status,
                   epoch_ms(r.start_time) AS start_time, epoch_ms(r.end_time) AS end_time,
                   (coalesce(r.end_time, greatest(r.last_seen, ?::BIGINT)) - r.start_time) / 1000.0 AS duration_s,
                   r.parent_run_id
            FROM internal.runs r JOIN internal.experiments e USING (experiment_id) {joins}
            WHERE {' AND '.join(where)}
            ORDER BY {order_sql} LIMIT ? OFFSET ?"""
        arguments = [now, *order_params, *params, *experiments, max_results, offset]
        base = _run_filtered(con, sql, arguments, filter, order_by, lambda cursor: cursor.df())
        if base.empty:
            return base.drop(columns=["run_key"])
        con.register("jt_chosen", base[["run_key"]])
        try:
            wide = [_pivot(con, "internal.params", "params."),
                    _pivot(con, "internal.latest_metrics JOIN internal.metric_keys USING (key_id)", "metrics."),
                    _pivot(con, "internal.tags", "tags.")]
        finally:
            con.unregister("jt_chosen")
    frame = base
    for part in wide:
        if part is not None:
            frame = frame.merge(part, on="run_key", how="left")
    frame = frame.drop(columns=["run_key"])
    frame["duration_s"] = frame["duration_s"].astype(float)
    return frame.reset_index(drop=True) if isinstance(frame, pd.DataFrame) else frame


def _run_conditions(filter: str | None, experiment, include_deleted: bool) -> tuple[list[str], list, list[str]]:
    """WHERE terms (over runs ``r`` joined to experiments ``e``) and their parameters for a
    ``filter`` and ``experiment`` as search_runs and count_runs take them; the experiment names."""
    experiments = _experiment_names(experiment)
    condition, params = compile_filter(filter)
    where = [condition, "TRUE" if include_deleted else "NOT r.deleted"]
    if experiments:
        where.append(f"e.name IN ({', '.join('?' for _ in experiments)})")
    return where, params, experiments


def _pivot(con, table: str, prefix: str):
    """The chosen runs' ``key``/``value`` rows of ``table`` as one column per key (sorted), one row
    per run that has any. Long rows are fetched as NumPy arrays and placed with hashed codes: DuckDB's
    PIVOT took ~0.5 s for 10,000 runs x 25 keys here, this ~0.1 s."""
    import numpy as np
    import pandas as pd

    long = con.execute(f"SELECT run_key, key, value FROM {table} SEMI JOIN jt_chosen USING (run_key)").fetchnumpy()
    if not len(long["run_key"]):
        return None
    key_codes, keys = pd.factorize(np.asarray(long["key"], dtype=object), sort=True)
    run_codes, run_keys = pd.factorize(np.asarray(long["run_key"]))
    values = np.asarray(long["value"])
    numeric = values.dtype.kind == "f"
    grid = np.full((len(run_keys), len(keys)), np.nan if numeric else None,
                   dtype=np.float64 if numeric else object)
    grid[run_codes, key_codes] = values
    frame = pd.DataFrame(grid, columns=[prefix + str(key) for key in keys])
    frame.insert(0, "run_key", np.asarray(run_keys))
    return frame


def _order_clauses(order_keys) -> tuple[str, str, list]:
    joins, orders, params = [], [], []
    for index, key in enumerate(order_keys):
        direction = "DESC" if key.descending else "ASC"
        if key.field.kind == "attribute":
            orders.append(f"{ATTRIBUTES[key.field.name.lower()]} {direction} NULLS LAST")
            continue
        alias = f"o{index}"
        if key.field.kind == "metric":
            joins.append(f"""LEFT JOIN (SELECT run_key, value FROM internal.latest_metrics
                WHERE key_id = (SELECT key_id FROM internal.metric_keys WHERE key = ?)) {alias} USING (run_key)""")
            orders.append(f"CASE WHEN isnan({alias}.value) THEN NULL ELSE {alias}.value END {direction} NULLS LAST")
        else:
            table = "internal.params" if key.field.kind == "param" else "internal.tags"
            joins.append(f"LEFT JOIN (SELECT run_key, value FROM {table} WHERE key = ?) {alias} USING (run_key)")
            orders.append(f"coalesce(TRY_CAST({alias}.value AS DOUBLE), NULL) {direction} NULLS LAST, "
                          f"{alias}.value {direction} NULLS LAST")
        params.append(key.field.name)
    orders.append("r.start_time DESC, r.run_key DESC")
    return " ".join(joins), ", ".join(orders), params


# -- one run ----------------------------------------------------------------------------------------
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
    inputs: list[dict] = field(default_factory=list)
    environment: dict | None = None
    git: dict | None = None
    source: dict = field(default_factory=dict)
    error: dict | None = None
    console: str = ""
    children: list[str] = field(default_factory=list)

    def artifact(self, path: str) -> Artifact:
        """The stored artifact at ``path`` (its ``local_path`` is the file to open)."""
        for item in self.artifacts:
            if item.path == path:
                return item
        raise ArtifactNotFoundError(f"run {self.run_id[:8]} has no artifact {path!r}; it has: "
                               f"{', '.join(a.path for a in self.artifacts) or '(none)'}")


def resolve_run(con, run_id: str) -> tuple[int, str]:
    """(run_key, full run_id) for a full id or a unique prefix of at least 4 characters."""
    if not isinstance(run_id, str) or not run_id.strip():
        raise RunNotFoundError(f"run ids are hex strings such as '3f2a9c1e…', not {run_id!r}")
    run_id = run_id.strip()
    row = fetch_one(con, "SELECT run_key, run_id FROM internal.runs WHERE run_id = ? AND NOT deleted",
                      [run_id])
    if row:
        return row
    if len(run_id) >= 4:
        rows = con.execute("SELECT run_key, run_id FROM internal.runs WHERE starts_with(run_id, ?) "
                           "AND NOT deleted LIMIT 6", [run_id]).fetchall()
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise RunNotFoundError(f"run id prefix {run_id!r} matches several runs "
                                   f"({', '.join(r[1][:12] for r in rows)}…); give more characters")
    raise RunNotFoundError(f"no run with id {run_id!r} in the store {con_store_hint(con)}; "
                           f"list runs with jt.search_runs()")


def con_store_hint(con) -> str:
    try:
        return fetch_one(con, "SELECT file FROM pragma_database_list WHERE name = current_database()")[0]
    except Exception:  # noqa: BLE001 - only a hint for an error message
        return ""


def get_run(run_id: str, *, store=None) -> RunRecord:
    """Everything about one run: params, latest metrics, tags, artifacts, inputs, environment, source."""
    _check_run_id(run_id)
    store = resolve_store(store)
    with store.session() as con:
        run_key, full_id = resolve_run(con, run_id)
        row = fetch_one(con, """
            SELECT r.run_id, r.run_name, e.name, r.status, r.start_time, r.end_time, r.last_seen,
                   r.parent_run_id, r.user_name, r.host, r.pid, r.source_kind, r.source_code, r.cell_id,
                   r.execution_count, r.notebook_path, r.script_path, r.env_sha, r.git_commit, r.git_branch,
                   r.git_remote, r.git_dirty, r.error_type, r.error_message, r.error_traceback
            FROM internal.runs r JOIN internal.experiments e USING (experiment_id) WHERE r.run_key = ?""",
                          [run_key])
        (run_id_, name, experiment, status, start, end, last_seen, parent, user, host, pid, kind, code,
         cell_id, count, nb_path, script_path, env_sha, commit, branch, remote, dirty, err_type, err_msg,
         err_tb) = row
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
    end_ms = end if end is not None else max(last_seen or start, _now_ms() if status == "RUNNING" else 0)
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


# -- metric history -------------------------------------------------------------------------------
def get_metric_history(run_id: str, key: str, *, max_points: int | None = None, store=None):
    """A metric's points as a DataFrame ``step, timestamp, value`` in step order.

    ``max_points`` downsamples for charts with a shape-preserving method (MinMaxLTTB), keeping
    the first, last, minimum and maximum points.
    """
    import pandas as pd

    _check_run_id(run_id)
    _check_text(key, "key", "loss")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 1):
        raise InvalidValueError(f"max_points must be a positive integer or None for every point, not "
                                f"{max_points!r:.80}")
    with resolve_store(store).session() as con:
        run_key, full_id = resolve_run(con, run_id)
        key_row = fetch_one(con, "SELECT key_id FROM internal.metric_keys WHERE key = ?", [key])
        frame = None
        if key_row:
            frame = _history_frame(con, run_key, key_row[0])
        if frame is None or frame.empty:
            keys = [k for (k,) in con.execute("""SELECT DISTINCT k.key FROM internal.latest_metrics m
                JOIN internal.metric_keys k USING (key_id) WHERE m.run_key = ? ORDER BY 1""", [run_key]).fetchall()]
            raise MetricNotFoundError(f"run {full_id[:8]} has no metric {key!r}; its metrics are: "
                                      f"{', '.join(keys) or '(none)'}")
    if max_points is not None and len(frame) > max_points:
        from .downsample import downsample_indices

        frame = frame.iloc[downsample_indices(frame["step"].to_numpy(), frame["value"].to_numpy(), max_points)]
        frame = frame.reset_index(drop=True)
    return pd.DataFrame(frame)


def _history_frame(con, run_key: int, key_id: int):
    """Points in (step, timestamp, log order). Rows come back in insertion order, which is almost
    always step order already, so sort in NumPy only when needed (DuckDB's ORDER BY tripled the
    time of a 1,000,000-point read)."""
    import numpy as np
    import pandas as pd

    columns = con.execute("SELECT step, timestamp, value FROM internal.metrics WHERE run_key = ? AND key_id = ?",
                          [run_key, key_id]).fetchnumpy()
    step, timestamp, value = (np.asarray(columns[name]) for name in ("step", "timestamp", "value"))
    if len(step) > 1 and not (np.all(step[1:] >= step[:-1]) and np.all(
            (step[1:] > step[:-1]) | (timestamp[1:] >= timestamp[:-1]))):
        order = np.lexsort((timestamp, step))
        step, timestamp, value = step[order], timestamp[order], value[order]
    return pd.DataFrame({"step": step, "timestamp": timestamp.astype("datetime64[ms]"), "value": value})


# -- SQL ------------------------------------------------------------------------------------------
def sql(query: str, params: list | None = None, *, store=None):
    """Run one read-only SELECT over the store's documented views; returns a DataFrame."""
    import duckdb

    if not isinstance(query, str) or not query.strip():
        raise InvalidQueryError("jt.sql takes one SELECT statement as a string, e.g. jt.sql('select * from runs')")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise InvalidQueryError(f"jt.sql could not parse the query: {exc}") from None
    if len(statements) != 1:
        raise InvalidQueryError(f"jt.sql runs exactly one statement; this query has {len(statements)}. "
                                f"Remove the extra ';' statements")
    if params is not None and not isinstance(params, (list, tuple, dict)):
        raise InvalidQueryError(f"jt.sql params must be a list of values for the query's ? placeholders (or a "
                                f"dict for $name ones), not {type(params).__name__} {params!r:.80}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise InvalidQueryError(f"jt.sql is read-only: only SELECT queries run, not {statements[0].type.name}. "
                                f"Change runs through the tracking API (set_tag, end_run, ...)")
    store = resolve_store(store)
    with store.session(read_only=True) as con:
        try:
            return con.execute(query, params or []).df()
        except duckdb.Error as exc:
            raise InvalidQueryError(f"jt.sql: {exc}. Views: runs, params, metrics, latest_metrics, tags, "
                                    f"artifacts, experiments, snapshots, console, inputs, environments") from None


# -- snapshots --------------------------------------------------------------------------------------
def load_snapshot(run_id: str, kind: str = "executed", *, store=None):
    """The notebook of a run as an nbformat NotebookNode.

    ``kind="executed"`` (default): the code that actually ran in the kernel, in execution order,
    ending with the tracked cell and its console output and error. ``kind="saved"``: the .ipynb
    file as saved on disk when the run started.
    """
    import nbformat

    from .capture.snapshot import assemble

    _check_run_id(run_id)
    if not isinstance(kind, str) or kind not in ("executed", "saved"):
        raise InvalidValueError(f"snapshot kind must be 'executed' or 'saved', not {kind!r:.80}")
    store = resolve_store(store)
    with store.session() as con:
        run_key, full_id = resolve_run(con, run_id)
        rows = con.execute("""SELECT kind, meta_sha, cell_shas, notebook_path FROM internal.snapshots
                              WHERE run_key = ? ORDER BY created_time DESC""", [run_key]).fetchall()
        console = con.execute("SELECT stream, text FROM internal.console WHERE run_key = ? ORDER BY seq",
                              [run_key]).fetchall()
        error = fetch_one(con, "SELECT error_type, error_message, error_traceback, status FROM internal.runs "
                            "WHERE run_key = ?", [run_key])
    chosen = next((r for r in rows if r[0] == kind), None)
    if chosen is None:
        kinds = sorted({r[0] for r in rows})
        why = (f"it has only: {', '.join(kinds)}" if kinds else
               "it ran outside a notebook, with --no-snapshot, or the notebook was never saved")
        raise SnapshotNotFoundError(f"run {full_id[:8]} has no {kind!r} snapshot: {why}")
    notebook = assemble(store.objects, chosen[1], list(chosen[2]))
    notebook.setdefault("metadata", {})["jupyter_tracker"] = {"run_id": full_id, "kind": kind,
                                                              "notebook_path": chosen[3]}
    if kind == "executed" and notebook["cells"]:
        tracked = notebook["cells"][-1]
        tracked.setdefault("metadata", {})["jupyter_tracker"] = {"tracked": True, "run_id": full_id,
                                                                 "status": error[3]}
        for stream, text in console:
            tracked["outputs"].append({"output_type": "stream", "name": stream, "text": text})
        if error[0]:
            tracked["outputs"].append({"output_type": "error", "ename": error[0], "evalue": error[1] or "",
                                       "traceback": (error[2] or "").splitlines()})
    # reads() also joins the line lists of on-disk notebooks back into strings.
    return nbformat.reads(json.dumps(notebook), as_version=4)


def restore_snapshot(run_id: str, path: str | Path, kind: str = "executed", overwrite: bool = False,
                     *, store=None) -> Path:
    """Write a run's notebook snapshot to ``path`` as a runnable .ipynb; never overwrites by default."""
    import os

    import nbformat

    _check_run_id(run_id)
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidValueError(f"path must be a file path such as 'restored.ipynb', not "
                                f"{type(path).__name__} {path!r:.80}")
    _check_flag(overwrite, "overwrite")
    target = Path(path)
    if target.suffix != ".ipynb":
        raise InvalidValueError(f"restore_snapshot writes a notebook; give a path ending in .ipynb, not {str(path)!r}")
    if target.exists() and not overwrite:
        raise PathExistsError(f"{target} already exists; choose another path or pass overwrite=True")
    notebook = load_snapshot(run_id, kind, store=store)
    nbformat.validate(notebook)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    nbformat.write(notebook, str(temporary))
    temporary.replace(target)
    return target


def list_experiments(*, store=None) -> list[str]:
    """Names of the store's experiments."""
    with resolve_store(store).session() as con:
        return [n for (n,) in con.execute("SELECT name FROM internal.experiments ORDER BY name").fetchall()]




# -- summaries for the lab sidebar (server extension) ----------------------------------------------
def _check_experiments(con, experiments: list[str]) -> None:
    known = {name for (name,) in con.execute("SELECT name FROM internal.experiments").fetchall()}
    missing = [name for name in experiments if name not in known]
    if missing:
        raise ExperimentNotFoundError(
            f"no experiment named {', '.join(map(repr, missing))} in this store; experiments are: "
            f"{', '.join(sorted(known)) or '(none yet)'}")


def experiment_summaries(*, store=None) -> list[dict]:
    """Each experiment with its number of (non-deleted) runs, how many are RUNNING and the start
    of its newest run in epoch ms (None when it has no runs); newest activity first."""
    with resolve_store(store).session() as con:
        rows = con.execute("""
            SELECT e.name, count(r.run_key), count(r.run_key) FILTER (WHERE r.status = 'RUNNING'),
                   max(r.start_time)
            FROM internal.experiments e
            LEFT JOIN internal.runs r ON r.experiment_id = e.experiment_id AND NOT r.deleted
            GROUP BY e.name ORDER BY max(r.start_time) DESC NULLS LAST, e.name""").fetchall()
    return [{"name": name, "run_count": int(total), "running_count": int(running),
             "last_start_time": int(last) if last is not None else None} for name, total, running, last in rows]


def count_runs(experiment: str | list[str] | None = None, filter: str | None = None, *,
               store=None) -> tuple[int, int]:
    """(matching runs, of which RUNNING) for the same ``experiment`` and ``filter`` as
    ``search_runs``, so a paged table can show "51-100 of 240"."""
    where, params, experiments = _run_conditions(filter, experiment, include_deleted=False)
    with resolve_store(store).session() as con:
        _check_experiments(con, experiments)
        total, running = _run_filtered(con, f"""
            SELECT count(*), count(*) FILTER (WHERE r.status = 'RUNNING')
            FROM internal.runs r JOIN internal.experiments e USING (experiment_id)
            WHERE {' AND '.join(where)}""", [*params, *experiments], filter, None, lambda cursor: cursor.fetchone())
    return int(total), int(running)


def run_values(run_ids: list[str], *, store=None) -> dict[str, dict[str, dict]]:
    """``{run_id: {"params": {...}, "metrics": {...}, "tags": {...}}}`` for full run ids, in long
    form: unlike search_runs' wide DataFrame, a metric logged as NaN stays distinguishable from a
    metric the run never logged."""
    if not isinstance(run_ids, (list, tuple)):
        raise InvalidValueError(f"run_ids must be a list of full run ids, not {type(run_ids).__name__} "
                                f"{run_ids!r:.80}")
    for run_id in run_ids:
        _check_run_id(run_id, "each of run_ids")
    values: dict[str, dict[str, dict]] = {run_id: {"params": {}, "metrics": {}, "tags": {}} for run_id in run_ids}
    if not run_ids:
        return values
    with resolve_store(store).session() as con:
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


def snapshot_kinds(run_id: str, *, store=None) -> list[str]:
    """Which notebook snapshots (``executed``, ``saved``) the run has."""
    _check_run_id(run_id)
    with resolve_store(store).session() as con:
        run_key, _ = resolve_run(con, run_id)
        return sorted(k for (k,) in con.execute(
            "SELECT DISTINCT kind FROM internal.snapshots WHERE run_key = ?", [run_key]).fetchall())


def running_run_id(pid: int | None = None, notebook_path: str | None = None, *, store=None) -> str | None:
    """The newest RUNNING run logged by process ``pid`` (a kernel), else by the notebook at the
    absolute ``notebook_path``; None when there is none. With nested runs that is the innermost."""
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        raise InvalidValueError(f"pid must be a process id (an integer) or None, not {pid!r:.80}")
    _check_text(notebook_path, "notebook_path", "/home/me/project/train.ipynb", optional=True)
    if pid is None and not notebook_path:
        return None
    with resolve_store(store).session() as con:
        for column, value in (("pid", pid), ("notebook_path", notebook_path)):
            if not value:
                continue
            row = fetch_one(con, f"""SELECT run_id FROM internal.runs WHERE status = 'RUNNING' AND NOT deleted
                                     AND {column} = ? ORDER BY start_time DESC, run_key DESC LIMIT 1""", [value])
            if row:
                return row[0]
    return None
