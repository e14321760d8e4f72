"""The one clock of the store: integer milliseconds since the Unix epoch (MLflow's unit)."""

from __future__ import annotations

import time

_time_ns = time.time_ns


def now_ms() -> int:
    """Now, in milliseconds since the epoch."""
    return _time_ns() // 1_000_000
