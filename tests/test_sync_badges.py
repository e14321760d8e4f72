"""What the sync badges read (``query/sync.py``): a user with a team remote sees each mirrored run as
synced, pending with the number of points still to go, or failed with the reason; a run no mirror has
seen has no badge, and the REST run list carries the same state for the lab sidebar."""

from __future__ import annotations

import time

from sync_seed import POINTS, REASON, REMOTE, SENT_OF_PENDING, seed_sync_states

import jupyter_tracker as jt
from jupyter_tracker.manage import set_run_tag
from jupyter_tracker.query.sync import fingerprints, run_sync_states, syncing_count
from jupyter_tracker.server import api
from jupyter_tracker.sharing.mirror import RunSync, _save


def test_each_mirrored_run_reads_synced_pending_or_failed_and_an_unmirrored_run_has_no_state(store_dir):
    ids = seed_sync_states()

    states = run_sync_states(list(ids.values()))

    assert states[ids["synced-run"]] == {"state": "synced", "pending_points": 0, "error": None, "remote": REMOTE}
    assert states[ids["pending-run"]] == {"state": "pending", "pending_points": POINTS - SENT_OF_PENDING,
                                          "error": None, "remote": REMOTE}
    assert states[ids["failed-run"]] == {"state": "failed", "pending_points": POINTS, "error": REASON,
                                         "remote": REMOTE}
    assert ids["local-run"] not in states
    assert syncing_count(states) == 1


def test_a_training_run_turns_pending_as_points_arrive_and_stays_pending_until_its_end_is_sent(store_dir):
    with jt.start_run("training", experiment="team-sync", snapshot=False) as run:
        for step in range(4):
            run.log_metric("loss", 1 / (step + 1), step=step)
        with jt.current_store().session() as con:
            _save(con, REMOTE, RunSync(
                run_key=0, run_id=run.run_id, experiment="team-sync", run_name="training", parent_run_id=None,
                status="RUNNING", deleted=False, points=4, fingerprint="", mlflow_run_id="mlflow-training",
                points_sent=4, sent_fingerprint=fingerprints(con, [run.run_id])[run.run_id], tag_keys=[],
                ended=False, last_sent=1, last_error=None))
        assert run_sync_states([run.run_id])[run.run_id]["state"] == "synced"

        for step in range(4, 7):
            run.log_metric("loss", 1 / (step + 1), step=step)
        assert run_sync_states([run.run_id])[run.run_id] == {
            "state": "pending", "pending_points": 3, "error": None, "remote": REMOTE}

    # Ended, all points sent, but the end itself (status, artifacts) has not gone out yet.
    with jt.current_store().session() as con:
        con.execute("UPDATE internal.sync_runs SET points_sent = 7 WHERE run_id = ?", [run.run_id])
    assert run_sync_states([run.run_id])[run.run_id] == {
        "state": "pending", "pending_points": 0, "error": None, "remote": REMOTE}


def test_a_run_renamed_or_tagged_after_it_was_sent_is_pending_until_the_mirror_sends_the_edit(store_dir):
    ids = seed_sync_states()
    synced = ids["synced-run"]
    assert run_sync_states([synced])[synced]["state"] == "synced"

    set_run_tag(synced, "reviewed", "yes")          # what the sidebar's tag editor calls
    assert run_sync_states([synced])[synced] == {"state": "pending", "pending_points": 0, "error": None,
                                                 "remote": REMOTE}
    # The mirror's own bookkeeping tags are no edit of the run.
    with jt.current_store().session() as con:
        con.execute("UPDATE internal.sync_runs SET fingerprint = ? WHERE run_id = ?",
                    [fingerprints(con, [synced])[synced], synced])
    set_run_tag(synced, "jt.pushed_to", REMOTE)
    assert run_sync_states([synced])[synced]["state"] == "synced"


def test_the_rest_run_list_carries_each_runs_sync_state(store_dir, tmp_path):
    ids = seed_sync_states()

    page = api.runs(tmp_path, None, experiment="team-sync")

    by_name = {run["run_name"]: run for run in page["runs"]}
    assert by_name["synced-run"]["sync"]["state"] == "synced"
    assert by_name["pending-run"]["sync"]["pending_points"] == POINTS - SENT_OF_PENDING
    assert by_name["failed-run"]["sync"]["error"] == REASON
    assert "sync" not in by_name["local-run"]
    assert page["syncing"] == 1
    assert set(ids) == set(by_name)


def test_the_run_table_badges_follow_the_mirror_until_it_has_caught_up(store_dir):
    ids = seed_sync_states()
    table = jt.runs("team-sync", refresh_interval=0.05)
    badge = {row["run_name"]: row["sync"] for row in table.rows}
    assert badge["pending-run"]["state"] == "pending" and badge["local-run"] is None

    with jt.current_store().session() as con:
        con.execute("UPDATE internal.sync_runs SET points_sent = ?, ended = true WHERE run_id = ?",
                    [POINTS, ids["pending-run"]])

    deadline = time.monotonic() + 30
    while table.syncing and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {row["run_name"]: row["sync"]["state"] for row in table.rows if row["sync"]} == {
        "synced-run": "synced", "pending-run": "synced", "failed-run": "failed"}
    table.close()
