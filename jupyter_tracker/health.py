"""A store's health for ``jupyter-tracker doctor``, and the one definition of a referenced object.

``referenced_objects`` is what ``gc`` keeps and what ``doctor`` counts as referenced, so the two
can never disagree. ``store_health`` reads what it can even when part of the store is damaged:
a database that cannot be opened is reported, and the journals, quarantine and objects are still
examined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import PathExistsError, TrackerError
from .store.current import resolve_store
from .store.database import get_store
from .store.journal import EVENTS_SUFFIX, METRICS_SUFFIX, written_size
from .store.quarantine import quarantined_records, set_aside_journals
from .store.sql import fetch_one

#: Every object a run (other than the ``$excluded`` run keys) refers to: artifacts, snapshot
#: notebooks and cells, and stored copies of datasets; and the files of MLflow 3 logged models
#: not deleted (they belong to no run).
REFERENCED_OBJECTS = """
    SELECT sha256 FROM internal.artifacts WHERE NOT list_contains($excluded::INTEGER[], run_key)
    UNION SELECT meta_sha FROM internal.snapshots WHERE NOT list_contains($excluded::INTEGER[], run_key)
    UNION SELECT unnest(cell_shas) FROM internal.snapshots WHERE NOT list_contains($excluded::INTEGER[], run_key)
    UNION SELECT json_extract_string(schema_json, '$.stored_object') FROM internal.inputs
          WHERE NOT list_contains($excluded::INTEGER[], run_key)
    UNION SELECT f.sha256 FROM internal.logged_model_files f
          WHERE f.model_id NOT IN (SELECT model_id FROM internal.logged_models WHERE deleted)"""


def referenced_objects(con, excluded: list[int] | None = None) -> set[str]:
    """The hashes of every object some run refers to (leaving out the runs ``excluded``)."""
    return {sha for (sha,) in con.execute(REFERENCED_OBJECTS, {"excluded": excluded or []}).fetchall() if sha}


def salvage(store, destination: Path) -> dict[str, Any]:
    """A new store at ``destination`` from what ``store``'s journals and objects still hold, for a
    store whose database is damaged. The damaged store is only read; ``destination`` must not
    hold a store yet. Returns what the new store holds."""
    import shutil

    source = resolve_store(store)
    destination = Path(destination).expanduser().absolute()
    if (destination / "tracker.duckdb").exists() or (destination / "journal").exists():
        raise PathExistsError(f"{destination} already holds a store; salvage into a new, empty folder")
    (destination / "journal").mkdir(parents=True, exist_ok=True)
    if source.journal_dir.is_dir():
        for path in source.journal_dir.iterdir():
            if path.suffix in (EVENTS_SUFFIX, METRICS_SUFFIX):
                shutil.copy2(path, destination / "journal" / path.name)
    if source.objects.root.is_dir():
        shutil.copytree(source.objects.root, destination / "objects", dirs_exist_ok=True)
    rescued = get_store(destination)
    rescued.merge()
    with rescued.session(merge=False) as con:
        runs, points = fetch_one(con, "SELECT (SELECT count(*) FROM internal.runs), "
                                      "(SELECT count(*) FROM internal.metrics)")
    objects = sum(1 for p in rescued.objects.root.glob("??/*") if p.is_file()) if rescued.objects.root.is_dir() else 0
    return {"store": str(destination), "runs": runs, "metric_points": points, "objects": objects}


def store_health(*, store=None) -> dict[str, Any]:
    """Facts about the store: schema, sizes, journal backlog, set-aside records, objects.

    ``problems`` lists what needs a person's attention (empty for a healthy store)."""
    from .store.schema import SCHEMA_VERSION

    store = resolve_store(store)
    problems: list[str] = []
    journals = []
    if store.journal_dir.is_dir():
        for events in sorted(store.journal_dir.glob(f"*{EVENTS_SUFFIX}")):
            name = events.name[: -len(EVENTS_SUFFIX)]
            metrics = store.journal_dir / f"{name}{METRICS_SUFFIX}"
            journals.append((name, events.stat().st_size, written_size(metrics)))  # not a writer's reserved zeros
    health: dict[str, Any] = {"store": str(store.root), "supported_schema_version": SCHEMA_VERSION,
                              "database_bytes": store.db_path.stat().st_size if store.db_path.exists() else 0}
    referenced: set[str] | None = None
    offsets: dict[str, tuple[int, int]] = {}
    try:
        with store.session(merge=False) as con:
            offsets = {n: (e, m) for n, e, m in con.execute(
                "SELECT name, events_offset, metrics_offset FROM internal.journals").fetchall()}
            version = fetch_one(con, "SELECT value FROM internal.meta WHERE key = 'schema_version'")[0]
            health["schema_version"] = int(version)
            health.update(zip(("runs", "metric_points", "artifacts"), fetch_one(con, """SELECT
                (SELECT count(*) FROM internal.runs), (SELECT count(*) FROM internal.metrics),
                (SELECT count(*) FROM internal.artifacts)""")))
            referenced = referenced_objects(con)
    except TrackerError as exc:
        health["database_error"] = str(exc)
        problems.append(f"the database cannot be read: {exc}")
    health["journals"] = len(journals)
    health["journal_backlog_bytes"] = sum(
        max(e - offsets.get(n, (0, 0))[0], 0) + max(m - offsets.get(n, (0, 0))[1], 0) for n, e, m in journals)
    records = quarantined_records(store.root)
    health["quarantined_records"] = len(records)
    health["damaged_journals"] = sorted({r.journal for r in records})
    health["set_aside_journals"] = set_aside_journals(store.root)
    if records:
        problems.append(f"{len(records)} journal record(s) were damaged or invalid and set aside in "
                        f"{store.root / 'quarantine'} (newest: {records[-1].reason})")
    if health["set_aside_journals"]:
        problems.append(f"{len(health['set_aside_journals'])} whole journal(s) the database refused are kept in "
                        f"{store.root / 'quarantine'}")
    stored = {p.parent.name + p.name for p in store.objects.root.glob("??/*") if p.is_file()} \
        if store.objects.root.is_dir() else set()
    health["objects"] = len(stored)
    if referenced is not None:
        missing = sorted(referenced - stored)
        health["unreferenced_objects"] = len(stored - referenced)
        health["missing_objects"] = len(missing)
        if missing:
            problems.append(f"{len(missing)} object(s) that runs refer to are missing from "
                            f"{store.objects.root} (first: {missing[0]})")
    health["problems"] = problems
    return health
