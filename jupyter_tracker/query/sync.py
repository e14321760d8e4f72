"""Team sync's state per run, for the badges of the run table and the lab sidebar.

Read from the mirror's durable record (``internal.sync_runs``, written by ``sharing/mirror.py``) and the
merged metric counts, with the rule ``jt.sync_status`` states: a run is ``synced`` when nothing of it is
left to send, else ``failed`` when its last attempt (or the mirror as a whole) failed, else ``pending``
with the number of its points the server has not acknowledged (or 0 when what is left is its end, a
model version, or an edit made after it was sent: a rename, a tag, a param). Runs the mirror never saw
have no entry (no badge). What counts as an edit is ``FINGERPRINT``, the same expression the mirror
records when it sends a run, so the badge and the mirror cannot disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from ..mlflow_layout import BOOKKEEPING_TAGS, LOCAL_ONLY_TAGS
from ..store.current import resolve_store
from ..store.sql import fetch_one
from ..store.sync_state import worker_state

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from ..store.database import Store


#: Tags that are never sent as the run's tags: MLflow's own (``mlflow.*``) and those in the ``?`` list.
EXCLUDED_TAGS_SQL = "(key LIKE 'mlflow.%' OR key IN (SELECT unnest(?::VARCHAR[])))"
#: The ``?`` list of ``EXCLUDED_TAGS_SQL`` for a run's fingerprint: our bookkeeping tags.
MIRRORED_TAGS_EXCLUDED = sorted({*LOCAL_ONLY_TAGS, *BOOKKEEPING_TAGS})
#: CTEs ``tag_print`` and ``param_print`` (one row per run_key: its tags and params as one string);
#: one ``?``: ``MIRRORED_TAGS_EXCLUDED``.
FINGERPRINT_CTES = f"""tag_print AS (SELECT run_key,
                          string_agg(key || chr(31) || coalesce(value, ''), chr(30) ORDER BY key) AS printed,
                          list(key ORDER BY key) AS keys
                   FROM internal.tags WHERE NOT {EXCLUDED_TAGS_SQL} GROUP BY run_key),
     param_print AS (SELECT run_key, string_agg(key || chr(31) || coalesce(value, ''), chr(30) ORDER BY key)
                            AS printed FROM internal.params GROUP BY run_key)"""
#: What the server must have of a run beside its points, as one hash (``internal.runs r`` joined with
#: ``tag_print t`` and ``param_print p``): its name, deleted flag, tags and params. The mirror stores it as
#: ``sync_runs.fingerprint`` when it sends them; a different value now means edits are waiting.
FINGERPRINT = ("md5(concat_ws(chr(29), coalesce(r.run_name, ''), r.deleted::VARCHAR, coalesce(t.printed, ''), "
               "coalesce(p.printed, '')))")


def end_pending(status: str, ended: bool, unsent_versions: int) -> bool:
    """Whether a run's end (status, artifacts, snapshot, registered versions) is still to be sent to a
    remote, or a version registered since it was."""
    return status != "RUNNING" and (not ended or unsent_versions > 0)


def needs_sync(*, deleted: bool, on_server: bool, pending_points: int, edited: bool, end_pending: bool) -> bool:
    """The one rule of whether a mirror still owes a remote something of a run (the mirror's work list,
    ``jt.sync_status`` and the badges all ask it): a deleted run only its deletion, if it was ever sent;
    any other run its creation there, points the server has not acknowledged, edits made since it was
    sent, or its end."""
    if deleted:
        return on_server and edited
    return not on_server or pending_points > 0 or edited or end_pending


class SyncState(TypedDict):
    """One run's badge: its state, how many points are still to go, why it failed, and to which remote."""

    state: Literal["synced", "pending", "failed"]
    pending_points: int
    error: str | None
    remote: str


def _has_sync_table(con: DuckDBPyConnection) -> bool:
    found = fetch_one(con, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'internal' "
                           "AND table_name = 'sync_runs'")
    return found is not None and int(found[0]) > 0


