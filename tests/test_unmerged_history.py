"""A reader in another process sees a live run's points as soon as they are logged, exactly.

``get_metric_history`` reads the points still in a writer's journal without merging them (the
database is not written); the answer is the same as after a merge: no point twice, none missing,
damaged records skipped. Each story drives a real writer process, paused between its phases.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import jupyter_tracker as jt
from jupyter_tracker.store.database import get_store
from jupyter_tracker.store.journal import METRICS_HEADER, READ_BLOCK, RECORD_SIZE

WRITER = textwrap.dedent("""
    import sys, jupyter_tracker as jt
    run = jt.start_run(run_name="live", experiment="tails")
    print(run.run_id, run._writer.metrics_path, flush=True)
    step = 0
    for line in sys.stdin:
        command = line.split()
        if command[0] == "end":
            break
        if command[0] == "zero":  # one last point of 0.0 (its record ends in eight zero bytes)
            run.log_metric("loss", 0.0, step=step)
            step += 1
        else:
            for _ in range(int(command[0])):
                run.log_metric("loss", float(step), step=step)
                step += 1
        print("logged", step, flush=True)
    run.end()
""")


class Writer:
    """A real writer process that logs when told to and stays alive (its run RUNNING) in between."""

    def __init__(self, tmp_path: Path) -> None:
        script = tmp_path / "writer.py"
        script.write_text(WRITER)
        self.process = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        run_id, metrics = self.process.stdout.readline().split()
        self.run_id, self.metrics = run_id, Path(metrics)

    def log(self, command: str) -> int:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        words = self.process.stdout.readline().split()
        assert words[0] == "logged", words
        return int(words[1])

    def end(self) -> None:
        self.process.stdin.write("end\n")
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0
        self.process.stdout.close()


def merged_points(store_dir: Path, run_id: str) -> int:
    """Points of ``run_id`` in the database itself (what merges wrote), read without merging."""
    with get_store(store_dir).session(merge=False) as con:
        (count,) = con.execute("""SELECT count(*) FROM internal.metrics m JOIN internal.runs r USING (run_key)
                                  WHERE r.run_id = ?""", [run_id]).fetchall()[0]
    return count


def steps(run_id: str) -> list[int]:
    history = jt.get_metric_history(run_id, "loss")
    assert (history.value == history.step.astype(float)).all(), "a point was re-attributed or invented"
    return history.step.tolist()


def test_a_live_runs_points_are_visible_without_a_merge_and_exactly_once_after_one(store_dir, tmp_path):
    writer = Writer(tmp_path)
    try:
        writer.log("1000")
        # The run itself is not merged yet: it is found in the journal, by its id or a prefix.
        assert steps(writer.run_id) == list(range(1000))
        assert steps(writer.run_id[:8]) == list(range(1000))
        assert merged_points(store_dir, writer.run_id) == 0, "reading the history merged the journal"
        jt.search_runs(experiment="tails")  # a merge: the first 1,000 points go into the database
        assert merged_points(store_dir, writer.run_id) == 1000
        writer.log("500")
        assert steps(writer.run_id) == list(range(1500)), "merged rows and the tail overlap or leave a gap"
        assert merged_points(store_dir, writer.run_id) == 1000
    finally:
        writer.end()
    assert steps(writer.run_id) == list(range(1500))
    assert jt.get_run(writer.run_id).status == "FINISHED"


def test_a_last_point_of_zero_is_visible_while_its_writer_lives_and_kept_after_sigkill(store_dir, tmp_path):
    writer = Writer(tmp_path)
    writer.log("10")
    assert writer.log("zero") == 11
    history = jt.get_metric_history(writer.run_id, "loss")
    assert history.step.tolist() == list(range(11)) and history.value.iloc[-1] == 0.0
    writer.process.send_signal(signal.SIGKILL)
    writer.process.wait(timeout=60)
    writer.process.stdin.close()
    writer.process.stdout.close()
    runs = jt.search_runs(experiment="tails")
    assert runs.status.tolist() == ["KILLED"]
    history = jt.get_metric_history(writer.run_id, "loss")
    assert history.step.tolist() == list(range(11)) and history.value.iloc[-1] == 0.0


@pytest.mark.parametrize("blocks", [1, 1.5])
def test_a_zeroed_region_ending_on_a_read_block_boundary_does_not_hide_later_points(store_dir, tmp_path, blocks):
    """A zeroed region (a disk error, a stray tool) of a live writer's journal that ended exactly on
    one of the reader's 640 KiB read blocks stopped every read there until the writer ended; so did
    one longer than a block."""
    writer = Writer(tmp_path)
    try:
        writer.log("100")
        jt.search_runs(experiment="tails")  # merged up to the 100th record
        logged = writer.log("40000")
        start = METRICS_HEADER.size + 100 * RECORD_SIZE
        lost = int(blocks * READ_BLOCK) // RECORD_SIZE
        with open(writer.metrics, "r+b") as journal:  # zero whole records from there
            journal.seek(start)
            journal.write(bytes(lost * RECORD_SIZE))
        expected = list(range(100)) + list(range(100 + lost, logged))
        assert steps(writer.run_id) == expected, "points after the zeroed block are not visible"
        with pytest.warns(RuntimeWarning, match="skipped 1 damaged"):  # the merge reads past it too
            jt.search_runs(experiment="tails")
        assert merged_points(store_dir, writer.run_id) == len(expected)
        assert writer.log("10") == logged + 10
        assert steps(writer.run_id) == expected + list(range(logged, logged + 10))
    finally:
        writer.end()
    assert len(steps(writer.run_id)) == len(expected) + 10
    assert os.listdir(Path(store_dir) / "quarantine"), "the zeroed region was not reported"


FORKING_WRITER = textwrap.dedent("""
    import os, sys, jupyter_tracker as jt
    from signal import pause as signal_pause
    run = jt.start_run(run_name="forked", experiment="tails")
    for step in range(5):
        run.log_metric("loss", float(step), step=step)
    print(run.run_id, flush=True)
    sys.stdin.readline()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child attaches the run to a journal of its own
        for step in range(5, 10):
            run.log_metric("loss", float(step), step=step)
        os.write(write, b"x")
        os.close(read)
        os.close(write)
        signal_pause()  # stays alive until the parent ends it
    os.close(write)
    os.read(read, 1)
    print("forked", flush=True)
    sys.stdin.readline()
    os.kill(child, 9)
    os.waitpid(child, 0)
    run.end()
