"""Module-level logging functions: one-liners over the active ``Run``'s methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NoActiveRunError
from .run import Run, _stack

if TYPE_CHECKING:
    import os

    from .models import ModelInfo


def _active(call: str) -> Run:
    if not _stack:
        raise NoActiveRunError(
            f"jt.{call}() needs an active run: put %%track on top of the cell, or wrap the code "
            f"in `with jt.start_run():`")
    return _stack[-1]


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """Log a metric point to the active run (see ``Run.log_metric``)."""
    (_stack[-1] if _stack else _active("log_metric")).log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None, timestamp: int | None = None) -> None:
    """Log several metrics at one step to the active run."""
    _active("log_metrics").log_metrics(metrics, step, timestamp)


def log_param(key: str, value: Any) -> Any:
    """Log a param of the active run; returns the value."""
    return _active("log_param").log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Log several params of the active run."""
    _active("log_params").log_params(params)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run."""
    _active("set_tag").set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    """Set several tags of the active run."""
    _active("set_tags").set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> str:
    """Store a file as an artifact of the active run."""
    return _active("log_artifact").log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[str]:
    """Store a directory's files as artifacts of the active run."""
    return _active("log_artifacts").log_artifacts(local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> str:
    """Store text as an artifact of the active run."""
    return _active("log_text").log_text(text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str) -> str:
    """Store a dict as JSON/YAML artifact of the active run."""
    return _active("log_dict").log_dict(dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> str:
    """Store a matplotlib or plotly figure as an artifact of the active run."""
    return _active("log_figure").log_figure(figure, artifact_file)


def log_table(data: Any, artifact_file: str) -> str:
    """Store a DataFrame as a Parquet/CSV/JSON artifact of the active run."""
    return _active("log_table").log_table(data, artifact_file)


def log_model(model: Any, name: str = "model", *, signature: Any = None, input_example: Any = None,
              pip_requirements: list[str] | None = None) -> ModelInfo:
    """Store a trained model in the active run (see ``Run.log_model``)."""
    return _active("log_model").log_model(model, name, signature=signature, input_example=input_example,
                                           pip_requirements=pip_requirements)


def log_input(data: Any, name: str | None = None, context: str = "training", *, source: str | None = None,
              store_data: bool = False) -> dict[str, Any]:
    """Record a dataset used by the active run (see ``Run.log_input``)."""
    return _active("log_input").log_input(data, name, context, source=source, store_data=store_data)