def sync_states(con: DuckDBPyConnection, run_ids: list[str], *, remote: str | None = None,
                store_root: Path | None = None) -> dict[str, SyncState]:
    """The sync state of each of ``run_ids`` that a mirror has a record of (to ``remote``, or to the remote
    it last sent the run to), keyed by run id. ``store_root`` lets a failure that stops the whole mirror
    (published in ``sync-state.json`` by a live mirror process) mark its pending runs as failed too."""
    if not run_ids or not _has_sync_table(con):
        return {}
    rows = con.execute(f"""
        WITH wanted AS (SELECT unnest(?::VARCHAR[]) AS run_id),
             sync AS (SELECT * FROM internal.sync_runs WHERE run_id IN (SELECT run_id FROM wanted)
                                                        AND (?::VARCHAR IS NULL OR remote = ?)
                      QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY last_sent DESC NULLS LAST) = 1),
             points AS (SELECT m.run_key, count(*) AS n FROM internal.metrics m
                        WHERE m.run_key IN (SELECT r.run_key FROM internal.runs r JOIN sync s USING (run_id)
                                            WHERE NOT coalesce(s.ended, false))
                        GROUP BY m.run_key),
             unsent AS (SELECT v.run_id, count(*) AS n FROM internal.model_versions v JOIN sync s USING (run_id)
                        WHERE NOT EXISTS (SELECT 1 FROM internal.sync_versions x WHERE x.remote = s.remote
                                          AND x.name = v.name AND x.version = v.version)
                        GROUP BY v.run_id),
             {FINGERPRINT_CTES}
        SELECT s.run_id, s.remote, s.mlflow_run_id, coalesce(s.points_sent, 0), coalesce(points.n, s.points_sent, 0),
               coalesce(s.ended, false), s.last_error, r.status, r.deleted, coalesce(unsent.n, 0),
               {FINGERPRINT} IS DISTINCT FROM s.fingerprint
        FROM sync s JOIN internal.runs r USING (run_id)
        LEFT JOIN points USING (run_key) LEFT JOIN unsent USING (run_id)
        LEFT JOIN tag_print t USING (run_key) LEFT JOIN param_print p USING (run_key)""",
                       [list(run_ids), remote, remote, MIRRORED_TAGS_EXCLUDED]).fetchall()
    published = worker_state(store_root, remote) if store_root is not None else None
    mirror_error = published.get("last_error") if published else None
    states: dict[str, SyncState] = {}
    for run_id, to, mlflow_run_id, sent, points, ended, last_error, status, deleted, unsent, edited in rows:
        pending = 0 if deleted else max(points - sent, 0)
        needs_work = needs_sync(deleted=deleted, on_server=mlflow_run_id is not None, pending_points=pending,
                                edited=edited, end_pending=end_pending(status, ended, unsent))
        failure = (last_error or (mirror_error if published and published.get("remote") == to else None))
        state: Literal["synced", "pending", "failed"] = (
            "synced" if not needs_work else "failed" if failure else "pending")
        states[run_id] = SyncState(state=state, pending_points=pending,
                                   error=failure if state == "failed" else None, remote=to)
    return states


def fingerprints(con: DuckDBPyConnection, run_ids: list[str]) -> dict[str, str]:
    """``FINGERPRINT`` of each of ``run_ids`` as the store holds them now: what the mirror records as
    sent once the server has the run's name, tags and params."""
    rows = con.execute(f"""
        WITH {FINGERPRINT_CTES}
        SELECT r.run_id, {FINGERPRINT} FROM internal.runs r
        LEFT JOIN tag_print t USING (run_key) LEFT JOIN param_print p USING (run_key)
        WHERE r.run_id IN (SELECT unnest(?::VARCHAR[]))""", [MIRRORED_TAGS_EXCLUDED, list(run_ids)]).fetchall()
    return {run_id: printed for run_id, printed in rows}


def syncing_count(states: dict[str, Any]) -> int:
    """How many of ``states`` (``sync_states``' answer) the mirror is still working on: the status bar's
    "syncing n runs"."""
    return sum(1 for state in states.values() if state["state"] == "pending")


def run_sync_states(run_ids: list[str], *, store: Store | None = None) -> dict[str, SyncState]:
    """``sync_states`` of ``run_ids`` in a short read-only session of ``store`` (the current one by
    default), with the live mirror's store-wide failure: what the run table and the sidebar show."""
    if not run_ids:
        return {}
    resolved = resolve_store(store)
    with resolved.session(read_only=True) as con:
        return sync_states(con, run_ids, store_root=resolved.root)


def syncing_runs(*, store: Store | None = None) -> int:
    """How many runs of ``store`` a mirror still has to send something of (the status bar's
    "syncing n runs"); 0 in a store no mirror has written to."""
    resolved = resolve_store(store)
    with resolved.session(read_only=True) as con:
        if not _has_sync_table(con):
            return 0
        run_ids = [row[0] for row in con.execute("SELECT DISTINCT run_id FROM internal.sync_runs").fetchall()]
        return syncing_count(sync_states(con, run_ids, store_root=resolved.root))