""")


def test_points_a_forked_child_logs_to_its_parents_merged_run_are_read_from_its_own_journal(store_dir, tmp_path):
    script = tmp_path / "forking.py"
    script.write_text(FORKING_WRITER)
    process = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        run_id = process.stdout.readline().strip()
        jt.search_runs(experiment="tails")  # the run and its first 5 points are merged
        process.stdin.write("\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "forked"
        assert len(list((Path(store_dir) / "journal").glob("*.metrics"))) == 2
        assert steps(run_id) == list(range(10)), "the child's journal (its attach unmerged) was not read"
        assert merged_points(store_dir, run_id) == 5
    finally:
        process.stdin.write("\n")
        process.stdin.close()
        assert process.wait(timeout=60) == 0
        process.stdout.close()
    assert steps(run_id) == list(range(10))


def test_a_key_a_live_writer_defines_while_a_merge_reads_its_journal_keeps_its_points(store_dir, monkeypatch):
    """The merge reads a journal's events, then its metrics. A live writer that defines a new metric
    and logs it between those two reads stored records whose key the merge had not read yet: they
    must wait for (or be defined by) the events written meanwhile, never be set aside as invalid."""
    from jupyter_tracker.store import merge

    run = jt.start_run(run_name="live", experiment="race")
    run.log_metric("loss", 1.0, step=0)
    reading_metrics = merge.read_metrics

    def a_new_key_logged_meanwhile(*args, **kwargs):
        monkeypatch.setattr(merge, "read_metrics", reading_metrics)  # once
        for step in range(5):
            run.log_metric("acc", step / 10, step=step)
        return reading_metrics(*args, **kwargs)

    monkeypatch.setattr(merge, "read_metrics", a_new_key_logged_meanwhile)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "skipped N damaged or invalid journal record(s)" fails the story
        get_store(store_dir).merge()
    assert list(jt.get_metric_history(run.run_id, "acc")["value"]) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert not (store_dir / "quarantine").exists() or not any((store_dir / "quarantine").iterdir())
    run.end()
