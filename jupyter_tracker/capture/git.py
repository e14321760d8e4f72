"""Git state of the directory a run's code lives in: commit, branch, remote URL, dirty flag.

Asked of ``git`` itself (a subprocess costs ~3 ms). Results are cached per repository until
``.git/HEAD`` or ``.git/index`` changes, or for at most two seconds for the dirty flag, so a
loop that creates many runs does not spawn git each time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

_CACHE_SECONDS = 2.0
_cache: dict[Path, tuple[tuple, float, dict | None]] = {}
_cache_lock = threading.Lock()


def _repository_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _stamp(root: Path) -> tuple:
    stamps = []
    for name in ("HEAD", "index"):
        try:
            stamps.append((root / ".git" / name).stat().st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def _git(root: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                   timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def strip_credentials(url: str | None) -> str | None:
    """Remove ``user:password@`` from a remote URL so no secret is ever stored."""
    if not url:
        return url
    return re.sub(r"^([a-z][a-z0-9+.\-]*://)[^/@]+@", r"\1", url)


def git_info(directory: Path) -> dict | None:
    """{commit, branch, remote, dirty} for the repository containing ``directory``, or None."""
    known, info = cached_git_info(directory)
    if known:
        return info
    root = _repository_root(directory.absolute())
    assert root is not None  # cached_git_info knows the answer when there is no repository or no git
    stamp = _stamp(root)
    now = time.monotonic()
    commit = _git(root, "rev-parse", "HEAD")
    info = None
    if commit is not None:
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        info = {
            "commit": commit,
            "branch": _git(root, "rev-parse", "--abbrev-ref", "HEAD"),
            "remote": strip_credentials(_git(root, "config", "--get", "remote.origin.url")),
            "dirty": bool(status) if status is not None else None,
        }
    with _cache_lock:
        _cache[root] = (stamp, now, info)
    return info


def cached_git_info(directory: Path) -> tuple[bool, dict | None]:
    """(True, what ``git_info`` returns) when that needs no ``git`` subprocess (no git, no repository,
    or a fresh cached answer); (False, None) when it does."""
    if shutil.which("git") is None:
        return True, None
    root = _repository_root(directory.absolute())
    if root is None:
        return True, None
    with _cache_lock:
        cached = _cache.get(root)
    if cached and cached[0] == _stamp(root) and time.monotonic() - cached[1] < _CACHE_SECONDS:
        return True, cached[2]
    return False, None
