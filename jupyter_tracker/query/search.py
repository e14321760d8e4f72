"""Searching runs: ``search_runs`` (MLflow's filter language over a wide DataFrame), counts and
experiment summaries for the sidebar, and read-only ``sql`` over the public views."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .. import validation
from ..clock import now_ms
from ..errors import (
    ExperimentNotFoundError,
    InvalidFilterError,
    InvalidQueryError,
    InvalidValueError,
    UnknownKeyWarning,
)
from ..filter import (
    ATTRIBUTES,
    check_summaries,
    compile_filter,
    filter_keys,
    metric_summary_sql,
    parse_order_by,
    summary_suffix,
)
from ..store.current import resolve_store
from ..store.database import undecodable_text_error
from ..store.uri import run_artifact_root
from .arguments import check_flag, experiment_names

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from duckdb import DuckDBPyConnection

    from ..filter import OrderKey
    from ..store.database import Store

BASE_COLUMNS = ["run_id", "run_name", "experiment", "status", "start_time", "end_time", "duration_s",
                "parent_run_id"]


DEFAULT_MAX_RESULTS = 100_000


_T = TypeVar("_T")

_QUERY_ERRORS = ("BinderException", "ConversionException", "InvalidInputException", "OutOfRangeException",
                 "ParserException", "TypeMismatchException")


def _run_filtered(filter: Any, order_by: Any, query: Callable[[], _T]) -> _T:
    """``query()``, a search's SQL and its fetch; a DuckDB error caused by the filter or order_by becomes
    an InvalidFilterError (the parser refuses what it knows to fail, this catches what it does not)."""
    import duckdb

    try:
        return query()
    except tuple(getattr(duckdb, name) for name in _QUERY_ERRORS) as exc:
        raise InvalidFilterError(
            f"the search filter={filter!r:.200} order_by={order_by!r:.200} could not be evaluated: "
            f"{str(exc).splitlines()[0]}. Check the values' types: metrics and times compare with numbers, "
            f"text attributes with quoted strings") from None


def search_runs(experiment: str | list[str] | None = None, filter: str | None = None,
                order_by: str | list[str] | None = None, max_results: int = DEFAULT_MAX_RESULTS,
                *, include_deleted: bool = False, offset: int = 0, summaries: list[str] | None = None,
                warn_unknown_keys: bool = True, store: Store | None = None) -> pd.DataFrame:
    """Runs as a pandas DataFrame: one row per run, newest first unless ``order_by`` says otherwise.

    Columns: run_id, run_name, experiment, status, start_time, end_time, duration_s,
    parent_run_id, then ``params.<k>``, ``metrics.<k>`` (latest value) and ``tags.<k>``.
    ``summaries`` adds, right after each ``metrics.<k>``, its ``"min"`` and ``"max"`` over every
    logged point (``metrics.<k>.min``, ``metrics.<k>.max``; NaN skipped) and its value at a step
    (``"step=10"``: ``metrics.<k>@step=10``, missing where the run logged nothing at that step).
    Filters and order_by name the same summaries whether or not they are columns
    (``"metrics.loss.min < 0.2"``, ``["metrics.val_loss@step=10 ASC"]``).
    ``experiment`` None means every experiment. ``filter`` uses the language in filter.py; a key it
    names that no searched run has gives an ``UnknownKeyWarning`` listing the keys there are, closest
    first (``warn_unknown_keys=False``: no check, for callers that show their own message).
    ``offset`` skips that many matching runs first (paging, e.g. the lab sidebar's run table).
    """
    import pyarrow as pa

    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidValueError(f"max_results must be a positive integer, not {max_results!r:.80}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidValueError(f"offset must be a non-negative integer, not {offset!r:.80}")
    check_flag(include_deleted, "include_deleted")
    check_flag(warn_unknown_keys, "warn_unknown_keys")
    summaries = check_summaries(summaries)
    store = resolve_store(store)
    where, params, experiments = _run_conditions(filter, experiment, include_deleted, store)
    order_keys = parse_order_by(order_by)
    with store.session(read_only=True) as con:
        _check_experiments(con, experiments)
        if warn_unknown_keys:
            _warn_unknown_keys(con, filter, experiments, include_deleted)
        joins, order_sql, order_params = _order_clauses(order_keys)
        now = now_ms()
        sql = f"""
            SELECT r.run_key, r.run_id, r.run_name, e.name AS experiment, r.status,
                   epoch_ms(r.start_time) AS start_time, epoch_ms(r.end_time) AS end_time,
                   (coalesce(r.end_time, greatest(r.last_seen, ?::BIGINT)) - r.start_time) / 1000.0 AS duration_s,
                   r.parent_run_id
            FROM internal.runs r JOIN internal.experiments e USING (experiment_id) {joins}
            WHERE {' AND '.join(where)}
            ORDER BY {order_sql} LIMIT ? OFFSET ?"""
        arguments = [now, *order_params, *params, *experiments, max_results, offset]
        # Arrow all the way to one to_pandas(): DuckDB hands Arrow over without converting each string to
        # a Python object, which fetching NumPy arrays or .df() does (most of the time of 10,000 runs).
        chosen = _run_filtered(filter, order_by, lambda: con.sql(sql, params=arguments).to_arrow_table())
        columns = {name: chosen.column(name) for name in chosen.column_names if name != "run_key"}
        if chosen.num_rows:
            con.register("jt_chosen", _with_positions(chosen.select(["run_key"])))
            try:
                columns.update(_wide_columns(con, chosen.num_rows, summaries))
            finally:
                con.unregister("jt_chosen")
    frame = pa.table(columns).to_pandas()
    if summaries:
        frame = frame[_beside_latest(list(frame.columns), summaries)]
    frame["duration_s"] = frame["duration_s"].astype(float)
    return frame


def _run_conditions(filter: str | None, experiment: str | list[str] | None,
                    include_deleted: bool, store: Store | None) -> tuple[list[str], list[Any], list[str]]:
    """WHERE terms (over runs ``r`` joined to experiments ``e``) and their parameters for a
    ``filter`` and ``experiment`` as search_runs and count_runs take them; the experiment names.
    ``store`` gives ``attributes.artifact_uri`` its prefix (None: no run's URI matches a prefix)."""
    experiments = experiment_names(experiment)
    condition, params = compile_filter(filter, run_artifact_root(store.root) if store is not None else "")
    where = [condition, "TRUE" if include_deleted else "NOT r.deleted"]
    if experiments:
        where.append(f"e.name IN ({', '.join('?' for _ in experiments)})")
    return where, params, experiments


def matching_runs(con: DuckDBPyConnection, experiment: str | list[str] | None = None, filter: str | None = None,
                  *, condition: tuple[str, list[Any]] | None = None,
                  store: Store | None = None) -> list[tuple[int, str]]:
    """(run_key, run_id) of the runs (not deleted) that ``experiment`` and ``filter`` select, as
    ``search_runs`` would, oldest first; ``condition`` is one more SQL term over runs ``r`` and
    experiments ``e`` with its parameters (a retention rule's age); ``store``, the store ``con`` reads,
    gives ``attributes.artifact_uri`` its prefix. For edits that select by filter."""
    where, params, experiments = _run_conditions(filter, experiment, False, store)
    _check_experiments(con, experiments)
    extra, extra_params = condition or ("TRUE", [])
    rows: list[tuple[int, str]] = _run_filtered(filter, None, lambda: con.execute(f"""
        SELECT r.run_key, r.run_id FROM internal.runs r JOIN internal.experiments e USING (experiment_id)
        WHERE {' AND '.join(where)} AND ({extra}) ORDER BY r.start_time, r.run_key""",
        [*params, *experiments, *extra_params]).fetchall())
    return rows


#: The key/value rows that become one column per key: the columns' prefix (in this order), the table and
#: whether the value is text or a number. One UNION ALL reads them all: one query, not one per table.
_LONG_ROWS = (("params.", "internal.params", "value AS text, NULL::DOUBLE AS number"),
              ("metrics.", "internal.latest_metrics JOIN internal.metric_keys USING (key_id)", "NULL, value"),
              ("tags.", "internal.tags", "value, NULL"))


def _long_sql(sources: tuple[tuple[str, str, str], ...]) -> str:
    """One UNION ALL of the chosen runs' (part, position, key, text, number) rows from each source."""
    return " UNION ALL ".join(
        f"SELECT {part} AS part, position, key, {values} FROM {table} JOIN jt_chosen USING (run_key)"
        for part, (_, table, values) in enumerate(sources))


def _with_positions(run_keys: pa.Table) -> pa.Table:
    """``run_keys`` with ``position``, each run's row in the result (0, 1, ...)."""
    import numpy as np
    import pyarrow as pa

    return run_keys.append_column("position", pa.array(np.arange(run_keys.num_rows)))


def _wide_columns(con: DuckDBPyConnection, runs: int, summaries: list[str] | None = None) -> dict[str, pa.Array]:
    """The chosen runs' (``jt_chosen``: run_key, position) params, latest metrics, metric ``summaries``
    (``metrics.<k>.min``, ...) and tags as one Arrow column per key (``params.<k>``, ``metrics.<k>``,
    ``tags.<k>``, keys sorted within each), ``runs`` long, null where a run lacks the key. The long rows
    come as Arrow and each column is one ``take``: DuckDB's PIVOT (one FILTER aggregate per key) costs
    rows x keys, this rows + runs x keys, with no Python object per value."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    sources = _LONG_ROWS if not summaries else \
        (*_LONG_ROWS, ("metrics.", _summaries_table(summaries) + " AS s", "NULL, value"))
    long = con.sql(_long_sql(sources)).to_arrow_table().combine_chunks()
    if not long.num_rows:
        return {}
    parts, positions = long.column("part").to_numpy(), long.column("position").to_numpy()
    key_column, text, number = (long.column(name).chunk(0) for name in ("key", "text", "number"))
    columns: dict[str, pa.Array] = {}
    for part, (prefix, _, _) in enumerate(sources):
        rows = np.flatnonzero(parts == part)
        if not len(rows):
            continue
        part_keys = key_column.take(rows)
        keys = sorted(pc.unique(part_keys).to_pylist())
        key_codes = pc.index_in(part_keys, value_set=pa.array(keys, pa.string())).to_numpy()
        row_of = np.full((len(keys), runs), -1, dtype=np.int64)
        row_of[key_codes, positions[rows]] = rows
        values = number if prefix == "metrics." else text
        columns.update({prefix + key: values.take(pa.array(where, mask=where < 0))
                        for key, where in zip(keys, row_of)})
    return columns


def _summaries_table(summaries: list[str]) -> str:
    """The chosen runs' metric summaries as (run_key, key, value) rows whose key is the column name
    after ``metrics.`` (``loss.min``, ``val_loss@step=10``): one aggregation pass over the chosen
    runs' points, unpivoted, a summary missing (no point at that step) giving no row."""
    aggregates = []
    for summary in summaries:
        if summary.startswith("step="):
            aggregate = f"arg_max(m.value, m.timestamp) FILTER (WHERE m.step = {int(summary[5:])})"
        else:
            aggregate = f"{summary}(m.value) FILTER (WHERE NOT isnan(m.value))"
        aggregates.append(f'{aggregate} AS "{summary_suffix(summary)}"')
    names = ", ".join(f'"{summary_suffix(summary)}"' for summary in summaries)
    # Grouped by the integer keys first, names joined to the (few) groups after.
    return f"""(SELECT run_key, k.key || suffix AS key, value FROM (
        UNPIVOT (SELECT m.run_key, m.key_id, {", ".join(aggregates)}
                 FROM internal.metrics m SEMI JOIN jt_chosen USING (run_key) GROUP BY m.run_key, m.key_id)
        ON {names} INTO NAME suffix VALUE value) JOIN internal.metric_keys k USING (key_id))"""


def _beside_latest(columns: list[str], summaries: list[str]) -> list[str]:
    """``columns`` with each metric's summary columns right after its latest value."""
    present = set(columns)
    suffixes = [summary_suffix(summary) for summary in summaries]
    summary_columns = {f"{column}{suffix}" for column in columns if column.startswith("metrics.")
                       for suffix in suffixes} & present
    ordered = []
    for column in columns:
        if column in summary_columns:
            continue
        ordered.append(column)
        if column.startswith("metrics."):
            ordered += [f"{column}{suffix}" for suffix in suffixes if f"{column}{suffix}" in summary_columns]
    return ordered + [column for column in columns if column not in set(ordered)]


def unknown_key_warnings(experiment: str | list[str] | None, filter: str | None, *, include_deleted: bool = False,
                         store: Store | None = None) -> list[str]:
    """The ``UnknownKeyWarning`` messages ``search_runs(experiment, filter)`` would give, as a list:
    for callers that answer many searches at once (the server's threads), where Python's warnings
    machinery, which is process-wide, would mix one request's warnings into another's."""
    check_flag(include_deleted, "include_deleted")
    store = resolve_store(store)
    _, _, experiments = _run_conditions(filter, experiment, include_deleted, store)
    with store.session(read_only=True) as con:
        _check_experiments(con, experiments)
        return _unknown_key_messages(con, filter, experiments, include_deleted)


def _warn_unknown_keys(con: DuckDBPyConnection, filter: str | None, experiments: list[str],
                       include_deleted: bool) -> None:
    """Warn (``UnknownKeyWarning``) for each metric, param or tag key ``filter`` names that no run of
    ``experiments`` (all when empty) has, listing the keys they do have, closest first."""
    import warnings

    for message in _unknown_key_messages(con, filter, experiments, include_deleted):
        warnings.warn(message, UnknownKeyWarning, stacklevel=3)


def _unknown_key_messages(con: DuckDBPyConnection, filter: str | None, experiments: list[str],
                          include_deleted: bool) -> list[str]:
    import difflib

    fields = filter_keys(filter)
    if not fields:
        return []
    scope = "TRUE" if include_deleted else "NOT r.deleted"
    if experiments:
        scope += f" AND e.name IN ({', '.join('?' for _ in experiments)})"
    tables = {"metric": "internal.latest_metrics JOIN internal.metric_keys USING (key_id)",
              "param": "internal.params", "tag": "internal.tags"}
    known: dict[str, list[str]] = {}
    messages = []
    for field in fields:
        if field.kind not in known:
            known[field.kind] = [key for (key,) in con.execute(f"""
                SELECT DISTINCT key FROM {tables[field.kind]} JOIN internal.runs r USING (run_key)
                JOIN internal.experiments e USING (experiment_id) WHERE {scope} ORDER BY key""",
                experiments).fetchall()]
        keys = known[field.kind]
        if field.name in keys:
            continue
        closest = difflib.get_close_matches(field.name, keys, n=5, cutoff=0.5)
        listed = closest + [key for key in keys if key not in closest]
        shown = ", ".join(f"{field.kind}s.{key}" for key in listed[:12]) + \
            (f" and {len(listed) - 12} more" if len(listed) > 12 else "")
        where = f"experiment {', '.join(map(repr, experiments))}" if experiments else "the store"
        messages.append(f"the filter names {field.kind}s.{field.name}, which no run of {where} has; check its "
                        f"spelling. " + (f"The {field.kind}s there, closest first: {shown}" if keys
                                         else f"No run there has any {field.kind}s"))
    return messages


def _order_clauses(order_keys: list[OrderKey]) -> tuple[str, str, list[Any]]:
    joins, orders = [], []
    params: list[Any] = []
    for index, key in enumerate(order_keys):
        direction = "DESC" if key.descending else "ASC"
        if key.field.kind == "attribute":
            orders.append(f"{ATTRIBUTES[key.field.name.lower()]} {direction} NULLS LAST")
            continue
        alias = f"o{index}"
        if key.field.kind == "metric":
            if key.field.summary:
                values_sql, values_params = metric_summary_sql(key.field.name, key.field.summary)
            else:
                values_sql = ("SELECT run_key, value FROM internal.latest_metrics WHERE key_id = "
                              "(SELECT key_id FROM internal.metric_keys WHERE key = ?)")
                values_params = [key.field.name]
            joins.append(f"LEFT JOIN ({values_sql}) {alias} USING (run_key)")
            params += values_params
            # As in MLflow: numbers in order, then NaN, then runs without the metric (either direction).
            orders.append(f"{alias}.value IS NULL, coalesce(isnan({alias}.value), false), "
                          f"CASE WHEN isnan({alias}.value) THEN NULL ELSE {alias}.value END {direction} NULLS LAST")
        else:
            table = "internal.params" if key.field.kind == "param" else "internal.tags"
            joins.append(f"LEFT JOIN (SELECT run_key, value FROM {table} WHERE key = ?) {alias} USING (run_key)")
            orders.append(f"coalesce(TRY_CAST({alias}.value AS DOUBLE), NULL) {direction} NULLS LAST, "
                          f"{alias}.value {direction} NULLS LAST")
            params.append(key.field.name)
    orders.append("r.start_time DESC, r.run_key DESC")
    return " ".join(joins), ", ".join(orders), params


def sql(query: str, params: list[Any] | None = None, *, store: Store | None = None) -> pd.DataFrame:
    """Run one read-only SELECT over the store's documented views; returns a DataFrame."""
    import duckdb

    if not isinstance(query, str) or not query.strip():
        raise InvalidQueryError("jt.sql takes one SELECT statement as a string, e.g. jt.sql('select * from runs')")
    validation.text(query, "the jt.sql query")
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
            raise undecodable_text_error(exc) or InvalidQueryError(
                f"jt.sql: {exc}. Views: runs, params, metrics, latest_metrics, tags, artifacts, experiments, "
                f"snapshots, console, inputs, environments") from None


def list_experiments(*, store: Store | None = None) -> list[str]:
    """Names of the store's experiments."""
    with resolve_store(store).session(read_only=True) as con:
        return [n for (n,) in con.execute("SELECT name FROM internal.experiments ORDER BY name").fetchall()]


def _check_experiments(con: DuckDBPyConnection, experiments: list[str]) -> None:
    known = {name for (name,) in con.execute("SELECT name FROM internal.experiments").fetchall()}
    missing = [name for name in experiments if name not in known]
    if missing:
        raise ExperimentNotFoundError(
            f"no experiment named {', '.join(map(repr, missing))} in this store; experiments are: "
            f"{', '.join(sorted(known)) or '(none yet)'}")


def experiment_summaries(*, store: Store | None = None) -> list[dict[str, Any]]:
    """Each experiment with its number of (non-deleted) runs, how many are RUNNING and the start
    of its newest run in epoch ms (None when it has no runs); newest activity first."""
    with resolve_store(store).session(read_only=True) as con:
        rows = con.execute("""
            SELECT e.name, count(r.run_key), count(r.run_key) FILTER (WHERE r.status = 'RUNNING'),
                   max(r.start_time)
            FROM internal.experiments e
            LEFT JOIN internal.runs r ON r.experiment_id = e.experiment_id AND NOT r.deleted
            GROUP BY e.name ORDER BY max(r.start_time) DESC NULLS LAST, e.name""").fetchall()
    return [{"name": name, "run_count": int(total), "running_count": int(running),
             "last_start_time": int(last) if last is not None else None} for name, total, running, last in rows]


def count_runs(experiment: str | list[str] | None = None, filter: str | None = None, *,
               store: Store | None = None) -> tuple[int, int]:
    """(matching runs, of which RUNNING) for the same ``experiment`` and ``filter`` as
    ``search_runs``, so a paged table can show "51-100 of 240"."""
    store = resolve_store(store)
    where, params, experiments = _run_conditions(filter, experiment, False, store)
    with store.session(read_only=True) as con:
        _check_experiments(con, experiments)
        total, running = _run_filtered(filter, None, lambda: con.execute(f"""
            SELECT count(*), count(*) FILTER (WHERE r.status = 'RUNNING')
            FROM internal.runs r JOIN internal.experiments e USING (experiment_id)
            WHERE {' AND '.join(where)}""", [*params, *experiments]).fetchone() or (0, 0))
    return int(total), int(running)
