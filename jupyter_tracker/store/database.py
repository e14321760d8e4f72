"""``Store``: one object owns a store directory and everything that touches its database.

Layout of a store directory::

    tracker.duckdb   the merged database (see schema.py for tables and public views)
    lock, write.lock flocks: who opens the database how (see locking.py)
    journal/         per-process append-only journals (see journal.py)
    objects/         content-addressed artifacts and snapshot cells (see objects.py)

No process keeps the database open: ``Store.session()`` merges pending journals so readers see
everything logged so far, opens a connection, and closes it again. Queries read on a read-only
connection under a shared lock, so a slow one holds up neither other queries nor merges: a writer
that finds one running works on a copy of the database and swaps it in (``_write_access``).
What a session does when things go wrong is decided here, in one place:
a damaged or foreign file is refused untouched; a store on read-only media is read without a
lock file, a merge or a migration; a full disk turns into one ``StoreFullError`` (reads answer
from what is already merged); a query past ``TrackerConfig.query_timeout`` is interrupted.
"""

from __future__ import annotations

import atexit
import errno
import os
import re
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import (
    DamagedStoreError,
    InvalidTextError,
    NotAStoreError,
    QueryTimeoutError,
    StoreError,
    StoreFormatError,
    StoreFullError,
    StoreLockedError,
    StoreReadOnlyError,
    StoreVersionError,
)
from .journal import EVENTS_SUFFIX, METRICS_SUFFIX, RECORD_SIZE, JournalWriter, written_size
from .locking import StoreLock, try_lock_exclusive
from .objects import ObjectStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    from duckdb import DuckDBPyConnection

    #: (name, size, mtime_ns) of each journal file, sorted.
    JournalFiles: TypeAlias = tuple[tuple[str, int, int], ...]
    #: (inode, size, mtime_ns) of the database file and of its WAL, None for a file that is absent.
    FileState: TypeAlias = tuple[tuple[int, int, int] | None, ...]
    #: (device, inode, emptied) of the database file.
    FileIdentity: TypeAlias = tuple[int, int, bool]

DB_FILENAME = "tracker.duckdb"

#: How long a writer waits for running queries before it works on a copy of the database instead.
#: Sessions take milliseconds: only a slow query (a heavy ``jt.sql``) outlasts this.
SWAP_AFTER = 0.25

#: The configuration of every DuckDB instance jupyter_tracker opens. A store never installs or loads
#: an extension behind the user's back: without this, a foreign file (a SQLite database named
#: tracker.duckdb) makes DuckDB try to download sqlite_scanner from the internet.
DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

_DAMAGE_FIX = ("it was left untouched. Restore it from a backup, or run `jupyter-tracker doctor` to salvage "
               "what the journals and objects still hold")


def connect_duckdb(path: Path | str, read_only: bool = False) -> DuckDBPyConnection:
    """``duckdb.connect`` with :data:`DUCKDB_CONFIG`: the one way jupyter_tracker opens a DuckDB instance."""
    import duckdb

    return duckdb.connect(str(path), read_only=read_only, config=dict(DUCKDB_CONFIG))


