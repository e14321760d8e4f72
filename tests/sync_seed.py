"""A store with four runs as a team mirror leaves them, for the sync badge tests: one synced, one with
points still to send, one whose sync failed, one never mirrored. The ``internal.sync_runs`` rows are
written by the mirror's own ``_save``, so they are exactly what ``sharing/mirror.py`` writes."""

from __future__ import annotations

import jupyter_tracker as jt
from jupyter_tracker.clock import now_ms
from jupyter_tracker.query.sync import fingerprints
from jupyter_tracker.sharing.mirror import RunSync, _save

REMOTE = "http://mlflow.team:5000"
REASON = "HTTP 401 Unauthorized from http://mlflow.team:5000: check MLFLOW_TRACKING_USERNAME"
POINTS = 12
SENT_OF_PENDING = 5


def seed_sync_states(experiment: str = "team-sync") -> dict[str, str]:
    """Log the four runs in the current store and record their sync state; returns run ids by name."""
    ids = {}
    for name in ("synced-run", "pending-run", "failed-run", "local-run"):
        with jt.start_run(name, experiment=experiment, snapshot=False) as run:
            for step in range(POINTS):
                run.log_metric("loss", 1 / (step + 1), step=step)
        ids[name] = run.run_id
    sent = {"synced-run": (f"mlflow-{ids['synced-run'][:6]}", POINTS, True, None),
            "pending-run": (f"mlflow-{ids['pending-run'][:6]}", SENT_OF_PENDING, False, None),
            "failed-run": (None, 0, False, REASON)}
    with jt.current_store().session() as con:
        printed = fingerprints(con, list(ids.values()))  # what the mirror records once it sent name and tags
        for name, (mlflow_run_id, points_sent, ended, error) in sent.items():
            _save(con, REMOTE, RunSync(
                run_key=0, run_id=ids[name], experiment=experiment, run_name=name, parent_run_id=None,
                status="FINISHED", deleted=False, points=POINTS, fingerprint="", mlflow_run_id=mlflow_run_id,
                points_sent=points_sent, sent_fingerprint=printed[ids[name]], tag_keys=[], ended=ended,
                last_sent=now_ms(),
                last_error=error))
    return ids
