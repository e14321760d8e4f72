"""Tee of stdout/stderr for a tracked cell: the user still sees everything, the run keeps a copy.

Text is handed to a sink in chunks (at most every second or 64 KiB, and at the end), so a
chatty training loop does not write a journal record per ``print``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

_FLUSH_BYTES = 64 * 1024
_FLUSH_SECONDS = 1.0


class _Tee:
    """Stands in for sys.stdout/sys.stderr; forwards everything to the original stream."""

    def __init__(self, original, stream_name: str, capture: ConsoleCapture) -> None:
        self._original = original
        self._stream_name = stream_name
        self._capture = capture

    def write(self, text):
        written = self._original.write(text)
        if isinstance(text, str) and text:
            self._capture.add(self._stream_name, text)
        return written

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


class ConsoleCapture:
    """Installs tees on sys.stdout/sys.stderr until ``stop()``; sink(stream, text) gets chunks."""

    def __init__(self, sink: Callable[[str, str], None]) -> None:
        self._sink = sink
        self._parts: list[tuple[str, str]] = []
        self._size = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, "stdout", self)
        sys.stderr = _Tee(sys.stderr, "stderr", self)

    def add(self, stream: str, text: str) -> None:
        with self._lock:
            if self._parts and self._parts[-1][0] == stream:
                self._parts[-1] = (stream, self._parts[-1][1] + text)
            else:
                self._parts.append((stream, text))
            self._size += len(text)
            due = self._size >= _FLUSH_BYTES or time.monotonic() - self._last_flush >= _FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            parts, self._parts, self._size = self._parts, [], 0
            self._last_flush = time.monotonic()
        for stream, text in parts:
            self._sink(stream, text)

    def stop(self) -> None:
        """Restore the original streams (only if nobody replaced ours meanwhile) and flush."""
        out, err = self._saved
        if isinstance(sys.stdout, _Tee) and sys.stdout._capture is self:
            sys.stdout = out
        if isinstance(sys.stderr, _Tee) and sys.stderr._capture is self:
            sys.stderr = err
        self.flush()
