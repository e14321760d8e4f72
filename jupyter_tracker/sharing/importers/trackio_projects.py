"""Trackio projects: one SQLite file per project (``<project>.db`` in Trackio's folder, by default
``~/.cache/huggingface/trackio``), read as Trackio writes it: ``configs`` (one JSON config per
run, with Trackio's ``_Group``, ``_Username`` and ``_Created``) and ``metrics`` (one JSON row of
values per ``trackio.log`` call, with its step and ISO timestamp), the values decoded by Trackio's
own ``deserialize_values`` (its encoding of ±inf and NaN). Media files Trackio keeps under
``media/<project>/<run>/`` come along as artifacts.

Trackio keeps no run status: its runs come in FINISHED, saying so in a tag.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from ...errors import InvalidValueError
from .core import DamagedRunError, SourceRef, SourceRun, flatten, require

KIND = "trackio"
EXTRA = "trackio"
_RESERVED_CONFIG = {"_Group": "trackio.group", "_Username": "trackio.user", "_Created": None}
STATUS_NOTE = "Trackio keeps no run status; the run is imported as FINISHED"


def list_runs(source: Path) -> list[SourceRef]:
    """Every run of every project database (``*.db``) in ``source`` (or of the one file given)."""
    require("trackio.utils", EXTRA, KIND)
    databases = [source] if source.is_file() else sorted(source.glob("*.db"))
    if not databases:
        raise InvalidValueError(f"{source} holds no Trackio project databases (*.db); pass Trackio's folder, "
                                f"e.g. ~/.cache/huggingface/trackio or your TRACKIO_DIR")
    refs = []
    for database in databases:
        project = database.stem
        with _connect(database) as con:
            has_run_ids = "run_id" in {row[1] for row in con.execute("PRAGMA table_info(metrics)")}
            column = "run_id" if has_run_ids else "run_name"
            runs = con.execute(f"SELECT {column}, min(run_name) FROM metrics GROUP BY {column} "
                               f"ORDER BY min(id)").fetchall()
        for run_key, run_name in runs:
            refs.append(SourceRef(f"{project}/{run_key}", f"{project}/{run_name}",
                                  lambda database=database, column=column, run_key=run_key, run_name=run_name:
                                  load_run(database, column, run_key, run_name)))
    return refs


def _connect(database: Path) -> sqlite3.Connection:
    """Read-only: importing never changes the Trackio project."""
    return sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)


def _ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def load_run(database: Path, column: str, run_key: str, run_name: str) -> SourceRun:
    """One Trackio run: config as params, every logged number as a metric point."""
    import orjson
    from trackio.utils import deserialize_values

    project = database.stem
    label = f"{project}/{run_name}"
    try:
        with _connect(database) as con:
            config_row = con.execute(f"SELECT config, created_at FROM configs WHERE {column} = ?",
                                     [run_key]).fetchone()
            rows = con.execute(f"SELECT step, timestamp, metrics FROM metrics WHERE {column} = ? ORDER BY id",
                               [run_key]).fetchall()
    except sqlite3.DatabaseError as exc:
        raise DamagedRunError(f"{label}: the Trackio database cannot be read ({exc})") from None
    try:
        config = deserialize_values(orjson.loads(config_row[0])) if config_row else {}
        starts = [_ms(rows[0][1])] if rows else []
        if config_row:
            starts.append(_ms(config.get("_Created") or config_row[1]) if isinstance(config, dict)
                          else _ms(config_row[1]))
        run = SourceRun(name=run_name, status="FINISHED", experiment=project, start_time=min(starts))
        for step, timestamp, values_json in rows:
            moment = _ms(timestamp)
            for key, value in deserialize_values(orjson.loads(values_json)).items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue                    # media and tables are files, not metric points
                run.add_point(key, int(step), moment, float(value))
    except (orjson.JSONDecodeError, ValueError, TypeError, IndexError) as exc:
        raise DamagedRunError(f"{label}: a row is not what Trackio writes ({exc})") from None
    for key, tag in _RESERVED_CONFIG.items():
        value = config.pop(key, None) if isinstance(config, dict) else None
        if tag and value:
            run.tags[tag] = str(value)
    run.params = flatten(config) if isinstance(config, dict) else {}
    run.tags["trackio.project"] = project
    run.tags["trackio.run_id" if column == "run_id" else "trackio.run"] = str(run_key)
    run.status_note = STATUS_NOTE
    run.end_time = max(run.metric_times, default=run.start_time)
    media = database.parent / "media" / project / run_name
    if media.is_dir():
        run.files = [(f"media/{path.relative_to(media).as_posix()}", path)
                     for path in sorted(media.rglob("*")) if path.is_file()]
    return run
