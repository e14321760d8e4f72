"""The journal's event vocabulary: every event type, its fields and their types, checked on read.

A journal is untrusted input to the merge (a writer may be old, damaged or not ours), so every
record is checked here before the merge uses it: a record that does not fit is quarantined with
the reason this module gives, never half-applied, and can never stop the records after it.
"""

from __future__ import annotations

import re
from typing import Any

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
#: Milliseconds since the epoch from 1970 to 2200: a point outside is not a timestamp in ms.
TIMESTAMP_RANGE = (0, 7_258_118_400_000)
_HEX64 = re.compile(r"[0-9a-f]{64}")

_str, _opt_str, _int, _opt_int, _ts, _bool = "str", "str?", "int", "int?", "ts", "bool"
_slot, _opt_int32 = "int32", "int32?"
_FIELDS: dict[str, dict[str, Any]] = {
    "key": {"id": _slot, "key": _str},
    "run": {"slot": _slot, "run_id": _str, "experiment": _str, "name": _str, "parent": _opt_str, "start": _ts,
            "user": _opt_str, "host": _opt_str, "pid": _opt_int32, "source": "source?", "origin": _opt_str},
    "attach": {"slot": _slot, "run_id": _str, "owned": "bool?"},
    "params": {"slot": _slot, "items": "text-dict", "ts": _ts},
    "tags": {"slot": _slot, "items": "text-dict", "ts": _ts},
    "deltag": {"slot": _slot, "key": _str, "ts": _ts},
    "end": {"slot": _slot, "status": "status", "ts": _ts, "error": "error?"},
    "env": {"slot": _slot, "env_sha": _str, "git": "git?", "env": "dict?", "ts": _ts},
    "artifact": {"slot": _slot, "path": _str, "size": _int, "media_type": _opt_str, "sha256": "hash", "ts": _ts},
    "snapshot": {"slot": _slot, "kind": _str, "notebook_path": _opt_str, "meta": "hash", "cells": "hash-list",
                 "ts": _ts},
    "console": {"slot": _slot, "seq": _int, "stream": _str, "text": _str, "ts": _ts},
    "input": {"slot": _slot, "name": _str, "digest": _str, "source": _opt_str, "context": _opt_str,
              "schema": _opt_str, "profile": _opt_str, "num_rows": _opt_int, "ts": _ts},
}
_OPTIONAL = {"parent", "user", "host", "pid", "source", "origin", "owned", "error", "git", "env", "media_type",
             "notebook_path", "context", "schema", "profile", "num_rows"}
END_STATUSES = ("FINISHED", "FAILED", "KILLED")
_SHAPES = {
    "source": {"kind": _opt_str, "code": _opt_str, "cell_id": _opt_str, "execution_count": _opt_int32,
               "notebook_path": _opt_str, "script_path": _opt_str, "cell_key": _opt_str},
    "git": {"commit": _opt_str, "branch": _opt_str, "remote": _opt_str, "dirty": "bool?"},
    "error": {"type": _opt_str, "message": _opt_str, "traceback": _opt_str},
}


def problem(record: dict[str, Any]) -> str | None:
    """Why ``record`` cannot be applied (a sentence), or None when it is a well-formed event."""
    kind = record.get("t")
    fields = _FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        return f"unknown event type {kind!r}"
    for name, rule in fields.items():
        if name not in record:
            if name in _OPTIONAL:
                continue
            return f"{kind} event without its {name!r} field"
        reason = _check(rule, record[name])
        if reason:
            return f"{kind} event: field {name!r} {reason}"
    bad_text = first_bad_text(record)
    if bad_text:
        return f"{kind} event: {bad_text}"
    return None


def _check(rule: str, value: Any) -> str | None:
    optional = rule.endswith("?")
    if optional and value is None:
        return None
    rule = rule.rstrip("?")
    if rule == "str":
        return None if isinstance(value, str) else f"is {type(value).__name__}, not text"
    if rule in ("int", "int32", "ts"):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"is {type(value).__name__}, not an integer"
        low, high = {"ts": TIMESTAMP_RANGE, "int32": _INT32}.get(rule, _INT64)
        if not low <= value <= high:
            return f"is {value}, outside {low}..{high}" + (" (ms since the epoch)" if rule == "ts" else "")
        return None
    if rule == "bool":
        return None if isinstance(value, bool) else f"is {type(value).__name__}, not true/false"
    if rule == "dict":
        return None if isinstance(value, dict) else f"is {type(value).__name__}, not an object"
    if rule in _SHAPES:  # an object with known fields, each text (or for some, a number/flag) or null
        if not isinstance(value, dict):
            return f"is {type(value).__name__}, not an object"
        for name, kind in _SHAPES[rule].items():
            reason = _check(kind, value.get(name))
            if reason:
                return f"has {name!r} that {reason}"
        return None
    if rule == "text-dict":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            return "is not an object of text keys and text values"
        return None
    if rule == "status":
        return None if value in END_STATUSES else f"is {value!r}, not one of {', '.join(END_STATUSES)}"
    if rule == "hash":
        return None if isinstance(value, str) and _HEX64.fullmatch(value) else "is not a sha256 hex digest"
    if rule == "hash-list":
        if isinstance(value, list) and all(isinstance(v, str) and _HEX64.fullmatch(v) for v in value):
            return None
        return "is not a list of sha256 hex digests"
    raise AssertionError(rule)  # pragma: no cover - a rule this module does not define


