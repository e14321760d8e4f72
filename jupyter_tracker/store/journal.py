"""The write path and its on-disk format: one append-only journal per writer process.

A journal is a pair of files in ``<store>/journal/``, named ``<host>-<pid>-<salt>`` where
``salt`` is 8 random hex digits that also seed every record's checksum (so a record copied from
another journal, or left over from an earlier file, never checks out here):

* ``<name>.events``: one JSON record per line (run start/end, params, tags, artifacts, snapshots,
  console, key definitions). Formats 2 and 3 start with the line ``#jupyter_tracker journal <N>``
  and frame every record as ``<crc32 of the JSON, 8 hex digits> <JSON>\\n``.
* ``<name>.metrics``: a 40-byte header (``JTMETRC3``, version, record size), then fixed 40-byte
  records ``<u32 marker "JTM1", u32 crc32 of the payload, payload: u32 run slot, u32 key id,
  i64 step, i64 timestamp ms, f64 value>``. An all-zero record is never valid.

Format 3 (this version) maps the metrics file: the writer reserves space on disk first
(``posix_fallocate``, so a full disk is a ``StoreFullError`` at that point, never a SIGBUS on a
store into an unbacked page), maps it ``MAP_SHARED`` and packs each record into the mapping with
no system call. The kernel owns a shared mapping's dirty pages, so a record is in the file (the
page cache) the moment the call returns and survives a SIGKILL of its writer. The file grows by
windows: each is reserved, then mapped; the unused, reserved rest of the last one reads as zeros,
which is "no record". A record is committed when its checksum checks: readers stop at the first
invalid record of a live writer's file (the next record is still being written), skip damage
between valid records (the marker and the checksum resynchronise them) and, once the writer is
gone, take the zero tail as unused space and a short non-zero rest as its unfinished last record.

Format 2 (the same records, appended with one ``os.write`` per call) and format 1 (JSON lines,
32-byte metric records, no checksums) journals, left by older versions, are still read.

Every record reaches the operating system before the logging call returns, so a process killed
with SIGKILL loses nothing it had logged; an append is all-or-nothing (short writes are finished
or cut off again, and a full disk is a ``StoreFullError``). The writer holds an ``flock`` on its
events file for its whole life; a merger that can take that lock knows the writer is gone. What a
mapped file cannot survive is another program cutting it short under its live writer: the
writer's next store into a page past the new end is a SIGBUS (as for every mapped file).
"""

from __future__ import annotations

import errno
import json
import math
import mmap
import os
import socket
import struct
import threading
import uuid
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidTextError, StoreError, StoreFullError, StoreReadOnlyError
from .events import first_bad_text, key_defined

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

FORMAT_VERSION = 3
#: The first format whose metrics file is mapped (preallocated, zero tail, no append per record).
MAPPED_VERSION = 3
EVENTS_SUFFIX = ".events"
METRICS_SUFFIX = ".metrics"

#: The header of a format-2/3 metrics file: magic, version, record size, then zeros to 40 bytes.
METRICS_HEADER = struct.Struct("<8sII24x")
METRICS_MAGIC = b"JTMETRC3"
#: One metric record (formats 2 and 3): marker, crc32(payload, salt), payload.
METRIC_RECORD = struct.Struct("<II32s")
METRIC_PAYLOAD = struct.Struct("<IIqqd")
#: The same record as the writer packs it: marker, crc32, (slot, key id) prefix, (step, ms, value) tail.
#: The prefix is fixed per (run, key), so its bytes and its share of the CRC are computed once.
METRIC_PREFIX = struct.Struct("<II")
METRIC_TAIL = struct.Struct("<qqd")
METRIC_PARTS = struct.Struct("<II8s24s")
RECORD_MARKER = 0x314D544A  # b"JTM1" read as a little-endian u32
RECORD_SIZE = METRIC_RECORD.size
#: Mapped windows are whole pages and whole records, so no record straddles two windows.
WINDOW_QUANTUM = math.lcm(mmap.ALLOCATIONGRANULARITY, RECORD_SIZE)
FIRST_WINDOW = 16 * WINDOW_QUANTUM     # 320 KiB (8,191 records after the header) with 4 KiB pages
LARGEST_WINDOW = 1024 * WINDOW_QUANTUM  # 20 MiB: windows double up to this
METRIC_DTYPE = [("marker", "<u4"), ("crc", "<u4"), ("slot", "<u4"), ("key", "<u4"), ("step", "<i8"),
                ("timestamp", "<i8"), ("value", "<f8")]
