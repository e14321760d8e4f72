"""The software environment of a run: Python, platform and installed packages.

Never environment variables' values. Listing packages walks every ``*.dist-info`` of
``sys.path``: 100-200 ms of pure Python in a venv of 250 packages, which, on the capture thread,
would hold the GIL against the training loop the run just started (its first 20,000 calls cost
several times the steady state). So the environment is described by a short child process (its
CPU is not our GIL) and kept in a per-user cache file keyed by the interpreter, ``sys.path`` and
the ``site-packages`` mtimes (what a ``pip install`` changes): later runs, in this process or a
new one, only read that file. The JSON is content-addressed, so thousands of runs store it once.
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

#: Run by the child (``-S -E``: no site, no environment hooks, only the stdlib loads): the
#: environment of an interpreter whose search path is given on stdin, and its sha256, as JSON.
_DESCRIBE = """
import hashlib, json, os, platform, sys
from importlib.metadata import distributions
request = json.load(sys.stdin)
packages = {}
for dist in distributions(path=request["path"]):
    name = dist.metadata["Name"] if dist.metadata else None
    if name:
        packages.setdefault(name, dist.version)
env = {
    "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
               "executable": request["executable"]},
    "platform": {"platform": platform.platform(), "system": platform.system(), "release": platform.release(),
                 "machine": platform.machine(), "cpu_count": os.cpu_count()},
    "packages": dict(sorted(packages.items(), key=lambda item: item[0].lower())),
}
json.dump({"env": env, "sha": hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()}, sys.stdout)
"""


def _path_stamp() -> tuple[Any, ...]:
    """What the environment depends on: the interpreter, the search path, and the mtime of each
    ``site-packages`` directory (an install or uninstall changes it). Other entries (the script's
    folder, the notebook's working directory) change with every file saved there, so only their
    names count."""
    stamps: list[Any] = [sys.executable]
    for entry in sys.path:
        if entry.endswith(("site-packages", "dist-packages")):
            try:
                stamps.append([entry, os.stat(entry).st_mtime_ns])
            except OSError:
                stamps.append([entry, None])
        else:
            stamps.append([entry, None])
    return tuple(stamps)


def _cache_file(stamp: tuple[Any, ...]) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jupyter_tracker"
    key = hashlib.sha256(json.dumps(stamp).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return base / f"environment-{key}.json"


def _describe(interpreter: str) -> tuple[dict[str, Any], str]:
    """(environment, sha256) as a child ``interpreter`` describes it, given this process's search path."""
    request = json.dumps({"path": sys.path, "executable": sys.executable})
    completed = subprocess.run([interpreter, "-S", "-E", "-c", _DESCRIBE], input=request, capture_output=True,
                               text=True, timeout=60, check=True)
    described = json.loads(completed.stdout)
    return dict(described["env"]), str(described["sha"])


def _described(stamp: tuple[Any, ...]) -> tuple[dict[str, Any], str]:
    """(environment, sha256): from the cache file, else described by a child process (its CPU
    is not this process's GIL; in this process only when no child can run), then cached. A cache
    that cannot be read or written (a read-only home) only costs the description again."""
    cache = _cache_file(stamp)
    try:
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored["stamp"] == list(stamp):
            return dict(stored["env"]), str(stored["sha"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        env, sha = _describe(sys.executable)
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        env, sha = _describe_here()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f".{cache.name}.{os.getpid()}")
        partial.write_text(json.dumps({"stamp": stamp, "env": env, "sha": sha}), encoding="utf-8")
        os.replace(partial, cache)
    except OSError:
        pass
    return env, sha


def _describe_here() -> tuple[dict[str, Any], str]:
    from importlib.metadata import distributions

    packages: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            packages.setdefault(name, dist.version)
    env = {
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "platform": {"platform": platform.platform(), "system": platform.system(),
                     "release": platform.release(), "machine": platform.machine(),
                     "cpu_count": os.cpu_count()},
        "packages": dict(sorted(packages.items(), key=lambda item: item[0].lower())),
    }
    return env, hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()


def environment() -> tuple[dict[str, Any], str]:
    """(environment dict, its sha256) for this process, cached until packages change."""
    global _cached
    stamp = _path_stamp()
    with _lock:
        if _cached is None or _cached[0] != stamp:
            env, sha = _described(stamp)
            _cached = (stamp, env, sha)
        return _cached[1], _cached[2]


def cached_environment() -> tuple[dict[str, Any], str] | None:
    """(environment, sha256) when this process already described the environment and no package
    changed since (a few ``stat`` calls); None when ``environment()`` would have work to do."""
    cached = _cached
    if cached is None or cached[0] != _path_stamp():
        return None
    return cached[1], cached[2]
