"""W&B runs from their local folders: every ``run-*.wandb`` log under a source (offline runs and the
local copies of synced runs), with the files the run folder keeps (``files/``: media, saved files).

A ``.wandb`` file is W&B's transaction log: a 7-byte header (``:W&B``, magic, version) and then
W&B ``Record`` protobuf messages framed as LevelDB log records (32 KiB blocks; each fragment has a
CRC32, a length and a FULL/FIRST/MIDDLE/LAST type). W&B's own Python reader of that framing
(``wandb.sdk.internal.datastore``) left the package when its internals moved to ``wandb-core``
(Go), so the framing is read here (about 40 lines) while every record is decoded by W&B's own
protobuf classes (``wandb.proto.wandb_internal_pb2.Record``).

Damage: a log that ends inside a record (a writer killed mid-write, a truncated copy) keeps the
records before the damage; the run comes in KILLED, saying so. A record whose CRC does not match
while bytes follow it (damage in the middle of the log) means the run cannot be read completely:
it is skipped with that reason, never half imported. A log without an exit record whose file no
process holds open is a run that died without finishing: KILLED, saying so; a log some process
still writes is skipped until it ends.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from ...errors import InvalidValueError
from .core import DamagedRunError, SourceRef, SourceRun, flatten, require

KIND = "wandb"
EXTRA = "wandb"
_HEADER = struct.Struct("<4sHB")
_IDENT, _MAGIC, _VERSION = b":W&B", 0xBEE1, 0
_FRAGMENT = struct.Struct("<IHB")
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
#: Each fragment's CRC32 covers its type byte, then its payload: the type's part, computed once.
_KIND_CRCS = {kind: zlib.crc32(bytes([kind])) for kind in (_FULL, _FIRST, _MIDDLE, _LAST)}
_SKIPPED_CONFIG = {"_wandb"}


class _Truncated(Exception):
    """The log ends inside a record at ``offset``."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def read_records(data: bytes, label: str) -> Iterator[bytes]:
    """The record payloads of a ``.wandb`` log, in order; raises ``_Truncated`` where the bytes end
    inside a record and ``DamagedRunError`` at a fragment whose checksum or type is wrong."""
    if len(data) < _HEADER.size:
        raise _Truncated(0)
    ident, magic, version = _HEADER.unpack_from(data)
    if (ident, magic) != (_IDENT, _MAGIC) or version != _VERSION:
        raise DamagedRunError(f"{label} does not start with the header of a W&B log (version {_VERSION})")
    position = _HEADER.size
    pending: list[bytes] = []
    record_start = position
    size = len(data)
    unpack, header_size, kind_crcs, crc32 = _FRAGMENT.unpack_from, _FRAGMENT.size, _KIND_CRCS, zlib.crc32
    while position < size:
        room = _BLOCK - position % _BLOCK
        if room < header_size:
            position += room                         # block trailer: zero padding
            continue
        if position + header_size > size:
            raise _Truncated(record_start)
        checksum, length, kind = unpack(data, position)
        start = position + header_size
        end = start + length
        if checksum == 0 and length == 0 and kind == 0:   # zero-filled tail (preallocated or cut off)
            if any(data[start:]):
                raise DamagedRunError(f"{label} has an empty record at byte {position} followed by data")
            raise _Truncated(record_start)
        if end > size:
            raise _Truncated(record_start)
        payload = data[start:end]
        if kind not in kind_crcs or crc32(payload, kind_crcs[kind]) != checksum:
            if end >= size:
                raise _Truncated(record_start)
            raise DamagedRunError(f"{label} has a damaged record at byte {position} (checksum mismatch) with "
                                  f"{size - end} bytes after it")
        position = end
        if kind == _FULL:
            yield payload
            record_start = position
        elif kind == _FIRST:
            pending = [payload]
        elif kind == _MIDDLE:
            pending.append(payload)
        else:
            pending.append(payload)
            yield b"".join(pending)
            pending = []
            record_start = position
    if pending:
        raise _Truncated(record_start)


