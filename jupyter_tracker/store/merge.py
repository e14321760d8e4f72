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
from typing import Any

import numpy as np

from .database import fetch_one
from .journal import EVENTS_SUFFIX, METRIC_DTYPE, METRIC_RECORD, METRICS_SUFFIX
from .locking import try_lock_exclusive

_RECORD_SIZE = METRIC_RECORD.size


@dataclass
class _Batch:
    """Rows gathered from the journals of one merge, inserted in bulk at the end."""

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
    renames: dict[int, str] = field(default_factory=dict)
    run_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    artifacts: list[tuple] = field(default_factory=list)
    snapshots: list[tuple] = field(default_factory=list)
    console: list[tuple] = field(default_factory=list)
    inputs: list[tuple] = field(default_factory=list)
    environments: dict[str, tuple] = field(default_factory=dict)
    last_seen: dict[int, int] = field(default_factory=dict)
    metric_arrays: list[dict[str, np.ndarray]] = field(default_factory=list)
    offsets: list[tuple[str, int, int]] = field(default_factory=list)
    dead: list[tuple[str, list[Path]]] = field(default_factory=list)
    skipped_lines: int = 0

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


def merge_journals(con, journal_dir: Path) -> MergeResult:
    """Merge every journal in ``journal_dir`` into the open store connection ``con``."""
    result = MergeResult()
    if not journal_dir.is_dir():
        return result
    names = sorted(p.name[: -len(EVENTS_SUFFIX)] for p in journal_dir.glob(f"*{EVENTS_SUFFIX}"))
    if not names:
        return result
    batch = _start_batch(con)
    locks: list[int] = []
    try:
        for name in names:
            lock_fd = try_lock_exclusive(journal_dir / f"{name}{EVENTS_SUFFIX}")
            if lock_fd is not None:
                locks.append(lock_fd)
            points, events = _read_journal(con, batch, journal_dir, name, writer_gone=lock_fd is not None)
            result.journals += 1
            result.points += points
            result.events += events
        con.execute("BEGIN TRANSACTION")
        try:
            _write_batch(con, batch)
            result.killed_runs = _mark_dead_runs(con, batch)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        _forget_dead_journals(con, batch)
    finally:
        for fd in locks:
            os.close(fd)
    if batch.skipped_lines:
        warnings.warn(f"jupyter_tracker skipped {batch.skipped_lines} unreadable journal line(s) in "
                      f"{journal_dir}", RuntimeWarning, stacklevel=2)
    return result


def _start_batch(con) -> _Batch:
    (max_run_key,) = fetch_one(con, "SELECT coalesce(max(run_key), 0) FROM internal.runs")
    (max_key_id,) = fetch_one(con, "SELECT coalesce(max(key_id), 0) FROM internal.metric_keys")
    experiments = dict(con.execute("SELECT name, experiment_id FROM internal.experiments").fetchall())
    metric_keys = dict(con.execute("SELECT key, key_id FROM internal.metric_keys").fetchall())
    return _Batch(next_run_key=max_run_key + 1, next_key_id=max_key_id + 1,
                  next_experiment_id=max(experiments.values(), default=0) + 1,
                  experiments=experiments, metric_keys=metric_keys)


