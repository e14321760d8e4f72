"""Serialising access to the DuckDB file across threads and processes.

DuckDB lets one process hold a database file and refuses every other opener, so jupyter_tracker
never keeps the file open: each read or merge takes ``<store>/lock`` (an ``flock``), opens a
short-lived connection, works, closes, and releases. Waiting processes poll with a short back-off
instead of seeing "Could not set lock" errors. Readers of a store they cannot write (read-only
media, a colleague's folder) take the lock shared, and only if its file exists and opens read-only:
they never merge, so they need no more, and they cannot create the file.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreLockedError


class StoreLock:
    """A re-entrant (per thread) lock over one store, held only for a short operation: exclusive,
    or shared for readers of a read-only store (the mode of the outermost ``hold`` counts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self, timeout: float, shared: bool = False) -> Iterator[None]:
        """Hold the lock for the ``with`` body; raise ``StoreLockedError`` after ``timeout`` s.
        ``shared=True`` takes a shared lock on an existing lock file, and none without one."""
        if not self._thread_lock.acquire(timeout=timeout):
            raise StoreLockedError(
                f"another thread of this process kept the store {self.path.parent} busy for "
                f"{timeout:.0f} s; retry, or raise TrackerConfig.lock_timeout")
        try:
            if self._depth == 0:
                self._acquire_file_lock(timeout, shared)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release_file_lock()
        finally:
            self._thread_lock.release()

    def _acquire_file_lock(self, timeout: float, shared: bool = False) -> None:
        if shared:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except (FileNotFoundError, PermissionError):
                return  # nobody can merge into a store that has no lock file and cannot get one
        else:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:  # a lock file of another user in a folder we may write
                fd = os.open(self.path, os.O_RDONLY)
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                self._fd = fd
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreLockedError(
                        f"the store {self.path.parent} stayed locked by another process for "
                        f"{timeout:.0f} s (a long merge or a stuck process); retry, or raise "
                        f"TrackerConfig.lock_timeout") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _release_file_lock(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def try_lock_exclusive(path: Path) -> int | None:
    """Open ``path`` and take a non-blocking exclusive flock; return the fd, or None if it is held."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
