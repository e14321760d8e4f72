"""A process killed with SIGKILL loses nothing it had logged, and its run shows KILLED."""

from __future__ import annotations

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
        os.write(w.metrics_fd, b"\\x01\\x02\\x03")          # a torn metric record
        os.write(w.events_fd, b'{"t":"tags","slot":0,"it')  # a torn event line
        os.kill(os.getpid(), signal.SIGKILL)
    """)))
    subprocess.run([sys.executable, str(script), "10"], capture_output=True, timeout=120)
    runs = jt.search_runs(experiment="crash")
    assert runs.status.item() == "KILLED"
    assert len(jt.get_metric_history(runs.run_id.item(), "loss")) == 10