class Store:
    """A store directory: database, journals and objects."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_FILENAME
        self.journal_dir = self.root / "journal"
        self.objects = ObjectStore(self.root / "objects")
        self._lock: StoreLock | None = None
        self._writers_lock: StoreLock | None = None
        self._swap_path: Path | None = None  # the copy a write session works on (see _write_access)
        self._schema_checked = False
        self._checked_file: FileIdentity | None = None  # _file_identity of the database when its schema was checked
        self._writer: JournalWriter | None = None
        self._writer_lock = threading.Lock()
        # (journal files, database file) as this process's last merge left them: while both are
        # unchanged and every journal's writer is alive, there is nothing new to merge.
        self._merged_state: tuple[JournalFiles, FileState] | None = None
        # Where this process's last merge read each journal's metrics file up to: a mapped metrics
        # file keeps its size as it fills, so "something new" is a record stored at that offset.
        self._metrics_offsets: dict[str, int] = {}
        self._warned: set[str] = set()  # warnings already given by this process for this store

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
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise self._read_only_error(f"the store directory cannot be created ({exc.strerror})") from None
            raise StoreError(f"cannot create the store directory {self.root}: {exc}") from exc

    def writable(self) -> bool:
        """Whether this process can write the store: False on read-only media (a mounted share, a
        read-only bind mount) or in a colleague's folder. ``access`` also answers for root, whose
        permission bits are ignored but whose writes to a read-only mount still fail (EROFS)."""
        for path in (self.root, self.db_path, self.journal_dir):
            if path.exists() and not os.access(path, os.W_OK):
                return False
        return True

    def _read_only_error(self, what: str) -> StoreReadOnlyError:
        return StoreReadOnlyError(
            f"the store {self.root} is read-only here (read-only media, a read-only mount, or a folder you may "
            f"not write): {what}. Reading it works; to track runs, choose a writable store with "
            f"jt.set_store('/path/to/your/store') or JUPYTER_TRACKER_DIR")

    # -- write side --------------------------------------------------------------------------
    def writer(self) -> JournalWriter:
        """This process's journal in this store (opened on first use, reopened after fork)."""
        writer = self._writer
        if writer is None or writer.pid != os.getpid():
            with self._writer_lock:
                writer = self._writer
                if writer is None or writer.pid != os.getpid():
                    self.ensure_directory()
                    if not self.writable():
                        raise self._read_only_error("runs cannot be started or logged there")
                    try:
                        writer = self._writer = JournalWriter(self.journal_dir)
                    except OSError as exc:
                        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                            raise self._read_only_error(
                                f"its journal cannot be created ({exc.strerror})") from None
                        raise
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
    def session(self, merge: bool = True, timeout: float | None = None, read_only: bool = False,
                query_timeout: float | None = None) -> Iterator[DuckDBPyConnection]:
        """A short-lived DuckDB connection to the store, with journals merged first.

        ``read_only=True`` hands out a read-only connection, so the caller cannot change the
        database even by mistake, and never holds up anyone while its query runs: the merge is done
        first (under ``write.lock``, see locking.py), then the query reads under the store's lock
        taken shared, beside any number of other queries. Writers (merges included) that find
        queries running for longer than ``SWAP_AFTER`` do not wait for them: they copy the database,
        change the copy and swap it in with a rename (``_write_access``), so a slow query keeps the
        state it started from and everyone else moves on. A session with ``read_only=False`` may
        write, and holds ``write.lock`` for its body: keep such bodies short.

        A session with nothing new to merge writes nothing: the file keeps its bytes and mtime. The
        body may run for ``query_timeout`` seconds (default ``TrackerConfig.query_timeout``; 0: no
        limit): past that its query is interrupted and ``QueryTimeoutError`` raised. On a store this
        process cannot write, the session reads (no migration, no merge; a warning says how many
        journals were left unmerged) and a write raises ``StoreReadOnlyError``; on a full disk the
        failed merge is rolled back, a warning says so once, the session answers from what is
        already merged, and a write raises ``StoreFullError``."""
        from ..config import get_config

        config = get_config()
        timeout = config.lock_timeout if timeout is None else timeout
        limit = config.query_timeout if query_timeout is None else query_timeout
        self.ensure_directory()
        writable = self.writable()
        with ExitStack() as held:
            if writable and read_only:
                if (not self._schema_current() or self.db_path.with_name(DB_FILENAME + ".wal").exists()
                        or self._copy_waiting()
                        or (merge and self._merge_pending(_journal_files(self.journal_dir)))):
                    # Migrate, merge, install a copy a killed writer left, or checkpoint what a full
                    # disk left in the WAL; then read.
                    with self.session(merge=merge, timeout=timeout, query_timeout=0):
                        pass
                merge = False
                held.enter_context(self._store_lock().hold(timeout, shared=True))
            elif writable:
                held.enter_context(self._write_access(timeout))
            else:
                held.enter_context(self._store_lock().hold(timeout, shared=True))
            con, refusal, journals = self._open_session(merge, read_only, writable, timeout)
            watchdog = _Watchdog(con, limit)
            failed = True
            try:
                try:
                    yield con
                except BaseException as exc:
                    if watchdog.stop() and isinstance(exc, Exception):  # a Ctrl-C stays a KeyboardInterrupt
                        raise QueryTimeoutError(
                            f"the query ran past the time limit of {limit:g} s (TrackerConfig.query_timeout) "
                            f"and was stopped. Narrow the query (a WHERE, a "
                            f"LIMIT), or raise the limit: %config TrackerConfig.query_timeout = {limit * 4:g} "
                            f"(or JUPYTER_TRACKER_QUERY_TIMEOUT={limit * 4:g})") from None
                    if refusal is not None and _refused_as_read_only(exc):
                        raise refusal from None
                    if _disk_full(exc) and not isinstance(exc, StoreFullError):
                        raise self._disk_full_error() from None
                    damage = self._damage_error(exc)
                    if damage is not None:
                        raise damage from None
                    undecodable = undecodable_text_error(exc)
                    if undecodable is not None:
                        raise undecodable from None
                    raise
                watchdog.stop()
                failed = False
            finally:
                self._close_session(con, failed, journals)

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the store's locks exclusively for the ``with`` body with no database attached: for
        work on the database file itself (compaction swaps it). Sessions inside the body reuse the
        locks (they are re-entrant per thread); other processes' sessions wait, their writers do not
        (they only append to their journals)."""
        from ..config import get_config

        self.ensure_directory()
        if not self.writable():
            raise self._read_only_error("its database file cannot be rewritten")
        timeout = get_config().lock_timeout if timeout is None else timeout
        with self._write_lock().hold(timeout), self._store_lock().hold(timeout):
            yield

    def _store_lock(self) -> StoreLock:
        """``<store>/lock``: exclusive while the database is open read-write in place, shared while
        it is open read-only."""
        if self._lock is None:
            self._lock = StoreLock(self.root / "lock")
        return self._lock

    def _write_lock(self) -> StoreLock:
        """``<store>/write.lock``: held by the one process that changes the database."""
        if self._writers_lock is None:
            self._writers_lock = StoreLock(self.root / "write.lock")
        return self._writers_lock

    def _schema_current(self) -> bool:
        """Whether this process checked the schema of the database file that is there now."""
        return self._schema_checked and self._checked_file == _file_identity(self.db_path)

    @contextmanager
    def _write_access(self, timeout: float) -> Iterator[None]:
        """The right to change the database for the ``with`` body, without waiting for queries.

        Under ``write.lock``: when ``lock`` can be had exclusively (no query runs), the body opens
        the database in place. When queries hold it shared for longer than ``SWAP_AFTER``, the body
        works on a copy (``_swap_path``, which ``_attach`` opens instead) that is then renamed over
        the database: running queries keep reading the file they opened, later ones read the copy.
        Every commit the body made is in the copy, so the copy is always installed, whatever the
        body raised; a copy left by a process killed before installing it is installed by the next
        writer (``_install_leftover_copy``), so nothing merged is lost. Without room for a copy,
        with a write-ahead log pending, or with a schema to migrate, the writer waits for the
        queries instead (up to ``timeout``)."""
        with ExitStack() as held:
            held.enter_context(self._write_lock().hold(timeout))
            self._install_leftover_copy()
            if self._swap_path is not None or held.enter_context(
                    self._store_lock().hold(timeout, share_after=SWAP_AFTER)):
                yield  # in place (or already inside a swap of this thread)
                return
            if not self._can_copy():
                held.close()  # let the queries finish, then open in place
                held.enter_context(self._write_lock().hold(timeout))
                held.enter_context(self._store_lock().hold(timeout))
                yield
                return
            copy = self._copy_database()
            self._swap_path = copy
            try:
                yield
            finally:
                self._swap_path = None
                self._install_copy(copy)

    def _copy_paths(self) -> tuple[Path, Path]:
        """(copy being written, finished copy) of this process: hidden names beside the database."""
        finished = self.root / f".{DB_FILENAME}.swap-{os.getpid()}"
        return finished.with_name(finished.name + ".partial"), finished

    def _can_copy(self) -> bool:
        """Whether the database may be copied and the copy swapped in: it exists, it has no
        write-ahead log (a copy of the file alone would miss it), its schema is current (a migration
        opens the file itself), and the disk has room for a copy with some to spare."""
        from . import schema

        if not self.db_path.exists() or self.db_path.with_name(DB_FILENAME + ".wal").exists():
            return False
        if not self._schema_current():
            if self._read_schema_version() != schema.SCHEMA_VERSION:
                return False
            self._schema_checked, self._checked_file = True, _file_identity(self.db_path)
        return shutil.disk_usage(self.root).free > 2 * self.db_path.stat().st_size + (64 << 20)

    def _copy_database(self) -> Path:
        """Copy the database (no process changes it: writers hold ``write.lock``, or ``lock``
        exclusively, and this process holds the first and shares the second) to a finished copy."""
        partial, finished = self._copy_paths()
        try:
            shutil.copyfile(self.db_path, partial)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if _disk_full(exc):
                raise self._disk_full_error() from None
            raise
        os.replace(partial, finished)
        return finished

    def _install_copy(self, copy: Path) -> None:
        """Rename a finished copy (and its write-ahead log, first, if a checkpoint left one: the
        database it belongs to is byte for byte the one it replaces) over the database."""
        wal = copy.with_name(copy.name + ".wal")
        if wal.exists():
            os.replace(wal, self.db_path.with_name(DB_FILENAME + ".wal"))
        os.replace(copy, self.db_path)
        self._checked_file = _file_identity(self.db_path)  # a copy of a file whose schema was checked

    def _copy_waiting(self) -> bool:
        """Whether a copy of the database is beside it (a writer swapping, or one killed before it
        installed its copy): a reader then goes through a write session first, which waits for the
        swap or installs the leftover, since the journals that copy merged may already be gone."""
        prefix = f".{DB_FILENAME}.swap-"
        try:
            with os.scandir(self.root) as entries:
                return any(entry.name.startswith(prefix) for entry in entries)
        except FileNotFoundError:
            return False

    def _install_leftover_copy(self) -> None:
        """Install a finished copy that a writer killed before installing it left behind (it holds
        commits, such as merges of journals since removed), and remove unfinished ones. Runs under
        ``write.lock``: since that writer died, nobody has changed the database."""
        prefix = f".{DB_FILENAME}.swap-"
        try:
            leftovers = [entry.name for entry in os.scandir(self.root) if entry.name.startswith(prefix)]
        except FileNotFoundError:
            return
        for name in sorted(leftovers):
            path = self.root / name
            if name.endswith(".partial"):
                path.unlink(missing_ok=True)
            elif not name.endswith(".wal"):
                self._install_copy(path)

    def merge(self) -> object:
        """Merge pending journals now; returns what was merged (journals, points, killed runs)."""
        from .merge import merge_journals

        with self.session(merge=False, query_timeout=0) as con:  # a large backlog may take long
            return merge_journals(con, self.journal_dir)

    def _open_session(self, merge: bool, read_only: bool, writable: bool, timeout: float
                      ) -> tuple[DuckDBPyConnection, StoreError | None, JournalFiles | None]:
        """The session's cursor; the error a write through it must raise (the store is read-only
        here, or its disk is full), or None; the journal files it found merged (or None)."""
        if not writable:
            con = self._attach(timeout, read_only=True, writable=False)
            if merge:
                self._warn_unmerged_journals(con)
            return con, self._read_only_error("nothing can be written there"), None
        journals = _journal_files(self.journal_dir) if merge else None
        if not merge or not self._merge_pending(journals):
            return self._attach(timeout, read_only=read_only), None, journals
        import duckdb

        from .merge import merge_journals

        con = self._attach(timeout)
        try:
            merged = merge_journals(con, self.journal_dir)
            self._metrics_offsets = merged.metrics_offsets
            if not merged.complete:
                journals = None  # more is waiting than one merge reads: never skip the next one
        except BaseException as exc:
            _end_cursor(con, failing=True)
            original = _original_error(exc)
            if not isinstance(original, (duckdb.Error, OSError)):
                raise  # KeyboardInterrupt and the like, unchanged
            if not _disk_full(original):
                raise (self._damage_error(original) or original) from None
            full = self._disk_full_error()
            self._warn_once("disk full", f"{full} Until then, reads answer from the runs merged before the "
                                         f"disk filled up.")
            return self._attach(timeout, read_only=True), full, None
        if read_only:
            self._close_session(con, failed=False, journals=journals)
            con = self._attach(timeout, read_only=True)
        return con, None, journals

    def _close_session(self, con: DuckDBPyConnection, failed: bool, journals: JournalFiles | None) -> None:
        """End the session's cursor. When the body failed, its error is what the caller sees, never
        a second one from DETACH; after success, a checkpoint that a full disk refused is only
        warned about (the session's commits are safe in DuckDB's write-ahead log)."""
        import duckdb

        try:
            _end_cursor(con, failing=failed)
        except duckdb.Error as exc:
            if not _disk_full(exc):
                raise
            self._warn_once("disk full", f"{self._disk_full_error()} What was merged is safe in "
                                         f"{DB_FILENAME}.wal and is written into {DB_FILENAME} once space is back.")
        else:
            if journals is not None:
                self._warned.discard("disk full")  # the disk took a whole session: say it again if it fills
        if journals is not None and not failed:
            self._merged_state = (journals, _file_state(self.db_path))

    def merge_pending(self) -> bool:
        """Whether a merge would find something new, asked without opening the database (a stat per
        journal file and one ``pread`` per metrics file): true while a process logs into the store.
        Team sync's mirror asks it to step aside while a training loop logs on this machine."""
        return self._merge_pending(_journal_files(self.journal_dir))

    def _merge_pending(self, journals: JournalFiles | None) -> bool:
        """Whether a merge could find something new: journal files exist and either changed since
        this process last merged them, or the database changed, or a journal's writer is gone
        (its runs must be marked KILLED and its files removed)."""
        if not journals:
            return False
        if self._merged_state != (journals, _file_state(self.db_path)):
            return True
        for name, _, _ in journals:
            if name.endswith(METRICS_SUFFIX) and _record_at(self.journal_dir / name,
                                                            self._metrics_offsets.get(name[: -len(METRICS_SUFFIX)])):
                return True
            if name.endswith(EVENTS_SUFFIX):
                lock_fd = try_lock_exclusive(self.journal_dir / name)
                if lock_fd is not None:
                    os.close(lock_fd)
                    return True
        return False

    def _warn_unmerged_journals(self, con: DuckDBPyConnection) -> None:
        """Say (once) how many journals hold records that a store this process cannot write leaves
        unmerged: those longer than the offsets the database has merged them up to."""
        import duckdb

        journals = {name[: -len(EVENTS_SUFFIX)]: size for name, size, _ in _journal_files(self.journal_dir)
                    if name.endswith(EVENTS_SUFFIX)}
        if not journals:
            return
        try:
            merged = {name: offset for name, offset in con.execute(
                "SELECT name, events_offset FROM internal.journals").fetchall()}
        except duckdb.Error:  # a journal table of another layout: count every journal
            merged = {}
        unmerged = sum(1 for name, size in journals.items() if size > merged.get(name, -1))
        if unmerged:
            self._warn_once("read-only journals", (
                f"{unmerged} journal(s) in {self.journal_dir} were not merged: the store is read-only "
                f"here, so what they hold (runs logged since the last merge) is not shown. Open the store "
                f"where it can be written to merge them"))

    def _warn_once(self, topic: str, message: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            warnings.warn(f"jupyter_tracker: {message}", UserWarning, stacklevel=5)

    def _disk_full_error(self) -> StoreFullError:
        """The full-disk error with what the store needs: its journal backlog merged into a copy-on-
        write database needs about the backlog plus the database's size free."""
        backlog = sum(written_size(self.journal_dir / name) if name.endswith(METRICS_SUFFIX) else size
                      for name, size, _ in _journal_files(self.journal_dir))  # not a writer's reserved zeros
        database = sum(path.stat().st_size for path in (self.db_path, self.db_path.with_name(DB_FILENAME + ".wal"))
                       if path.exists())
        free = shutil.disk_usage(self.root).free
        return StoreFullError(
            f"the disk holding the store {self.root} is full ({format_size(free)} free): merging its journal "
            f"backlog ({format_size(backlog)}) into {DB_FILENAME} ({format_size(database)}) needs about "
            f"{format_size(backlog + database)} "
            f"free. Nothing logged is lost: the journals keep every record until a merge commits. Free space on "
            f"that disk (or move the store elsewhere and point jt.set_store at it), then read again")

    def _damage_error(self, exc: BaseException) -> StoreFormatError | None:
        """A ``StoreFormatError`` when ``exc`` says the database file is cut short or corrupt."""
        import duckdb

        for link in _chain(exc):
            if isinstance(link, duckdb.IOException) and _names_damage(str(link), self.db_path):
                return StoreFormatError(f"{self.db_path} is damaged ({str(link).splitlines()[0]}); {_DAMAGE_FIX}")
        return None

    def _attach(self, timeout: float, read_only: bool = False, writable: bool = True) -> DuckDBPyConnection:
        """A cursor of this process's in-memory DuckDB with the store's file ATTACHed as its default
        catalog. Creating a DuckDB database instance costs 16-30 ms in DuckDB 2.0, attaching a
        file to a live one about 3 ms, and sessions are many and short (every read, every merge),
        so the instance is kept and only the file is attached per session; DETACH releases the
        file (and its lock) exactly as closing a connection would. A read-only store without a
        database yet reads as an empty store (in memory)."""
        if not writable and not self.db_path.exists():
            from . import schema

            con = _attach_file(":memory:")
            schema.migrate(con, None)
            return con
        if not self._schema_checked or self._checked_file != _file_identity(self.db_path):
            self._check_schema(timeout, writable)  # a deleted database is recreated, a replaced one checked
        import duckdb

        path = self._swap_path if self._swap_path is not None and not read_only else self.db_path
        try:
            return _retry_locked(self.db_path, timeout, lambda: _attach_file(path, read_only=read_only))
        except duckdb.Error as exc:
            if _disk_full(exc):
                raise self._disk_full_error() from None
            raise (self._damage_error(exc) or exc) from None

    def _check_schema(self, timeout: float, writable: bool = True) -> None:
        """Verify (read-only first, so a foreign or damaged file is never modified) and migrate the schema."""
        from . import schema

        version = self._read_schema_version() if self.db_path.exists() else None
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.db_path} has schema version {version}, newer than this jupyter_tracker "
                f"understands ({schema.SCHEMA_VERSION}); upgrade with `pip install -U jupyter_tracker`")
        if version != schema.SCHEMA_VERSION:
            if not writable:
                raise self._read_only_error(
                    f"its schema version {version} would need migrating to version {schema.SCHEMA_VERSION} "
                    f"first; read it with the jupyter_tracker that wrote it, or copy the store somewhere writable")
            self._migrate(version)
        self._schema_checked = True
        self._checked_file = _file_identity(self.db_path)

    def _migrate(self, version: int | None) -> None:
        """Create or migrate the database. A database this call creates and cannot finish (a full
        disk) is removed again: a half-written new file would read as a damaged store forever."""
        from . import schema

        created = not self.db_path.exists()
        try:
            con = connect_duckdb(self.db_path)
            try:
                schema.migrate(con, version)
            finally:
                con.close()
        except BaseException as exc:
            if created:
                for path in (self.db_path, self.db_path.with_name(DB_FILENAME + ".wal")):
                    path.unlink(missing_ok=True)
            if _disk_full(exc):
                raise self._disk_full_error() from None
            raise

    def _read_schema_version(self) -> int | None:
        """The schema version of the existing database file, opened read-only; ``StoreFormatError``
        when the file is not a jupyter_tracker store, or is one that is damaged or half-migrated."""
        import duckdb

        from . import schema

        if self.db_path.stat().st_size == 0:
            raise StoreFormatError(
                f"{self.db_path} is empty (0 bytes), and a store's database never is: it was cut short "
                f"(a full disk, an interrupted copy); {_DAMAGE_FIX}")
        try:
            con = connect_duckdb(self.db_path, read_only=True)
        except duckdb.IOException as exc:
            if _lock_conflict(exc):
                raise StoreLockedError(f"cannot open {self.db_path}: {exc}") from None
            if _names_damage(str(exc), self.db_path):
                raise StoreFormatError(f"{self.db_path} is damaged ({str(exc).splitlines()[0]}); "
                                       f"{_DAMAGE_FIX}") from None
            raise StoreFormatError(
                f"{self.db_path} is not a DuckDB database ({str(exc).splitlines()[0]}); it was left untouched. "
                f"Move it away or choose another store with jt.set_store()") from None
        except duckdb.Error as exc:
            raise StoreFormatError(
                f"{self.db_path} cannot be read as a DuckDB database ({str(exc).splitlines()[0]}); it was left "
                f"untouched. Move it away or choose another store with jt.set_store()") from None
        try:
            version = schema.read_version(con)
            missing = [] if version is None else self._missing_objects(con, version)
        except NotAStoreError as exc:
            raise StoreFormatError(
                f"{self.db_path} is a DuckDB database but not a jupyter_tracker store ({exc}); "
                f"it was left untouched. Choose another store directory with jt.set_store()") from None
        except DamagedStoreError as exc:
            raise StoreFormatError(f"{self.db_path} is damaged: {exc}; {_DAMAGE_FIX}") from None
        except duckdb.Error as exc:
            raise StoreFormatError(f"{self.db_path} is damaged ({str(exc).splitlines()[0]}); {_DAMAGE_FIX}") from None
        finally:
            con.close()
        if missing:
            raise StoreFormatError(
                f"{self.db_path} says schema version {version} but lacks {', '.join(missing)} (a half-migrated "
                f"or damaged store); {_DAMAGE_FIX}")
        return version

    @staticmethod
    def _missing_objects(con: DuckDBPyConnection, version: int) -> list[str]:
        from . import schema

        reference = _attach_file(":memory:")
        try:
            return schema.missing_objects(con, version, reference)
        finally:
            _end_cursor(reference)


