"""A real, small tmpfs for disk-full tests: a store on it fills up for real (ENOSPC from the kernel)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(folder: Path, size: str = "8m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` on ``folder`` for the ``with`` body (skips the test where mounting
    is impossible: not root, or no mount permission in this container), then unmount it."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("disk-full tests mount a tmpfs and need root (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill_disk(folder: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system holding ``folder`` until at most ``leave_bytes`` are free; returns the
    filler file (delete it to give the space back)."""
    filler = folder / "filler.bin"
    chunk = b"\xff" * (64 * 1024)
    with open(filler, "ab") as sink:
        while True:
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            if free <= leave_bytes:
                break
            try:
                sink.write(chunk[: max(1, min(len(chunk), free - leave_bytes))])
                sink.flush()
            except OSError:
                break
    return filler
