"""Serialising access to the DuckDB file across threads and processes.

DuckDB lets one process open a database file read-write, or many processes read-only, and refuses
every other opener, so jupyter_tracker never keeps the file open and agrees on who opens it how with
two ``flock`` files (waiting processes poll with a short back-off instead of seeing "Could not set
lock" errors):

- ``<store>/lock``: exclusive while the database is open read-write in place (a merge, a write),
  shared while it is open read-only (a query). Queries never wait for each other.
- ``<store>/write.lock``: exclusive around every change of the database, so one process at a time
  merges or writes. A writer that finds queries holding ``lock`` shared for longer than a moment
  does not wait for them: it settles for ``lock`` shared and works on a copy that it swaps in (see
  ``Store`` in database.py).

Readers of a store they cannot write (read-only media, a colleague's folder) take ``lock`` shared,
and only if its file exists and opens read-only: they never merge, so they need no more, and they
cannot create the file.
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
    or shared (the mode of the outermost ``hold`` counts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._exclusive = False

    @contextmanager
    def hold(self, timeout: float, shared: bool = False, share_after: float | None = None) -> Iterator[bool]:
        """Hold the lock for the ``with`` body, which is given whether it holds it exclusively;
        raise ``StoreLockedError`` after ``timeout`` s. ``shared=True`` takes a shared lock on an
        existing lock file, and none without one. ``share_after``: an exclusive request that finds
        the lock held shared for that many seconds settles for sharing it (the body learns False)
        instead of waiting for every sharer to finish."""
        if not self._thread_lock.acquire(timeout=timeout):
            raise StoreLockedError(
                f"another thread of this process kept the store {self.path.parent} busy for "
                f"{timeout:.0f} s; retry, or raise TrackerConfig.lock_timeout")
        try:
            if self._depth == 0:
                self._exclusive = self._acquire_file_lock(timeout, shared, share_after)
            self._depth += 1
            try:
                yield self._exclusive
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release_file_lock()
        finally:
            self._thread_lock.release()

    def _acquire_file_lock(self, timeout: float, shared: bool = False, share_after: float | None = None) -> bool:
        """Take the file lock; whether it is exclusive."""
        if shared:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except (FileNotFoundError, PermissionError):
                return False  # nobody can merge into a store that has no lock file and cannot get one
        else:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:  # a lock file of another user in a folder we may write
                fd = os.open(self.path, os.O_RDONLY)
        started = time.monotonic()
        deadline = started + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                self._fd = fd
                return not shared
            except BlockingIOError:
                if share_after is not None and not shared and time.monotonic() - started >= share_after:
                    try:  # held by sharers only (queries): share it rather than wait for them
                        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                        self._fd = fd
                        return False
                    except BlockingIOError:
                        pass
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