def _read_journal(con, batch: _Batch, journal_dir: Path, name: str, writer_gone: bool) -> tuple[int, int]:
    events_path = journal_dir / f"{name}{EVENTS_SUFFIX}"
    metrics_path = journal_dir / f"{name}{METRICS_SUFFIX}"
    row = fetch_one(con, "SELECT events_offset, metrics_offset FROM internal.journals WHERE name = ?",
                      [name])
    events_offset, metrics_offset = row if row else (0, 0)
    # Size the metrics file before reading events: every metric record in that range was
    # written after the key and run definitions it refers to, so those are in the events read.
    metrics_size = metrics_path.stat().st_size if metrics_path.exists() else 0
    metrics_end = metrics_offset + (max(metrics_size - metrics_offset, 0) // _RECORD_SIZE) * _RECORD_SIZE
    with open(events_path, "rb") as reader:
        reader.seek(events_offset)
        raw_events = reader.read()
    complete = raw_events.rfind(b"\n") + 1
    slots = dict(con.execute("SELECT slot, run_key FROM internal.journal_runs WHERE journal = ?",
                             [name]).fetchall())
    local_keys = dict(con.execute("SELECT local_id, key_id FROM internal.journal_keys WHERE journal = ?",
                                  [name]).fetchall())
    events = 0
    for record in _decode_events(raw_events[:complete], batch):
        try:
            _apply_event(con, batch, name, record, slots, local_keys)
            events += 1
        except (KeyError, TypeError, ValueError):
            batch.skipped_lines += 1
    points = 0
    if metrics_end > metrics_offset:
        with open(metrics_path, "rb") as reader:
            reader.seek(metrics_offset)
            raw_metrics = reader.read(metrics_end - metrics_offset)
        points = _apply_metrics(batch, raw_metrics, slots, local_keys)
    batch.offsets.append((name, events_offset + complete, metrics_end))
    if writer_gone:
        batch.dead.append((name, [events_path, metrics_path]))
    return points, events


def _decode_events(raw: bytes, batch: _Batch) -> list:
    """Decode newline-delimited JSON records; one parse for the whole chunk when it is intact."""
    if not raw:
        return []
    text = raw.decode("utf-8", errors="replace").rstrip("\n")
    try:  # JSON escapes newlines inside strings, so a raw newline only ever separates records
        records = json.loads("[" + text.replace("\n", ",") + "]")
        if all(isinstance(r, dict) for r in records):
            return records
    except ValueError:
        pass
    records = []
    for line in text.split("\n"):
        try:
            record = json.loads(line)
        except ValueError:
            batch.skipped_lines += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            batch.skipped_lines += 1
    return records


def _apply_event(con, batch: _Batch, journal: str, record: dict, slots: dict, local_keys: dict) -> None:
    kind = record["t"]
    if kind == "key":
        key = record["key"]
        key_id = batch.metric_keys.get(key)
        if key_id is None:
            key_id = batch.metric_keys[key] = batch.next_key_id
            batch.next_key_id += 1
            batch.new_keys.append((key_id, key))
        local_keys[record["id"]] = key_id
        batch.journal_keys.append((journal, record["id"], key_id))
        return
    if kind == "run":
        run_key = _new_run(batch, record)
        slots[record["slot"]] = run_key
        batch.journal_runs.append((journal, record["slot"], run_key, True))
        return
    if kind == "attach":
        run_key = _run_key_for_id(con, batch, record["run_id"])
        if run_key is not None:
            slots[record["slot"]] = run_key
            batch.journal_runs.append((journal, record["slot"], run_key, bool(record.get("owned"))))
        return
    run_key = slots.get(record.get("slot"))
    if run_key is None:
        raise KeyError(f"event for unknown run slot {record.get('slot')}")
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
    elif kind == "rename":
        batch.renames[run_key] = record["name"]
    elif kind == "env":
        batch.run_updates.setdefault(run_key, {}).update(record["git"] or {})
        batch.run_updates[run_key]["env_sha"] = record["env_sha"]
        env = record.get("env")
        if env is not None:
            batch.environments[record["env_sha"]] = (
                record["env_sha"], env.get("python", {}).get("version"),
                env.get("platform", {}).get("platform"), json.dumps(env))
    elif kind == "artifact":
        batch.artifacts.append((run_key, record["path"], record["size"], record["media_type"],
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
    else:
        raise KeyError(f"unknown event type {kind!r}")


def _new_run(batch: _Batch, record: dict) -> int:
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


def _run_key_for_id(con, batch: _Batch, run_id: str) -> int | None:
    run_key = batch.run_keys_by_id.get(run_id)
    if run_key is None:
        row = fetch_one(con, "SELECT run_key FROM internal.runs WHERE run_id = ?", [run_id])
        run_key = row[0] if row else None
    return run_key


def _apply_metrics(batch: _Batch, raw: bytes, slots: dict, local_keys: dict) -> int:
    records = np.frombuffer(raw, dtype=METRIC_DTYPE)
    if not len(records):
        return 0
    slot_map = np.full(max(max(slots, default=0), int(records["slot"].max())) + 1, -1, dtype=np.int64)
    for slot, run_key in slots.items():
        slot_map[slot] = run_key
    key_map = np.full(max(max(local_keys, default=0), int(records["key"].max())) + 1, -1, dtype=np.int64)
    for local_id, key_id in local_keys.items():
        key_map[local_id] = key_id
    run_keys = slot_map[records["slot"]]
    key_ids = key_map[records["key"]]
    known = (run_keys >= 0) & (key_ids >= 0)
    if not known.all():
        batch.skipped_lines += int((~known).sum())
        records, run_keys, key_ids = records[known], run_keys[known], key_ids[known]
    values = np.ascontiguousarray(records["value"])
    timestamps = np.ascontiguousarray(records["timestamp"])
    batch.metric_arrays.append({
        "run_key": run_keys.astype(np.int32), "key_id": key_ids.astype(np.int32),
        "step": np.ascontiguousarray(records["step"]), "timestamp": timestamps,
        "value": values, "is_nan": np.isnan(values),
    })
    order = np.argsort(run_keys, kind="stable")
    boundaries = np.flatnonzero(np.diff(run_keys[order])) + 1
    for group in np.split(order, boundaries):
        if len(group):
            batch.seen(int(run_keys[group[0]]), int(timestamps[group].max()))
    return int(len(records))


def _columns(rows: list[tuple], names: list[str]) -> dict[str, np.ndarray]:
    """Rows → a dict of 1-D NumPy object columns that DuckDB can scan (lists stay whole cells)."""
    columns = {}
    for index, name in enumerate(names):
        column = np.empty(len(rows), dtype=object)
        for position, row in enumerate(rows):
            column[position] = row[index]
        columns[name] = column
    return columns


def _with_rows(con, rows: list[tuple], names: list[str], *statements: str) -> None:
    """Run ``statements`` with ``rows`` visible as the table ``jt_rows`` (columns ``names``)."""
    con.register("jt_rows", _columns(rows, names))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.unregister("jt_rows")


def _insert(con, table: str, rows: list[tuple], names: list[str], where: str = "") -> None:
    """Bulk-insert ``rows`` into ``table``; ``where`` filters the batch (alias ``b``)."""
    if rows:
        _with_rows(con, rows, names, f"INSERT INTO {table} SELECT b.* FROM jt_rows b {where}")


_RUN_COLUMNS = ["run_key", "run_id", "experiment_id", "run_name", "parent_run_id", "status", "start_time",
                "end_time", "last_seen", "user_name", "host", "pid", "source_kind", "source_code", "cell_id",
                "execution_count", "notebook_path", "script_path", "cell_key", "origin"]


def _write_batch(con, batch: _Batch) -> None:
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


def _write_metrics(con, batch: _Batch) -> None:
    if not batch.metric_arrays:
        return
    merged = {name: np.concatenate([part[name] for part in batch.metric_arrays])
              for name in batch.metric_arrays[0]}
    merged["seq"] = np.arange(len(merged["value"]), dtype=np.int64)
    con.register("jt_metric_rows", merged)
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
                      FROM jt_metric_rows
                      UNION ALL
                      SELECT l.run_key, l.key_id, l.step, l.timestamp, l.value, -1 AS seq
                      FROM internal.latest_metrics l
                      SEMI JOIN (SELECT DISTINCT run_key, key_id FROM jt_metric_rows) k
                        ON l.run_key = k.run_key AND l.key_id = k.key_id))
            WHERE rank = 1""")
        con.execute("""DELETE FROM internal.latest_metrics l USING jt_latest n
                       WHERE l.run_key = n.run_key AND l.key_id = n.key_id""")
        con.execute("INSERT INTO internal.latest_metrics SELECT * FROM jt_latest")
        con.execute("DROP TABLE jt_latest")
    finally:
        con.unregister("jt_metric_rows")


def _update_runs(con, batch: _Batch) -> None:
    if batch.run_updates:
        names = ["run_key", "env_sha", "git_commit", "git_branch", "git_remote", "git_dirty"]
        rows = [(k, u.get("env_sha"), u.get("commit"), u.get("branch"), u.get("remote"), u.get("dirty"))
                for k, u in batch.run_updates.items()]
        _with_rows(con, rows, names, """UPDATE internal.runs r SET env_sha = u.env_sha, git_commit = u.git_commit,
                git_branch = u.git_branch, git_remote = u.git_remote, git_dirty = u.git_dirty::BOOLEAN
                FROM jt_rows u WHERE r.run_key = u.run_key""")
    if batch.renames:
        _with_rows(con, list(batch.renames.items()), ["run_key", "run_name"],
                   "UPDATE internal.runs r SET run_name = u.run_name FROM jt_rows u WHERE r.run_key = u.run_key")
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


def _mark_dead_runs(con, batch: _Batch) -> int:
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


def _forget_dead_journals(con, batch: _Batch) -> None:
    """Remove the files of merged dead journals, then their bookkeeping rows (in that order)."""
    if not batch.dead:
        return
    for _, paths in batch.dead:
        for path in paths:
            path.unlink(missing_ok=True)
    names = [name for name, _ in batch.dead]
    placeholders = ", ".join("?" for _ in names)
    con.execute("BEGIN TRANSACTION")
    for table, column in (("internal.journals", "name"), ("internal.journal_runs", "journal"),
                          ("internal.journal_keys", "journal")):
        con.execute(f"DELETE FROM {table} WHERE {column} IN ({placeholders})", names)
    con.execute("COMMIT")