def _lock_conflict(exc: BaseException) -> bool:
    """Whether DuckDB refused to open the file because another process holds its lock."""
    return "Could not set lock" in str(exc) or "Conflicting lock" in str(exc)


def _names_damage(message: str, db_path: Path) -> bool:
    """Whether a DuckDB I/O error says the database file itself is cut short or corrupt (and not,
    say, a file a query read, or a column called checksum)."""
    return ((f'Could not read enough bytes from file "{db_path}"' in message)
            or "Corrupt database file" in message or "does not match stored checksum" in message)


class _Watchdog:
    """Interrupts the query of ``cursor`` once ``limit`` seconds have passed (0: never), so one slow
    query cannot hold the store's lock for long; ``stop()`` says whether it had to."""

    def __init__(self, cursor: DuckDBPyConnection, limit: float) -> None:
        self._cursor = cursor
        self._guard = threading.Lock()
        self._done = False
        self.fired = False
        self._timer = threading.Timer(limit, self._interrupt) if limit and limit > 0 else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def _interrupt(self) -> None:
        with self._guard:
            if not self._done:
                self.fired = True
                self._cursor.interrupt()

    def stop(self) -> bool:
        with self._guard:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()
        return self.fired


def _journal_files(journal_dir: Path) -> JournalFiles:
    """(name, size, mtime) of every journal file, hidden ones (a journal being born) left out."""
    try:
        entries = list(os.scandir(journal_dir))
    except FileNotFoundError:
        return ()
    files = []
    for entry in entries:
        if not entry.name.startswith("."):
            try:
                facts = entry.stat()
            except FileNotFoundError:  # merged and removed by another process meanwhile
                continue
            files.append((entry.name, facts.st_size, facts.st_mtime_ns))
    return tuple(sorted(files))


