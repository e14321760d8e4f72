"""The one exception hierarchy of jupyter_tracker.

Every error the library raises on purpose is a ``TrackerError``. Subclasses also derive from
the builtin a Python user would reach for (``ValueError``, ``LookupError``, ...), so existing
``except ValueError`` code keeps working. Messages name the bad value, the rule and the fix.
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base class of every error raised by jupyter_tracker."""


class InvalidKeyError(TrackerError, ValueError):
    """A param, metric or tag key breaks the key rules."""


class InvalidValueError(TrackerError, ValueError):
    """A logged value is of the wrong kind or too large."""


class InvalidMetricError(InvalidValueError):
    """A metric value is not a real number, or its step/timestamp is not an integer."""


class ParamConflictError(TrackerError, ValueError):
    """A param was logged again with a different value (params are immutable)."""


class InvalidArtifactPathError(TrackerError, ValueError):
    """An artifact path is absolute or escapes its run's directory."""


class ArtifactNotFoundError(TrackerError, FileNotFoundError):
    """The local file or directory to log as an artifact does not exist."""


class NoActiveRunError(TrackerError, RuntimeError):
    """A module-level logging call was made with no active run."""


class RunNotActiveError(TrackerError, RuntimeError):
    """A logging call was made on a run that has already ended."""


class RunNotFoundError(TrackerError, LookupError):
    """No run in the store matches the given id (or id prefix)."""


class InvalidFilterError(TrackerError, ValueError):
    """A search filter or order_by string could not be parsed."""


class InvalidQueryError(TrackerError, ValueError):
    """A ``jt.sql`` query is not a single read-only SELECT statement."""


class StoreError(TrackerError, OSError):
    """The store directory or database cannot be used."""


class StoreFormatError(StoreError):
    """The database file is not a jupyter_tracker store (foreign or damaged); left untouched."""


class NotAStoreError(StoreFormatError):
    """The database file holds tables, but not a jupyter_tracker store's (a foreign DuckDB file)."""


class DamagedStoreError(StoreFormatError):
    """The database file is a jupyter_tracker store whose own records are damaged."""


class StoreVersionError(StoreError):
    """The store was written by a newer jupyter_tracker than this one."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """A read named a store that does not exist; reads never create one."""


class StoreLockedError(StoreError):
    """Another program holds the database file and did not release it in time."""


class StoreFullError(StoreError):
    """The disk holding the store has no room left: nothing was written; free space and retry.

    Also an ``OSError`` with ``errno.ENOSPC``, so code that handles a full disk keeps working."""

    def __init__(self, message: str) -> None:
        import errno

        super().__init__(message)
        self.errno = errno.ENOSPC
        self.strerror = message


class StoreReadOnlyError(StoreError):
    """The store is on read-only media (or not writable by this user): it can be read, not written."""


class QueryTimeoutError(TrackerError, TimeoutError):
    """A query ran longer than its time limit and was stopped (the store is unchanged)."""


class InvalidTextError(InvalidValueError):
    """Text passed to a logging call is not valid Unicode (it holds a lone surrogate)."""


class SnapshotNotFoundError(TrackerError, LookupError):
    """The run has no notebook snapshot (it ran outside a notebook or with --no-snapshot)."""


class ConfigError(TrackerError, ValueError):
    """A configuration value (option, environment variable) is malformed."""


class RunAlreadyActiveError(TrackerError, RuntimeError):
    """start_run() was called while another run is active, without nested=True."""


class ExperimentNotFoundError(TrackerError, LookupError):
    """No experiment of that name exists in the store."""


class MetricNotFoundError(TrackerError, LookupError):
    """The run never logged a metric of that key."""


class PathExistsError(TrackerError, FileExistsError):
    """A file would be overwritten; pass overwrite=True or choose another path."""


class MissingExtraError(TrackerError, ImportError):
    """A model flavor or integration needs an optional library that is not installed."""


class UnsupportedModelError(TrackerError, TypeError):
    """log_model was given an object no flavor knows how to store."""


class SignatureMismatchError(TrackerError, ValueError):
    """The input given to a loaded model does not match the model's signature."""


class ModelNotFoundError(TrackerError, LookupError):
    """A model URI (runs:/... or models:/...) names no stored model, version or alias."""


class ModelExistsError(TrackerError, ValueError):
    """A registered model of that name already exists (create it once; register new versions of it)."""


class UntrustedModelError(TrackerError, ValueError):
    """A stored scikit-learn model refers to types that are not trusted for safe loading."""


class InvalidStageError(TrackerError, ValueError):
    """A registry stage is not one of None, Staging, Production, Archived."""


class PathOutsideRootError(TrackerError, ValueError):
    """A path given to the server extension is absolute or escapes the server's root directory."""


class ConfirmationRequiredError(TrackerError, ValueError):
    """A destructive request (deleting a run) did not repeat the run id as confirmation."""


class BundleError(TrackerError, ValueError):
    """A .jtrack bundle is damaged, tampered with, unsafe to unpack, or of an unknown format version."""


class SyncError(TrackerError, RuntimeError):
    """Pushing runs to, or pulling runs from, an MLflow tracking server failed (nothing local was lost)."""


class TrackerWarning(UserWarning):
    """Base class of every warning jupyter_tracker gives (filter them with this category)."""


class UnknownKeyWarning(TrackerWarning):
    """A search filter names a metric, param or tag that no searched run has (usually a typo)."""


__all__ = [name for name, value in dict(globals()).items()
           if isinstance(value, type) and issubclass(value, (TrackerError, TrackerWarning))]

