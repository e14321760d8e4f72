"""The software environment of a run: Python, platform and installed packages.

Never environment variables' values. Listing packages walks every ``*.dist-info`` of
``sys.path``: 100-200 ms of pure Python in a venv of 250 packages, which, on the capture thread,
would hold the GIL against the training loop the run just started (its first 20,000 calls cost
several times the steady state). So the list is made by a short child process (its CPU is not
our GIL) and kept in a per-user cache file keyed by the interpreter and the ``sys.path``
directories' mtimes (what a ``pip install`` changes): later runs, in this process or a new one,
only read that file. The JSON is content-addressed, so thousands of runs store it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], dict[str, Any], str] | None = None

#: Run by the child: the distributions found on the paths given on stdin, as JSON on stdout.
_LIST_PACKAGES = """
import json, sys
from importlib.metadata import distributions
packages = {}
for dist in distributions(path=json.load(sys.stdin)):
    name = dist.metadata["Name"] if dist.metadata else None
    if name:
        packages.setdefault(name, dist.version)
json.dump(packages, sys.stdout)
"""


def _path_stamp() -> tuple[Any, ...]:
    """What the package list depends on: the interpreter, the search path, and the mtime of each
    ``site-packages`` directory (an install or uninstall changes it). Other entries (the script's
    folder, the notebook's working directory) change with every file saved there, so only their
    names count."""
    stamps: list[Any] = [sys.executable]
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")):
            try:
                stamps.append((entry, os.stat(entry).st_mtime_ns))
            except OSError:
                stamps.append((entry, None))
        else:
            stamps.append((entry, None))
    return tuple(stamps)


def _cache_file(stamp: tuple[Any, ...]) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jupyter_tracker"
    key = hashlib.sha256(json.dumps(stamp).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return base / f"packages-{key}.json"


def _packages_in_child() -> dict[str, str] | None:
    """The package list made by a child interpreter (``-S -E``: no site, no environment hooks, so
    only the stdlib loads; the paths to search are ours). None when no child can be run."""
    try:
        child = subprocess.run([sys.executable, "-S", "-E", "-c", _LIST_PACKAGES], input=json.dumps(sys.path),
                               capture_output=True, text=True, timeout=60, check=True)
        listed = json.loads(child.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return {str(name): str(version) for name, version in listed.items()} if isinstance(listed, dict) else None


def _packages_here() -> dict[str, str]:
    from importlib.metadata import distributions

    packages: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            packages.setdefault(name, dist.version)
    return packages


def _packages(stamp: tuple[Any, ...]) -> dict[str, str]:
    """Installed packages, sorted by name: from the cache file, else listed by a child process
    (in this process only when no child can run), then cached. A cache that cannot be read or
    written (a read-only home) only costs the listing again."""
    cache = _cache_file(stamp)
    try:
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and stored.get("stamp") == json.loads(json.dumps(stamp)):
            return dict(stored["packages"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    listed = _packages_in_child()
    packages = dict(sorted((listed if listed is not None else _packages_here()).items(),
                           key=lambda item: item[0].lower()))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}")
        partial.write_text(json.dumps({"stamp": stamp, "packages": packages}), encoding="utf-8")
        os.replace(partial, cache)
    except OSError:
        pass
    return packages


def environment() -> tuple[dict[str, Any], str]:
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
            "packages": _packages(stamp),
        }
        sha = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()
        _cached = (stamp, env, sha)
        return env, sha
