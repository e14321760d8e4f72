"""What a reader sees of the journals before they are merged: their checked, unmerged records.

Merging writes the database (a transaction, a checkpoint): tens of milliseconds, which a reader
that only wants metric points (a history, a live chart's poll) need not pay. Such a reader reads
the journals' tails here instead. It must hold the store's lock (a session), so the merged rows it
reads from DuckDB and the offsets the journals were merged up to belong together; it then reads
every journal past those offsets with the merge's own reader and rules (``merge.read_journal``:
checksums, resynchronisation after damage, ids bounded by what the journal defined, implausible
records skipped) and writes nothing, not even the quarantine. The points it finds are exactly those
the next merge would insert: none is also in the database, none is missing. A backlog too large to
read on every call (``MAX_TAIL_POINTS``) is left to a merge: ``read_tails`` answers None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .journal import EVENTS_SUFFIX
from .locking import try_lock_exclusive
from .merge import Batch, JournalState, journal_states, read_journal
from .quarantine import QUARANTINE_DIR, Quarantine

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

#: Past this many unmerged points a reader merges instead: reading a tail costs about what merging
#: it once does, and every read would pay it again.
MAX_TAIL_POINTS = 1_000_000


@dataclass
class Tails:
    """The unmerged part of every journal of a store, as read under its lock: the runs and keys it
    defines that the database does not know yet (with provisional keys, above every merged one) and
    its metric points, by run key and key id."""

    batch: Batch
    points: int

    def run_key(self, run_id: str) -> tuple[int, str] | None:
        """(provisional run key, full id) of an unmerged run: its full id, or a prefix of at least 4
        characters that names only it; None when no unmerged run matches."""
        run_key = self.batch.run_keys_by_id.get(run_id)
        if run_key is not None:
            return run_key, run_id
        if len(run_id) >= 4:
            found = [(key, full) for full, key in self.batch.run_keys_by_id.items() if full.startswith(run_id)]
            if len(found) == 1:
                return found[0]
        return None

    def run_ids(self, prefix: str) -> list[str]:
        """The unmerged runs whose ids start with ``prefix``."""
        return [full for full in self.batch.run_keys_by_id if full.startswith(prefix)]

    def key_id(self, key: str) -> int | None:
        """The key id of metric ``key`` (merged, or provisional when only the journals define it)."""
        return self.batch.metric_keys.get(key)

    def metric_points(self, run_key: int, key_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step, timestamp ms, value) of the unmerged points of one run and key, in the order the
        merge would insert them."""
        steps, timestamps, values = [], [], []
        for part in self.batch.metric_arrays:
            chosen = (part["run_key"] == run_key) & (part["key_id"] == key_id)
            if chosen.any():
                steps.append(part["step"][chosen])
                timestamps.append(part["timestamp"][chosen])
                values.append(part["value"][chosen])
        if not steps:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=np.float64)
        return np.concatenate(steps), np.concatenate(timestamps), np.concatenate(values)


def read_tails(con: DuckDBPyConnection, journal_dir: Path, merged_ids: tuple[int, int], key: str | None = None,
               key_id: int | None = None, run_key: int | None = None) -> Tails | None:
    """Read every journal of ``journal_dir`` past what ``con``'s database merged (the caller holds
    the store's lock), writing nothing. ``merged_ids``: the database's largest run key and key id
    (provisional ones are counted on from there). ``key`` / ``key_id``: a merged metric key the
    caller looks for, so a journal that defines it again maps it to the same id. ``run_key``: a
    merged run whose points alone are wanted (other journals' metric records are not read). None when the
    backlog is more than a reader should read (``MAX_TAIL_POINTS``, or more than one bounded read
    of a journal): merge instead."""
    try:
        names = sorted(entry.name[: -len(EVENTS_SUFFIX)] for entry in os.scandir(journal_dir)
                       if entry.name.endswith(EVENTS_SUFFIX) and not entry.name.startswith("."))
    except FileNotFoundError:
        names = []
    # Only the looked-for key needs its merged id: any other key a tail defines gets a provisional
    # one, distinct from it, and its points are not asked for.
    batch = Batch(next_run_key=merged_ids[0] + 1, next_key_id=merged_ids[1] + 1, next_experiment_id=1 << 30,
                  experiments={}, metric_keys={key: key_id} if key is not None and key_id is not None else {})
    points = 0
    if names:
        states = journal_states(con)
        unsaved = Quarantine(journal_dir.parent / QUARANTINE_DIR)  # never flushed: the merge records damage
        for name in names:
            lock_fd = try_lock_exclusive(journal_dir / f"{name}{EVENTS_SUFFIX}")
            if lock_fd is not None:
                os.close(lock_fd)
            read, _ = read_journal(con, batch, journal_dir, name, lock_fd is not None, unsaved,
                                   states.get(name) or JournalState(), points_only=True, of_run=run_key)
            points += read
            if not batch.read_whole or points > MAX_TAIL_POINTS:
                return None
    return Tails(batch=batch, points=points)
