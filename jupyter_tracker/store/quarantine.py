"""Records the merge could not apply, kept aside with the reason instead of stopping the store.

``<store>/quarantine/<journal>.jsonl`` holds one line per damaged or refused record: which file
of which journal, where, why, and the record itself (or its first bytes). A journal the database
refused as a whole is moved here intact (``<journal>.events``, ``<journal>.metrics``).
``jupyter-tracker doctor`` reports all of it; nothing here is ever deleted by the library.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import now_ms

QUARANTINE_DIR = "quarantine"
_RAW_LIMIT = 4096


@dataclass(frozen=True)
class QuarantinedRecord:
    """One record set aside: journal name, file ("events" or "metrics"), byte offset, reason."""

    journal: str
    file: str
    offset: int
    reason: str
    record: str
    time: int


class Quarantine:
    """Collects the set-aside records of one merge and writes them before the merge commits."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def add(self, journal: str, file: str, offset: int, reason: str, record: Any) -> None:
        """Keep ``record`` (bytes or a decoded JSON object) of ``journal`` aside with ``reason``."""
        if isinstance(record, (bytes, bytearray)):
            text = bytes(record[:_RAW_LIMIT]).decode("utf-8", "backslashreplace")
        else:
            text = json.dumps(record, default=str)[:_RAW_LIMIT * 4]
        self._pending.setdefault(journal, []).append({
            "journal": journal, "file": file, "offset": int(offset), "reason": reason, "record": text,
            "time": now_ms()})

    def flush(self) -> None:
        """Append the collected entries to their files (before the merge commits, so a record is
        never skipped without its entry; a merge redone after a crash may repeat an entry, which
        readers fold)."""
        if not self._pending:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for journal, entries in self._pending.items():
            lines = "".join(json.dumps(entry, ensure_ascii=True) + "\n" for entry in entries).encode("ascii")
            fd = os.open(self.folder / f"{journal}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = 0
                while written < len(lines):
                    written += os.write(fd, lines[written:])
            finally:
                os.close(fd)
        self._pending.clear()

    def set_aside(self, journal_dir: Path, name: str, reason: str) -> None:
        """Move journal ``name``'s files here whole, with one entry saying why."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in journal_dir.glob(f"{name}.*"):
            os.replace(path, self.folder / path.name)
        self.add(name, "journal", 0, reason, b"")
        self.flush()


def quarantined_records(store_root: Path) -> list[QuarantinedRecord]:
    """Every record the store's merges set aside, oldest first, each listed once."""
    folder = Path(store_root) / QUARANTINE_DIR
    seen: set[tuple[str, str, int, str]] = set()
    records: list[QuarantinedRecord] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        with open(path, "rb") as reader:
            for line in reader:
                try:
                    entry = json.loads(line)
                    record = QuarantinedRecord(str(entry["journal"]), str(entry["file"]), int(entry["offset"]),
                                               str(entry["reason"]), str(entry.get("record", "")),
                                               int(entry.get("time", 0)))
                except (ValueError, KeyError, TypeError):
                    continue
                identity = (record.journal, record.file, record.offset, record.reason)
                if identity not in seen:
                    seen.add(identity)
                    records.append(record)
    return sorted(records, key=lambda r: r.time)


def set_aside_journals(store_root: Path) -> list[str]:
    """Names of whole journals moved into the quarantine (their files are kept there)."""
    folder = Path(store_root) / QUARANTINE_DIR
    if not folder.is_dir():
        return []
    return sorted({p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.suffix in (".events", ".metrics")})
