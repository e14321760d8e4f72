"""On a full disk a logging call either returns (and its record is kept) or raises StoreFullError
(and nothing of it was written): never a torn record that swallows the next one."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest
from tmpfs import fill_disk, small_tmpfs

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.errors import StoreFullError, TrackerError

LOGGER = textwrap.dedent("""
    import json, os, sys
    import jupyter_tracker as jt
    from jupyter_tracker.errors import StoreFullError
    store, filler = sys.argv[1], sys.argv[2]
    jt.set_store(store)
    run = jt.start_run(run_name="full", experiment="disk")
    returned, refused = [], 0
    # fill the disk while the run is open, then keep logging into the last bytes and past them
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    while True:
        try:
            os.write(fd, b"\\xff" * 4096)
        except OSError:
            break
    os.close(fd)
    for step in range(3000):
        try:
            if step % 7 == 0:
                run.log_param(f"p{step}", "x" * 50)
            else:
                run.log_metric("loss", float(step), step=step)
            returned.append(step)
        except StoreFullError as exc:
            refused += 1
            assert exc.errno == 28 and "full" in str(exc), exc
    os.unlink(filler)                       # space comes back
    for step in range(3000, 3010):
        run.log_metric("loss", float(step), step=step)
        returned.append(step)
    run.end()
    print(json.dumps({"returned": returned, "refused": refused}))
""")


def test_a_full_disk_refuses_calls_cleanly_and_loses_none_that_returned(tmp_path):
    import json

    with small_tmpfs(tmp_path / "disk", "16m") as disk:
        script = tmp_path / "logger.py"
        script.write_text(LOGGER)
        store = disk / "store"
        done = subprocess.run([sys.executable, str(script), str(store), str(disk / "filler.bin")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["refused"] > 0, "the disk never filled up"
        jt.set_store(store)
        try:
            runs = jt.search_runs(experiment="disk")
            run_id = runs.run_id.item()
            assert runs.status.item() == "FINISHED"
            returned = set(outcome["returned"])
            params = {int(k[len("params.p"):]) for k in runs.columns if k.startswith("params.p")}
            steps = set(jt.get_metric_history(run_id, "loss").step)
            assert params | steps == returned, "a call that returned was lost, or a refused one was kept"
        finally:
            config.set_store_override(None)


def test_store_full_error_is_a_tracker_error_and_an_oserror_with_enospc():
    error = StoreFullError("the disk holding the store /x is full")
    assert isinstance(error, TrackerError) and isinstance(error, OSError) and error.errno == errno.ENOSPC


def test_starting_a_run_on_a_full_disk_raises_store_full(tmp_path):
    with small_tmpfs(tmp_path / "disk", "16m") as disk:
        filler = fill_disk(disk)
        jt.set_store(disk / "store")
        try:
            with pytest.raises(StoreFullError, match="full"):
                jt.start_run(run_name="no room")
            assert jt.active_run() is None
            os.unlink(filler)
            with jt.start_run(run_name="room again") as run:
                run.log_metric("ok", 1.0)
            assert jt.search_runs().run_name.tolist() == ["room again"]
        finally:
            config.set_store_override(None)


GROWER = textwrap.dedent("""
    import json, os, sys
    import jupyter_tracker as jt
    from jupyter_tracker.errors import StoreFullError
    store, filler = sys.argv[1], sys.argv[2]
    from jupyter_tracker.config import get_config
    get_config().capture_environment = False
    jt.set_store(store)
    run = jt.start_run(run_name="grow", experiment="disk")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    while True:  # fill the disk: the metrics file's first reserved window still has room
        try:
            os.write(fd, b"\\xff" * 4096)
        except OSError:
            break
    os.close(fd)
    returned, refused, step = [], 0, 0
    while refused < 3:  # fill the reserved window; the next one cannot be reserved
        try:
            run.log_metric("loss", float(step), step=step)
            returned.append(step)
        except StoreFullError as exc:
            refused += 1
            assert exc.errno == 28 and "full" in str(exc), exc
        step += 1
    os.unlink(filler)
    for later in range(step, step + 20_000):  # space is back: the next window is reserved and used
        run.log_metric("loss", float(later), step=later)
        returned.append(later)
    run.end()
    print(json.dumps({"returned": returned, "refused": refused}))
""")


def test_a_full_disk_refuses_a_metric_that_needs_a_new_window_with_store_full_never_sigbus(tmp_path):
    """The metrics file is mapped: its space is reserved on disk before any record goes into it,
    so a full disk is a StoreFullError from the call that needs more (never a SIGBUS), and the
    calls that returned are all kept."""
    import json

    with small_tmpfs(tmp_path / "disk", "16m") as disk:
        script = tmp_path / "grower.py"
        script.write_text(GROWER)
        store = disk / "store"
        done = subprocess.run([sys.executable, str(script), str(store), str(disk / "filler.bin")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outcome = json.loads(done.stdout)
        assert outcome["refused"] == 3
        jt.set_store(store)
        try:
            run_id = jt.search_runs(experiment="disk").run_id.item()
            steps = jt.get_metric_history(run_id, "loss").step.tolist()
            assert steps == outcome["returned"], "a call that returned was lost, or a refused one was kept"
        finally:
            config.set_store_override(None)
