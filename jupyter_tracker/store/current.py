"""Which store a call means: the one it names, or the current one (see ``config``'s precedence).

The bottom layer owns this so every layer above (queries, runs, the server, sharing) finds the
default store the same way, without importing the tracking API to ask it.
"""

from __future__ import annotations

from typing import Any

from ..config import resolve_store_dir
from ..errors import InvalidValueError
from .database import Store, get_store


def resolve_store(store: Any = None) -> Store:
    """``store`` itself when it is a ``Store``; the current store for None; otherwise an
    InvalidValueError naming what was given."""
    if store is None:
        return get_store(resolve_store_dir())
    if not isinstance(store, Store):
        raise InvalidValueError(f"store must be a store such as jt.current_store() or get_store(path), or "
                                f"None for the current one; not {type(store).__name__} {store!r:.80}")
    return store
