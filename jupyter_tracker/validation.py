"""Rules for what may be logged: keys, param/tag values, metric values, artifact paths.

Every check raises a specific ``TrackerError`` subclass whose message names the value, the rule
and the fix, and runs *before* anything is written, so bad input never changes the store.
"""

from __future__ import annotations

import math
import posixpath
import re
from typing import Any

from .errors import InvalidArtifactPathError, InvalidKeyError, InvalidMetricError, InvalidValueError

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
REDACTED = "***REDACTED***"

_KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-./ ]+")
_SECRET_PATTERN = re.compile(
    r"(pass(word|wd)?|pwd|token|secret|api[_\-]?key|access[_\-]?key|private[_\-]?key|credential|auth)",
    re.IGNORECASE,
)


def check_key(key: Any, kind: str) -> str:
    """Return ``key`` if it is a valid param/metric/tag key, else raise ``InvalidKeyError``.

    Keys are 1 to 250 characters of letters, digits, ``_ - . /`` and space, so they can be
    column names (``params.<key>``) and filter operands without quoting surprises.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(
            f"{kind} key {key!r} is a {type(key).__name__}; keys must be strings, e.g. {kind}('lr', ...)")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"{kind} key {key[:60]!r} has {len(key)} characters; keys must have 1 to {MAX_KEY_LENGTH}")
    if not _KEY_PATTERN.fullmatch(key):
        bad = sorted({ch for ch in key if not _KEY_PATTERN.fullmatch(ch)})
        raise InvalidKeyError(
            f"{kind} key {key!r} contains {''.join(bad)!r}; keys may only use letters, digits, "
            f"'_', '-', '.', '/' and space")
    if key != key.strip():
        raise InvalidKeyError(f"{kind} key {key!r} starts or ends with a space; remove it")
    return key


def looks_secret(key: str) -> bool:
    """True when a param/tag key looks like it holds a credential (password, token, api_key...)."""
    return _SECRET_PATTERN.search(key) is not None


def param_text(key: str, value: Any) -> str:
    """Turn a param value into its stored text; reject values over the documented size."""
    text = value if isinstance(value, str) else _literal_text(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidValueError(
            f"param {key!r} has a value of {len(text)} characters; params hold at most "
            f"{MAX_PARAM_VALUE_LENGTH}. Log large values with log_text()/log_dict() as an artifact")
    return text


def tag_text(key: str, value: Any) -> str:
    """Turn a tag value into its stored text; reject values over the documented size."""
    text = value if isinstance(value, str) else _literal_text(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidValueError(
            f"tag {key!r} has a value of {len(text)} characters; tags hold at most "
            f"{MAX_TAG_VALUE_LENGTH}. Log large values with log_text() as an artifact")
    return text


def _literal_text(value: Any) -> str:
    # str(True) -> 'True', str(0.1) -> '0.1', like MLflow; numpy scalars print as their value.
    return str(value)


def metric_value(key: str, value: Any) -> float:
    """Convert a metric value to float64 or raise ``InvalidMetricError`` (NaN and ±inf are kept)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidMetricError(
            f"metric {key!r} got {value!r} ({type(value).__name__}); metrics must be real numbers. "
            f"Log text with set_tag() or log_param() instead")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidMetricError(
            f"metric {key!r} got {value!r} ({type(value).__name__}), which is not a real number: {exc}. "
            f"Pass a float, an int or a 0-d numpy/torch scalar") from None
    if isinstance(value, complex):  # pragma: no cover - float(complex) already fails
        raise InvalidMetricError(f"metric {key!r} got complex {value!r}; metrics must be real")
    return number


def metric_step(key: str, step: Any) -> int:
    """Validate a metric step: an integer (numpy integers included) within int64."""
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise InvalidMetricError(
            f"metric {key!r} got step={step!r} ({type(step).__name__}); steps must be integers, e.g. step=epoch")
    step = step.__index__()
    if not -(2**63) <= step < 2**63:
        raise InvalidMetricError(f"metric {key!r} got step={step}, outside the 64-bit integer range")
    return step


def metric_timestamp(key: str, timestamp: Any) -> int:
    """Validate an explicit timestamp: integer milliseconds since the Unix epoch."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or (
            isinstance(timestamp, float) and not math.isfinite(timestamp)):
        raise InvalidMetricError(
            f"metric {key!r} got timestamp={timestamp!r}; timestamps are milliseconds since the epoch "
            f"as an int, e.g. int(time.time() * 1000)")
    return int(timestamp)


def artifact_path(path: str | None, what: str = "artifact_path") -> str:
    """Normalise an artifact path inside a run: relative, '/'-separated, never escaping the run.

    Returns ``""`` for None/empty (the run's artifact root).
    """
    if path is None or path == "":
        return ""
    if not isinstance(path, str):
        raise InvalidArtifactPathError(f"{what} {path!r} must be a string like 'plots/roc.png'")
    candidate = path.replace("\\", "/")
    if candidate.startswith("/") or re.match(r"^[A-Za-z]:", candidate):
        raise InvalidArtifactPathError(
            f"{what} {path!r} is absolute; artifact paths are relative to the run, e.g. 'plots/roc.png'")
    normal = posixpath.normpath(candidate)
    if normal == ".." or normal.startswith("../") or "/../" in f"/{candidate}/":
        raise InvalidArtifactPathError(
            f"{what} {path!r} escapes the run's artifact directory with '..'; use a path inside it")
    if "\x00" in candidate:
        raise InvalidArtifactPathError(f"{what} {path!r} contains a NUL byte")
    return "" if normal == "." else normal
