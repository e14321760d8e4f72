"""A process killed with SIGKILL loses nothing it had logged, and its run shows KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import jupyter_tracker as jt

CHILD = textwrap.dedent("""
    import os, signal, sys, jupyter_tracker as jt
    points = int(sys.argv[1])
    run = jt.start_run(run_name="doomed", experiment="crash")
    run.log_params({"points": points})
    for step in range(points):
        run.log_metric("loss", step * 0.5, step=step)
    run.set_tag("last", "tag")
    print("returned", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_sigkill_keeps_every_returned_point_and_marks_the_run_killed(store_dir, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    completed = subprocess.run([sys.executable, str(script), "5000"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == -9
    assert completed.stdout.strip() == "returned"

    runs = jt.search_runs(experiment="crash")
    assert runs.status.item() == "KILLED"
    assert runs["params.points"].item() == "5000"
    assert runs["tags.last"].item() == "tag"
    history = jt.get_metric_history(runs.run_id.item(), "loss")
    assert len(history) == 5000
    assert history.value.iloc[-1] == 4999 * 0.5
    record = jt.get_run(runs.run_id.item())
    assert record.end_time is not None and record.error["type"] == "ProcessGone"
    assert not list((store_dir / "journal").glob("*.events"))


def test_a_half_written_record_of_a_dead_writer_is_ignored(store_dir, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD.replace('os.kill(os.getpid(), signal.SIGKILL)', textwrap.dedent("""
        w = run._writer
        w.mm[w.pos:w.pos + 3] = b"\\x01\\x02\\x03"          # a torn metric record (the file is mapped)
        os.write(w.events_fd, b'{"t":"tags","slot":0,"it')  # a torn event line
        os.kill(os.getpid(), signal.SIGKILL)
    """)))
    subprocess.run([sys.executable, str(script), "10"], capture_output=True, timeout=120)
    runs = jt.search_runs(experiment="crash")
    assert runs.status.item() == "KILLED"
    assert len(jt.get_metric_history(runs.run_id.item(), "loss")) == 10


def test_a_forked_child_logs_into_its_parents_run_without_killing_it(store_dir, tmp_path):
    script = tmp_path / "fork.py"
    script.write_text(textwrap.dedent("""
        import os, jupyter_tracker as jt
        with jt.start_run(run_name="parent") as run:
            run.log_metric("loss", 1.0, step=0)
            pid = os.fork()
            if pid == 0:
                for step in range(1, 101):
                    run.log_metric("child_loss", step * 1.0, step=step)
                os._exit(0)
            os.waitpid(pid, 0)
            run.log_metric("loss", 0.5, step=1)
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    runs = jt.search_runs()
    assert runs.status.item() == "FINISHED"
    assert len(jt.get_metric_history(runs.run_id.item(), "child_loss")) == 100
    assert list(jt.get_metric_history(runs.run_id.item(), "loss").value) == [1.0, 0.5]


def test_a_long_lived_process_does_not_grow_one_journal_forever(store_dir, tmp_path, monkeypatch):
    script = tmp_path / "long.py"
    script.write_text(textwrap.dedent("""
        import os, jupyter_tracker as jt, jupyter_tracker.run as run_module
        from jupyter_tracker.capture import background
        run_module.JOURNAL_ROTATE_BYTES = 100_000          # small, for the test
        for index in range(6):
            with jt.start_run(run_name=f"run-{index}") as run:
                for step in range(2000):                    # 64 kB of metric records per run
                    run.log_metric("loss", step, step=step)
                background.drain(30)   # rotation waits for environment capture; make that explicit
        journals = sorted(p.name for p in (jt.current_store().journal_dir).glob("*.events"))
        print(len(journals), len(jt.search_runs()), flush=True)
        print(len(list(jt.current_store().journal_dir.glob("*.events"))), flush=True)
    """))
    output = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    journals_before_read, runs_seen, journals_after_read = map(int, output.split())
    assert journals_before_read >= 3          # rotated every other run or so
    assert runs_seen == 6
    assert journals_after_read <= 1           # retired journals were merged and removed by the read
    runs = jt.search_runs()
    assert set(runs.status) == {"FINISHED"} and len(runs) == 6
    assert jt.sql("select count(*) as n from metrics").n[0] == 12_000


def test_a_killed_parents_run_is_killed_while_its_forked_child_lives_on(store_dir, tmp_path):
    """A multiprocessing child inherits the parent's descriptors; it must not keep the parent's
    journal lock, or the parent's run would stay RUNNING for as long as the child lives."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing, os, signal, time, jupyter_tracker as jt

        def linger():
            time.sleep(60)

        if __name__ == "__main__":
            multiprocessing.set_start_method("fork")
            run = jt.start_run(run_name="parent", experiment="fork")
            run.log_metric("loss", 1.0)
            child = multiprocessing.Process(target=linger)
            child.start()
            print(child.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())  # the child keeps the pipe open: read one line only
    assert parent.wait(timeout=60) == -signal.SIGKILL
    parent.stdout.close()
    try:
        os.kill(child_pid, 0)  # the child is still alive
        runs = jt.search_runs(experiment="fork")
        assert runs.status.item() == "KILLED"
        assert jt.get_metric_history(runs.run_id.item(), "loss").value.tolist() == [1.0]
    finally:
        os.kill(child_pid, signal.SIGKILL)
