"""Storage: the DuckDB database, per-process journals, and content-addressed objects."""

from .current import resolve_store
from .database import Store, get_store

__all__ = ["Store", "get_store", "resolve_store"]
