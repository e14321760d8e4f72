"""``Run``: one execution being tracked, and the stack of active runs.

Every logging call appends to this process's journal (see ``store/journal.py``) and returns;
nothing here opens the database. ``log_metric`` is the hot path: a dict lookup, type checks,
one ``struct.pack``, one CRC32 continued from the key's precomputed prefix state, and one
``struct.pack_into`` into the journal's mapped window: no system call.
"""

from __future__ import annotations

import atexit
import os
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
import weakref
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import validation
from .capture.user import current_user
from .clock import now_ms
from .errors import (
    ArtifactNotFoundError,
    InvalidArtifactPathError,
    InvalidMetricError,
    InvalidValueError,
    ParamConflictError,
    RunNotActiveError,
)
from .store import events
from .store.events import END_STATUSES
from .store.journal import METRIC_PARTS, METRIC_PREFIX, METRIC_TAIL, RECORD_MARKER, RECORD_SIZE

if TYPE_CHECKING:
    from types import TracebackType

    from .models import ModelInfo
    from .store.database import Store

RUNNING, FINISHED, FAILED, KILLED = "RUNNING", "FINISHED", "FAILED", "KILLED"
#: A journal bigger than this is retired when no run of the process is writing to it.
JOURNAL_ROTATE_BYTES = 64 * 1024 * 1024

_tail = METRIC_TAIL.pack
_pack_into = METRIC_PARTS.pack_into
_parts = METRIC_PARTS.pack
_crc32 = zlib.crc32
_time_ns = time.time_ns


