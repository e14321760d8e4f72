"""Cleaning up a store: delete runs by filter, restore them, purge them with ``gc``, and compact.

``delete_runs`` marks the runs an experiment and/or filter selects (with their nested runs) as
deleted, after saying what goes: runs, metric points, artifact bytes. Runs that registered model
versions point at, and runs still logging, are kept unless asked (a registry entry must keep
loading). A deleted run is hidden but whole: ``restore_run`` brings it back until ``gc`` purges it.

``collect_garbage`` (``jupyter-tracker gc``) first applies an optional retention rule (runs older
than ``older_than`` that ``keep`` does not match are deleted), then purges the rows of deleted runs
(unless a registered model version still points at them), then removes every object that no
remaining run refers to. Objects younger than ``grace_seconds`` are kept: a run that is logging
right now stores a file a moment before its journal record refers to it (the same reason
``git gc`` keeps recent loose objects). Purged rows free blocks inside the database file; only
compaction (``compact=True``, ``store.compaction``) gives them back to the disk.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from . import validation
from .clock import now_ms
from .errors import InvalidValueError, RunNotFoundError
from .filter import compile_filter
from .health import referenced_objects
from .manage import mark_deleted
from .query import matching_runs, resolve_run
from .store.compaction import CompactionReport, compact_store, database_bytes, remove_leftovers
from .store.current import resolve_store
from .store.database import format_size
from .store.sql import transaction

#: Tables whose rows belong to one run (by run_key); purged with a deleted run.
_RUN_TABLES = ("params", "tags", "metrics", "latest_metrics", "artifacts", "snapshots", "console", "inputs")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


@dataclass
class DeletionReport:
    """What ``delete_runs`` deleted (or, with ``dry_run``, would delete) and what it kept."""

    dry_run: bool
    run_ids: list[str] = field(default_factory=list)           # every run that goes, nested ones included
    nested_run_ids: list[str] = field(default_factory=list)    # of those, the ones that go as children
    kept_registered: list[str] = field(default_factory=list)   # selected, kept: model versions point at them
    kept_running: list[str] = field(default_factory=list)      # selected, kept: still logging
    metric_points: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0    # stored files only these runs refer to: what gc gives back

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        lines = [f"{verb} {len(self.run_ids)} run(s) ({len(self.nested_run_ids)} of them nested), "
                 f"{self.metric_points:,} metric point(s), {self.artifact_files} artifact file(s) "
                 f"({format_size(self.artifact_bytes)})"]
        if self.kept_registered:
            lines.append(f"kept {len(self.kept_registered)} run(s) that registered model versions point at: "
                         f"{_ids(self.kept_registered)} (include_registered=True / --include-registered deletes "
                         f"them too: hidden, their registered versions keep loading, and gc keeps them "
                         f"until those versions are deleted)")
        if self.kept_running:
            lines.append(f"kept {len(self.kept_running)} run(s) still running: {_ids(self.kept_running)}")
        if self.run_ids:
            lines.append("nothing was changed (dry run)" if self.dry_run else
                         "restore with jt.restore_run(run_id) or `jupyter-tracker undelete RUN` until "
                         "`jupyter-tracker gc` purges them")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DeletionReport {self.summary()}>"

    def _repr_html_(self) -> str:
        rows = "".join(f"<li>{html.escape(line)}</li>" for line in self.summary().splitlines())
        return f"<div class='jt-deletion'><b>{'Dry run' if self.dry_run else 'Deleted'}</b><ul>{rows}</ul></div>"


@dataclass
class GarbageReport:
    """What ``collect_garbage`` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    purged_runs: list[str] = field(default_factory=list)
    removed_objects: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    kept_recent: int = 0
    purged_metric_points: int = 0
    retention: DeletionReport | None = None          # what the retention rule deleted, when one was given
    compaction: CompactionReport | None = None       # the database file's size before and after, when compacted

    @property
    def reclaimed_bytes(self) -> int:
        """Disk space given back: removed files, and what compaction took off the database file."""
        return self.removed_bytes + (self.compaction.reclaimed_bytes if self.compaction else 0)

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = []
        if self.retention is not None:
            lines.append("retention: " + self.retention.summary().replace("\n", "\n  "))
        lines.append(f"{verb} {len(self.removed_objects)} file(s) ({self.removed_bytes} bytes) and "
                     f"{len(self.purged_runs)} deleted run(s) ({self.purged_metric_points:,} metric points); "
                     f"kept {self.kept_recent} recent unreferenced file(s)")
        if self.compaction is not None:
            lines.append(str(self.compaction))
        elif self.purged_runs and not self.dry_run:
            lines.append("the database file keeps its size until compacted: `jupyter-tracker compact` "
                         "(or gc --compact) gives the space back")
        lines.append(f"reclaimed {self.reclaimed_bytes} bytes ({format_size(self.reclaimed_bytes)})"
                     if not self.dry_run else f"would reclaim at least {format_size(self.reclaimed_bytes)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<GarbageReport {self.summary()}>"

    def _repr_html_(self) -> str:
        rows = "".join(f"<li>{html.escape(line)}</li>" for line in self.summary().splitlines())
        return f"<div class='jt-gc'><b>{'gc (dry run)' if self.dry_run else 'gc'}</b><ul>{rows}</ul></div>"


def _ids(run_ids: list[str]) -> str:
    shown = ", ".join(run_id[:8] for run_id in run_ids[:10])
    return shown + (f" and {len(run_ids) - 10} more" if len(run_ids) > 10 else "")


#: Most run ids one ``delete_runs(run_ids=...)`` call takes (a lab selection is far smaller).
MAX_RUN_IDS = 10_000


def delete_runs(experiment: str | list[str] | None = None, filter: str | None = None, *, dry_run: bool = False,
                include_registered: bool = False, run_ids: list[str] | None = None, store=None) -> DeletionReport:
    """Delete the runs that ``experiment`` and/or ``filter`` select (as ``search_runs`` does), or the
    runs ``run_ids`` names (full ids or unique prefixes: a selection in the lab), with their nested
    runs; ``dry_run`` only reports. Runs that registered model versions point at are kept unless
    ``include_registered``; running runs are kept. All or nothing: one id that names no run
    deletes nothing. Returns what went and what was kept."""
    if run_ids is not None and (experiment is not None or filter is not None):
        raise InvalidValueError("delete_runs takes run_ids=... or experiment=/filter=..., not both; to delete "
                                "some runs of an experiment, give their ids")
    if experiment is None and filter is None and run_ids is None:
        raise InvalidValueError("delete_runs needs experiment=... and/or filter=... to choose the runs; to delete "
                                "every run of an experiment, give only experiment='name'")
    if run_ids is not None and (not isinstance(run_ids, (list, tuple)) or not run_ids
                                or len(run_ids) > MAX_RUN_IDS or not all(isinstance(r, str) for r in run_ids)):
        raise InvalidValueError(f"run_ids must be a list of 1 to {MAX_RUN_IDS:,} run id strings, not {run_ids!r:.80}")
    for flag, name in ((dry_run, "dry_run"), (include_registered, "include_registered")):
        if not isinstance(flag, bool):
            raise InvalidValueError(f"{name} must be True or False, not {flag!r:.80}")
    store = resolve_store(store)
    with store.session() as con:
        if run_ids is not None:
            keys = list(dict.fromkeys(resolve_run(con, run_id)[0] for run_id in run_ids))
        else:
            keys = [key for key, _ in matching_runs(con, experiment, filter, store=store)]
        report = _plan(con, keys, dry_run, include_registered)
        if not dry_run and report.run_ids:
            with transaction(con):
                mark_deleted(con, _keys_of(con, report.run_ids))
    return report


def restore_run(run_id: str, *, store=None) -> list[str]:
    """Bring back a deleted run (a full id or a unique prefix) and its nested runs deleted with it;
    returns their ids. Runs ``gc`` has purged are gone for good."""
    if not isinstance(run_id, str) or len(run_id.strip()) < 4:
        raise RunNotFoundError(f"restore_run takes a deleted run's id (or at least 4 of its first characters), "
                               f"not {run_id!r:.80}")
    with resolve_store(store).session() as con:
        rows = con.execute("SELECT run_key, run_id FROM internal.runs WHERE deleted AND starts_with(run_id, ?) "
                           "LIMIT 6", [run_id.strip()]).fetchall()
        if not rows:
            raise RunNotFoundError(f"no deleted run with id {run_id!r} in this store (runs purged by "
                                   f"`jupyter-tracker gc` cannot be restored); list deleted runs with "
                                   f"jt.search_runs(include_deleted=True)")
        if len(rows) > 1 and not any(full == run_id.strip() for _, full in rows):
            raise RunNotFoundError(f"run id prefix {run_id!r} matches several deleted runs "
                                   f"({', '.join(full[:12] for _, full in rows)}); give more characters")
        root = next((row for row in rows if row[1] == run_id.strip()), rows[0])
        tree = _descendants(con, [root[0]], deleted=True)
        with transaction(con):
            mark_deleted(con, [key for key, _ in tree], deleted=False)
    return [full for _, full in tree]


def collect_garbage(*, dry_run: bool = False, grace_seconds: float = 3600, older_than: str | float | timedelta
                    | None = None, keep: str | None = None, compact: bool = False, store=None) -> GarbageReport:
    """Apply the retention rule (runs started more than ``older_than`` ago — '90d', '12h', a
    timedelta or seconds — that the filter ``keep`` does not match are deleted), purge deleted runs,
    remove stored files that no run refers to, and with ``compact`` rewrite the database file so its
    size follows what is left; ``dry_run`` only reports."""
    grace_seconds = validation.seconds(grace_seconds, "grace_seconds", "gc(grace_seconds=3600)")
    if keep is not None and older_than is None:
        raise InvalidValueError("keep= is part of a retention rule: give older_than= too, e.g. "
                                "gc(older_than='90d', keep=\"tags.keep = 'true'\")")
    store = resolve_store(store)
    report = GarbageReport(dry_run)
    with store.session(query_timeout=0) as con:  # purging many runs is long, deliberate work
        if older_than is not None:
            report.retention = _retention(con, _age_seconds(older_than), keep, dry_run)
        doomed = set(_keys_of(con, report.retention.run_ids)) if report.retention and dry_run else set()
        purged = con.execute("""SELECT run_key, run_id FROM internal.runs
            WHERE (deleted OR list_contains(?::INTEGER[], run_key)) AND status != 'RUNNING'
            AND run_id NOT IN (SELECT run_id FROM internal.model_versions WHERE run_id IS NOT NULL)
            ORDER BY run_id""", [sorted(doomed)]).fetchall()
        report.purged_runs = [run_id for _, run_id in purged]
        keys = [run_key for run_key, _ in purged]
        report.purged_metric_points = _metric_points(con, keys)
        if keys and not dry_run:
            with transaction(con):
                for table in (*_RUN_TABLES, "runs"):
                    con.execute(f"DELETE FROM internal.{table} WHERE list_contains(?::INTEGER[], run_key)", [keys])
        excluded = keys if dry_run else []
        referenced = referenced_objects(con, excluded)
    _remove_objects(store, referenced, grace_seconds, report)
    if compact and not dry_run:
        report.compaction = compact_store(store)
    return report


def compact(*, store=None) -> CompactionReport:
    """Rewrite the store's database file so its size follows what it stores (safe while other
    processes log: see ``store.compaction``); returns its size before and after."""
    return compact_store(resolve_store(store))


def _plan(con, selected_keys: list[int], dry_run: bool, include_registered: bool,
          spared_keys: set[int] | None = None) -> DeletionReport:
    """What deleting the runs ``selected_keys`` (and their nested runs) means, without doing it."""
    report = DeletionReport(dry_run)
    tree = _descendants(con, selected_keys)
    facts = {key: (run_id, status, registered) for key, run_id, status, registered in con.execute("""
        SELECT run_key, run_id, status, run_id IN (SELECT run_id FROM internal.model_versions WHERE run_id IS NOT NULL)
        FROM internal.runs WHERE list_contains(?::INTEGER[], run_key)""", [[key for key, _ in tree]]).fetchall()}
    chosen = set(selected_keys)
    going = []
    for key, _ in tree:
        run_id, status, registered = facts[key]
        if spared_keys and key in spared_keys:
            continue
        if status == "RUNNING":
            report.kept_running.append(run_id)
        elif registered and not include_registered:
            report.kept_registered.append(run_id)
        else:
            going.append(key)
            report.run_ids.append(run_id)
            if key not in chosen:
                report.nested_run_ids.append(run_id)
    report.metric_points = _metric_points(con, going)
    files = con.execute("SELECT DISTINCT sha256, size FROM internal.artifacts WHERE list_contains(?::INTEGER[], "
                        "run_key)", [going]).fetchall()
    if files:
        gone_already = [key for (key,) in con.execute("SELECT run_key FROM internal.runs WHERE deleted").fetchall()]
        still_needed = referenced_objects(con, going + gone_already)
        freed = {sha: size for sha, size in files if sha not in still_needed}
        report.artifact_files, report.artifact_bytes = len(freed), int(sum(size or 0 for size in freed.values()))
    return report


def _descendants(con, run_keys: list[int], deleted: bool = False) -> list[tuple[int, str]]:
    """(run_key, run_id) of ``run_keys`` and their nested runs at any depth (deleted ones when
    ``deleted``, else the ones not deleted), parents first."""
    return [(key, run_id) for key, run_id, _ in con.execute("""
        WITH RECURSIVE tree(run_key, run_id, depth) AS (
            SELECT run_key, run_id, 0 FROM internal.runs WHERE list_contains(?::INTEGER[], run_key)
            UNION
            SELECT child.run_key, child.run_id, tree.depth + 1 FROM internal.runs child
            JOIN tree ON child.parent_run_id = tree.run_id WHERE child.deleted = ? AND tree.depth < 100)
        SELECT run_key, run_id, min(depth) FROM tree GROUP BY ALL ORDER BY 3, 1""", [run_keys, deleted]).fetchall()]


def _keys_of(con, run_ids: list[str]) -> list[int]:
    return [key for (key,) in con.execute("SELECT run_key FROM internal.runs WHERE list_contains(?::VARCHAR[], "
                                          "run_id)", [run_ids]).fetchall()]


def _metric_points(con, run_keys: list[int]) -> int:
    if not run_keys:
        return 0
    row = con.execute("SELECT count(*) FROM internal.metrics WHERE list_contains(?::INTEGER[], run_key)",
                      [run_keys]).fetchall()
    return int(row[0][0])


def _retention(con, age_seconds: float, keep: str | None, dry_run: bool) -> DeletionReport:
    """Delete (or, in a dry run, plan) the runs started before now - ``age_seconds`` that ``keep``
    does not match; a nested run that ``keep`` matches stays even when its parent goes."""
    keep_sql, keep_params = compile_filter(keep) if keep else ("FALSE", [])
    cutoff = now_ms() - int(age_seconds * 1000)
    old = matching_runs(con, condition=(f"r.start_time < ? AND NOT coalesce(({keep_sql}), false)",
                                        [cutoff, *keep_params]))
    kept = matching_runs(con, condition=(f"coalesce(({keep_sql}), false)", list(keep_params))) if keep else []
    report = _plan(con, [key for key, _ in old], dry_run, include_registered=False,
                   spared_keys={key for key, _ in kept})
    if not dry_run and report.run_ids:
        with transaction(con):
            mark_deleted(con, _keys_of(con, report.run_ids))
    return report


def _age_seconds(older_than: Any) -> float:
    """Seconds in a retention age: '90d', '12h', '30m', '45s', '2w', a timedelta, or a number of seconds."""
    if isinstance(older_than, timedelta):
        seconds = older_than.total_seconds()
    elif isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
        seconds = validation.seconds(older_than, "older_than", "gc(older_than='90d') or gc(older_than=86400)")
    elif isinstance(older_than, str) and (match := _AGE.match(older_than)):
        seconds = float(match.group(1)) * _AGE_UNITS[match.group(2)]
    else:
        raise InvalidValueError(f"older_than must be an age such as '90d', '12h', '30m', '2w', a timedelta or a "
                                f"number of seconds, not {older_than!r:.80}")
    if seconds < 0:
        raise InvalidValueError(f"older_than must not be negative, not {older_than!r:.80}")
    return seconds


def _remove_objects(store, referenced: set[str], grace_seconds: float, report: GarbageReport) -> None:
    """Remove (unless a dry run) every stored object no run refers to that is older than the grace
    period, copies cut short in ``objects/tmp``, and a copy a killed compaction left behind."""
    if not report.dry_run:
        with store.exclusive():
            report.removed_bytes += remove_leftovers(store)
    if not store.objects.root.is_dir():
        return
    cutoff = time.time() - grace_seconds
    candidates = [p for p in store.objects.root.glob("??/*") if p.is_file()]
    candidates += [p for p in (store.objects.root / "tmp").glob("*") if p.is_file()]   # copies cut short
    for path in sorted(candidates):
        if path.parent.name != "tmp" and path.parent.name + path.name in referenced:
            continue
        stat = path.stat()
        if stat.st_mtime > cutoff:
            report.kept_recent += 1
            continue
        report.removed_objects.append(path.parent.name + path.name if path.parent.name != "tmp" else
                                      f"tmp/{path.name}")
        report.removed_bytes += stat.st_size
        if not report.dry_run:
            path.unlink(missing_ok=True)


__all__ = ["DeletionReport", "GarbageReport", "collect_garbage", "compact", "database_bytes", "delete_runs",
           "restore_run"]
