"""What ``%%track --autolog`` and ``%%track --system`` start with a cell and stop when it ends.

Kept out of magic.py so the magic stays a thin layer: it calls ``start`` after the run began and
``stop`` before it ends. Neither ever raises: a failure becomes a warning and the cell runs on.
"""

from __future__ import annotations

import warnings
from typing import Any


def start(run, options: Any) -> list:
    """Start the extras the options ask for; returns the handles to pass to ``stop``."""
    handles: list = []
    if getattr(options, "autolog", False):
        try:
            from . import AutologScope

            handles.append(AutologScope().start())
        except Exception as exc:  # noqa: BLE001 - never break the user's cell
            warnings.warn(f"%%track --autolog could not start: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)
    if getattr(options, "system", False):
        try:
            from ..config import get_config
            from ..system_metrics import SystemMetricsSampler

            interval = getattr(options, "system_interval", None) or get_config().system_metrics_interval
            handles.append(SystemMetricsSampler(run, interval=interval).start())
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"%%track --system could not start: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)
    return handles


def stop(handles: list) -> None:
    """Stop what ``start`` started (patches restored, sampler joined), newest first."""
    for handle in reversed(handles):
        try:
            handle.stop()
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"%%track could not stop {type(handle).__name__}: {exc}", RuntimeWarning, stacklevel=2)
