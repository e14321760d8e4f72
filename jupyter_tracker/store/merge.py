"""Merging journals into DuckDB: the only code that writes the database.

Runs under the store lock with a short-lived connection. For each journal it reads what was
appended since the last merge (complete records only), inserts it in bulk in one transaction
together with the new offsets, and, when the journal's writer is gone, marks the runs it owned
that are still RUNNING as KILLED and removes the journal files. A merge that dies half way
rolls back and is simply redone by the next one.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .events import TIMESTAMP_RANGE, problem
from .journal import (
    EVENTS_SUFFIX,
    FORMAT_VERSION,
    METRICS_SUFFIX,
    TORN,
    EventChunk,
    MetricChunk,
    read_events,
    read_metrics,
    salt_of,
)
from .locking import try_lock_exclusive
from .quarantine import QUARANTINE_DIR, Quarantine
from .sql import fetch_one, transaction

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


@dataclass
class JournalState:
    """What the database holds about one journal: the offsets it was merged up to (None: never
    merged) and the run slots and key ids it defined, mapped to run keys and key ids."""

    offsets: tuple[int, int] | None = None
    slots: dict[int, int] = field(default_factory=dict)
    local_keys: dict[int, int] = field(default_factory=dict)


def journal_states(con: DuckDBPyConnection) -> dict[str, JournalState]:
    """Every journal's ``JournalState``, in one query (sessions are short and queries add up)."""
    states: dict[str, JournalState] = {}
    rows = con.execute("""
        SELECT 0, name, events_offset, metrics_offset FROM internal.journals
        UNION ALL SELECT 1, journal, slot, run_key FROM internal.journal_runs
        UNION ALL SELECT 2, journal, local_id, key_id FROM internal.journal_keys""").fetchall()
    for kind, name, first, second in rows:
        state = states.get(name)
        if state is None:
            state = states[name] = JournalState()
        if kind == 0:
            state.offsets = (first, second)
        elif kind == 1:
            state.slots[first] = second
        else:
            state.local_keys[first] = second
    return states


