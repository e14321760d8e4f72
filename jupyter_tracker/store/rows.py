"""Small helpers for reading rows from a DuckDB connection, shared by every store module."""

from __future__ import annotations


def fetch_one(con, query: str, parameters: list | None = None) -> tuple | None:
    """The first row of ``query`` or None, with the result fully consumed (DuckDB 2.0 refuses new
    work on a connection while a result is unfinished)."""
    rows = con.execute(query, parameters or []).fetchall()
    return rows[0] if rows else None
