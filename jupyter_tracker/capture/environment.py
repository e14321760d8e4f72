"""The software environment of a run: Python, platform and installed packages.

Never environment variables' values. Listing packages costs ~100 ms, so the result is cached
per process and recomputed only when a ``sys.path`` directory changes (a ``pip install``).
The JSON is content-addressed, so thousands of runs in one environment store it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import threading

_lock = threading.Lock()
_cached: tuple[tuple, dict, str] | None = None


def _path_stamp() -> tuple:
    stamps = []
    for entry in sys.path:
        try:
            stamps.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            stamps.append((entry, None))
    return tuple(stamps)


def _packages() -> dict[str, str]:
    from importlib.metadata import distributions

    packages: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            packages.setdefault(name, dist.version)
    return dict(sorted(packages.items(), key=lambda item: item[0].lower()))


def environment() -> tuple[dict, str]:
    """(environment dict, its sha256) for this process, cached until packages change."""
    global _cached
    stamp = _path_stamp()
    with _lock:
        if _cached is not None and _cached[0] == stamp:
            return _cached[1], _cached[2]
        env = {
            "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                       "executable": sys.executable},
            "platform": {"platform": platform.platform(), "system": platform.system(),
                         "release": platform.release(), "machine": platform.machine(),
                         "cpu_count": os.cpu_count()},
            "packages": _packages(),
        }
        sha = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()
        _cached = (stamp, env, sha)
        return env, sha
