"""Content-addressed files: artifacts and snapshot cells stored once per sha256.

An object lives at ``objects/<sha[:2]>/<sha[2:]>``. Writes go to a temporary file first and are
renamed into place, so a copy interrupted half way never leaves a partial object under a hash.
A hash is data, never a path: only 64 lowercase hex digits name an object, so no stored value
(a tampered bundle's row, a damaged database) can turn into a file outside ``objects/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreFormatError

if TYPE_CHECKING:
    from io import BufferedWriter
    from types import TracebackType

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: object) -> bool:
    """True when ``value`` is a sha256 as the store writes it: 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


class ObjectStore:
    """Files stored under their sha256; identical content is stored once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """The file of the object ``sha256``; refuses anything but 64 lowercase hex digits.

        Every reader and writer of objects comes through here, so a hash that holds a path
        ('ab/etc/passwd', '../x') can never name a file outside ``objects/``."""
        if not is_sha256(sha256):
            shown = sha256[:80] if isinstance(sha256, str) else sha256
            raise StoreFormatError(
                f"{shown!r} is not a stored object's sha256 (objects are named by 64 lowercase hex digits); "
                f"the store holds a damaged or tampered reference. Run `jupyter-tracker doctor`, and delete "
                f"the run that refers to it if it came from an untrusted bundle")
        return self.root / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put_bytes(self, content: bytes) -> str:
        """Store ``content`` and return its sha256 (no write when it is already stored)."""
        sha256 = hashlib.sha256(content).hexdigest()
        target = self.path(sha256)
        if not target.exists():
            with self._temporary() as (handle, temp_path):
                handle.write(content)
            self._publish(temp_path, target)
        return sha256

    def put_file(self, source: Path) -> tuple[str, int]:
        """Copy the file at ``source`` in, hashing while copying; return (sha256, size)."""
        digest = hashlib.sha256()
        size = 0
        with self._temporary() as (handle, temp_path), open(source, "rb") as reader:
            while chunk := reader.read(_CHUNK):
                digest.update(chunk)
                handle.write(chunk)
                size += len(chunk)
        sha256 = digest.hexdigest()
        target = self.path(sha256)
        if target.exists():
            os.unlink(temp_path)
        else:
            self._publish(temp_path, target)
        return sha256, size

    def read_bytes(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def _temporary(self) -> _TempWriter:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return _TempWriter(tmp_dir)

    def _publish(self, temp_path: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp_path, target)


class _TempWriter:
    """Context manager yielding (handle, path) of a temp file that is removed if the body fails."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> tuple[BufferedWriter, Path]:
        fd, name = tempfile.mkstemp(dir=self.directory, prefix="put-")
        self.path = Path(name)
        self.handle = os.fdopen(fd, "wb")
        return self.handle, self.path

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.handle.close()
        if exc_type is not None:
            self.path.unlink(missing_ok=True)


def copy_out(store: ObjectStore, sha256: str, destination: Path) -> None:
    """Copy a stored object to ``destination`` (used by restore and export)."""
    shutil.copyfile(store.path(sha256), destination)


def sha256_file(path: Path) -> str:
    """The sha256 of the file at ``path``, read in chunks (the one way a file's content hash is
    computed outside ``ObjectStore.put_file``, which hashes while it copies)."""
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
