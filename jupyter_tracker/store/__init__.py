"""Storage: the DuckDB database, per-process journals, and content-addressed objects."""

from .database import Store, get_store

__all__ = ["Store", "get_store"]
