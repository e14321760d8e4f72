"""Rules for what may be logged: keys, param/tag values, metric values, artifact paths.

Every check raises a specific ``TrackerError`` subclass whose message names the value, the rule
and the fix, and runs *before* anything is written, so bad input never changes the store.
"""

from __future__ import annotations

import math
import posixpath
import re
from typing import Any

from .errors import InvalidArtifactPathError, InvalidKeyError, InvalidMetricError, InvalidTextError, InvalidValueError

MAX_KEY_LENGTH = 250
MAX_RUN_NAME_LENGTH = 250
#: Explicit metric timestamps are milliseconds since the epoch, from 1970 to 2200.
TIMESTAMP_MS_RANGE = (0, 7_258_118_400_000)
#: Times that read as seconds since the epoch are from 2000-01-01 on, and as milliseconds before it:
#: refused as seconds. Below, small counts (0, 1000: MLflow's examples and tests use such synthetic
#: timestamps) stay accepted.
TIMESTAMP_SECONDS_RANGE = (946_684_800, 946_684_800_000)
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
REDACTED = "***REDACTED***"

_KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-./ :]+")
_SECRET_PATTERN = re.compile(
    r"(pass(word|wd)?|pwd|token|secret|api[_\-]?key|access[_\-]?key|private[_\-]?key|credential|auth)",
    re.IGNORECASE,
)


def check_key(key: Any, kind: str) -> str:
    """Return ``key`` if it is a valid param/metric/tag key, else raise ``InvalidKeyError``.

    Keys are 1 to 250 characters of letters, digits, ``_ - . / :`` and space (MLflow's rule), so they can be
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
            f"{kind} key {key!r} contains {''.join(bad)!r}; keys may only use letters, digits, ':', "
            f"'_', '-', '.', '/' and space")
    if key != key.strip():
        raise InvalidKeyError(f"{kind} key {key!r} starts or ends with a space; remove it")
    return key


def text(value: str, what: str) -> str:
    """Return ``value`` if it is valid Unicode, else raise ``InvalidTextError``.

    The one rule for text that is not valid Unicode (a lone surrogate, as ``os.listdir`` or
    ``bytes.decode(errors="surrogateescape")`` produce for a Latin-1 file name): text a caller
    passes is refused here, naming the value and the position, before anything is written. Text
    the library reads on the caller's behalf (console output, file names on disk) is stored with
    ``escaped_text`` instead, so a print or a file can never fail a cell."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidTextError(
            f"{what} {value[:80]!r} is not valid Unicode: character {exc.start} is a lone surrogate "
            f"{value[exc.start]!r} (undecodable bytes from a file name or a decode with "
            f"errors='surrogateescape'). Pass text, e.g. os.fsencode(name).decode('utf-8', 'replace')") from None
    return value


def escaped_text(value: str) -> str:
    """``value`` with each lone surrogate written as the escape Python prints for it: a
    surrogate-escaped byte as ``\\xNN`` (so a Latin-1 file name keeps its original byte
    visibly), any other lone surrogate as ``\\udNNN``. Valid text is returned unchanged."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    escaped = []
    for char in value:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            escaped.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            escaped.append(f"\\u{code:04x}")
        else:
            escaped.append(char)
    return "".join(escaped)


def run_name(name: Any) -> str:
    """Validate a run name (start_run and rename share this rule): 1 to 250 characters of text."""
    if not isinstance(name, str):
        raise InvalidValueError(f"run_name must be a string, not {type(name).__name__}")
    if not name.strip() or len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidValueError(
            f"run name {name[:60]!r} has {len(name)} characters; run names have 1 to {MAX_RUN_NAME_LENGTH} "
            f"characters and are not only spaces")
    return text(name, "run name")


def looks_secret(key: str) -> bool:
    """True when a param/tag key looks like it holds a credential (password, token, api_key...)."""
    return _SECRET_PATTERN.search(key) is not None


def param_text(key: str, value: Any) -> str:
    """Turn a param value into its stored text; reject values over the documented size. Every
    path that stores a param goes through here, so a secret-looking key is always redacted."""
    value_text = value if isinstance(value, str) else _literal_text(value)
    if len(value_text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidValueError(
            f"param {key!r} has a value of {len(value_text)} characters; params hold at most "
            f"{MAX_PARAM_VALUE_LENGTH}. Log large values with log_text()/log_dict() as an artifact")
    return redacted("param", key, text(value_text, f"param {key!r} value"))


def tag_text(key: str, value: Any) -> str:
    """Turn a tag value into its stored text; reject values over the documented size. Every path
    that stores a tag goes through here, so a secret-looking key is always redacted."""
    value_text = value if isinstance(value, str) else _literal_text(value)
    if len(value_text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidValueError(
            f"tag {key!r} has a value of {len(value_text)} characters; tags hold at most "
            f"{MAX_TAG_VALUE_LENGTH}. Log large values with log_text() as an artifact")
    return redacted("tag", key, text(value_text, f"tag {key!r} value"))


def redacted(kind: str, key: str, value_text: str) -> str:
    """``value_text``, or ``REDACTED`` (with a warning) when ``key`` looks like it holds a secret
    and ``TrackerConfig.redact_secrets`` is on (the default)."""
    if not value_text or not looks_secret(key) or value_text == REDACTED:
        return value_text
    from .config import get_config

    if not get_config().redact_secrets:
        return value_text
    import warnings

    warnings.warn(
        f"{kind} {key!r} looks like a secret, so its value is stored as {REDACTED}. "
        f"To store it anyway set TrackerConfig.redact_secrets = False", UserWarning, stacklevel=4)
    return REDACTED


def _literal_text(value: Any) -> str:
    # str(True) -> 'True', str(0.1) -> '0.1', like MLflow; numpy scalars print as their value.
    try:
        return str(value)
    except Exception as exc:  # noqa: BLE001 - a user's broken __str__ is bad input, not our crash
        raise InvalidValueError(f"cannot turn a {type(value).__name__} into text: {exc!r}") from None


def metric_value(key: str, value: Any) -> float:
    """Convert a metric value to float64 or raise ``InvalidMetricError`` (NaN and ±inf are kept)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidMetricError(
            f"metric {key!r} got {value!r} ({type(value).__name__}); metrics must be real numbers. "
            f"Log text with set_tag() or log_param() instead")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidMetricError(
            f"metric {key!r} got an integer of {len(str(abs(value)))} digits, beyond the float64 range "
            f"(about 1.8e308); log a float, e.g. math.log10 of it") from None
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
    """Validate an explicit metric timestamp: integer milliseconds since the Unix epoch."""
    return timestamp_ms(timestamp, f"metric {key!r}", InvalidMetricError)