def list_runs(source: Path) -> list[SourceRef]:
    """Every ``.wandb`` log under ``source`` (a wandb folder, a run folder or one log file)."""
    files = [source] if source.is_file() else sorted(source.rglob("*.wandb"))
    if not files:
        raise InvalidValueError(f"{source} holds no W&B run logs (*.wandb); pass the wandb folder of your "
                                f"project (it holds offline-run-*/ and run-*/ folders)")
    pb = _protobuf()
    refs = []
    for file in files:
        identity = _identity(file, pb)
        refs.append(SourceRef(identity, file.parent.name if file.parent != source.parent else file.name,
                              lambda file=file: load_run(file, pb)))
    return refs


def _protobuf():
    require("wandb", EXTRA, KIND)
    from wandb.proto import wandb_internal_pb2

    return wandb_internal_pb2


def _identity(file: Path, pb) -> str:
    """entity/project/run id from the log's run record (near the start), else the file's own name."""
    with open(file, "rb") as handle:
        head = handle.read(4 * _BLOCK)
    try:
        for payload in read_records(head, file.name):
            record = pb.Record()
            record.ParseFromString(payload)
            if record.WhichOneof("record_type") == "run":
                run = record.run
                return f"{run.entity}/{run.project}/{run.run_id}"
    except (_Truncated, DamagedRunError, ValueError):
        pass
    return f"file/{file.stem.removeprefix('run-')}"


def _value(item):
    """A history/config item's value: the typed field when set, else its JSON text."""
    which = item.WhichOneof("value") if item.DESCRIPTOR.oneofs else None
    if which in ("integer", "number", "boolean", "text"):
        return getattr(item, which)
    if which == "none":
        return None
    return json.loads(item.json if which == "json" else item.value_json)


def _key(item) -> str:
    return ".".join(item.nested_key) if item.nested_key else item.key


#: Record kinds an import does not read (two of every three records of a run are ``summary``).
_UNREAD_KINDS = ("summary", "stats", "telemetry", "output", "output_raw")


def _unread_tags(pb) -> frozenset[int]:
    """The one-byte wire tags (field number, length-delimited) of the record kinds not read."""
    fields = pb.Record.DESCRIPTOR.fields_by_name
    return frozenset((fields[name].number << 3) | 2 for name in _UNREAD_KINDS
                     if name in fields and fields[name].number < 16)


def _is_unread(payload: bytes, unread_tags: frozenset[int]) -> bool:
    """Whether a record is of a kind the import does not read, from its first bytes: protobuf writes
    fields in number order, so after the optional ``num`` (field 1, a varint) comes the oneof's tag.
    Only a tag known to be unread skips the record; anything else is parsed."""
    position = 0
    if payload[:1] == b"\x08":
        position = 1
        while position < len(payload) and payload[position] & 0x80:
            position += 1
        position += 1
    return position < len(payload) and payload[position] in unread_tags


def load_run(file: Path, pb) -> SourceRun:
    """Read one run log completely (see the module docstring for damage and status). The records of
    kinds it does not use (summaries, system stats, console output) are framed and checked but not
    decoded."""
    label = f"{file.parent.name}/{file.name}"
    data = file.read_bytes()
    unread_tags = _unread_tags(pb)
    run = SourceRun(name=None, status="KILLED", start_time=int(file.stat().st_mtime * 1000))
    config: dict = {}
    exit_record = None
    truncated_at = None
    last_time = None
    records = 0
    try:
        for payload in read_records(data, label):
            if _is_unread(payload, unread_tags):
                records += 1
                continue
            record = pb.Record()
            try:
                record.ParseFromString(payload)
            except Exception as exc:   # noqa: BLE001 - protobuf's DecodeError: the record is damaged
                raise DamagedRunError(f"{label}: record {records + 1} is not a W&B record ({exc})") from None
            records += 1
            kind = record.WhichOneof("record_type")
            if kind == "history":
                last_time = _add_history(run, record.history, last_time)
            elif kind == "run":
                _add_run_record(run, record.run, config)
            elif kind == "config":
                for item in record.config.update:
                    config[_key(item)] = _value(item)
                for item in record.config.remove:
                    config.pop(_key(item), None)
            elif kind == "exit":
                exit_record = record.exit
    except _Truncated as damage:
        truncated_at = damage.offset
    except json.JSONDecodeError as exc:
        raise DamagedRunError(f"{label}: a value is not JSON ({exc})") from None
    run.params = flatten({k: v for k, v in config.items() if k not in _SKIPPED_CONFIG})
    if exit_record is not None and truncated_at is None:
        run.status = "FINISHED" if exit_record.exit_code == 0 else "FAILED"
        if exit_record.runtime:
            run.end_time = run.start_time + int(exit_record.runtime * 1000)
        if exit_record.exit_code:
            run.tags["wandb.exit_code"] = str(exit_record.exit_code)
    elif truncated_at is not None:
        run.status_note = (f"the W&B log ends inside a record at byte {truncated_at} of {len(data)} (its writer "
                           f"was killed mid-write, or the file is a truncated copy); imported the {records} "
                           f"records before the damage, as KILLED")
    else:
        writer = _live_writer(file)
        if writer is not None:
            raise DamagedRunError(f"{label} is still being written by process {writer}; import it once that "
                                  f"run has ended")
        run.status_note = ("the W&B log has no exit record and no process writes it any more: the run died "
                           "without finishing (W&B would show it running forever); imported as KILLED")
    if run.end_time is None:
        run.end_time = last_time if last_time is not None else run.start_time
    files_dir = file.parent / "files"
    if files_dir.is_dir():
        run.files = [(path.relative_to(files_dir).as_posix(), path)
                     for path in sorted(files_dir.rglob("*")) if path.is_file()]
    return run


