"""``jupyter-tracker gc``: give back the disk space of files no run refers to.

Objects (artifacts, snapshot cells, stored datasets) are shared by content, so a file can only go
once no run refers to it. ``collect_garbage`` first purges the rows of runs deleted with
``delete_run`` (unless a registered model version still points at them), then removes every
object that no remaining run refers to. Objects younger than ``grace_seconds`` are kept: a run
that is logging right now stores a file a moment before its journal record refers to it (the
same reason ``git gc`` keeps recent loose objects).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .health import referenced_objects
from .store.current import resolve_store
from .store.sql import transaction

#: Tables whose rows belong to one run (by run_key); purged with a deleted run.
_RUN_TABLES = ("params", "tags", "metrics", "latest_metrics", "artifacts", "snapshots", "console", "inputs")
@dataclass
class GarbageReport:
    """What ``collect_garbage`` removed (or, with ``dry_run``, would remove)."""

    dry_run: bool
    purged_runs: list[str] = field(default_factory=list)
    removed_objects: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    kept_recent: int = 0


def collect_garbage(*, dry_run: bool = False, grace_seconds: float = 3600, store=None) -> GarbageReport:
    """Purge deleted runs and remove stored files that no run refers to; ``dry_run`` only reports."""
    store = resolve_store(store)
    report = GarbageReport(dry_run)
    with store.session(query_timeout=0) as con:  # purging many runs is long, deliberate work
        purged = con.execute("""SELECT run_key, run_id FROM internal.runs WHERE deleted AND status != 'RUNNING'
            AND run_id NOT IN (SELECT run_id FROM internal.model_versions WHERE run_id IS NOT NULL)
            ORDER BY run_id""").fetchall()
        report.purged_runs = [run_id for _, run_id in purged]
        keys = [run_key for run_key, _ in purged]
        if keys and not dry_run:
            with transaction(con):
                for table in (*_RUN_TABLES, "runs"):
                    con.execute(f"DELETE FROM internal.{table} WHERE list_contains(?::INTEGER[], run_key)", [keys])
        excluded = keys if dry_run else []
        referenced = referenced_objects(con, excluded)
    if not store.objects.root.is_dir():
        return report
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
        if not dry_run:
            path.unlink(missing_ok=True)
    return report
