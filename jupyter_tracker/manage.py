"""Changing runs after the fact: tags, names, deletion (used by the lab sidebar and the CLI).

These are rare, deliberate edits, so they update the database directly inside a store session
(journals merged first, so the edit lands after everything the run logged so far).
"""

from __future__ import annotations

from typing import Any

from . import validation
from .query import resolve_run
from .store.current import resolve_store
from .store.sql import transaction


def set_run_tag(run_id: str, key: str, value: Any, *, store=None) -> None:
    """Set (or replace) tag ``key`` of the run ``run_id``."""
    with resolve_store(store).session() as con:
        run_key, _ = resolve_run(con, run_id)
        with transaction(con):
            write_tag(con, run_key, key, value)


def write_tag(con, run_key: int, key: str, value: Any) -> None:
    """The one way a tag is written straight to the database (run edits, the registry): checked
    and redacted by the same rules as ``Run.set_tag``, replacing an older value. The caller holds
    the transaction."""
    validation.check_key(key, "tag")
    text = validation.tag_text(key, value)
    con.execute("DELETE FROM internal.tags WHERE run_key = ? AND key = ?", [run_key, key])
    con.execute("INSERT INTO internal.tags VALUES (?, ?, ?)", [run_key, key, text])


def delete_run_tag(run_id: str, key: str, *, store=None) -> bool:
    """Remove tag ``key`` from the run; returns whether it existed."""
    validation.check_key(key, "tag")
    with resolve_store(store).session() as con:
        run_key, _ = resolve_run(con, run_id)
        removed = con.execute("DELETE FROM internal.tags WHERE run_key = ? AND key = ? RETURNING key",
                              [run_key, key]).fetchall()
    return bool(removed)


def rename_run(run_id: str, run_name: str, *, store=None) -> None:
    """Give the run a new name."""
    run_name = validation.run_name(run_name)
    with resolve_store(store).session() as con:
        run_key, _ = resolve_run(con, run_id)
        con.execute("UPDATE internal.runs SET run_name = ? WHERE run_key = ?", [run_name.strip(), run_key])


def delete_run(run_id: str, *, store=None) -> str:
    """Mark the run deleted (hidden from search and views; its files stay until ``gc``)."""
    with resolve_store(store).session() as con:
        run_key, full_id = resolve_run(con, run_id)
        mark_deleted(con, [run_key])
    return full_id


def mark_deleted(con, run_keys: list[int], deleted: bool = True) -> None:
    """The one way runs are deleted (hidden from search and views until ``gc`` purges them) or
    restored: one statement, so a selection goes, or comes back, whole."""
    con.execute("UPDATE internal.runs SET deleted = ? WHERE list_contains(?::INTEGER[], run_key)",
                [deleted, list(run_keys)])