def first_bad_text(value: Any, where: str = "") -> str | None:
    """The first text inside ``value`` that is not valid Unicode (a lone surrogate), described. The
    journal writer refuses such a record and the merge quarantines one (from an older writer)."""
    if isinstance(value, str):
        position = bad_text_position(value)
        if position is not None:
            return f"text{where} has an undecodable character at position {position}"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            reason = first_bad_text(key, f"{where} (a key)") or first_bad_text(item, f"{where}.{key}")
            if reason:
                return reason
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reason = first_bad_text(item, f"{where}[{index}]")
            if reason:
                return reason
    return None


def bad_text_position(text: str) -> int | None:
    """The index of the first lone surrogate in ``text`` (not encodable as UTF-8), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


# -- writing: the one place each event's fields are named ---------------------------------------
def key_defined(local_id: int, key: str) -> dict[str, Any]:
    """Metric key ``key`` gets the journal-local id ``local_id`` (0, 1, 2, ... in order)."""
    return {"t": "key", "id": local_id, "key": key}


def run_started(slot: int, run_id: str, experiment: str, name: str, parent: str | None, start: int,
                user: str | None, host: str, pid: int, source: dict[str, Any]) -> dict[str, Any]:
    """A run begins and takes journal slot ``slot``; this journal owns it (a dead writer's runs end KILLED)."""
    return {"t": "run", "slot": slot, "run_id": run_id, "experiment": experiment, "name": name, "parent": parent,
            "start": start, "user": user, "host": host, "pid": pid, "source": source}


def run_attached(slot: int, run_id: str, owned: bool) -> dict[str, Any]:
    """A run started elsewhere (e.g. by the parent of a forked child) logs into this journal too."""
    return {"t": "attach", "slot": slot, "run_id": run_id, "owned": owned}


def params_logged(slot: int, items: dict[str, str], ts: int) -> dict[str, Any]:
    return {"t": "params", "slot": slot, "items": items, "ts": ts}


def tags_set(slot: int, items: dict[str, str], ts: int) -> dict[str, Any]:
    return {"t": "tags", "slot": slot, "items": items, "ts": ts}


def tag_deleted(slot: int, key: str, ts: int) -> dict[str, Any]:
    return {"t": "deltag", "slot": slot, "key": key, "ts": ts}


def run_ended(slot: int, status: str, ts: int, error: dict[str, Any] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"t": "end", "slot": slot, "status": status, "ts": ts}
    if error is not None:
        record["error"] = error
    return record


def environment_captured(slot: int, env_sha: str, git: dict[str, Any] | None, env: dict[str, Any] | None,
                         ts: int) -> dict[str, Any]:
    return {"t": "env", "slot": slot, "env_sha": env_sha, "git": git, "env": env, "ts": ts}


def artifact_stored(slot: int, path: str, size: int, media_type: str | None, sha256: str, ts: int) -> dict[str, Any]:
    return {"t": "artifact", "slot": slot, "path": path, "size": size, "media_type": media_type, "sha256": sha256,
            "ts": ts}


def snapshot_taken(slot: int, ts: int, kind: str, meta: str, cells: list[str],
                   notebook_path: str | None = None) -> dict[str, Any]:
    record = {"t": "snapshot", "slot": slot, "ts": ts, "kind": kind, "meta": meta, "cells": cells}
    if notebook_path is not None:
        record["notebook_path"] = notebook_path
    return record


def console_written(slot: int, seq: int, stream: str, text: str, ts: int) -> dict[str, Any]:
    return {"t": "console", "slot": slot, "seq": seq, "stream": stream, "text": text, "ts": ts}


def input_used(slot: int, name: str, digest: str, source: str | None, context: str | None, schema: str, profile: str,
               num_rows: int | None, ts: int) -> dict[str, Any]:
    return {"t": "input", "slot": slot, "name": name, "digest": digest, "source": source, "context": context,
            "schema": schema, "profile": profile, "num_rows": num_rows, "ts": ts}
