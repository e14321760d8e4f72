"""A damaged journal never invents, re-attributes or eats points, and never bloats a reader.

Each story damages the journal of a live writer process between two phases of its logging (as a
disk error, a stray tool or an attacker would), then reads the store while the writer goes on
and again after it finished.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

import jupyter_tracker as jt

WRITER = textwrap.dedent("""
    import sys, jupyter_tracker as jt
    run = jt.start_run(run_name="victim", experiment="damage")
    writer = run._writer
    print(writer.metrics_path, writer.events_path, flush=True)
    for step in range(100):
        run.log_metric("loss", float(step), step=step)
    print("phase 1 logged", flush=True)
    sys.stdin.readline()
    for step in range(100, 200):
        run.log_metric("loss", float(step), step=step)
    run.set_tag("after", "damage")
    print("phase 2 logged", flush=True)
    sys.stdin.readline()
    run.end()
""")


class LiveWriter:
    """A real writer process paused between its phases."""

    def __init__(self, tmp_path: Path) -> None:
        script = tmp_path / "writer.py"
        script.write_text(WRITER)
        self.process = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        metrics, events = self.process.stdout.readline().split()
        self.metrics, self.events = Path(metrics), Path(events)
        assert self.process.stdout.readline().strip() == "phase 1 logged"

    def next_phase(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()

    def finish(self) -> None:
        self.next_phase()
        assert self.process.stdout.readline().strip() == "phase 2 logged"
        self.next_phase()
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0
        self.process.stdout.close()


def loss_history() -> list[tuple[int, float]]:
    runs = jt.search_runs(experiment="damage")
    history = jt.get_metric_history(runs.run_id.item(), "loss")
    return list(zip(history.step.tolist(), history.value.tolist()))


def assert_no_invented_points(points: list[tuple[int, float]]) -> None:
    assert all(0 <= step < 200 and value == float(step) for step, value in points), points[:5]
    assert len({step for step, _ in points}) == len(points), "a point was doubled"


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as sink:
        sink.write(data)


def test_garbage_appended_to_a_live_journal_is_skipped_and_later_records_still_read(store_dir, tmp_path):
    writer = LiveWriter(tmp_path)
    # ids of 0xFFFFFFFF made readers size arrays by them (tens of GiB); now they are no record
    _append(writer.metrics, b"\xff" * 40_000 + os.urandom(4_003))
    _append(writer.events, b"not json at all\n" + os.urandom(500) + b"\n")
    writer.finish()
    with pytest.warns(RuntimeWarning, match="damaged or invalid journal record"):
        points = loss_history()
    assert_no_invented_points(points)
    assert len(points) == 200
    run = jt.get_run(jt.search_runs(experiment="damage").run_id.item())
    assert run.tags["after"] == "damage" and run.status == "FINISHED"


def test_a_journal_cut_mid_record_under_its_writer_loses_only_what_the_cut_took(store_dir, tmp_path):
    """The metrics file is mapped (format 3): cutting it short under its live writer takes the
    pages of the next records away, so the writer's next store there is a SIGBUS, as for any mapped
    file. Every record before the cut is still read, nothing after it is misread, and the run of
    the dead writer shows KILLED."""
    writer = LiveWriter(tmp_path)
    os.truncate(writer.metrics, 40 + 40 * 100 - 13)  # the header, 100 records; step 99's loses 13 bytes
    writer.next_phase()
    assert writer.process.wait(timeout=60) == -signal.SIGBUS
    writer.process.stdin.close()
    writer.process.stdout.close()
    points = loss_history()
    assert_no_invented_points(points)
    assert [step for step, _ in points] == list(range(99))
    assert jt.search_runs(experiment="damage").status.item() == "KILLED"


def test_a_zeroed_region_yields_no_points(store_dir, tmp_path):
    writer = LiveWriter(tmp_path)
    with open(writer.metrics, "r+b") as file:
        file.seek(40 + 40 * 10)
        file.write(bytes(40 * 20))  # the records of steps 10..29
    writer.finish()
    with pytest.warns(RuntimeWarning):
        points = loss_history()
    assert_no_invented_points(points)
    assert [step for step, _ in points] == [*range(10), *range(30, 200)]
    assert 0 in dict(points)  # step 0 is the real one, value 0.0, not a zeroed record


def test_a_forged_key_line_cannot_reattribute_points(store_dir, tmp_path):
    writer = LiveWriter(tmp_path)
    salt = int(writer.events.name.split(".")[0].rsplit("-", 1)[1], 16)
    body = json.dumps({"t": "key", "id": 0, "key": "forged"}).encode()
    _append(writer.events, b"%08x %s\n" % (zlib.crc32(body, salt), body))  # framed correctly, even
    _append(writer.events, body + b"\n")                                      # and unframed
    writer.finish()
    with pytest.warns(RuntimeWarning):
        points = loss_history()
    assert len(points) == 200
    run = jt.get_run(jt.search_runs(experiment="damage").run_id.item())
    assert set(run.metrics) == {"loss"}


def test_a_reader_of_a_huge_damaged_journal_stays_small(store_dir, tmp_path):
    writer = LiveWriter(tmp_path)
    with open(writer.metrics, "ab") as sink:  # 200 MB of records whose ids are all 0xFFFFFFFF
        block = b"\xff" * (4 << 20)
        for _ in range(50):
            sink.write(block)
    with open(writer.events, "ab") as sink:  # 40 MB of empty and garbage lines
        for _ in range(10):
            sink.write(b"\n" * (2 << 20) + b"garbage line\n" * 160_000)
    writer.finish()
    reader = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent("""
            import resource, jupyter_tracker as jt
            runs = jt.search_runs(experiment="damage")
            while len(jt.get_metric_history(runs.run_id.item(), "loss")) < 200:
                runs = jt.search_runs(experiment="damage")
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
        """)], capture_output=True, text=True, timeout=300, check=True)
    peak_mb = int(reader.stdout.split()[-1])
    # Before framing, such a journal made readers try to allocate tens of GiB (and grow to 12 GB).
    # Alone this reader peaks near 250 MB; once, inside the loaded full suite, it reached 775 MB.
    assert peak_mb < 1024, f"the reader grew to {peak_mb} MB merging a 240 MB damaged journal"
    print(f"reader peak RSS merging a 240 MB damaged journal: {peak_mb} MB")
    points = loss_history()  # merged by the reader process above
    assert_no_invented_points(points)
    assert len(points) == 200


def test_a_journal_of_the_previous_format_still_merges(store_dir):
    """Format 1 (bare JSON lines and 32-byte records, no checksums) left by an older version."""
    journal = store_dir / "journal"
    journal.mkdir(parents=True)
    name = "oldhost-4242-0badcafe"
    start = 1_700_000_000_000
    events = [
        {"t": "run", "slot": 0, "run_id": "a" * 32, "experiment": "legacy", "name": "old-run", "parent": None,
         "start": start, "user": "me", "host": "oldhost", "pid": 4242, "source": {"kind": "script"}},
        {"t": "key", "id": 0, "key": "acc"},
        {"t": "params", "slot": 0, "items": {"lr": "0.1"}, "ts": start},
        {"t": "end", "slot": 0, "status": "FINISHED", "ts": start + 50},
    ]
    (journal / f"{name}.events").write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in events))
    (journal / f"{name}.metrics").write_bytes(
        b"".join(struct.pack("<IIqqd", 0, 0, step, start + step, step / 10) for step in range(5)))
    runs = jt.search_runs(experiment="legacy")
    assert runs.status.item() == "FINISHED" and runs["params.lr"].item() == "0.1"
    assert jt.get_metric_history(runs.run_id.item(), "acc").value.tolist() == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert not list(journal.glob(f"{name}.*")), "a merged dead journal is removed"


def test_merge_memory_does_not_depend_on_ids_in_records():
    """The merge's id mapping is sized by definitions, never by the values records carry."""
    import numpy as np

    from jupyter_tracker.store.merge import _map_ids

    mapped = _map_ids(np.array([0, 7, 2**32 - 1], dtype=np.uint32), {0: 11, 2: 12})
    assert mapped.tolist() == [11, -1, -1]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 4 << 20  # KiB: far below 4 GiB


