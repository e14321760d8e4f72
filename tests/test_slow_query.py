"""A slow query holds up nobody: while one process runs a heavy ``jt.sql``, another keeps logging
and a third sees the new points at once, not when the query ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import jupyter_tracker as jt

#: Logs 10 points, then 10 more when told to, and stays alive (its run RUNNING) until stdin closes.
LOGGER = textwrap.dedent("""
    import sys, jupyter_tracker as jt
    with jt.start_run(run_name="live", experiment="slow-query") as run:
        for step in range(10):
            run.log_metric("loss", float(step), step=step)
        print("first ten", flush=True)
        sys.stdin.readline()
        for step in range(10, 20):
            run.log_metric("loss", float(step), step=step)
        print("all twenty", flush=True)
        sys.stdin.readline()
""")

#: A query that takes far longer than the test: a cross join of 10^13 rows.
SLOW_QUERY = textwrap.dedent("""
    import jupyter_tracker as jt
    print("querying", flush=True)
    jt.sql("select sum(a.range * b.range) as s from range(3000000) a, range(3000000) b, metrics")
""")

#: A reader in a fresh process: how long the store took to answer, and what it showed.
READER = textwrap.dedent("""
    import json, time, jupyter_tracker as jt
    started = time.monotonic()
    runs = jt.search_runs(experiment="slow-query")
    history = jt.get_metric_history(runs.run_id.item(), "loss")
    print(json.dumps({"seconds": time.monotonic() - started, "latest": float(runs["metrics.loss"].item()),
                      "points": len(history)}), flush=True)
""")


def _script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_slow_query_stops_neither_a_writers_merge_nor_other_readers(store_dir, tmp_path):
    env = {**os.environ, "JUPYTER_TRACKER_QUERY_TIMEOUT": "120"}
    with subprocess.Popen([sys.executable, _script(tmp_path, "logger.py", LOGGER)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env) as logger:
        assert logger.stdout.readline().strip() == "first ten"
        assert len(jt.search_runs(experiment="slow-query")) == 1  # the first ten are merged
        with subprocess.Popen([sys.executable, _script(tmp_path, "query.py", SLOW_QUERY)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as query:
            try:
                assert query.stdout.readline().strip() == "querying"
                time.sleep(2.0)  # well inside the query now
                assert query.poll() is None, query.stderr.read()

                logger.stdin.write("go\n")
                logger.stdin.flush()
                assert logger.stdout.readline().strip() == "all twenty"
                reader = subprocess.run([sys.executable, _script(tmp_path, "reader.py", READER)],
                                        capture_output=True, text=True, env=env, timeout=100)
                assert reader.returncode == 0, reader.stderr
                seen = json.loads(reader.stdout.splitlines()[-1])
                assert query.poll() is None, "the slow query ended before the reader answered: this proves nothing"
                # The reader merged the ten new points and answered while the query still ran.
                assert seen["seconds"] < 10, seen
                assert seen["latest"] == 19.0 and seen["points"] == 20, seen
                # So does this process, with a query of its own beside the slow one.
                started = time.monotonic()
                assert jt.sql("select count(*) as n from metrics").n.item() == 20
                assert time.monotonic() - started < 10
            finally:
                query.kill()
        logger.stdin.close()
    assert logger.returncode == 0
    runs = jt.search_runs(experiment="slow-query")
    assert runs.status.item() == "FINISHED"
    assert jt.get_metric_history(runs.run_id.item(), "loss").value.tolist() == [float(s) for s in range(20)]
    assert not [p.name for p in store_dir.iterdir() if ".swap-" in p.name]  # no copy left behind


#: Merges while the slow query runs (so it works on a copy of the database), and is SIGKILLed at the
#: moment it would rename that copy over the database: the copy holds the merge, the journals it
#: merged are already gone.
KILLED_MID_SWAP = textwrap.dedent("""
    import os, signal, jupyter_tracker as jt
    from jupyter_tracker.store import database

    def die(self, copy):
        print("killed with the copy at " + copy.name, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    database.Store._install_copy = die
    jt.search_runs(experiment="slow-query")
""")

#: Logs 20 points and ends its run: a finished journal, which the next merge removes.
FINISHED_LOGGER = textwrap.dedent("""
    import jupyter_tracker as jt
    with jt.start_run(run_name="done", experiment="slow-query") as run:
        for step in range(20):
            run.log_metric("loss", float(step), step=step)
""")


def test_a_merge_killed_while_it_swaps_its_copy_in_loses_nothing_and_counts_nothing_twice(store_dir, tmp_path):
    env = {**os.environ, "JUPYTER_TRACKER_QUERY_TIMEOUT": "120"}
    with jt.start_run(run_name="before", experiment="slow-query"):
        jt.log_metric("loss", 1.0)
    assert len(jt.search_runs(experiment="slow-query")) == 1
    with subprocess.Popen([sys.executable, _script(tmp_path, "query.py", SLOW_QUERY)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as query:
        try:
            assert query.stdout.readline().strip() == "querying"
            time.sleep(2.0)
            subprocess.run([sys.executable, _script(tmp_path, "logger.py", FINISHED_LOGGER)], env=env, check=True,
                           timeout=100)
            killed = subprocess.run([sys.executable, _script(tmp_path, "killed.py", KILLED_MID_SWAP)],
                                    capture_output=True, text=True, env=env, timeout=100)
            assert killed.returncode == -9 and "killed with the copy" in killed.stdout, (killed.stdout, killed.stderr)
            assert query.poll() is None, "the slow query ended first: the merge did not need a copy"
            assert [p.name for p in store_dir.iterdir() if ".swap-" in p.name]  # the copy it did not install
            # The next reader installs the dead writer's copy and finds everything exactly once.
            runs = jt.search_runs(experiment="slow-query", order_by=["attributes.run_name"])
            assert runs.run_name.tolist() == ["before", "done"] and runs.status.tolist() == ["FINISHED"] * 2
            done = runs.run_id[runs.run_name == "done"].item()
            assert jt.get_metric_history(done, "loss").value.tolist() == [float(s) for s in range(20)]
        finally:
            query.kill()
    assert jt.sql("select count(*) as n from metrics").n.item() == 21
    assert not [p.name for p in store_dir.iterdir() if ".swap-" in p.name]
