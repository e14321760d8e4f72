"""``Store``: one object owns a store directory and everything that touches its database.

Layout of a store directory::

    tracker.duckdb   the merged database (see schema.py for tables and public views)
    lock             flock taken around every short database session
    journal/         per-process append-only journals (see journal.py)
    objects/         content-addressed artifacts and snapshot cells (see objects.py)

No process keeps the database open: ``Store.session()`` takes the lock, opens a connection,
checks or migrates the schema, merges pending journals so readers see everything logged so far,
and closes it again.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError, StoreFormatError, StoreLockedError, StoreVersionError
from .journal import JournalWriter
from .locking import StoreLock
from .objects import ObjectStore

DB_FILENAME = "tracker.duckdb"


class Store:
    """A store directory: database, journals and objects."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_FILENAME
        self.journal_dir = self.root / "journal"
        self.objects = ObjectStore(self.root / "objects")
        self._lock: StoreLock | None = None
        self._schema_checked = False
        self._writer: JournalWriter | None = None
        self._writer_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- directory ---------------------------------------------------------------------------
    def ensure_directory(self) -> None:
        """Create the store directory if needed; refuse a path that is a file."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"the store path {self.root} is a file, not a directory; point "
                             f"JUPYTER_TRACKER_DIR or jt.set_store() at a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store directory {self.root}: {exc}") from exc

    # -- write side --------------------------------------------------------------------------
    def writer(self) -> JournalWriter:
        """This process's journal in this store (opened on first use, reopened after fork)."""
        writer = self._writer
        if writer is None or writer.pid != os.getpid():
            with self._writer_lock:
                writer = self._writer
                if writer is None or writer.pid != os.getpid():
                    self.ensure_directory()
                    writer = self._writer = JournalWriter(self.journal_dir)
        return writer

    def retire_writer_if_large(self, limit_bytes: int) -> bool:
        """Close this process's journal once it exceeds ``limit_bytes`` (the caller checks that
        no run is still writing to it); the next run opens a fresh one and the old one is merged
        and deleted like the journal of any finished process. Keeps kernels that run for days
        from growing one journal forever."""
        with self._writer_lock:
            writer = self._writer
            if writer is None or writer.pid != os.getpid() or writer.size() < limit_bytes:
                return False
            self._writer = None
        writer.close()
        return True

    # -- read side ---------------------------------------------------------------------------
    @contextmanager
    def session(self, merge: bool = True, timeout: float | None = None, read_only: bool = False) -> Iterator:
        """A short-lived DuckDB connection under the store lock, with journals merged first.

        ``read_only=True`` hands out a read-only connection (after merging with a read-write one),
        so the caller cannot change the database even by mistake."""
        from ..config import get_config

        timeout = get_config().lock_timeout if timeout is None else timeout
        self.ensure_directory()
        if self._lock is None:
            self._lock = StoreLock(self.root / "lock")
        with self._lock.hold(timeout):
            con = self._attach(timeout)
            try:
                if merge:
                    from .merge import merge_journals

                    merge_journals(con, self.journal_dir)
                if read_only:
                    _detach(con)
                    con = self._connect(timeout, read_only=True)
                yield con
            finally:
                if id(con) in _session_aliases:
                    _detach(con)
                else:
                    con.close()

    def merge(self) -> object:
        """Merge pending journals now; returns what was merged (journals, points, killed runs)."""
        from .merge import merge_journals

        with self.session(merge=False) as con:
            return merge_journals(con, self.journal_dir)

    def _attach(self, timeout: float):
        """A cursor of this process's in-memory DuckDB with the store's file ATTACHed as its default
        catalog. Creating a DuckDB database instance costs 16-30 ms in DuckDB 2.0, attaching a
        file to a live one about 3 ms, and sessions are many and short (every read, every merge),
        so the instance is kept and only the file is attached per session; DETACH releases the
        file (and its lock) exactly as closing a connection would."""
        import duckdb

        if not self._schema_checked or not self.db_path.exists():  # a deleted database is recreated
            self._check_schema(duckdb, timeout)
        return _retry_locked(self.db_path, timeout, lambda: _attach_file(self.db_path))

    def _connect(self, timeout: float, read_only: bool = False):
        import duckdb

        if not self._schema_checked or not self.db_path.exists():  # a deleted database is recreated
            self._check_schema(duckdb, timeout)
        return _retry_locked(self.db_path, timeout,
                             lambda: duckdb.connect(str(self.db_path), read_only=read_only))

    def _check_schema(self, duckdb, timeout: float) -> None:
        """Verify (read-only first, so a foreign file is never modified) and migrate the schema."""
        from . import schema

        if self.db_path.exists() and self.db_path.stat().st_size > 0:
            try:
                con = duckdb.connect(str(self.db_path), read_only=True)
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower():
                    raise StoreLockedError(f"cannot open {self.db_path}: {exc}") from None
                raise StoreFormatError(
                    f"{self.db_path} is not a DuckDB database ({exc}); it was left untouched. "
                    f"Move it away or choose another store with jt.set_store()") from None
            except duckdb.Error as exc:
                raise StoreFormatError(
                    f"{self.db_path} cannot be read as a DuckDB database ({exc}); it was left "
                    f"untouched. Move it away or choose another store with jt.set_store()") from None
            try:
                version = schema.read_version(con)
            except LookupError as exc:
                raise StoreFormatError(
                    f"{self.db_path} is a DuckDB database but not a jupyter_tracker store ({exc}); "
                    f"it was left untouched. Choose another store directory with jt.set_store()") from None
            finally:
                con.close()
        else:
            version = None
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.db_path} has schema version {version}, newer than this jupyter_tracker "
                f"understands ({schema.SCHEMA_VERSION}); upgrade with `pip install -U jupyter_tracker`")
        if version != schema.SCHEMA_VERSION:
            con = duckdb.connect(str(self.db_path))
            try:
                schema.migrate(con, version)
            finally:
                con.close()
        self._schema_checked = True