def _record_at(path: Path, offset: int | None) -> bool:
    """Whether the metrics file ``path`` may hold a record at ``offset`` that a merge has not read
    (unknown offset: it may). One ``pread`` of a record's bytes: zeros are unused space."""
    if offset is None:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return any(os.pread(fd, RECORD_SIZE, offset))
    finally:
        os.close(fd)


def _file_identity(db_path: Path) -> FileIdentity | None:
    """Which file the database is (None: there is none; size 0: it was emptied): a file deleted,
    replaced (a restore, a copy) or emptied since its schema was checked is checked again."""
    try:
        facts = db_path.stat()
    except FileNotFoundError:
        return None
    return facts.st_dev, facts.st_ino, facts.st_size == 0


def _file_state(db_path: Path) -> FileState:
    """What identifies the database's content without reading it: inode, size, mtime (and its WAL's)."""
    state: list[tuple[int, int, int] | None] = []
    for path in (db_path, db_path.with_name(db_path.name + ".wal")):
        try:
            facts = path.stat()
            state.append((facts.st_ino, facts.st_size, facts.st_mtime_ns))
        except FileNotFoundError:
            state.append(None)
    return tuple(state)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and the errors it was raised from or during, the original last."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _original_error(exc: BaseException) -> BaseException:
    """The error that started a failure. A ROLLBACK after a COMMIT that DuckDB had already rolled back
    (a full disk) raises "cannot rollback - no transaction is active", and one on an invalidated
    database "database has been invalidated"; either hides the real cause in ``__context__``."""
    import duckdb

    while (isinstance(exc, duckdb.Error) and exc.__context__ is not None
           and any(sign in str(exc) for sign in ("no transaction is active", "invalidated"))):
        exc = exc.__context__
    return exc


