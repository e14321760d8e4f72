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
