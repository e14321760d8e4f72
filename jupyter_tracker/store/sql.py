"""Working with a store session's DuckDB connection: one row, and one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection


def fetch_one(con: DuckDBPyConnection, query: str, parameters: list[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row of ``query`` or None, with the result fully consumed (DuckDB 2.0 refuses new
    work on a connection while a result is unfinished)."""
    rows = con.execute(query, parameters or []).fetchall()
    return rows[0] if rows else None


@contextmanager
def transaction(con: DuckDBPyConnection) -> Iterator[None]:
    """BEGIN … COMMIT around the ``with`` body, rolled back on any exception (the one place
    transactions are written, like sqlite-utils' ``Database.atomic()``). A failed ROLLBACK (the
    connection may already be gone, e.g. on a full disk) never replaces the error that caused it."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise
    con.execute("COMMIT")