def _disk_full(exc: BaseException) -> bool:
    return any((isinstance(link, OSError) and link.errno == errno.ENOSPC) or "No space left on device" in str(link)
               for link in _chain(exc))


def undecodable_text_error(exc: BaseException) -> InvalidTextError | None:
    """The ``InvalidTextError`` for text that is not valid Unicode handed to DuckDB as a query
    argument (a run id, key, name or description with a lone surrogate, e.g. from ``sys.argv`` or a
    JSON ``\\udcXX`` escape). DuckDB refuses it before running the statement, so nothing was written:
    every entry point that reaches the database gets the same rule and message, here in one place."""
    import duckdb

    if not isinstance(exc, duckdb.InvalidInputException):
        return None
    found = re.search(r"cannot encode str as UTF-8, surrogate (\S+) at position (\d+)", str(exc))
    if found is None:
        return None
    return InvalidTextError(
        f"a text argument is not valid Unicode: character {found[2]} is a lone surrogate {found[1]} (undecodable "
        f"bytes from a file name, a command-line argument or a decode with errors='surrogateescape'); nothing "
        f"was read or written. Pass text, e.g. os.fsencode(name).decode('utf-8', 'replace')")


def _refused_as_read_only(exc: BaseException) -> bool:
    import duckdb

    return any(isinstance(link, duckdb.Error) and "read-only" in str(link) for link in _chain(exc))


