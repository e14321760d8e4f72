"""Storage: the DuckDB database, per-process journals, and content-addressed objects.

``Store``, ``get_store`` and ``resolve_store`` are imported on first use (PEP 562), so that the
tracking layer's journal writer (``store.journal``, ``store.events``) loads without the database
module and the configuration it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .current import resolve_store
    from .database import Store, get_store

_EXPORTS = {"Store": "database", "get_store": "database", "resolve_store": "current"}

__all__ = ["Store", "get_store", "resolve_store"]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use, and keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_tracker.store' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