EVENTS_HEADER = b"#jupyter_tracker journal %d\n" % FORMAT_VERSION

#: Format 1 (before checksums): bare 32-byte records and bare JSON lines.
LEGACY_METRIC_RECORD = struct.Struct("<IIqqd")
LEGACY_METRIC_DTYPE = [("slot", "<u4"), ("key", "<u4"), ("step", "<i8"), ("timestamp", "<i8"),
                       ("value", "<f8")]

#: A merge reads at most this much of one journal file; the rest waits for the next merge, so a
#: merge's memory is bounded by what it reads, whatever the file's size.
MAX_READ_BYTES = 32 * 1024 * 1024
#: Damaged lines of one read kept with their bytes for the quarantine; the rest are counted.
MAX_DAMAGE_REPORTS = 100
#: One event line longer than this is damage (real events are small: content goes to objects/).
MAX_EVENT_LINE = 16 * 1024 * 1024

#: The reason given for an unfinished last record of a writer that is gone: what a crash in the
#: middle of an append leaves (not damage: the call that wrote it never returned).
TORN = "an unfinished last record (its writer died while appending it)"
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def salt_of(name: str) -> int:
    """The checksum seed of journal ``name`` (its last 8 hex digits; 0 for a foreign name)."""
    try:
        return int(name.rsplit("-", 1)[-1][-8:], 16)
    except ValueError:
        return 0


def frame_event(record: dict[str, Any], salt: int) -> bytes:
    """One events-file line for ``record``: checksum, space, compact JSON, newline."""
    body = json.dumps(record, separators=(",", ":"), default=str, allow_nan=True).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body, salt), body)


def storage_error(exc: OSError, what: str, journal_dir: Path) -> StoreError:
    """The TrackerError for an OSError met while writing ``what`` into the journals of a store."""
    where = journal_dir.parent
    if exc.errno in _FULL_DISK:
        free = _free_bytes(where)
        return StoreFullError(
            f"the disk holding the store {where} is full ({free:,} bytes free): {what} was not written, "
            f"and nothing already logged was lost. Free at least 1 MB there (or move the store with "
            f"jt.set_store()), then log again")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreReadOnlyError(
            f"the store {where} cannot be written ({exc.strerror or exc}): it is on read-only media or not "
            f"yours. Its runs can still be read; to log, choose a store you can write with jt.set_store()")
    return StoreError(f"cannot write {what} under {where}: {exc.strerror or exc}. Nothing already "
                      f"logged was lost; fix the cause and log again")


def _free_bytes(where: Path) -> int:
    try:
        stats = os.statvfs(where)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize


class JournalWriter:
    """The current process's journal in one store. Create through ``Store.writer()``.

    Metric records go into the mapped window ``mm``: ``pos`` is where the next record goes in it and
    ``end`` its length. ``Run.log_metric`` packs a record at ``pos`` itself (claiming it with
    ``pos += RECORD_SIZE`` in the same bytecode run as the store, which no other thread can
    interleave under the GIL); when the window is full it calls ``append_metrics``, which reserves
    and maps the next window."""

    def __init__(self, journal_dir: Path) -> None:
        import fcntl

        try:
            journal_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, "a new journal", journal_dir) from None
        self.salt = uuid.uuid4().int & 0xFFFFFFFF
        self.name = f"{socket.gethostname()}-{os.getpid()}-{self.salt:08x}"
        self.pid = os.getpid()
        self.journal_dir = journal_dir
        self.metrics_path = journal_dir / f"{self.name}{METRICS_SUFFIX}"
        self.events_path = journal_dir / f"{self.name}{EVENTS_SUFFIX}"
        self._lock = threading.Lock()
        self.closed = False
        self._key_ids: dict[str, int] = {}
        self._next_slot = 0
        self.mm: mmap.mmap | None = None
        self.pos = self.end = 0  # end 0: every metric goes the slow way (until mapped, after close)
        self.window_start = 0
        self._next_window: tuple[int, mmap.mmap] | None = None
        pending = journal_dir / f".{self.name}.pending"
        try:
            self.metrics_fd = os.open(self.metrics_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            self.events_fd = os.open(pending, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise storage_error(exc, "a new journal", journal_dir) from None
        try:
            self._append(self.events_fd, EVENTS_HEADER, "a new journal")
            first = self._reserve_window(0, FIRST_WINDOW, "a new journal")
            METRICS_HEADER.pack_into(first, 0, METRICS_MAGIC, FORMAT_VERSION, RECORD_SIZE)
            self.mm, self.pos, self.end = first, METRICS_HEADER.size, FIRST_WINDOW
        except StoreError:
            self._discard(pending)
            raise
        # The events file appears under its final name only once it is locked, so a merger can
        # never mistake a journal being born for the journal of a dead writer.
        fcntl.flock(self.events_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(pending, self.events_path)
        _writers.add(self)

    def _discard(self, pending: Path) -> None:
        self.close()
        for path in (self.metrics_path, pending):
            path.unlink(missing_ok=True)

    # -- appending ---------------------------------------------------------------------------
    def event(self, record: dict[str, Any]) -> None:
        """Append one event record; it has reached the OS when this returns, or nothing did."""
        if self.closed:
            raise StoreError(f"journal {self.name} was closed; nothing can be appended to it")
        bad_text = first_bad_text(record)
        if bad_text:  # the merge would only quarantine it: refuse it while the caller is still here
            raise InvalidTextError(
                f"the {record.get('t', 'event')!r} record was not written: {bad_text}, a lone surrogate "
                f"(undecodable bytes from a file name or a decode with errors='surrogateescape'). Pass text, "
                f"e.g. os.fsencode(name).decode('utf-8', 'replace')")
        line = frame_event(record, self.salt)
        with self._lock:
            self._append(self.events_fd, line, f"the {record.get('t', 'event')!r} record")

    def metrics(self, records: bytes) -> None:
        """Store framed metric records (whole ones); all of them are in the file, or none (the space
        they need is reserved before the first is stored)."""
        self.append_metrics(records, "the metric")

    def append_metrics(self, records: bytes, what: str) -> None:
        """The slow way of storing records: under the lock, reserving the next window first when the
        current one has no room for them all (a full disk raises before anything is stored)."""
        with self._lock:
            if self.closed:
                raise StoreError(f"journal {self.name} was closed; nothing can be appended to it")
            count = len(records) // RECORD_SIZE
            if (self.end - self.pos) // RECORD_SIZE < count:
                self._reserve_next(len(records), what)
            for index in range(0, count * RECORD_SIZE, RECORD_SIZE):
                if self.pos + RECORD_SIZE > self.end:
                    self._reserve_next(count * RECORD_SIZE - index, what)
                    self._switch_window()
                pos = self.pos
                self.pos = pos + RECORD_SIZE
                self.mm[pos:pos + RECORD_SIZE] = records[index:index + RECORD_SIZE]  # type: ignore[index]

    def _reserve_next(self, needed: int, what: str) -> None:
        """Reserve and map the window after the current one (twice its size, up to LARGEST_WINDOW,
        and at least ``needed`` bytes), unless it is already there."""
        if self._next_window is None and self.mm is not None:
            start = self.window_start + len(self.mm)
            size = max(min(LARGEST_WINDOW, 2 * len(self.mm)), _round_up(needed))
            self._next_window = (start, self._reserve_window(start, size, what))

    def _reserve_window(self, start: int, size: int, what: str) -> mmap.mmap:
        """Reserve ``size`` bytes of the metrics file from ``start`` on disk, then map them."""
        try:
            _reserve(self.metrics_fd, start, size)
            return mmap.mmap(self.metrics_fd, size, flags=mmap.MAP_SHARED,
                             prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
        except OSError as exc:
            raise storage_error(exc, what, self.journal_dir) from None

    def _switch_window(self) -> None:
        """Move on to the reserved next window (the current one is full up to its end)."""
        assert self._next_window is not None
        start, window = self._next_window
        self._next_window = None
        old = self.mm
        # No other thread runs between these stores (no call, no loop between them): a fast path
        # sees either the full old window (and comes here) or the new one whole.
        self.mm = window
        self.pos = 0
        self.end = len(window)
        self.window_start = start
        if old is not None:
            old.close()  # its dirty pages stay with the kernel, in the file

    def _append(self, fd: int, data: bytes, what: str) -> None:
        try:
            written = os.write(fd, data)
        except OSError as exc:
            raise storage_error(exc, what, self.journal_dir) from None
        if written != len(data):
            self._finish(fd, data, written, what)

    def _finish(self, fd: int, data: bytes, written: int, what: str) -> None:
        # O_APPEND put our ``written`` bytes at the end of the file. On a full disk nothing can be
        # appended after them (they took the last free bytes), so the torn part is the file's tail.
        while written < len(data):
            try:
                step = os.write(fd, data[written:])
            except InterruptedError:
                continue
            except OSError as exc:
                self._cut_tail(fd, written)
                raise storage_error(exc, what, self.journal_dir) from None
            if step == 0:
                self._cut_tail(fd, written)
                raise storage_error(OSError(errno.ENOSPC, "no space left"), what, self.journal_dir)
            written += step

    @staticmethod
    def _cut_tail(fd: int, torn: int) -> None:
        if torn:
            try:
                os.ftruncate(fd, os.fstat(fd).st_size - torn)
            except OSError:
                pass  # the reader's framing skips a torn record that could not be cut off

    # -- journal-local ids -----------------------------------------------------------------------
    def new_slot(self) -> int:
        """A journal-local number for a run, used by its compact metric records."""
        with self._lock:
            slot = self._next_slot
            self._next_slot += 1
            return slot

    def key_id(self, key: str) -> int:
        """The journal-local id of metric key ``key``, defining it in the journal on first use.
        Ids are 0, 1, 2, ... in the order keys are defined; readers refuse any other id."""
        key_id = self._key_ids.get(key)
        if key_id is None:
            with _key_lock:
                key_id = self._key_ids.get(key)
                if key_id is None:
                    key_id = len(self._key_ids)
                    self.event(key_defined(key_id, key))
                    self._key_ids[key] = key_id
        return key_id

    def size(self) -> int:
        """Bytes written to this journal so far (both files; the metrics file's reserved, unused
        tail not counted)."""
        return self.window_start + self.pos + os.fstat(self.events_fd).st_size

    def close(self) -> None:
        self.closed = True
        self.end = 0  # the fast path of log_metric now takes the slow way, which refuses
        for window in (self.mm, self._next_window[1] if self._next_window else None):
            if window is not None:
                window.close()
        self.mm = self._next_window = None
        for fd in (getattr(self, "metrics_fd", None), getattr(self, "events_fd", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


def written_size(path: Path) -> int:
    """How much of the metrics journal ``path`` holds data: its size less the zeros at its end, which
    a mapped writer reserved but has not used yet (rounded up to whole records: the header is one
    record long). Reads the zero tail backwards in 1 MiB steps, so at most the writer's last window."""
    step = 1 << 20
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        size = end = os.fstat(fd).st_size
        while end > 0:
            start = max(0, end - step)
            used = len(os.pread(fd, end - start, start).rstrip(b"\0"))
            if used:
                return min(size, -(-(start + used) // RECORD_SIZE) * RECORD_SIZE)
            end = start
        return 0
    finally:
        os.close(fd)


def _round_up(size: int) -> int:
    return -(-size // WINDOW_QUANTUM) * WINDOW_QUANTUM


def _reserve(fd: int, start: int, size: int) -> None:
    """Allocate disk blocks for ``size`` bytes of ``fd`` from ``start`` (ENOSPC now, not SIGBUS later)."""
    if hasattr(os, "posix_fallocate"):
        while True:
            try:
                os.posix_fallocate(fd, start, size)
                return
            except InterruptedError:
                continue
    block = bytes(WINDOW_QUANTUM)  # no posix_fallocate (macOS): writing zeros allocates the blocks
    for offset in range(start, start + size, len(block)):
        os.pwrite(fd, block, offset)


_key_lock = threading.Lock()
_writers: weakref.WeakSet[JournalWriter] = weakref.WeakSet()


def _drop_inherited_journals() -> None:
    """In a forked child: close the parent's journal descriptors. The child must not keep the
    parent's events-file lock alive (a SIGKILLed parent's runs would stay RUNNING for as long as
    the child lives) and must never append to the parent's files; it opens its own journal."""
    for writer in list(_writers):
        writer.close()
    _writers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_journals)


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class EventChunk:
    """Event records read from one events file: ``(end offset, record)`` pairs, the damaged lines
    (offset, reason, raw bytes), and the offset the next read starts at."""

    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    damaged: list[tuple[int, str, bytes]] = field(default_factory=list)
    more_damaged: int = 0  # damaged lines beyond the first MAX_DAMAGE_REPORTS, only counted
    end: int = 0
    version: int | None = None
    complete: bool = True  # False when the read stopped at MAX_READ_BYTES with more to come


def read_events(path: Path, offset: int, salt: int, writer_alive: bool,
                max_bytes: int = MAX_READ_BYTES) -> EventChunk:
    """Read and check the event records appended to ``path`` since ``offset``.

    A line whose checksum or JSON is wrong is reported as damaged and skipped; the lines after it
    are read. An unfinished last line is left for the next read while the writer lives, and is
    damage once it is gone."""
    chunk = EventChunk(end=offset)
    try:
        with open(path, "rb") as reader:
            reader.seek(offset)
            raw = reader.read(max_bytes)
            while raw and b"\n" not in raw[-MAX_EVENT_LINE:] and len(raw) < MAX_EVENT_LINE:
                more = reader.read(max_bytes)  # one long line: read on to its end (bounded)
                if not more:
                    break
                raw += more
            chunk.complete = not reader.read(1)
    except FileNotFoundError:
        return chunk
    chunk.version = _events_version(path, offset, raw)
    position = offset
    cursor = 0  # walk the lines without splitting: a chunk of bare newlines must not become objects
    while True:
        newline = raw.find(b"\n", cursor)
        if newline == -1:
            break
        start, position = position, offset + newline + 1
        if newline > cursor and raw[cursor] != 0x23:  # not empty, not a '#' header line
            line = raw[cursor:newline]
            record, reason = _decode_line(line, salt, chunk.version)
            if record is None:
                if len(chunk.damaged) < MAX_DAMAGE_REPORTS:
                    chunk.damaged.append((start, reason, line[:4096]))
                else:
                    chunk.more_damaged += 1
            else:
                chunk.records.append((position, record))
        cursor = newline + 1
    tail = raw[cursor:]  # after the last newline: an unfinished line, or b""
    if tail and not (writer_alive or not chunk.complete) and len(tail) <= MAX_EVENT_LINE:
        chunk.damaged.append((position, TORN, tail[:4096]))
        position += len(tail)
    elif tail and len(tail) > MAX_EVENT_LINE:
        chunk.damaged.append((position, f"a line over {MAX_EVENT_LINE:,} bytes", tail[:4096]))
        position += len(tail)
    chunk.end = position
    return chunk


def _events_version(path: Path, offset: int, raw: bytes) -> int:
    head = raw if offset == 0 else _head(path)
    if head.startswith(b"#jupyter_tracker journal "):
        number = head[len(b"#jupyter_tracker journal "):].split(b"\n", 1)[0]
        return int(number) if number.isdigit() and 2 <= int(number) <= FORMAT_VERSION else FORMAT_VERSION
    if head.startswith(b"{"):
        return 1
    return FORMAT_VERSION  # a damaged first line: format-1 writers never wrote anything but JSON


def _head(path: Path) -> bytes:
    with open(path, "rb") as reader:
        return reader.read(64)


def _decode_line(line: bytes, salt: int, version: int) -> tuple[dict[str, Any] | None, str]:
    if version >= 2:
        if len(line) < 10 or line[8:9] != b" ":
            return None, "no checksum frame"
        body = line[9:]
        try:
            expected = int(line[:8], 16)
        except ValueError:
            return None, "no checksum frame"
        if zlib.crc32(body, salt) != expected:
            return None, "checksum mismatch"
    else:
        body = line
    try:
        record = json.loads(body)
    except (ValueError, RecursionError):
        return None, "not JSON (or not UTF-8)"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    return record, ""


@dataclass
class MetricChunk:
    """Metric records read from one metrics file: a NumPy structured array of the good records
    (in file order, with their end offsets), the damaged byte ranges, where the next read starts."""

    records: Any = None
    ends: Any = None
    damaged_ranges: list[tuple[int, int, str]] = field(default_factory=list)
    end: int = 0
    record_size: int = RECORD_SIZE
    complete: bool = True  # False when the read stopped at MAX_READ_BYTES with more to come


def read_metrics(path: Path, offset: int, salt: int, writer_alive: bool, version: int,
                 max_bytes: int = MAX_READ_BYTES) -> MetricChunk:
    """Read and check the metric records appended to ``path`` since ``offset``."""
    import numpy as np

    chunk = MetricChunk(end=offset)
    try:
        with open(path, "rb") as reader:
            if offset == 0 and version >= 2:
                header = reader.read(METRICS_HEADER.size)
                if len(header) < METRICS_HEADER.size and writer_alive:
                    return chunk
                offset = chunk.end = METRICS_HEADER.size
                if header[:8] != b"JTMETRC%d" % version:
                    chunk.damaged_ranges.append((0, len(header), "damaged file header"))
            reader.seek(offset)
            mapped = version >= MAPPED_VERSION
            raw = _read_written(reader, max_bytes) if mapped and writer_alive else reader.read(max_bytes)
    except FileNotFoundError:
        return chunk
    if version < 2:
        chunk.complete = len(raw) < max_bytes
        return _legacy_metrics(raw, offset, writer_alive or not chunk.complete, chunk)
    good: list[NDArray[np.void]] = []
    ends: list[NDArray[np.int64]] = []
    position = 0
    # A mapped file's zero rest (reserved, unused space) is no record: not worth checking.
    limit = _data_end(raw, 0, len(raw)) if mapped else len(raw)
    while position + RECORD_SIZE <= limit:
        count = (limit - position) // RECORD_SIZE
        view = np.frombuffer(raw, dtype=METRIC_DTYPE, count=count, offset=position)
        valid = _valid_records(raw, position, count, view, salt)
        bad = np.flatnonzero(~valid)
        take = count if not len(bad) else int(bad[0])
        if take:
            good.append(view[:take])
            ends.append(offset + position + RECORD_SIZE * np.arange(1, take + 1, dtype=np.int64))
            position += take * RECORD_SIZE
        if take == count:
            break
        following = _next_record(raw, position + 1, salt)
        if following is None:
            break
        _note_damage(chunk, raw, offset, position, following)
        position = following
    at_end = chunk.complete = len(raw) < max_bytes
    tail = limit - position
    if mapped:
        # A live writer's bytes after its last valid record are the record it is storing and
        # space it has not used yet: left for the next read. A gone writer's are its unused,
        # zeroed space and, perhaps, the record it died storing.
        if not writer_alive and (tail or len(raw) > limit):
            stop = len(raw) if at_end else max(position, len(raw) - RECORD_SIZE + 1)
            _skip_unused(chunk, raw, offset, position, min(stop, max(limit, position)), at_end)
            position = stop
    elif tail and not writer_alive and at_end:
        if not _all_zero(raw, position, limit):  # an unused, zeroed tail is no record, not damage
            _note_damage(chunk, raw, offset, position, limit, TORN if tail < RECORD_SIZE else None)
        position = limit
    elif tail:
        # No record starts before ``limit - RECORD_SIZE + 1`` (one would have been found), so those
        # bytes are damage even while the writer lives or the file goes on; a record may still be
        # completing after that. A live writer's zero tail is space it has not written yet.
        safe_end = limit - RECORD_SIZE + 1
        if writer_alive:
            safe_end = min(safe_end, _end_of_data(raw, position, limit))
        if safe_end > position:
            _note_damage(chunk, raw, offset, position, safe_end)
            position = safe_end
    chunk.end = offset + position
    if good:
        chunk.records = np.concatenate(good)
        chunk.ends = np.concatenate(ends)
    return chunk


#: A live mapped journal is read in blocks of whole records, up to the first block that ends in
#: unused (zero) space, so a reader never reads or checks a large reserved, unused tail.
READ_BLOCK = RECORD_SIZE * 16384
_ZERO_RECORD = bytes(RECORD_SIZE)
#: A live writer's unused space is in its last two windows (the one it fills and, perhaps, the next
#: one it has reserved), so zeros further than this from the end of the file are damage, not space.
UNUSED_SPAN = 2 * LARGEST_WINDOW


def _read_written(reader: Any, max_bytes: int) -> bytes:
    """The bytes of a live mapped metrics file from the reader's position up to where its writer
    has stored records (the zero rest of the last block cut off), at most ``max_bytes``.

    A block that ends in a zero record ends the read only when nothing was written after it: a
    zeroed region (damage) that happens to end on a block boundary must not hide the records after
    it while the writer lives (it used to, until the writer ended)."""
    blocks: list[bytes] = []
    total = 0
    size = os.fstat(reader.fileno()).st_size
    while total < max_bytes:
        block = reader.read(min(READ_BLOCK, max_bytes - total))
        if not block:
            break
        total += len(block)
        if len(block) < READ_BLOCK or (block.endswith(_ZERO_RECORD) and not _written_after(reader, size)):
            blocks.append(block[:_data_end(block, 0, len(block))])
            break
        blocks.append(block)
    return blocks[0] if len(blocks) == 1 else b"".join(blocks)


def _written_after(reader: Any, size: int) -> bool:
    """Whether a live mapped writer has stored records after the reader's position: certainly when
    the position is before the span of its unused windows, else when the record there, or the one at
    the start of any later read block, is not zero (a zeroed region longer than a block is passed
    once the writer's records reach past its next block start)."""
    position = reader.tell()
    if position < size - UNUSED_SPAN:
        return True
    fd = reader.fileno()
    return any(any(os.pread(fd, RECORD_SIZE, probe)) for probe in range(position, size, READ_BLOCK))


def _data_end(raw: bytes, start: int, stop: int) -> int:
    """Where the records of ``raw[start:stop]`` may end, a mapped file's zero rest left out: after
    its last non-zero byte plus room for the zero bytes a last record can end with (a value of 0.0
    is eight zero bytes), so that record is not cut off as if it were unfinished."""
    end = _end_of_data(raw, start, stop)
    return min(stop, end + RECORD_SIZE - 1) if end > start else start


def _skip_unused(chunk: MetricChunk, raw: bytes, offset: int, start: int, stop: int, final: bool) -> None:
    """Pass over ``raw[start:stop]`` of a gone mapped writer, which holds no valid record: zeros are
    space it never used; its non-zero bytes are damage, or, when no longer than one record and at
    the very end, the record it was storing when it died."""
    import numpy as np

    written = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8, count=stop - start, offset=start))
    if not len(written):
        return
    first, last = start + int(written[0]), start + int(written[-1]) + 1
    torn = final and last - first <= RECORD_SIZE
    _note_damage(chunk, raw, offset, first, last, TORN if torn else None)


def _note_damage(chunk: MetricChunk, raw: bytes, offset: int, start: int, stop: int,
                 reason: str | None = None) -> None:
    if reason:
        pass
    elif _all_zero(raw, start, stop):
        reason = "zeroed bytes"
    else:
        reason = "bytes that are no metric record (damaged, torn or foreign)"
    if len(chunk.damaged_ranges) < MAX_DAMAGE_REPORTS:
        chunk.damaged_ranges.append((offset + start, offset + stop, reason))
    else:  # widen the last reported range instead of keeping one entry per damaged spot
        first, _, _ = chunk.damaged_ranges[-1]
        chunk.damaged_ranges[-1] = (first, offset + stop, "several damaged regions")


def _all_zero(raw: bytes, start: int, stop: int) -> bool:
    import numpy as np

    return not np.count_nonzero(np.frombuffer(raw, dtype=np.uint8, count=stop - start, offset=start))


def _end_of_data(raw: bytes, start: int, stop: int) -> int:
    """The position after the last non-zero byte of ``raw[start:stop]`` (``start`` if none),
    looked for in 64 KiB blocks from the end so no copy of the region is made."""
    block = 64 * 1024
    end = stop
    while end > start:
        begin = max(start, end - block)
        data = raw[begin:end].rstrip(b"\0")
        if data:
            return begin + len(data)
        end = begin
    return start


_byte_tables: NDArray[np.uint32] | None = None
_word_tables: list[NDArray[np.uint32]] | None = None
#: From this many records on, 16-bit tables (16 lookups a record, 4 MiB of tables built once) beat
#: 8-bit ones (32 lookups, 32 KiB of tables, built in a millisecond).
WORD_TABLES_FROM = 50_000


def _valid_records(raw: bytes, position: int, count: int, view: NDArray[np.void], salt: int) -> NDArray[np.bool_]:
    """Which of ``count`` records from ``position`` have the marker and a right checksum. CRC32 is
    affine over GF(2), so the checksum of a fixed-length payload is the XOR of one table entry
    per byte (or per 16-bit word): vectorised, ~15x faster than calling zlib per record."""
    import numpy as np

    global _byte_tables, _word_tables
    if _byte_tables is None:
        _byte_tables = _build_byte_tables()
    zero_crc = zlib.crc32(bytes(32), salt)
    checksum = np.full(count, zero_crc, dtype=np.uint32)
    if count >= WORD_TABLES_FROM:
        if _word_tables is None:
            values = np.arange(65536)
            _word_tables = [_byte_tables[2 * i][values & 0xFF] ^ _byte_tables[2 * i + 1][values >> 8]
                            for i in range(16)]
        words = np.frombuffer(raw, dtype="<u2", count=count * (RECORD_SIZE // 2), offset=position)
        words = words.reshape(count, RECORD_SIZE // 2)[:, 4:]
        for index in range(16):
            checksum ^= _word_tables[index][words[:, index]]
    else:
        payload = np.frombuffer(raw, dtype=np.uint8, count=count * RECORD_SIZE, offset=position)
        payload = payload.reshape(count, RECORD_SIZE)[:, 8:]
        for index in range(32):
            checksum ^= _byte_tables[index][payload[:, index]]
    return (view["marker"] == RECORD_MARKER) & (view["crc"] == checksum)  # type: ignore[no-any-return]  # numpy types a structured field as Any


def _build_byte_tables() -> NDArray[np.uint32]:
    """``tables[p][v]``: what byte ``v`` at payload position ``p`` adds (XOR) to the CRC of a zero
    payload; by linearity the XOR of the entries of its set bits (256 zlib calls in all)."""
    import numpy as np

    base = zlib.crc32(bytes(32))
    bits = np.zeros((32, 8), dtype=np.uint32)
    for position in range(32):
        for bit in range(8):
            probe = bytearray(32)
            probe[position] = 1 << bit
            bits[position, bit] = zlib.crc32(probe) ^ base
    values = np.arange(256)
    tables = np.zeros((32, 256), dtype=np.uint32)
    for bit in range(8):
        tables ^= np.where((values >> bit) & 1, bits[:, bit:bit + 1], 0).astype(np.uint32)
    return tables


def _next_record(raw: bytes, start: int, salt: int) -> int | None:
    """The position of the next record at or after ``start`` that checks out (resynchronising
    after damage, at any byte position: a truncated record shifts everything after it)."""
    marker = RECORD_MARKER.to_bytes(4, "little")
    position = raw.find(marker, start)
    while position != -1 and position + RECORD_SIZE <= len(raw):
        crc = int.from_bytes(raw[position + 4:position + 8], "little")
        if zlib.crc32(raw[position + 8:position + RECORD_SIZE], salt) == crc:
            return position
        position = raw.find(marker, position + 1)
    return None


def _legacy_metrics(raw: bytes, offset: int, writer_alive: bool, chunk: MetricChunk) -> MetricChunk:
    """Format-1 records carry no checksum: take whole records, drop all-zero ones (a zeroed
    region is no point); ids are still checked against what the journal defined."""
    import numpy as np

    size = chunk.record_size = LEGACY_METRIC_RECORD.size
    count = len(raw) // size
    view = np.frombuffer(raw, dtype=LEGACY_METRIC_DTYPE, count=count)
    zero = (view["slot"] == 0) & (view["key"] == 0) & (view["step"] == 0) & (view["timestamp"] == 0)
    keep = np.flatnonzero(~zero)
    records = np.zeros(len(keep), dtype=METRIC_DTYPE)
    for name in ("slot", "key", "step", "timestamp", "value"):
        records[name] = view[name][keep]
    chunk.records = records
    chunk.ends = offset + (keep.astype(np.int64) + 1) * size
    chunk.end = offset + count * size
    if not writer_alive and len(raw) % size:
        chunk.end = offset + len(raw)
    return chunk