class Run:
    """A run being recorded. Use as a context manager, or end it with ``end()``.

    Attributes: ``run_id`` (hex uuid), ``run_name``, ``experiment``, ``parent_run_id``,
    ``status``, ``start_time`` (ms since epoch), ``params``/``tags`` logged so far and
    ``latest_metrics`` (the last value of each metric logged by this process).
    """

    def __init__(self, store: Store, *, experiment: str, run_name: str, parent_run_id: str | None,
                 source: dict[str, Any], run_id: str | None = None) -> None:
        self.store = store
        self.run_id = run_id or uuid.uuid4().hex
        self.run_name = run_name
        self.experiment = experiment
        self.parent_run_id = parent_run_id
        self.start_time = now_ms()
        self.end_time: int | None = None
        self.status = RUNNING
        self.source = source
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.latest_metrics: dict[str, float] = {}
        self._steps: dict[str, int] = {}
        self._active = True
        self._console_seq = 0
        self._bind()
        self._writer.event(events.run_started(
            self._slot, self.run_id, experiment, run_name, parent_run_id, self.start_time, current_user(),
            socket.gethostname(), os.getpid(), source))
        _live_runs.add(self)

    @classmethod
    def attach(cls, store: Store, run_id: str, *, experiment: str, run_name: str, parent_run_id: str | None,
               start_time: int, params: dict[str, str]) -> Run:
        """A handle on a run that exists already (started by another process, or ended): its logging
        calls go to this process's journal, and the run stays owned by the process that started it
        (this one's exit does not mark it KILLED). Used by interfaces that log to runs by id, such as
        the MLflow backend, whose server workers each write to runs any of them created."""
        run = cls.__new__(cls)
        run.store = store
        run.run_id = run_id
        run.run_name = run_name
        run.experiment = experiment
        run.parent_run_id = parent_run_id
        run.start_time = start_time
        run.end_time = None
        run.status = RUNNING
        run.source = {}
        run.params = dict(params)
        run.tags = {}
        run.latest_metrics = {}
        run._steps = {}
        run._active = True
        run._console_seq = 0
        run._bind(attach=True)
        _live_runs.add(run)
        return run

    def _bind(self, attach: bool = False) -> None:
        self._writer = self.store.writer()
        self._salt = self._writer.salt
        self._slot = self._writer.new_slot()
        self._key_ids: dict[str, int] = {}
        #: key -> (record prefix bytes: slot and key id, CRC32 state after salt and prefix); empty
        #: once the run ended, so the hot path's one lookup also checks that the run is active.
        self._prefixes: dict[str, tuple[bytes, int]] = {}
        if attach:
            self._writer.event(events.run_attached(self._slot, self.run_id, owned=False))

    def __repr__(self) -> str:
        return (f"<Run {self.run_name!r} id={self.run_id[:8]} experiment={self.experiment!r} "
                f"status={self.status}>")

    # -- metrics (hot path) ------------------------------------------------------------------
    def log_metric(self, key: str, value: float, step: int | None = None,
                   timestamp: int | None = None) -> None:
        """Log one metric point. ``step`` defaults to the key's previous step + 1 (from 0);
        ``timestamp`` (ms since epoch) to now. NaN and ±inf are kept as they are."""
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._first_point(key, "log_metric")
        if value.__class__ is not float:
            value = validation.metric_value(key, value)
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif step.__class__ is not int:
            step = validation.metric_step(key, step)
        timestamp = _time_ns() // 1_000_000 if timestamp is None else validation.metric_timestamp(key, timestamp)
        try:
            tail = _tail(step, timestamp, value)
        except struct.error:
            raise InvalidMetricError(f"metric {key!r}: step {step} does not fit in a 64-bit integer") from None
        crc = _crc32(tail, prefix[1])
        writer = self._writer
        pos = writer.pos
        if pos < writer.end:  # claim and store with no call in between (see JournalWriter)
            writer.pos = pos + RECORD_SIZE
            _pack_into(writer.mm, pos, RECORD_MARKER, crc, prefix[0], tail)  # type: ignore[arg-type]  # end is 0 while mm is None
        else:
            writer.append_metrics(_parts(RECORD_MARKER, crc, prefix[0], tail), f"metric {key!r}")
        self._steps[key] = step
        self.latest_metrics[key] = value

    def log_metrics(self, metrics: dict[str, float], step: int | None = None,
                    timestamp: int | None = None) -> None:
        """Log several metrics at one step; all are checked before any is written."""
        if not self._active:
            self._ended_error("log_metrics")
        if not isinstance(metrics, dict):
            raise InvalidValueError(f"log_metrics takes a dict of key -> number, not {type(metrics).__name__}")
        timestamp = now_ms() if timestamp is None else validation.metric_timestamp("(log_metrics)", timestamp)
        checked = []
        for key, value in metrics.items():
            key_id = self._key_ids.get(key)
            if key_id is None:
                validation.check_key(key, "metric")
            number = validation.metric_value(key, value)
            key_step = self._steps.get(key, -1) + 1 if step is None else validation.metric_step(key, step)
            checked.append((key, key_id, number, key_step))
        records = []
        for key, _, number, key_step in checked:
            prefix = self._prefixes.get(key) or self._first_point(key, "log_metrics")
            try:
                tail = _tail(key_step, timestamp, number)
            except struct.error:
                raise InvalidMetricError(f"metric {key!r}: step {key_step} does not fit in 64 bits") from None
            records.append(_parts(RECORD_MARKER, _crc32(tail, prefix[1]), prefix[0], tail))
        self._writer.metrics(b"".join(records))
        for key, _, number, key_step in checked:
            self._steps[key] = key_step
            self.latest_metrics[key] = number

    def _first_point(self, key: str, call: str) -> tuple[bytes, int]:
        """The slow part of a key's first point in this run: check the run is active and the key
        valid, define the key in the journal, precompute its record prefix and CRC state."""
        if not self._active:
            self._ended_error(call)
        validation.check_key(key, "metric")
        key_id = self._key_ids[key] = self._writer.key_id(key)
        prefix = METRIC_PREFIX.pack(self._slot, key_id)
        entry = self._prefixes[key] = (prefix, _crc32(prefix, self._salt))
        return entry

    # -- params and tags -------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> Any:
        """Log a param (immutable: the same key with another value is a ParamConflictError)."""
        self.log_params({key: value})
        return value

    def log_params(self, params: dict[str, Any]) -> None:
        """Log several params at once; all are checked before any is written."""
        if not self._active:
            self._ended_error("log_params")
        if not isinstance(params, dict):
            raise InvalidValueError(f"log_params takes a dict of key -> value, not {type(params).__name__}")
        fresh: dict[str, str] = {}
        for key, value in params.items():
            validation.check_key(key, "param")
            text = validation.param_text(key, value)
            known = self.params.get(key, fresh.get(key))
            if known is not None and known != text:
                raise ParamConflictError(
                    f"param {key!r} of run {self.run_name!r} is already {known!r}; it cannot become "
                    f"{text!r} (params are immutable). Use a new key, a tag, or start a new run")
            if known is None:
                fresh[key] = text
        if fresh:
            self._writer.event(events.params_logged(self._slot, fresh, now_ms()))
            self.params.update(fresh)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (mutable: a later value replaces the earlier one)."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set several tags at once; all are checked before any is written."""
        if not isinstance(tags, dict):
            raise InvalidValueError(f"set_tags takes a dict of key -> value, not {type(tags).__name__}")
        items = {}
        for key, value in tags.items():
            validation.check_key(key, "tag")
            items[key] = validation.tag_text(key, value)
        if items:
            self._writer.event(events.tags_set(self._slot, items, now_ms()))
            self.tags.update(items)

    def delete_tag(self, key: str) -> None:
        """Remove a tag from the run."""
        validation.check_key(key, "tag")
        self._writer.event(events.tag_deleted(self._slot, key, now_ms()))
        self.tags.pop(key, None)

    # -- artifacts ---------------------------------------------------------------------------
    def log_artifact(self, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> str:
        """Store a file under ``artifact_path/<file name>``; returns the artifact's path in the run."""
        source = Path(local_path)
        prefix = validation.artifact_path(artifact_path)
        if not source.is_file():
            raise ArtifactNotFoundError(
                f"log_artifact: {str(source)!r} is not a file (it does not exist or is a directory); "
                f"use log_artifacts() for a directory")
        sha256, size = self.store.objects.put_file(source)
        name = validation.escaped_text(source.name)  # a file name on disk need not be valid Unicode
        path = f"{prefix}/{name}" if prefix else name
        self._record_artifact(path, sha256, size)
        return path

    def log_artifacts(self, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[str]:
        """Store every file below ``local_dir``, keeping relative paths; returns their run paths."""
        folder = Path(local_dir)
        prefix = validation.artifact_path(artifact_path)
        if not folder.is_dir():
            raise ArtifactNotFoundError(f"log_artifacts: {str(folder)!r} is not a directory")
        stored = []
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = validation.escaped_text(file.relative_to(folder).as_posix())
            sha256, size = self.store.objects.put_file(file)
            path = f"{prefix}/{relative}" if prefix else relative
            self._record_artifact(path, sha256, size)
            stored.append(path)
        return stored

    def log_bytes(self, content: bytes, artifact_file: str) -> str:
        """Store ``content`` as the artifact ``artifact_file`` (a path inside the run)."""
        path = validation.artifact_path(artifact_file, "artifact_file")
        if not path:
            raise InvalidArtifactPathError("artifact_file must name a file, e.g. 'notes/summary.txt'")
        sha256 = self.store.objects.put_bytes(content)
        self._record_artifact(path, sha256, len(content))
        return path

    def log_text(self, text: str, artifact_file: str) -> str:
        """Store ``text`` (UTF-8) as the artifact ``artifact_file``."""
        if not isinstance(text, str):
            raise InvalidValueError(f"log_text takes a str, not {type(text).__name__}")
        validation.text(text, f"log_text content for {artifact_file!r}")
        return self.log_bytes(text.encode("utf-8"), artifact_file)

    def log_dict(self, dictionary: Any, artifact_file: str) -> str:
        """Store a dict as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
        from .artifacts import dict_bytes

        validation.artifact_path(artifact_file, "artifact_file")
        return self.log_bytes(dict_bytes(dictionary, artifact_file), artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> str:
        """Store a matplotlib figure (format from the suffix) or a plotly figure (.html or .json)."""
        from .artifacts import figure_bytes

        validation.artifact_path(artifact_file, "artifact_file")
        return self.log_bytes(figure_bytes(figure, artifact_file), artifact_file)

    def log_table(self, data: Any, artifact_file: str) -> str:
        """Store a DataFrame (or dict of columns) as Parquet (.parquet), CSV or JSON."""
        from .artifacts import table_bytes

        validation.artifact_path(artifact_file, "artifact_file")
        return self.log_bytes(table_bytes(data, artifact_file), artifact_file)

    def log_model(self, model: Any, name: str = "model", *, signature: Any = None, input_example: Any = None,
                  pip_requirements: list[str] | None = None) -> ModelInfo:
        """Store a trained model as the artifact folder ``name/`` (see ``jupyter_tracker.models``);
        returns a ModelInfo whose ``model_uri`` (``runs:/<run_id>/<name>``) loads it back."""
        from .models import log_model

        return log_model(self, model, name, signature=signature, input_example=input_example,
                         pip_requirements=pip_requirements)

    def log_input(self, data: Any, name: str | None = None, context: str = "training", *,
                  source: str | None = None, store_data: bool = False) -> dict[str, Any]:
        """Record a dataset this run used: digest, schema, row count, profile (see ``datasets``)."""
        from .datasets import log_input

        return log_input(self, data, name, context, source=source, store_data=store_data)

    def _record_artifact(self, path: str, sha256: str, size: int) -> None:
        from .artifacts import media_type

        self._writer.event(events.artifact_stored(self._slot, path, size, media_type(path), sha256, now_ms()))

    @property
    def slot(self) -> int:
        """This run's number in its process's journal (what its compact records refer to)."""
        return self._slot

    def record_input(self, record: dict[str, Any]) -> None:
        """Journal a dataset record built by ``events.input_used`` (see ``datasets.log_input``)."""
        self._writer.event(record)

    # -- console, snapshot, environment (used by the capture layer) ----------------------------
    def log_console(self, stream: str, text: str) -> None:
        """Keep console output of the run; text that is not valid Unicode is stored escaped."""
        self._console_seq += 1
        self._writer.event(events.console_written(self._slot, self._console_seq, stream,
                                                  validation.escaped_text(text), now_ms()))

    def log_snapshot(self, fields: dict[str, Any]) -> None:
        self._writer.event(events.snapshot_taken(self._slot, now_ms(), **fields))

    def log_environment(self, env: dict[str, Any], env_sha: str, git: dict[str, Any] | None, include_env: bool) -> None:
        self._writer.event(events.environment_captured(self._slot, env_sha, git, env if include_env else None,
                                                       now_ms()))

    # -- ending --------------------------------------------------------------------------------
    def end(self, status: str = FINISHED, error: BaseException | None = None) -> None:
        """End the run with FINISHED, FAILED or KILLED; ``error`` records the exception."""
        if status not in END_STATUSES:
            raise InvalidValueError(f"status {status!r} is not one of {', '.join(END_STATUSES)}")
        if not self._active:
            return
        if self.source.get("kind") == "cell":  # `with jt.start_run():` in a notebook cell: its slice too
            from .capture.reproducibility import record_ending_cell

            record_ending_cell(self)
        details = None
        if error is not None:  # an error's text (a path in an OSError, say) need not be valid Unicode
            details = {
                "type": type(error).__name__, "message": validation.escaped_text(str(error)),
                "traceback": validation.escaped_text(
                    "".join(traceback.format_exception(type(error), error, error.__traceback__))),
            }
        ended = now_ms()
        self._writer.event(events.run_ended(self._slot, status, ended, details))
        self._active = False
        self._prefixes = {}  # log_metric's one lookup now misses and says the run has ended
        self.status = status
        self.end_time = ended
        _remove_from_stack(self)
        writer = self._writer
        from .capture import background

        # Retire only when nothing can still write to it: no active run, no capture in flight.
        if background.idle() and not any(run._active and run._writer is writer for run in list(_live_runs)):
            self.store.retire_writer_if_large(JOURNAL_ROTATE_BYTES)

    def _ended_error(self, call: str) -> None:
        raise RunNotActiveError(f"{call}: run {self.run_name!r} ({self.run_id[:8]}) has already ended "
                                f"with {self.status}; start a new run with jt.start_run()")

    @property
    def active(self) -> bool:
        return self._active

    @property
    def duration_s(self) -> float:
        return ((self.end_time or now_ms()) - self.start_time) / 1000.0

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None:
            self.end(FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(KILLED, exc)
        else:
            self.end(FAILED, exc)
        return False


# -- the active-run stack -----------------------------------------------------------------------
_stack: list[Run] = []
_stack_lock = threading.Lock()
_live_runs: weakref.WeakSet[Run] = weakref.WeakSet()


def active_run() -> Run | None:
    """The innermost active run, or None."""
    return _stack[-1] if _stack else None


def active_runs() -> list[Run]:
    """The active runs of this process, outermost first (a copy: changing it changes nothing)."""
    with _stack_lock:
        return list(_stack)


@contextmanager
def runs_set_aside() -> Iterator[None]:
    """Within the block no run is active, so a run started there is top-level; afterwards the
    runs that were active come back beneath any run the block left active (``%%track`` cells
    are top-level runs even inside an open ``start_run()``)."""
    with _stack_lock:
        saved = list(_stack)
        _stack.clear()
    try:
        yield
    finally:
        with _stack_lock:
            _stack[:0] = saved


def push_run(run: Run) -> None:
    with _stack_lock:
        _stack.append(run)


def _remove_from_stack(run: Run) -> None:
    with _stack_lock:
        if run in _stack:
            _stack.remove(run)


def _end_runs_at_exit() -> None:
    """A process ending normally ends its open runs: FAILED after an uncaught exception."""
    last = getattr(sys, "last_value", None)
    for run in reversed(list(_stack)):
        if isinstance(last, KeyboardInterrupt):
            run.end(KILLED, last)
        elif isinstance(last, BaseException):
            run.end(FAILED, last)
        else:
            run.end(FINISHED)
    from .capture import background

    background.drain(timeout=5.0)


def _rebind_after_fork() -> None:
    """A forked child gets its own journal; runs it inherited attach to it (not owned)."""
    for run in list(_live_runs):
        if run._active:
            run._bind(attach=True)


atexit.register(_end_runs_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rebind_after_fork)
