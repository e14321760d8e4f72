"""Compaction: rewrite the database file so its size follows what it stores.

DuckDB reuses the blocks that deleted rows free but never gives them back to the file system, so
a store that purged 90% of its runs keeps its size. ``compact_store`` copies the database with
DuckDB's own ``COPY FROM DATABASE`` into ``tracker.duckdb.compacting`` beside it, checks that every
table holds the same number of rows, fsyncs it and ``os.replace``s it over the old file, all under
the store's lock. Writers never notice: they only append to their journals, and the next merge
reads them into the new file (the journal offsets are part of what is copied). A process killed
mid-way leaves the old file untouched and a leftover copy that the next compaction removes.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import StoreError, StoreFullError
from .database import DB_FILENAME, connect_duckdb, format_size

if TYPE_CHECKING:
    from pathlib import Path

    from .database import Store

#: The copy being written; never a name a store reads.
COMPACTING_SUFFIX = ".compacting"
#: Block size of the compacted file (DuckDB's ATTACH option BLOCK_SIZE). DuckDB's default, 256 kB, gives
#: each of the store's ~20 tables whole blocks, about 4.7 MB for a store holding 100,000 points; 64 kB
#: blocks hold the same in 1.9 MB (16 kB ones in 2.2 MB: more metadata). DuckDB reads the size from
#: the file's header, so later sessions open it as any other store.
COMPACT_BLOCK_SIZE = 65_536


@dataclass(frozen=True)
class CompactionReport:
    """The database file's size before and after ``compact_store``."""

    path: str
    bytes_before: int
    bytes_after: int

    @property
    def reclaimed_bytes(self) -> int:
        return max(self.bytes_before - self.bytes_after, 0)

    def __str__(self) -> str:
        return (f"compacted {self.path}: {format_size(self.bytes_before)} -> {format_size(self.bytes_after)} "
                f"({format_size(self.reclaimed_bytes)} given back)")


def database_bytes(store: Store) -> int:
    """Bytes the database takes on disk: its file and its write-ahead log."""
    return sum(path.stat().st_size for path in _database_files(store.db_path) if path.exists())


def compact_store(store: Store, *, timeout: float | None = None) -> CompactionReport:
    """Rewrite ``store``'s database compactly (see the module docstring); the store's lock is held
    throughout, so other processes' reads and merges wait (``timeout``: how long to wait for it)."""
    target = store.db_path.with_name(DB_FILENAME + COMPACTING_SUFFIX)
    with store.exclusive(timeout):
        remove_leftovers(store)
        with store.session(query_timeout=0) as con:  # merge what the journals hold, then fold the WAL in
            con.execute("CHECKPOINT")
        if _wal(store.db_path).exists():
            raise StoreError(f"{_wal(store.db_path)} is still there after a checkpoint, so the database cannot be "
                             f"copied whole; nothing was changed. Close other programs using {store.db_path} "
                             f"and run `jupyter-tracker compact` again")
        before = database_bytes(store)
        try:
            _copy_database(store.db_path, target)
            _fsync(target)
            os.replace(target, store.db_path)
        except BaseException as exc:
            for path in _database_files(target):
                path.unlink(missing_ok=True)
            if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left" in str(exc):
                raise StoreFullError(
                    f"compacting {store.db_path} needs free space for a copy of what it stores (up to "
                    f"{format_size(before)}); the disk filled up, the copy was removed and the store is unchanged. "
                    f"Free some space and run `jupyter-tracker compact` again") from None
            raise
        _fsync(store.root)  # the rename itself survives a power cut
        return CompactionReport(str(store.db_path), before, database_bytes(store))


def remove_leftovers(store: Store) -> int:
    """Remove a copy that a compaction killed half way left behind; returns the bytes freed. The
    caller holds the store's lock (no compaction can be running)."""
    freed = 0
    for path in _database_files(store.db_path.with_name(DB_FILENAME + COMPACTING_SUFFIX)):
        if path.exists():
            freed += path.stat().st_size
            path.unlink()
    return freed


def _copy_database(source: Path, target: Path) -> None:
    """``COPY FROM DATABASE`` source to a new file ``target``, refused unless every table came
    across with all its rows; DETACH checkpoints the copy, so it has no WAL left."""
    import duckdb

    con = connect_duckdb(":memory:")
    try:
        con.execute(f"ATTACH '{_quoted(source)}' AS jt_old (READ_ONLY)")
        con.execute(f"ATTACH '{_quoted(target)}' AS jt_new (BLOCK_SIZE {COMPACT_BLOCK_SIZE})")
        con.execute("COPY FROM DATABASE jt_old TO jt_new")
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'jt_old' "
                             "ORDER BY ALL").fetchall()
        for schema, table in tables:
            counts = [con.execute(f'SELECT count(*) FROM {catalog}."{schema}"."{table}"').fetchall()[0][0]
                      for catalog in ("jt_old", "jt_new")]
            if counts[0] != counts[1]:
                raise StoreError(f"the compacted copy of {schema}.{table} holds {counts[1]} rows, not {counts[0]}; "
                                 f"it was discarded and {source} left as it was")
        con.execute("DETACH jt_new")
        con.execute("DETACH jt_old")
    except duckdb.Error as exc:
        raise StoreError(f"DuckDB could not copy {source} ({str(exc).splitlines()[0]}); the copy was discarded "
                         f"and the store left as it was") from exc
    finally:
        con.close()
    if _wal(target).exists():
        raise StoreError(f"the compacted copy {target} kept a write-ahead log; it was discarded and {source} "
                         f"left as it was")


def _database_files(db_path: Path) -> tuple[Path, Path]:
    return db_path, _wal(db_path)


def _wal(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".wal")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