def _add_run_record(run: SourceRun, record, config: dict) -> None:
    run.name = record.display_name or record.run_id
    run.experiment = record.project or None
    if record.HasField("start_time"):
        run.start_time = record.start_time.seconds * 1000 + record.start_time.nanos // 1_000_000
    for item in record.config.update:
        config[_key(item)] = _value(item)
    if record.tags:
        run.tags["wandb.tags"] = ", ".join(record.tags)
    for tag, value in (("wandb.run_id", record.run_id), ("wandb.entity", record.entity),
                       ("wandb.project", record.project), ("wandb.group", record.run_group),
                       ("wandb.job_type", record.job_type), ("wandb.notes", record.notes),
                       ("wandb.host", record.host), ("wandb.sweep_id", record.sweep_id)):
        if value:
            run.tags[tag] = value


def _add_history(run: SourceRun, history, last_time: int | None) -> int | None:
    """The numeric values of one ``wandb.log`` call as metric points at its ``_step`` and ``_timestamp``.

    The hot loop of an import (one call per logged step): values are read with ``float`` first, the
    JSON decoder only for what is not a plain number (media, tables, text, booleans)."""
    numbers: dict[str, float] = {}
    step = history.step.num
    timestamp = last_time
    media = []
    for item in history.item:
        nested = item.nested_key   # indexing it is far cheaper than iterating it (a upb container)
        depth = len(nested)
        key = nested[0] if depth == 1 else ".".join(nested[:]) if depth else item.key
        if key[:1] == "_" and key != "_step" and key != "_timestamp":
            continue                               # W&B's own values (_runtime, _wandb.*): not metrics
        text = item.value_json
        try:
            number = float(text) if text else _typed_number(item)
        except ValueError:                    # not a plain number: media, a table, text, true/false
            if key.endswith("._type"):
                media.append(key[:-len("._type")])
            continue
        if number is None:
            continue
        if key == "_step":
            step = int(number)
        elif key == "_timestamp":
            timestamp = int(number * 1000)
        elif not key.startswith("_"):
            numbers[key] = number
    if timestamp is None:
        timestamp = run.start_time
    for key, number in numbers.items():
        if media and key.split(".", 1)[0] in media:
            continue                                   # an image's width, height, size: not metric points
        run.add_point(key, step, timestamp, number)
    return timestamp


def _typed_number(item) -> float | None:
    """The value of an item that uses the typed fields instead of ``value_json`` (newer writers)."""
    which = item.WhichOneof("value") if item.DESCRIPTOR.oneofs else None
    if which in ("integer", "number"):
        try:
            return float(getattr(item, which))
        except OverflowError:
            return None
    return None


def _live_writer(file: Path) -> int | None:
    """The pid of a process that holds ``file`` open for writing, if any (psutil)."""
    import psutil

    target = str(file.resolve())
    for process in psutil.process_iter(["pid"]):
        try:
            if any(opened.path == target and opened.mode != "r" for opened in process.open_files()):
                return int(process.info["pid"])
        except (psutil.Error, OSError):
            continue
    return None
