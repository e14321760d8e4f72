"""Property: whatever happens to a journal's bytes, a merge never raises, stays small, and never
yields a point, param or run that was not written.

The journal is a real one (format 3: a mapped metrics file whose reserved, unused rest is zeros),
and the same records rewritten in format 2 (records appended, no reserved rest), so damage lands
both in the records and in the zero tail of a partly used reservation. Formats 1 and 2, left by
older versions, still merge whole."""

from __future__ import annotations

import fcntl
import os
import shutil
import tracemalloc
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_tracker.store import Store
from jupyter_tracker.store.journal import FORMAT_VERSION, METRICS_HEADER, METRICS_MAGIC, RECORD_SIZE

POINTS = {("loss", step, step / 8) for step in range(60)} | {("acc", step, 1 - step / 100) for step in range(40)}
PARAMS = {"lr": "0.01", "layers": "3"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict:
    """A real journal written by a real writer (then closed, so its writer is gone), and an empty
    store database to merge copies of it into."""
    import jupyter_tracker as jt

    root = tmp_path_factory.mktemp("pristine") / "store"
    store = Store(root)
    run = jt.Run(store, experiment="fuzz", run_name="written", parent_run_id=None, source={"kind": "script"})
    run.log_params(PARAMS)
    for key, step, value in sorted(POINTS):
        run.log_metric(key, value, step=step)
    run.set_tag("stage", "done")
    run.end()
    writer = store.writer()
    files = {path.suffix: path.read_bytes() for path in (writer.events_path, writer.metrics_path)}
    name = writer.name
    writer.close()
    empty = tmp_path_factory.mktemp("empty") / "store"
    with Store(empty).session(merge=False):
        pass
    return {"name": name, "files": files, "database": (empty / "tracker.duckdb").read_bytes(),
            "run_id": run.run_id}


def in_format(files: dict[str, bytes], version: int) -> dict[str, bytes]:
    """The pristine format-3 journal rewritten as an older version's writer left it: format 2 (the same
    framed records, the header says 2, metric records appended so no zero tail), format 1 (bare JSON
    lines, bare 32-byte records, no header, no checksums)."""
    events, metrics = files[".events"], files[".metrics"]
    records = metrics[RECORD_SIZE:written_size_of(metrics)]
    if version == 3:
        return files
    if version == 2:
        header = METRICS_HEADER.pack(b"JTMETRC2", 2, RECORD_SIZE)
        return {".events": events.replace(b"#jupyter_tracker journal 3\n", b"#jupyter_tracker journal 2\n", 1),
                ".metrics": header + records}
    lines = [line[9:] for line in events.splitlines(keepends=True) if not line.startswith(b"#")]
    payloads = [records[at + 8:at + RECORD_SIZE] for at in range(0, len(records), RECORD_SIZE)]
    return {".events": b"".join(lines), ".metrics": b"".join(payloads)}


def written_size_of(metrics: bytes) -> int:
    """Where a metrics file's records end: before its zero rest, rounded up to a whole record."""
    return -(-len(metrics.rstrip(b"\0")) // RECORD_SIZE) * RECORD_SIZE


damage = st.one_of(
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=600)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("zero"), st.floats(0, 1), st.integers(1, 400)),
    st.tuples(st.just("flip"), st.lists(st.floats(0, 1), min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=100)),
)


def _damaged(data: bytes, operations, region: str) -> bytes:
    """``data`` with ``operations`` applied. Positions are fractions of the whole file, or with
    ``region="records"`` of the part that holds records (a mapped file's zero rest excluded, so the
    damage hits records, not only unused space); "append" then writes garbage right after the last
    record, into the reserved zeros, as a stray writer of the mapped file would."""
    buffer = bytearray(data)
    for operation in operations:
        kind = operation[0]
        span = len(buffer) if region == "file" else min(len(buffer), written_size_of(bytes(buffer)))
        if kind == "append":
            buffer[span:span + len(operation[1])] = operation[1]
        elif kind == "truncate":
            del buffer[int(span * operation[1]):]
        elif kind == "zero":
            start = int(span * operation[1])
            buffer[start:start + operation[2]] = bytes(len(buffer[start:start + operation[2]]))
        elif kind == "flip":
            for where in operation[1]:
                if buffer:
                    buffer[min(int(span * where), len(buffer) - 1)] ^= 0x5A
        else:
            at = int(span * operation[1])
            buffer[at:at] = operation[2]
    return bytes(buffer)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(version=st.sampled_from([3, 3, 2]), which=st.sampled_from([".events", ".metrics", "both"]),
       operations=st.lists(damage, min_size=1, max_size=3), region=st.sampled_from(["records", "records", "file"]),
       writer_alive=st.booleans())
def test_a_damaged_journal_merges_without_error_and_invents_nothing(pristine, tmp_path, version, which, operations,
                                                                    region, writer_alive):
    root = tmp_path / f"store-{os.urandom(4).hex()}"
    (root / "journal").mkdir(parents=True)
    (root / "tracker.duckdb").write_bytes(pristine["database"])
    for suffix, written in in_format(pristine["files"], version).items():
        damaged = _damaged(written, operations, region) if which in (suffix, "both") else written
        (root / "journal" / f"{pristine['name']}{suffix}").write_bytes(damaged)
    holder = None
    if writer_alive:  # hold the events file's lock as a living writer does
        holder = os.open(root / "journal" / f"{pristine['name']}.events", os.O_RDONLY)
        fcntl.flock(holder, fcntl.LOCK_EX)
    store = Store(root)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            store.merge()
            store.merge()  # a second merge reads nothing twice
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        if holder is not None:
            os.close(holder)
    assert peak < 64 << 20, f"a merge of a {sum(map(len, pristine['files'].values()))}-byte journal peaked at {peak}"
    with store.session(merge=False) as con:
        runs = con.execute("SELECT run_id FROM internal.runs").fetchall()
        points = con.execute("""SELECT k.key, m.step, m.value FROM internal.metrics m
                                JOIN internal.metric_keys k USING (key_id)""").fetchall()
        params = dict(con.execute("SELECT key, value FROM internal.params").fetchall())
    assert set(runs) <= {(pristine["run_id"],)}
    assert set(points) <= POINTS, set(points) - POINTS
    assert len(points) == len(set(points)), "a point was merged twice"
    assert params.items() <= PARAMS.items()
    shutil.rmtree(root)


def test_the_pristine_journal_is_format_3_with_a_reserved_zero_rest(pristine):
    metrics = pristine["files"][".metrics"]
    assert metrics[:8] == METRICS_MAGIC == b"JTMETRC3" and FORMAT_VERSION == 3
    assert written_size_of(metrics) == RECORD_SIZE * (1 + len(POINTS)) < len(metrics)  # the damage has zeros to hit


@pytest.mark.parametrize("version", [3, 2, 1])
def test_an_undamaged_journal_merges_whole(pristine, tmp_path, version):
    root = tmp_path / "store"
    (root / "journal").mkdir(parents=True)
    (root / "tracker.duckdb").write_bytes(pristine["database"])
    for suffix, data in in_format(pristine["files"], version).items():
        (root / "journal" / f"{pristine['name']}{suffix}").write_bytes(data)
    store = Store(root)
    store.merge()
    with store.session(merge=False) as con:
        points = con.execute("""SELECT k.key, m.step, m.value FROM internal.metrics m
                                JOIN internal.metric_keys k USING (key_id)""").fetchall()
        status = con.execute("SELECT status FROM internal.runs").fetchall()
    assert set(points) == POINTS and status == [("FINISHED",)]
    assert not list(Path(root / "journal").glob("*.events"))
