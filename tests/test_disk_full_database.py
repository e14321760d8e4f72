"""A full disk under the database: reads go on from what is merged, a merge that cannot be written
is one StoreFullError saying how much room the store needs and where, and once space is back the
next read merges everything that was logged."""

from __future__ import annotations

import errno
import shutil
import warnings

import pytest
from tmpfs import fill_disk, small_tmpfs

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.capture import background
from jupyter_tracker.errors import StoreFullError
from jupyter_tracker.manage import set_run_tag
from jupyter_tracker.store import get_store


def _train(run_name: str, steps: int = 300) -> str:
    with jt.start_run(run_name=run_name) as run:
        jt.log_param("steps", steps)
        for step in range(steps):
            jt.log_metric("loss", 1 / (step + 1), step=step)
        jt.set_tag("phase", run_name.split("-")[0])
    background.drain(10)  # the environment, recorded in the background, is in the journal too
    return run.run_id


def test_a_full_disk_keeps_reads_working_and_loses_nothing_once_space_is_back(tmp_path):
    with small_tmpfs(tmp_path / "disk", "24m") as disk:
        store = disk / "store"
        jt.set_store(store)
        try:
            before = [_train(f"before-{n}") for n in range(3)]
            assert sorted(jt.search_runs().run_id) == sorted(before)

            during = [_train(f"during-{n}") for n in range(2)]  # in the journal, not merged yet
            filler = fill_disk(disk, leave_bytes=0)
            with pytest.warns(UserWarning, match="full") as said:
                runs = jt.search_runs()  # the merge fails; the read answers from what is merged
            assert sorted(runs.run_id) == sorted(before)
            assert len(said) == 1 and str(store) in str(said[0].message)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # said once, not on every read
                assert jt.sql("select count(*) as n from runs").n.item() == 3
                assert jt.get_run(before[0]).params == {"steps": "300"}

            with pytest.raises(StoreFullError) as refused:
                get_store(store).merge()
            message = str(refused.value)
            assert str(store) in message and "free" in message and "needs about" in message
            assert refused.value.errno == errno.ENOSPC
            assert "cannot rollback" not in message and "invalidated" not in message
            with pytest.raises(StoreFullError, match="needs about"):
                set_run_tag(before[0], "reviewed", "yes")  # an edit cannot be written either

            filler.unlink()  # space is back
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                runs = jt.search_runs()
            assert sorted(runs.run_id) == sorted(before + during)
            after = _train("after-0")
            runs = jt.search_runs()
            assert sorted(runs.run_id) == sorted([*before, *during, after])
            assert (runs["metrics.loss"] == 1 / 300).all()
            assert jt.sql("select count(*) as n from metrics").n.item() == 6 * 300
            assert set(jt.search_runs(filter="tags.phase = 'during'").run_id) == set(during)
        finally:
            config.set_store_override(None)
            shutil.rmtree(store, ignore_errors=True)


def test_a_checkpoint_the_full_disk_refuses_keeps_the_merge_and_the_next_sessions_work(tmp_path):
    """DuckDB commits a merge to its write-ahead log, then checkpoints it into the file when the
    session ends; with room for the first but not the second, DuckDB invalidates its database. The
    merge is kept (it is in the log), the instance is replaced, and no read ever reports it."""
    checkpoint_refused = False
    for margin in (1_500_000, 1_300_000, 1_700_000, 1_100_000, 1_900_000, 2_300_000):
        with small_tmpfs(tmp_path / f"disk-{margin}", "24m") as disk:
            store = disk / "store"
            jt.set_store(store)
            try:
                first = _train("first", steps=10)
                assert list(jt.search_runs().run_id) == [first]
                big = _train("big", steps=40_000)  # about 1.3 MB of journal to merge
                filler = fill_disk(disk, leave_bytes=margin)
                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always")
                    shown = [sorted(jt.search_runs().run_id) for _ in range(3)]
                    counted = jt.sql("select count(*) as n from runs").n.item()
                messages = [str(w.message) for w in said]
                assert len(messages) == 1 and "full" in messages[0], messages
                assert not any("invalidated" in m or "cannot rollback" in m for m in messages)
                if "safe in tracker.duckdb.wal" in messages[0]:
                    checkpoint_refused = True
                    assert shown == [sorted([first, big])] * 3 and counted == 2
                else:
                    assert shown == [[first]] * 3 and counted == 1
                filler.unlink()
                assert sorted(jt.search_runs().run_id) == sorted([first, big])
                assert jt.sql("select count(*) as n from metrics").n.item() == 40_010
                assert not (store / "tracker.duckdb.wal").exists()  # checkpointed once space was back
            finally:
                config.set_store_override(None)
        if checkpoint_refused:
            break
    assert checkpoint_refused, "no margin let DuckDB commit the merge but refuse its checkpoint"


def test_a_new_store_on_a_full_disk_is_not_left_half_created(tmp_path):
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        store = disk / "store"
        jt.set_store(store)
        try:
            with jt.start_run(run_name="first") as run:  # the journal still fits
                jt.log_metric("loss", 0.5)
            background.drain(10)
            filler = fill_disk(disk, leave_bytes=0)
            with pytest.raises(StoreFullError, match=f"{store}.*needs about"):
                jt.search_runs()
            assert not (store / "tracker.duckdb").exists()  # no empty file that would read as damage
            filler.unlink()
            assert list(jt.search_runs().run_id) == [run.run_id]
        finally:
            config.set_store_override(None)