def _retry_locked(db_path: Path, timeout: float, open_database):
    """``open_database()``, retried while a program outside jupyter_tracker holds the file."""
    import duckdb

    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            return open_database()
        except duckdb.IOException as exc:
            # Only a program outside jupyter_tracker can hold the file between our sessions.
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"cannot open {db_path}: {exc}. Another program (a DuckDB shell or "
                    f"script) holds the file; close it, then retry") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


_instance: tuple[int, object] | None = None
_instance_lock = threading.Lock()
_aliases = iter(range(1, 1 << 62))
_session_aliases: dict[int, str] = {}  # id(cursor) -> the alias its store file is attached as


def _attach_file(db_path: Path):
    """A new cursor of the process's in-memory DuckDB, with ``db_path`` attached and in use."""
    global _instance
    import duckdb

    with _instance_lock:
        if _instance is None or _instance[0] != os.getpid():  # a forked child needs its own instance
            if _instance is None:
                atexit.register(_close_instance)
            _instance = (os.getpid(), duckdb.connect(":memory:"))
        base = _instance[1]
        alias = f"jt_store_{next(_aliases)}"
    cursor = base.cursor()
    quoted = str(db_path).replace("'", "''")
    try:
        cursor.execute(f"ATTACH '{quoted}' AS {alias}")
        cursor.execute(f"USE {alias}")
    except BaseException:
        cursor.close()
        base.cursor().execute(f"DETACH DATABASE IF EXISTS {alias}")
        raise
    _session_aliases[id(cursor)] = alias
    return cursor


def _close_instance() -> None:
    """Close the in-memory instance before interpreter teardown (DuckDB's bindings report leaked
    objects when the instance outlives the modules it references)."""
    global _instance
    with _instance_lock:
        if _instance is not None and _instance[0] == os.getpid():
            _instance[1].close()
        _instance = None


def _detach(cursor) -> None:
    """End a session cursor: roll back what it left open, DETACH the file (checkpointing it and
    releasing DuckDB's file lock), close the cursor."""
    import duckdb

    alias = _session_aliases.pop(id(cursor))
    try:
        cursor.execute("ROLLBACK")
    except duckdb.Error:
        pass  # no transaction was open: the normal case
    try:
        cursor.execute("USE memory")
    finally:
        cursor.close()
    with _instance_lock:
        base = _instance[1]
    base.cursor().execute(f"DETACH DATABASE {alias}")


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


def get_store(root: Path) -> Store:
    """The one ``Store`` object of this process for ``root`` (shared so locks and journals are too)."""
    root = Path(root).absolute()
    with _stores_lock:
        store = _stores.get(root)
        if store is None:
            store = _stores[root] = Store(root)
        return store


def fetch_one(con, query: str, parameters: list | None = None) -> tuple | None:
    """The first row of ``query`` or None, with the result fully consumed (DuckDB 2.0 refuses new
    work on a connection while a result is unfinished)."""
    rows = con.execute(query, parameters or []).fetchall()
    return rows[0] if rows else None
