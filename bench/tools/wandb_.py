"""Weights & Biases in offline mode (``WANDB_MODE=offline``: no account, no network).

Offline W&B writes each run to a ``.wandb`` transaction log and has no API to read it back
locally (its public API reads from the W&B server), so history reads and run search are not
measured for it. To count what a crash kept we decode that log with W&B's own protobuf
definitions (``wandb.proto.wandb_internal_pb2.Record``).
"""

from __future__ import annotations

import glob
import os
import struct
import time

from .common import announce_and_die, dir_size, training_curve

BLOCK = 32768
HEADER = 7  # ":W&B", magic 0xBEE1, version byte


def _wandb(root: str):
    directory = os.path.join(root, "wandb-dir")
    os.makedirs(directory, exist_ok=True)
    os.environ.update(WANDB_MODE="offline", WANDB_DIR=directory, WANDB_SILENT="true", WANDB_CONSOLE="off",
                      WANDB_DISABLE_GIT="true", WANDB_DISABLE_CODE="true", WANDB__DISABLE_STATS="true")
    import wandb

    return wandb


def prepare(root: str) -> dict:
    wandb = _wandb(root)
    run = wandb.init(project="bench", name="prepare")
    run.log({"warmup": 1.0})
    run.finish()
    return {"bytes": dir_size(root)}


def log_loop(root: str, n: int) -> dict:
    start = time.perf_counter()
    wandb = _wandb(root)
    imported = time.perf_counter()
    run = wandb.init(project="bench", name="loop")
    started = time.perf_counter()
    first = min(1_000, n)
    for step in range(first):            # timed from the run's first call
        run.log({"loss": step * 0.001}, step=step)
    first_done = time.perf_counter()
    for step in range(first, n):
        run.log({"loss": step * 0.001}, step=step)
    looped = time.perf_counter()
    run.finish()
    ended = time.perf_counter()
    return {"import_s": imported - start, "init_s": started - imported, "us_per_call": (looped - started) / n * 1e6,
            "first_us_per_call": (first_done - started) / first * 1e6, "finish_s": ended - looped, "run_id": run.id}


def seed_history(root: str, n: int) -> dict:
    wandb = _wandb(root)
    run = wandb.init(project="history", name="history")
    empty = dir_size(root)
    values = training_curve(n)
    for step in range(n):
        run.log({"loss": values[step]}, step=step)
    run.finish()
    return {"run_id": run.id, "empty_bytes": empty}


def store_bytes(root: str) -> dict:
    return {"bytes": dir_size(root)}


def records(path: str):
    """Protobuf records of a ``.wandb`` file (LevelDB log format); stops at a torn tail."""
    from wandb.proto import wandb_internal_pb2

    with open(path, "rb") as handle:
        data = handle.read()
    position, pending = HEADER, b""
    while position + 7 <= len(data):
        room = BLOCK - position % BLOCK
        if room < 7:
            position += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position:position + 7])
        chunk = data[position + 7:position + 7 + length]
        if len(chunk) < length or kind not in (1, 2, 3, 4):
            return
        position += 7 + length
        if kind == 1:
            payload = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        else:
            payload, pending = pending + chunk, b""
        record = wandb_internal_pb2.Record()
        try:
            record.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - a damaged record ends what can be read
            return
        yield record


def crash_child(root: str, n: int) -> dict:
    wandb = _wandb(root)
    run = wandb.init(project="crash", name="crash")
    for step in range(n):
        run.log({"loss": float(step)}, step=step)
    announce_and_die(f"LOGGED {n}")
    return {}


def crash_read(root: str, n: int) -> dict:
    time.sleep(2)  # W&B's separate service process may still be writing after the user process died
    files = glob.glob(os.path.join(root, "wandb-dir", "wandb", "offline-run-*", "run-*.wandb"))
    crash_files = []
    for path in files:
        kept, finished, is_crash = 0, False, False
        for record in records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run" and record.run.display_name == "crash":
                is_crash = True
            elif kind == "history" and any(item.key == "loss" or item.nested_key == ["loss"]
                                           for item in record.history.item):
                kept += 1
            elif kind == "exit":
                finished = True
        if is_crash:
            crash_files.append((kept, finished))
    if not crash_files:
        return {"kept": 0, "status": "missing"}
    kept, finished = crash_files[0]
    return {"kept": kept, "status": "finished" if finished else "no exit record (unfinished)"}