def format_size(count: float) -> str:
    """A byte count for people: '532 bytes', '4.2 MB' (powers of 1000, as disks are sold)."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def _retry_locked(db_path: Path, timeout: float,
                  open_database: Callable[[], DuckDBPyConnection]) -> DuckDBPyConnection:
    """``open_database()``, retried while a program outside jupyter_tracker holds the file."""
    import duckdb

    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            return open_database()
        except duckdb.IOException as exc:
            if not _lock_conflict(exc):
                raise
            # Only a program outside jupyter_tracker can hold the file between our sessions.
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"cannot open {db_path}: {exc}. Another program (a DuckDB shell or "
                    f"script) holds the file; close it, then retry") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


_instance: tuple[int, DuckDBPyConnection] | None = None
_instance_lock = threading.Lock()
_sessions_changed = threading.Condition(_instance_lock)  # notified whenever a session cursor ends
_aliases = iter(range(1, 1 << 62))
_closed_at_exit: list[Callable[[], None]] = []  # not empty once _close_instance is registered with atexit
# id(cursor) -> (its file's alias, its instance, its token in _busy)
_session_aliases: dict[int, tuple[str, DuckDBPyConnection, int]] = {}
_busy: dict[int, DuckDBPyConnection | None] = {}  # sessions being opened or open: token -> cursor (once it exists)
_tokens = iter(range(1, 1 << 62))
_exiting = False  # set at interpreter exit: threads other than the main one may no longer open sessions
EXIT_WAIT = 5.0  # seconds the exit waits for other threads' sessions before interrupting their queries


def _base_connection() -> DuckDBPyConnection:
    """This process's in-memory DuckDB instance (a forked child, or a retired instance, gets a new one)."""
    global _instance
    with _instance_lock:
        if _instance is None or _instance[0] != os.getpid():
            if not _closed_at_exit:
                _closed_at_exit.append(atexit.register(_close_instance))
            _instance = (os.getpid(), connect_duckdb(":memory:"))
        return _instance[1]