def timestamp_ms(timestamp: Any, what: str, error: type[InvalidValueError] = InvalidValueError) -> int:
    """The one rule for a time a caller gives (a metric's timestamp, a run's start or end time
    through the MLflow backend): integer milliseconds since the Unix epoch, 1970 to 2200, so a time
    in seconds, microseconds or nanoseconds is refused naming the unit instead of breaking every
    later query that turns it into a date. A time in seconds of any date since 2000, read as
    milliseconds, falls in 1970-1999, when no run was tracked: it is refused as seconds
    (``TIMESTAMP_SECONDS_RANGE``); small synthetic times (0, 1000) are not."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or (
            isinstance(timestamp, float) and not math.isfinite(timestamp)):
        raise error(
            f"{what} got timestamp={timestamp!r}; timestamps are milliseconds since the epoch "
            f"as an int, e.g. int(time.time() * 1000)")
    seconds = timestamp
    timestamp = int(timestamp)
    if TIMESTAMP_SECONDS_RANGE[0] <= timestamp < TIMESTAMP_SECONDS_RANGE[1]:
        raise error(
            f"{what} got timestamp={seconds!r}, which looks like seconds since the epoch (time.time()): "
            f"timestamps are milliseconds since the epoch, so pass timestamp={int(seconds * 1000)} "
            f"(e.g. int(time.time() * 1000))")
    low, high = TIMESTAMP_MS_RANGE
    if not low <= timestamp <= high:
        hint = (" It looks like nanoseconds (time.time_ns()); divide by 1,000,000" if timestamp > high * 1000
                else " It looks like microseconds; divide by 1,000" if timestamp > high
                else "")
        raise error(
            f"{what} got timestamp={timestamp}, which is not milliseconds since the epoch between "
            f"1970 and 2200.{hint} (e.g. int(time.time() * 1000))")
    return timestamp


def seconds(value: Any, what: str, example: str) -> float:
    """The one rule for a duration a caller gives in seconds (a grace period, an age): a finite
    number >= 0. NaN compares false with every time, so it would silently turn a rule off (or on);
    inf, a negative or a non-number are as surely mistakes. ``example`` shows a valid call."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0):
        raise InvalidValueError(f"{what} must be a finite number of seconds >= 0, not {value!r:.80}; e.g. {example}")
    return float(value)


def artifact_path(path: str | None, what: str = "artifact_path") -> str:
    """Normalise an artifact path inside a run: relative, '/'-separated, never escaping the run.

    Returns ``""`` for None/empty (the run's artifact root).
    """
    if path is None or path == "":
        return ""
    if not isinstance(path, str):
        raise InvalidArtifactPathError(f"{what} {path!r} must be a string like 'plots/roc.png'")
    text(path, what)
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
    if what == "artifact_file" and candidate.endswith("/"):
        raise InvalidArtifactPathError(
            f"{what} {path!r} ends with '/', so it names a folder; name the file, "
            f"e.g. {path.rstrip('/') or 'dir'}/file.txt")
    return "" if normal == "." else normal