@dataclass
class Batch:
    """Rows gathered from the journals of one merge, inserted in bulk at the end (or, for a reader
    that does not merge, only looked at: see tails.py)."""

    next_run_key: int
    next_key_id: int
    next_experiment_id: int
    experiments: dict[str, int]
    metric_keys: dict[str, int]
    new_experiments: list[tuple[int, str, int]] = field(default_factory=list)
    new_keys: list[tuple[int, str]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    run_keys_by_id: dict[str, int] = field(default_factory=dict)
    journal_runs: list[tuple[str, int, int, bool]] = field(default_factory=list)
    journal_keys: list[tuple[str, int, int]] = field(default_factory=list)
    params: dict[tuple[int, str], str] = field(default_factory=dict)
    tags: dict[tuple[int, str], str | None] = field(default_factory=dict)
    ends: dict[int, dict[str, Any]] = field(default_factory=dict)
    run_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    artifacts: list[tuple[Any, ...]] = field(default_factory=list)
    snapshots: list[tuple[Any, ...]] = field(default_factory=list)
    console: list[tuple[Any, ...]] = field(default_factory=list)
    inputs: list[tuple[Any, ...]] = field(default_factory=list)
    environments: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    last_seen: dict[int, int] = field(default_factory=dict)
    metric_arrays: list[dict[str, np.ndarray]] = field(default_factory=list)
    offsets: list[tuple[str, int, int]] = field(default_factory=list)
    dead: list[tuple[str, list[Path]]] = field(default_factory=list)
    metrics_ends: dict[str, int] = field(default_factory=dict)  # journal -> metrics offset read up to
    damaged: int = 0
    read_whole: bool = True  # every journal was read to its end (no bounded chunk left data behind)

    def changes_anything(self) -> bool:
        """Whether writing this batch would change the database (new offsets or dead journals)."""
        return bool(self.offsets or self.dead)

    def seen(self, run_key: int, timestamp: int | None) -> None:
        if timestamp is not None and timestamp > self.last_seen.get(run_key, -1):
            self.last_seen[run_key] = timestamp


@dataclass
class MergeResult:
    """What one merge did: journals read, metric points and events merged, runs marked KILLED."""

    journals: int = 0
    points: int = 0
    events: int = 0
    killed_runs: int = 0
    #: False when some journal has more than one merge reads (bounded chunks): merge again soon.
    complete: bool = True
    #: Where each journal's metrics file was read up to: a mapped file does not change size as it
    #: fills, so a reader asks "is there a record at this offset?" to know whether to merge again.
    metrics_offsets: dict[str, int] = field(default_factory=dict)


#: A merge reads at most this many bounded chunks of one journal (MAX_READ_BYTES each) before it
#: returns and leaves the rest to the next one.
MAX_PASSES = 256


def merge_journals(con: DuckDBPyConnection, journal_dir: Path) -> MergeResult:
    """Merge every journal in ``journal_dir`` into the open store connection ``con``.

    Journals are read in bounded chunks, one transaction per chunk, until every journal was read
    to its end: a reader sees everything logged before it, and memory stays bounded by a chunk.
    No single record can stop a merge: records that fail their checks are set aside in
    ``<store>/quarantine/`` with the reason (``jupyter-tracker doctor`` lists them) while everything
    else merges. Nothing is written to the database when no journal has anything new."""
    total = MergeResult()
    damaged = 0
    for _ in range(MAX_PASSES):
        result, pass_damaged, progressed = _merge_pass(con, journal_dir)
        damaged += pass_damaged
        total.journals = max(total.journals, result.journals)
        total.points += result.points
        total.events += result.events
        total.killed_runs += result.killed_runs
        total.complete = result.complete
        total.metrics_offsets.update(result.metrics_offsets)
        if result.complete or not progressed:
            break
    if damaged:
        warnings.warn(f"jupyter_tracker skipped {damaged} damaged or invalid journal record(s) in "
                      f"{journal_dir}; `jupyter-tracker doctor` lists them", RuntimeWarning, stacklevel=2)
    return total


def _merge_pass(con: DuckDBPyConnection, journal_dir: Path) -> tuple[MergeResult, int, bool]:
    """One chunk of every journal: (what was merged, records set aside, whether any offset moved)."""
    if not journal_dir.is_dir():
        return MergeResult(), 0, False
    names = sorted(p.name[: -len(EVENTS_SUFFIX)] for p in journal_dir.glob(f"*{EVENTS_SUFFIX}"))
    if not names:
        return MergeResult(), 0, False
    return _merge_batch(con, journal_dir, names, Quarantine(journal_dir.parent / QUARANTINE_DIR))


def _merge_batch(con: DuckDBPyConnection, journal_dir: Path, names: list[str],
                 quarantine: Quarantine) -> tuple[MergeResult, int, bool]:
    """One chunk of each journal in ``names``, written in one transaction."""
    result = MergeResult()
    locks: list[int] = []
    try:
        batch = _start_batch(con)
        states = journal_states(con)
        for name in names:
            lock_fd = try_lock_exclusive(journal_dir / f"{name}{EVENTS_SUFFIX}")
            if lock_fd is not None:
                locks.append(lock_fd)
            points, events = read_journal(con, batch, journal_dir, name, lock_fd is not None, quarantine,
                                          states.get(name) or JournalState())
            result.complete &= batch.read_whole
            result.journals += 1
            result.points += points
            result.events += events
        result.metrics_offsets = batch.metrics_ends
        if not batch.changes_anything():
            return result, batch.damaged, False
        quarantine.flush()
        try:
            with transaction(con):
                _write_batch(con, batch)
                result.killed_runs = _mark_dead_runs(con, batch)
        except duckdb_error() as exc:
            if _is_storage_failure(exc):
                raise
            if len(names) == 1:
                _set_aside(con, journal_dir, names[0], quarantine, exc)
                return MergeResult(journals=1), batch.damaged, True
            # One journal holds something the database refuses: merge them one by one, so only
            # that journal is set aside and every other one still merges.
            for fd in locks:
                os.close(fd)
            locks = []
            return _merge_one_by_one(con, journal_dir, names, quarantine), batch.damaged, True
        _forget_dead_journals(con, batch)
    finally:
        for fd in locks:
            os.close(fd)
    return result, batch.damaged, True


def _merge_one_by_one(con: DuckDBPyConnection, journal_dir: Path, names: list[str],
                      quarantine: Quarantine) -> MergeResult:
    total = MergeResult()
    for name in names:
        result, _, _ = _merge_batch(con, journal_dir, [name], quarantine)
        total.journals += result.journals
        total.points += result.points
        total.events += result.events
        total.killed_runs += result.killed_runs
        total.complete &= result.complete
    return total


def _set_aside(con: DuckDBPyConnection, journal_dir: Path, name: str, quarantine: Quarantine,
               exc: BaseException) -> None:
    """The database refused a journal as a whole (none of its records failed a check, yet the
    insert did): move its files into the quarantine, intact, so the store keeps merging."""
    quarantine.set_aside(journal_dir, name, f"the database refused this journal: {exc}")
    with transaction(con):
        for table, column in (("internal.journals", "name"), ("internal.journal_runs", "journal"),
                              ("internal.journal_keys", "journal")):
            con.execute(f"DELETE FROM {table} WHERE {column} = ?", [name])


def duckdb_error() -> type[BaseException]:
    import duckdb

    return duckdb.Error


def _is_storage_failure(exc: BaseException) -> bool:
    """A failure of the disk (full, read-only, I/O), not of one journal's content."""
    text = str(exc).lower()
    return any(word in text for word in ("no space", "disk full", "read-only", "i/o error", "input/output",
                                         "could not write", "could not open", "invalidated"))


def _start_batch(con: DuckDBPyConnection) -> Batch:
    # An aggregate without GROUP BY always returns one row.
    (max_run_key,) = fetch_one(con, "SELECT coalesce(max(run_key), 0) FROM internal.runs")  # type: ignore[misc]
    (max_key_id,) = fetch_one(con, "SELECT coalesce(max(key_id), 0) FROM internal.metric_keys")  # type: ignore[misc]
    experiments = dict(con.execute("SELECT name, experiment_id FROM internal.experiments").fetchall())
    metric_keys = dict(con.execute("SELECT key, key_id FROM internal.metric_keys").fetchall())
    return Batch(next_run_key=max_run_key + 1, next_key_id=max_key_id + 1,
                  next_experiment_id=max(experiments.values(), default=0) + 1,
                  experiments=experiments, metric_keys=metric_keys)


#: The events that decide which run and key a metric record belongs to (all a points reader needs).
POINT_EVENTS = frozenset({"run", "attach", "key"})


def read_journal(con: DuckDBPyConnection, batch: Batch, journal_dir: Path, name: str, writer_gone: bool,
                 quarantine: Quarantine, state: JournalState, points_only: bool = False,
                 of_run: int | None = None) -> tuple[int, int]:
    """Read what journal ``name`` holds past ``state``'s offsets into ``batch``, checked by the
    merge's rules (damage goes to ``quarantine``, which the caller flushes, or not); returns
    (points, events) read. Reads only: the database is written by ``_write_batch``. With
    ``points_only`` the events that cannot change which run or key a point belongs to (params, tags,
    environments, ...) are skipped unchecked: a reader of metric points does not need them; with
    ``of_run`` (a run key) too, a journal none of whose slots is that run's has its metrics left unread."""
    events_path = journal_dir / f"{name}{EVENTS_SUFFIX}"
    metrics_path = journal_dir / f"{name}{METRICS_SUFFIX}"
    row = state.offsets
    events_offset, metrics_offset = row if row else (0, 0)
    salt = salt_of(name)
    alive = not writer_gone
    # Read events before metrics: every metric record already in the metrics file was written
    # after the key and run definitions it refers to, so those are in the events read now.
    event_chunk = read_events(events_path, events_offset, salt, alive)
    slots, local_keys = dict(state.slots), dict(state.local_keys)
    events = _apply_events(con, batch, name, event_chunk, slots, local_keys, quarantine, points_only)
    if of_run is not None and of_run not in slots.values():
        batch.read_whole = batch.read_whole and event_chunk.complete  # an unread event may attach it
        return 0, events
    version = event_chunk.version or FORMAT_VERSION
    metric_chunk = read_metrics(metrics_path, metrics_offset, salt, alive, version)
    if alive and event_chunk.complete:
        # A live writer may have defined a key or run, and stored records naming it, between the two
        # reads above: the events it appended meanwhile define every record just read (it writes a
        # definition before the records that use it), so they are read too before any id is judged.
        later = read_events(events_path, event_chunk.end, salt, alive)
        if later.records or later.damaged:
            events += _apply_events(con, batch, name, later, slots, local_keys, quarantine, points_only)
            later.version = event_chunk.version
            event_chunk = later
    for start, stop, reason in metric_chunk.damaged_ranges:
        quarantine.add(name, "metrics", start, f"{reason} ({stop - start:,} bytes)", b"")
        batch.damaged += reason != TORN
    points, metrics_end = _apply_metrics(batch, metric_chunk, slots, local_keys, event_chunk.complete,
                                         name, quarantine)
    batch.read_whole = batch.read_whole and event_chunk.complete and metric_chunk.complete and \
        metrics_end == metric_chunk.end
    batch.metrics_ends[name] = metrics_end
    if (event_chunk.end, metrics_end) != (events_offset, metrics_offset) or not row:
        batch.offsets.append((name, event_chunk.end, metrics_end))
    if writer_gone and event_chunk.complete and metric_chunk.complete and metrics_end == metric_chunk.end:
        batch.dead.append((name, [events_path, metrics_path]))
    return points, events


def _apply_events(con: DuckDBPyConnection, batch: Batch, name: str, event_chunk: EventChunk, slots: dict[int, int],
                  local_keys: dict[int, int], quarantine: Quarantine, points_only: bool) -> int:
    """Add the checked events of ``event_chunk`` to the batch (damage to ``quarantine``); returns how many."""
    for offset, reason, raw in event_chunk.damaged:
        quarantine.add(name, "events", offset, reason, raw)
        batch.damaged += reason != TORN
    if event_chunk.more_damaged:
        quarantine.add(name, "events", event_chunk.end,
                       f"{event_chunk.more_damaged:,} more damaged lines before this offset", b"")
        batch.damaged += event_chunk.more_damaged
    events = 0
    for end_offset, record in event_chunk.records:
        if points_only and record.get("t") not in POINT_EVENTS:
            continue
        failure = problem(record) or _apply_event(con, batch, name, record, slots, local_keys)
        if failure:
            quarantine.add(name, "events", end_offset, failure, record)
            batch.damaged += 1
        else:
            events += 1
    return events


def _apply_event(con: DuckDBPyConnection, batch: Batch, journal: str, record: dict[str, Any],
                 slots: dict[int, int], local_keys: dict[int, int]) -> str | None:
    """Add one checked event to the batch; returns why it cannot be applied, or None."""
    kind = record["t"]
    run_key: int | None
    if kind == "key":
        local_id, key = record["id"], record["key"]
        if local_id in local_keys:
            known = next((k for k, v in batch.metric_keys.items() if v == local_keys[local_id]), None)
            return None if known == key else f"key id {local_id} is already defined (as {known!r})"
        if local_id != len(local_keys):
            return f"key id {local_id} out of order (the next id of this journal is {len(local_keys)})"
        if not key or len(key) > 250:
            return f"metric key of {len(key)} characters (keys have 1 to 250)"
        key_id = batch.metric_keys.get(key)
        if key_id is None:
            key_id = batch.metric_keys[key] = batch.next_key_id
            batch.next_key_id += 1
            batch.new_keys.append((key_id, key))
        local_keys[local_id] = key_id
        batch.journal_keys.append((journal, local_id, key_id))
        return None
    if kind in ("run", "attach"):
        slot = record["slot"]
        if slot in slots:
            return f"run slot {slot} is already defined in this journal"
        if slot < 0:
            return f"run slot {slot} is negative"
        if kind == "run":
            if record["run_id"] in batch.run_keys_by_id or _run_key_for_id(con, batch, record["run_id"]):
                return f"run id {record['run_id']!r} already exists"
            run_key = _new_run(batch, record)
            owned = True
        else:
            run_key = _run_key_for_id(con, batch, record["run_id"])
            if run_key is None:
                return f"attach to unknown run {record['run_id']!r}"
            owned = bool(record.get("owned"))
        slots[slot] = run_key
        batch.journal_runs.append((journal, slot, run_key, owned))
        return None
    run_key = slots.get(record["slot"])
    if run_key is None:
        return f"event for run slot {record['slot']}, which this journal never defined"
    timestamp = record.get("ts")
    batch.seen(run_key, timestamp)
    if kind == "params":
        for key, value in record["items"].items():
            batch.params.setdefault((run_key, key), value)
    elif kind == "tags":
        for key, value in record["items"].items():
            batch.tags[(run_key, key)] = value
    elif kind == "deltag":
        batch.tags[(run_key, record["key"])] = None
    elif kind == "end":
        batch.ends[run_key] = record
    elif kind == "env":
        git = record.get("git") or {}
        batch.run_updates.setdefault(run_key, {}).update(
            {name: git.get(name) for name in ("commit", "branch", "remote", "dirty")})
        batch.run_updates[run_key]["env_sha"] = record["env_sha"]
        env = record.get("env")
        if env is not None:
            python, platform = env.get("python"), env.get("platform")
            batch.environments[record["env_sha"]] = (
                record["env_sha"], _text_or_none(python.get("version") if isinstance(python, dict) else None),
                _text_or_none(platform.get("platform") if isinstance(platform, dict) else None),
                json.dumps(env))
    elif kind == "artifact":
        batch.artifacts.append((run_key, record["path"], record["size"], record.get("media_type"),
                                record["sha256"], timestamp))
    elif kind == "snapshot":
        batch.snapshots.append((run_key, record["kind"], record.get("notebook_path"), record["meta"],
                                record["cells"], timestamp))
    elif kind == "console":
        batch.console.append((run_key, record["seq"], record["stream"], record["text"], timestamp))
    elif kind == "input":
        batch.inputs.append((run_key, record["name"], record["digest"], record.get("source"),
                             record.get("context"), record.get("schema"), record.get("profile"),
                             record.get("num_rows"), timestamp))
    return None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _new_run(batch: Batch, record: dict[str, Any]) -> int:
    experiment = record["experiment"]
    experiment_id = batch.experiments.get(experiment)
    if experiment_id is None:
        experiment_id = batch.experiments[experiment] = batch.next_experiment_id
        batch.next_experiment_id += 1
        batch.new_experiments.append((experiment_id, experiment, record["start"]))
    run_key = batch.next_run_key
    batch.next_run_key += 1
    source = record.get("source") or {}
    batch.runs.append({
        "run_key": run_key, "run_id": record["run_id"], "experiment_id": experiment_id,
        "run_name": record["name"], "parent_run_id": record.get("parent"), "status": "RUNNING",
        "start_time": record["start"], "end_time": None, "last_seen": record["start"],
        "user_name": record.get("user"), "host": record.get("host"), "pid": record.get("pid"),
        "source_kind": source.get("kind"), "source_code": source.get("code"),
        "cell_id": source.get("cell_id"), "execution_count": source.get("execution_count"),
        "notebook_path": source.get("notebook_path"), "script_path": source.get("script_path"),
        "cell_key": source.get("cell_key"), "origin": record.get("origin"),
    })
    batch.run_keys_by_id[record["run_id"]] = run_key
    batch.seen(run_key, record["start"])
    return run_key


def _run_key_for_id(con: DuckDBPyConnection, batch: Batch, run_id: str) -> int | None:
    run_key = batch.run_keys_by_id.get(run_id)
    if run_key is None:
        row = fetch_one(con, "SELECT run_key FROM internal.runs WHERE run_id = ?", [run_id])
        run_key = row[0] if row else None
    return run_key


def _apply_metrics(batch: Batch, chunk: MetricChunk, slots: dict[int, int], local_keys: dict[int, int],
                   events_complete: bool,
                   journal: str, quarantine: Quarantine) -> tuple[int, int]:
    """Add the checked metric records to the batch; returns (points, offset consumed up to).

    Run slots and key ids are mapped through what the journal defined (never used to size an
    array): a record naming an id the journal never defined is no point. When the events read
    stopped early (a very large backlog), such a record may be defined by events still unread, so
    the records from it on wait for the next merge instead."""
    records = chunk.records
    if records is None or not len(records):
        return 0, chunk.end
    run_keys = _map_ids(records["slot"], slots)
    key_ids = _map_ids(records["key"], local_keys)
    known = (run_keys >= 0) & (key_ids >= 0)
    end = chunk.end
    if not known.all() and not events_complete:
        first = int(np.argmin(known))
        end = int(chunk.ends[first]) - chunk.record_size
        records, run_keys, key_ids = records[:first], run_keys[:first], key_ids[:first]
        known = known[:first]
    timestamps = records["timestamp"]
    plausible = (timestamps >= TIMESTAMP_RANGE[0]) & (timestamps <= TIMESTAMP_RANGE[1])
    keep = known & plausible
    if not keep.all():
        unknown, implausible = int((~known).sum()), int((known & ~plausible).sum())
        if unknown:
            quarantine.add(journal, "metrics", int(chunk.ends[0]),
                           f"{unknown} metric record(s) naming a run slot or key id the journal never defined", b"")
        if implausible:
            quarantine.add(journal, "metrics", int(chunk.ends[0]),
                           f"{implausible} metric record(s) with a timestamp outside 1970..2200 in ms", b"")
        batch.damaged += unknown + implausible
        records, run_keys, key_ids = records[keep], run_keys[keep], key_ids[keep]
    if not len(records):
        return 0, end
    values = np.ascontiguousarray(records["value"])
    timestamps = np.ascontiguousarray(records["timestamp"])
    batch.metric_arrays.append({
        "run_key": run_keys.astype(np.int32), "key_id": key_ids.astype(np.int32),
        "step": np.ascontiguousarray(records["step"]), "timestamp": timestamps,
        "value": values, "is_nan": np.isnan(values),
    })
    first, last = int(run_keys[0]), int(run_keys[-1])
    if first == last and (run_keys == first).all():  # the usual chunk: one run's points
        batch.seen(first, int(timestamps.max()))
    else:
        order = np.argsort(run_keys, kind="stable")
        boundaries = np.flatnonzero(np.diff(run_keys[order])) + 1
        for group in np.split(order, boundaries):
            if len(group):
                batch.seen(int(run_keys[group[0]]), int(timestamps[group].max()))
    return int(len(records)), end


def _map_ids(ids: np.ndarray, defined: dict[int, int]) -> np.ndarray:
    """``defined[id]`` for each id, -1 where the journal never defined it (sized by the records
    and the definitions only, whatever values the records hold)."""
    if not defined:
        return np.full(len(ids), -1, dtype=np.int64)
    local = np.fromiter(sorted(defined), dtype=np.int64, count=len(defined))
    target = np.array([defined[k] for k in local.tolist()], dtype=np.int64)
    wanted = ids.astype(np.int64)
    index = np.minimum(np.searchsorted(local, wanted), len(local) - 1)
    return np.where(local[index] == wanted, target[index], -1)


def _columns(rows: list[tuple[Any, ...]], names: list[str]) -> dict[str, np.ndarray]:
    """Rows → a dict of 1-D NumPy object columns that DuckDB can scan (lists stay whole cells)."""
    columns = {}
    for index, name in enumerate(names):
        column = np.empty(len(rows), dtype=object)
        for position, row in enumerate(rows):
            column[position] = row[index]
        columns[name] = column
    return columns


def _with_rows(con: DuckDBPyConnection, rows: list[tuple[Any, ...]], names: list[str], *statements: str) -> None:
    """Run ``statements`` with ``rows`` visible as the table ``jt_rows`` (columns ``names``)."""
    con.register("jt_rows", _columns(rows, names))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.unregister("jt_rows")


def _insert(con: DuckDBPyConnection, table: str, rows: list[tuple[Any, ...]], names: list[str],
            where: str = "") -> None:
    """Bulk-insert ``rows`` into ``table``; ``where`` filters the batch (alias ``b``)."""
    if rows:
        _with_rows(con, rows, names, f"INSERT INTO {table} SELECT b.* FROM jt_rows b {where}")


_RUN_COLUMNS = ["run_key", "run_id", "experiment_id", "run_name", "parent_run_id", "status", "start_time",
                "end_time", "last_seen", "user_name", "host", "pid", "source_kind", "source_code", "cell_id",
                "execution_count", "notebook_path", "script_path", "cell_key", "origin"]


def _write_batch(con: DuckDBPyConnection, batch: Batch) -> None:
    _insert(con, "internal.experiments", batch.new_experiments, ["experiment_id", "name", "created_time"])
    _insert(con, "internal.metric_keys", batch.new_keys, ["key_id", "key"])
    if batch.runs:
        rows = [tuple(run[c] for c in _RUN_COLUMNS) for run in batch.runs]
        _insert(con, f"internal.runs ({', '.join(_RUN_COLUMNS)})", rows, _RUN_COLUMNS)
    _insert(con, "internal.journal_runs", batch.journal_runs, ["journal", "slot", "run_key", "owned"])
    _insert(con, "internal.journal_keys", batch.journal_keys, ["journal", "local_id", "key_id"])
    if batch.params:
        rows = [(k[0], k[1], v) for k, v in batch.params.items()]
        _insert(con, "internal.params", rows, ["run_key", "key", "value"],
                where="WHERE NOT EXISTS (SELECT 1 FROM internal.params p "
                      "WHERE p.run_key = b.run_key AND p.key = b.key)")
    if batch.tags:
        rows = [(k[0], k[1], v) for k, v in batch.tags.items()]
        _with_rows(con, rows, ["run_key", "key", "value"],
                   "DELETE FROM internal.tags t USING jt_rows b WHERE t.run_key = b.run_key AND t.key = b.key",
                   "INSERT INTO internal.tags SELECT run_key, key, value FROM jt_rows WHERE value IS NOT NULL")
    _write_metrics(con, batch)
    _insert(con, "internal.artifacts", batch.artifacts,
            ["run_key", "path", "size", "media_type", "sha256", "created_time"])
    if batch.artifacts:  # re-logging a path replaces the older entry of the same run
        con.execute("""DELETE FROM internal.artifacts a USING (
                SELECT run_key, path, max(created_time) AS newest, count(*) AS n
                FROM internal.artifacts GROUP BY ALL HAVING n > 1) d
            WHERE a.run_key = d.run_key AND a.path = d.path AND a.created_time < d.newest""")
    _insert(con, "internal.snapshots", batch.snapshots,
            ["run_key", "kind", "notebook_path", "meta_sha", "cell_shas", "created_time"])
    _insert(con, "internal.console", batch.console, ["run_key", "seq", "stream", "text", "timestamp"])
    _insert(con, "internal.inputs", batch.inputs,
            ["run_key", "name", "digest", "source", "context", "schema_json", "profile_json", "num_rows",
             "created_time"])
    if batch.environments:
        rows = list(batch.environments.values())
        _insert(con, "internal.environments", rows, ["env_sha", "python", "platform", "content"],
                where="WHERE NOT EXISTS (SELECT 1 FROM internal.environments e "
                      "WHERE e.env_sha = b.env_sha)")
    _update_runs(con, batch)
    if batch.offsets:
        names = [name for name, _, _ in batch.offsets]
        con.execute(f"DELETE FROM internal.journals WHERE name IN ({', '.join('?' for _ in names)})", names)
        _insert(con, "internal.journals", batch.offsets, ["name", "events_offset", "metrics_offset"])


def _write_metrics(con: DuckDBPyConnection, batch: Batch) -> None:
    if not batch.metric_arrays:
        return
    merged = {name: np.concatenate([part[name] for part in batch.metric_arrays])
              for name in batch.metric_arrays[0]}
    merged["seq"] = np.arange(len(merged["value"]), dtype=np.int64)
    con.register("jt_metric_rows", merged)
    con.register("jt_latest_rows", _latest_candidates(merged))
    try:
        con.execute("""INSERT INTO internal.metrics
            SELECT run_key, key_id, step, timestamp, CASE WHEN is_nan THEN 'NaN'::DOUBLE ELSE value END
            FROM jt_metric_rows""")
        # latest value per (run, key): highest step, then newest timestamp, then last logged.
        con.execute("""CREATE OR REPLACE TEMP TABLE jt_latest AS
            SELECT run_key, key_id, step, timestamp, value FROM (
                SELECT *, row_number() OVER (PARTITION BY run_key, key_id
                                             ORDER BY step DESC, timestamp DESC, seq DESC) AS rank
                FROM (SELECT run_key, key_id, step, timestamp,
                             CASE WHEN is_nan THEN 'NaN'::DOUBLE ELSE value END AS value, seq
                      FROM jt_latest_rows
                      UNION ALL
                      SELECT l.run_key, l.key_id, l.step, l.timestamp, l.value, -1 AS seq
                      FROM internal.latest_metrics l
                      SEMI JOIN (SELECT DISTINCT run_key, key_id FROM jt_latest_rows) k
                        ON l.run_key = k.run_key AND l.key_id = k.key_id))
            WHERE rank = 1""")
        con.execute("""DELETE FROM internal.latest_metrics l USING jt_latest n
                       WHERE l.run_key = n.run_key AND l.key_id = n.key_id""")
        con.execute("INSERT INTO internal.latest_metrics SELECT * FROM jt_latest")
        con.execute("DROP TABLE jt_latest")
    finally:
        con.unregister("jt_metric_rows")
        con.unregister("jt_latest_rows")


#: Up to this many stretches of one (run, key) in a batch, the latest candidates are found stretch
#: by stretch (a few passes over the points); past it, by one sort of the whole batch.
MAX_STRETCHES = 64


def _latest_candidates(merged: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows of ``merged`` that can be the latest point of their (run, key): at least the
    highest (step, timestamp, seq) of each. The window query that picks the latest then ranks these
    few rows instead of the whole batch (it took most of a 200,000-point merge's time)."""
    group = (merged["run_key"].astype(np.int64) << 32) | merged["key_id"].astype(np.int64)
    starts = np.flatnonzero(group[1:] != group[:-1]) + 1
    if len(starts) >= MAX_STRETCHES:
        order = np.lexsort((merged["seq"], merged["timestamp"], merged["step"], group))
        ordered = group[order]
        picks = order[np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))]
    else:
        bounds = [0, *starts.tolist(), len(group)]
        chosen = []
        for begin, end in zip(bounds[:-1], bounds[1:]):
            steps = merged["step"][begin:end]
            best = np.flatnonzero(steps == steps.max())
            if len(best) > 1:
                stamps = merged["timestamp"][begin:end][best]
                best = best[stamps == stamps.max()]
            chosen.append(begin + int(best[-1]))  # the last logged of the highest (step, timestamp)
        picks = np.array(chosen, dtype=np.int64)
    return {name: column[picks] for name, column in merged.items()}


def _update_runs(con: DuckDBPyConnection, batch: Batch) -> None:
    if batch.run_updates:
        names = ["run_key", "env_sha", "git_commit", "git_branch", "git_remote", "git_dirty"]
        rows = [(k, u.get("env_sha"), u.get("commit"), u.get("branch"), u.get("remote"), u.get("dirty"))
                for k, u in batch.run_updates.items()]
        _with_rows(con, rows, names, """UPDATE internal.runs r SET env_sha = u.env_sha, git_commit = u.git_commit,
                git_branch = u.git_branch, git_remote = u.git_remote, git_dirty = u.git_dirty::BOOLEAN
                FROM jt_rows u WHERE r.run_key = u.run_key""")
    if batch.ends:
        names = ["run_key", "status", "end_time", "error_type", "error_message", "error_traceback"]
        rows = []
        for run_key, end in batch.ends.items():
            error = end.get("error") or {}
            rows.append((run_key, end["status"], end["ts"], error.get("type"), error.get("message"),
                         error.get("traceback")))
        _with_rows(con, rows, names, """UPDATE internal.runs r SET status = u.status, end_time = u.end_time::BIGINT,
                error_type = u.error_type, error_message = u.error_message, error_traceback = u.error_traceback
                FROM jt_rows u WHERE r.run_key = u.run_key""")
    if batch.last_seen:
        _with_rows(con, list(batch.last_seen.items()), ["run_key", "seen"],
                   """UPDATE internal.runs r SET last_seen = greatest(r.last_seen, u.seen::BIGINT)
                   FROM jt_rows u WHERE r.run_key = u.run_key""")


def _mark_dead_runs(con: DuckDBPyConnection, batch: Batch) -> int:
    """Runs owned by a journal whose writer is gone, and still RUNNING, become KILLED."""
    if not batch.dead:
        return 0
    dead_names = [name for name, _ in batch.dead]
    placeholders = ", ".join("?" for _ in dead_names)
    killed = con.execute(f"""UPDATE internal.runs SET status = 'KILLED', end_time = last_seen,
            error_type = 'ProcessGone',
            error_message = 'the process that ran this run ended without finishing it (killed or crashed)'
        WHERE status = 'RUNNING' AND run_key IN (
            SELECT run_key FROM internal.journal_runs WHERE owned AND journal IN ({placeholders}))
        RETURNING run_key""", dead_names).fetchall()
    return len(killed)


def _forget_dead_journals(con: DuckDBPyConnection, batch: Batch) -> None:
    """Remove the files of merged dead journals, then their bookkeeping rows (in that order)."""
    if not batch.dead:
        return
    for _, paths in batch.dead:
        for path in paths:
            path.unlink(missing_ok=True)
    names = [name for name, _ in batch.dead]
    placeholders = ", ".join("?" for _ in names)
    with transaction(con):
        for table, column in (("internal.journals", "name"), ("internal.journal_runs", "journal"),
                              ("internal.journal_keys", "journal")):
            con.execute(f"DELETE FROM {table} WHERE {column} IN ({placeholders})", names)