def test_a_journal_the_database_refuses_is_set_aside_and_the_others_merge(store_dir, tmp_path, monkeypatch):
    """If the database refuses a journal's batch for a reason no check foresaw, that one journal is
    moved, intact, into the quarantine; every other journal still merges and doctor says so."""
    import duckdb

    from jupyter_tracker.health import store_health
    from jupyter_tracker.store import merge

    for name in ("poison", "good"):
        script = tmp_path / f"{name}.py"
        script.write_text(f"import jupyter_tracker as jt\nwith jt.start_run(run_name={name!r}) as run:\n"
                          f"    run.log_metric('loss', 1.0)\n")
        subprocess.run([sys.executable, str(script)], check=True, timeout=120)
    real_write_batch = merge._write_batch

    def refusing(con, batch):
        if any(run["run_name"] == "poison" for run in batch.runs):
            raise duckdb.ConversionException("Conversion Error: a value this version cannot store")
        return real_write_batch(con, batch)

    monkeypatch.setattr(merge, "_write_batch", refusing)
    assert jt.search_runs().run_name.tolist() == ["good"]
    health = store_health()
    assert len(health["set_aside_journals"]) == 1 and health["problems"]
    assert (store_dir / "quarantine" / f"{health['set_aside_journals'][0]}.events").exists()
    assert not list((store_dir / "journal").glob("*.events"))


def test_a_backlog_larger_than_one_chunk_is_read_whole_by_the_next_reader(store_dir, tmp_path):
    """A merge reads a journal in bounded chunks (bounded memory), chunk after chunk, so one read
    still sees everything logged before it (a kernel that logged 900,000 points and went idle)."""
    script = tmp_path / "idle.py"
    script.write_text(textwrap.dedent("""
        import sys, jupyter_tracker as jt
        run = jt.start_run(run_name="big", experiment="backlog")
        for step in range(900_000):  # 36 MB of metric records: more than one merge reads
            run.log_metric("loss", 0.5, step=step)
        print("logged", flush=True)
        sys.stdin.readline()
        run.end()
    """))
    writer = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline().strip() == "logged"
        run_id = jt.search_runs(experiment="backlog").run_id.item()
        assert len(jt.get_metric_history(run_id, "loss")) == 900_000
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
        writer.stdout.close()