def _retire_instance(base: DuckDBPyConnection) -> None:
    """Stop handing out ``base`` (a failed DETACH or an invalidated database leaves it in doubt):
    the next session makes a fresh instance. Cursors still open on it keep it alive until they close."""
    global _instance
    with _instance_lock:
        if _instance is not None and _instance[1] is base:
            _instance = None


def _attach_file(db_path: Path | str, read_only: bool = False) -> DuckDBPyConnection:
    """A new cursor of the process's in-memory DuckDB, with ``db_path`` attached and in use."""
    with _instance_lock:
        if _exiting and threading.current_thread() is not threading.main_thread():
            raise StoreError("the process is exiting, so no new query starts on this thread (a panel's live "
                             "refresh, say); the main thread's work still runs")
        token = next(_tokens)
        _busy[token] = None
        alias = f"jt_store_{next(_aliases)}"
    try:
        base = _base_connection()
        cursor = base.cursor()
        with _instance_lock:
            _busy[token] = cursor
        quoted = str(db_path).replace("'", "''")
        try:
            cursor.execute(f"ATTACH '{quoted}' AS {alias}{' (READ_ONLY)' if read_only else ''}")
            cursor.execute(f"USE {alias}")
        except BaseException:
            cursor.close()
            base.cursor().execute(f"DETACH DATABASE IF EXISTS {alias}")
            raise
    except BaseException:
        _session_ended(token)
        raise
    _session_aliases[id(cursor)] = (alias, base, token)
    return cursor


