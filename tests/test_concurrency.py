"""Several processes write to one store while another reads it: nothing lost, no lock errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import jupyter_tracker as jt

WRITER = textwrap.dedent("""
    import sys, jupyter_tracker as jt
    index, points = int(sys.argv[1]), int(sys.argv[2])
    with jt.start_run(run_name=f"writer-{index}", experiment="concurrency") as run:
        run.log_param("writer", index)
        for step in range(points):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            if step % 5000 == 0:
                run.set_tag("progress", step)
    print("done", flush=True)
""")

READER = textwrap.dedent("""
    import sys, time, jupyter_tracker as jt
    deadline = time.monotonic() + float(sys.argv[1])
    polls = errors = 0
    while time.monotonic() < deadline:
        try:
            jt.search_runs(experiment=None)
            polls += 1
        except Exception as exc:
            errors += 1
            print("ERROR", type(exc).__name__, exc, flush=True)
        time.sleep(0.05)
    print("polls", polls, "errors", errors, flush=True)
""")


def test_four_writers_and_a_polling_reader(store_dir, tmp_path):
    writer_script = tmp_path / "writer.py"
    writer_script.write_text(WRITER)
    reader_script = tmp_path / "reader.py"
    reader_script.write_text(READER)
    reader = subprocess.Popen([sys.executable, str(reader_script), "20"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    writers = [subprocess.Popen([sys.executable, str(writer_script), str(i), "20000"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for i in range(4)]
    outputs = [w.communicate(timeout=300)[0] for w in writers]
    reader_output = reader.communicate(timeout=300)[0]

    assert all(w.returncode == 0 for w in writers), outputs
    assert all(out.strip() == "done" for out in outputs), outputs
    assert "errors 0" in reader_output and "ERROR" not in reader_output, reader_output
    polls = int(reader_output.split("polls")[1].split()[0])
    assert polls >= 10, f"the reader polled only {polls} times while the writers ran"
    runs = jt.search_runs(experiment="concurrency")
    assert len(runs) == 4 and set(runs.status) == {"FINISHED"}
    counts = jt.sql("select run_id, count(*) as n from metrics group by run_id")
    assert sorted(counts.n) == [20000] * 4
    assert jt.sql("select count(*) as n from metrics").n[0] == 80_000
    assert sorted(runs["params.writer"]) == ["0", "1", "2", "3"]


def test_a_reader_sees_points_of_a_run_that_is_still_logging(store_dir, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import time, jupyter_tracker as jt
        with jt.start_run(run_name="live") as run:
            for step in range(100):
                run.log_metric("loss", step, step=step)
            print("logged", flush=True)
            time.sleep(30)
    """))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "logged"
        runs = jt.search_runs()
        assert runs.status.item() == "RUNNING"
        assert len(jt.get_metric_history(runs.run_id.item(), "loss")) == 100
    finally:
        process.kill()
        process.communicate()
    # the kernel releases the dead writer's journal lock as the process is reaped: a bounded wait
    deadline = time.monotonic() + 10
    while jt.search_runs().status.item() != "KILLED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jt.search_runs().status.item() == "KILLED"


LIVE_PANELS_AT_EXIT = textwrap.dedent("""
    import threading, time
    import jupyter_tracker as jt
    from jupyter_tracker.widgets import curves, table
    run = jt.start_run(run_name="still-training", experiment="exit")
    for step in range(2000):
        jt.log_metric("loss", 1 / (step + 1), step=step)
    # Live panels poll a RUNNING run on their own threads; a script that polls too.
    panels = [table.runs("exit", refresh_interval=0.001),
              curves.MetricCurves([run.run_id], ["loss"], poll_interval=0.001)]
    def poll():
        while True:
            try:
                jt.search_runs("exit")
            except jt.TrackerError:
                time.sleep(0.001)
    for _ in range(3):
        threading.Thread(target=poll, daemon=True).start()
    time.sleep(0.3)
    print("leaving with the run open", flush=True)
""")


def test_a_kernel_exits_cleanly_while_its_panels_are_querying(store_dir):
    """Ending the interpreter while live panels and other threads are inside a query used to abort the
    process (SIGABRT from DuckDB, exit status 134, output lost) about every other time. Now the exit
    waits for the queries under way, refuses new ones from other threads, and the open run is ended."""
    for attempt in range(5):
        child = subprocess.run([sys.executable, "-c", LIVE_PANELS_AT_EXIT], capture_output=True, text=True,
                               timeout=120)
        assert child.returncode == 0, f"attempt {attempt}: exit status {child.returncode}\n{child.stderr[-2000:]}"
        assert "leaving with the run open" in child.stdout
        assert "Traceback" not in child.stderr and "terminate called" not in child.stderr, child.stderr[-2000:]
    runs = jt.search_runs("exit")
    assert len(runs) == 5 and set(runs["status"]) == {"FINISHED"}


STEPPING_LOGGER = textwrap.dedent("""
    import sys, jupyter_tracker as jt
    from jupyter_tracker.capture import background
    with jt.start_run(run_name="stepping", experiment="activity") as run:
        background.drain(timeout=30)           # the run's environment and code are written first
        for line in sys.stdin:                 # one point per line the test sends
            run.log_metric("loss", float(line), step=int(float(line)))
            print("logged", flush=True)
""")


def test_a_reader_tells_that_a_process_is_logging_without_opening_the_database(store_dir):
    """``Store.merge_pending``: what team sync's mirror asks before each request, to step aside while a
    training loop logs. A stat and a pread per journal file, no DuckDB session."""
    store = jt.current_store()
    logger = subprocess.Popen([sys.executable, "-c", STEPPING_LOGGER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        for step in range(3):
            logger.stdin.write(f"{step}\n")
            logger.stdin.flush()
            assert logger.stdout.readline() == "logged\n"
            assert store.merge_pending(), f"point {step} was logged and not merged yet"
            with store.session(read_only=True) as con:   # a reader merges it
                assert con.execute("SELECT count(*) FROM internal.metrics").fetchone()[0] == step + 1
            assert not store.merge_pending(), "nothing new since the merge"
        logger.stdin.close()
        assert logger.wait(timeout=60) == 0
        assert store.merge_pending(), "the run's end is new"
        jt.search_runs("activity")
        assert not store.merge_pending()
    finally:
        if logger.poll() is None:
            logger.kill()
            logger.wait()
        logger.stdout.close()
