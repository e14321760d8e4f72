"""The one clock of the store: integer milliseconds since the Unix epoch (MLflow's unit), and how a
duration reads."""

from __future__ import annotations

import time

_time_ns = time.time_ns


def now_ms() -> int:
    """Now, in milliseconds since the epoch."""
    return _time_ns() // 1_000_000


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: ``850 ms``, ``12.3 s``, ``4 min 5 s``, ``2 h 10 min``. The one
    format of the ``%%track`` summary line and its card (live_card.js's formatElapsed is the same)."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min {int(seconds % 60)} s"
    return f"{minutes // 60} h {minutes % 60} min"
