"""The write path: one append-only journal per writer process, never the database.

A journal is a pair of files in ``<store>/journal/``:

* ``<name>.events``: newline-delimited JSON records (run start/end, params, tags, artifacts,
  snapshots, console, key definitions). One ``os.write`` per record.
* ``<name>.metrics``: fixed 32-byte records ``<u32 run slot, u32 key id, i64 step,
  i64 timestamp ms, f64 value>``. One ``os.write`` per ``log_metric`` call.

Because every record reaches the operating system before the logging call returns, a process
killed with SIGKILL loses nothing it had logged. The writer holds an ``flock`` on its events file
for its whole life; a merger that can take that lock knows the writer is gone (the kernel drops
the lock when a process dies, however it dies) and marks its unfinished runs KILLED.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import uuid
from pathlib import Path
from typing import Any

METRIC_RECORD = struct.Struct("<IIqqd")
METRIC_DTYPE = [("slot", "<u4"), ("key", "<u4"), ("step", "<i8"), ("timestamp", "<i8"), ("value", "<f8")]
EVENTS_SUFFIX = ".events"
METRICS_SUFFIX = ".metrics"


class JournalWriter:
    """The current process's journal in one store. Create through ``Store.writer()``."""

    def __init__(self, journal_dir: Path) -> None:
        import fcntl

        journal_dir.mkdir(parents=True, exist_ok=True)
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.pid = os.getpid()
        self.metrics_path = journal_dir / f"{self.name}{METRICS_SUFFIX}"
        self.events_path = journal_dir / f"{self.name}{EVENTS_SUFFIX}"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self.metrics_fd = os.open(self.metrics_path, flags, 0o644)
        # The events file appears under its final name only once it is locked, so a merger can
        # never mistake a journal being born for the journal of a dead writer.
        pending = journal_dir / f".{self.name}.pending"
        self.events_fd = os.open(pending, flags, 0o644)
        fcntl.flock(self.events_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(pending, self.events_path)
        self._lock = threading.Lock()
        self.closed = False
        self._key_ids: dict[str, int] = {}
        self._next_slot = 0

    def event(self, record: dict[str, Any]) -> None:
        """Append one JSON record; it has reached the OS when this returns."""
        if self.closed:
            raise OSError(f"journal {self.name} was closed; nothing can be appended to it")
        line = json.dumps(record, separators=(",", ":"), default=str, allow_nan=True) + "\n"
        os.write(self.events_fd, line.encode("utf-8"))

    def new_slot(self) -> int:
        """A journal-local number for a run, used by its compact metric records."""
        with self._lock:
            slot = self._next_slot
            self._next_slot += 1
            return slot

    def key_id(self, key: str) -> int:
        """The journal-local id of metric key ``key``, defining it in the journal on first use."""
        key_id = self._key_ids.get(key)
        if key_id is None:
            with self._lock:
                key_id = self._key_ids.get(key)
                if key_id is None:
                    key_id = len(self._key_ids)
                    self.event({"t": "key", "id": key_id, "key": key})
                    self._key_ids[key] = key_id
        return key_id

    def size(self) -> int:
        """Bytes written to this journal so far (both files)."""
        return os.fstat(self.metrics_fd).st_size + os.fstat(self.events_fd).st_size

    def close(self) -> None:
        self.closed = True
        for fd in (self.metrics_fd, self.events_fd):
            try:
                os.close(fd)
            except OSError:
                pass