def _session_ended(token: int) -> None:
    with _sessions_changed:
        _busy.pop(token, None)
        _sessions_changed.notify_all()


def _close_instance() -> None:
    """Close the in-memory instance before interpreter teardown (DuckDB's bindings report leaked
    objects when the instance outlives the modules it references).

    Daemon threads (a panel's live refresh, a curve's poller) may be inside a query right now. Closing
    the instance under them is refused by DuckDB, and a thread still inside DuckDB when the interpreter
    finalises aborts the whole process (SIGABRT: its exit status and the user's output are lost). So
    no other thread may start a session from here on; those open get ``EXIT_WAIT`` seconds to end,
    then their queries are interrupted; an instance still busy after that is left open."""
    global _instance, _exiting
    with _sessions_changed:
        _exiting = True
        main = threading.current_thread() is threading.main_thread()
        if main and not _sessions_changed.wait_for(lambda: not _busy, timeout=EXIT_WAIT):
            for cursor in [c for c in _busy.values() if c is not None]:
                with suppress(Exception):
                    cursor.interrupt()
            if not _sessions_changed.wait_for(lambda: not _busy, timeout=EXIT_WAIT):
                return  # a query that ignores its interrupt: leaving the instance beats aborting
        if _busy:
            return
        if _instance is not None and _instance[0] == os.getpid():
            _instance[1].close()
        _instance = None


def _end_cursor(cursor: DuckDBPyConnection, failing: bool = False) -> None:
    """End a session cursor: roll back what it left open, DETACH the file (checkpointing it and
    releasing DuckDB's file lock), close the cursor. A DETACH that fails (a checkpoint refused by a
    full disk, an invalidated database) retires the instance so the next session starts afresh; with
    ``failing`` (an error is already on its way to the caller) that second error is dropped."""
    entry = _session_aliases.pop(id(cursor), None)
    if entry is None:  # a plain connection
        cursor.close()
        return
    alias, base, token = entry
    try:
        _detach(cursor, alias, base, failing)
    finally:
        _session_ended(token)


def _detach(cursor: DuckDBPyConnection, alias: str, base: DuckDBPyConnection, failing: bool) -> None:
    import duckdb

    try:
        cursor.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass  # no transaction was open: the normal case
    except duckdb.Error:
        _retire_instance(base)  # the database is invalidated; DETACH below says how
    try:
        cursor.execute("USE memory")
    except duckdb.Error:
        _retire_instance(base)
    finally:
        cursor.close()
    try:
        base.cursor().execute(f"DETACH DATABASE IF EXISTS {alias}")
    except duckdb.Error:
        _retire_instance(base)
        if not failing:
            raise


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
