"""Our errors as MLflow's: MLflow's client and server read an ``MlflowException``'s error code
(a missing run is RESOURCE_DOES_NOT_EXIST, a 404 in the REST API; bad input INVALID_PARAMETER_VALUE)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST

from ..errors import (
    ArtifactNotFoundError,
    ExperimentNotFoundError,
    MetricNotFoundError,
    ModelExistsError,
    ModelNotFoundError,
    RunNotFoundError,
    TrackerError,
)

_MISSING = (RunNotFoundError, ExperimentNotFoundError, ArtifactNotFoundError, MetricNotFoundError, ModelNotFoundError)


@contextmanager
def as_mlflow_errors() -> Iterator[None]:
    """Raise a TrackerError of the block as the MlflowException MLflow's callers expect."""
    try:
        yield
    except TrackerError as exc:
        code = (RESOURCE_DOES_NOT_EXIST if isinstance(exc, _MISSING) else
                RESOURCE_ALREADY_EXISTS if isinstance(exc, ModelExistsError) else INVALID_PARAMETER_VALUE)
        raise MlflowException(str(exc), error_code=code) from exc


def missing(message: str) -> MlflowException:
    return MlflowException(message, error_code=RESOURCE_DOES_NOT_EXIST)


def invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def exists(message: str) -> MlflowException:
    return MlflowException(message, error_code=RESOURCE_ALREADY_EXISTS)
