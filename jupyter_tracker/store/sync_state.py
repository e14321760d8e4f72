"""The file the live mirror process publishes its store-wide state in (``<store>/sync-state.json``).

Written by ``sharing/mirror.py`` (``Mirror._publish``); read here, below every layer, so the panels
(``query/sync.py``) show a failure that stops every run without importing the sharing layer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "sync-state.json"


def worker_state(store_root: Path, remote: str | None = None) -> dict[str, Any] | None:
    """What the live mirror of ``store_root`` (to ``remote``, when given) last published, or None when no
    mirror process is alive (its file is left by one that has exited) or it mirrors another remote."""
    try:
        state = json.loads((store_root / STATE_FILE).read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(state, dict):
        return None
    return state if remote is None or state.get("remote") == remote else None
