"""Argument checks shared by the query functions: a wrong type is a TrackerError naming the
argument, never a TypeError; and the forms of "which runs" every public function accepts."""

from __future__ import annotations

from typing import Any

from ..errors import (
    InvalidValueError,
)


def check_run_id(run_id: Any, name: str = "run_id") -> None:
    if not isinstance(run_id, str):
        raise InvalidValueError(f"{name} must be a run id string such as '3f2a9c1e' (or a unique prefix of "
                                f"at least 4 characters), not {type(run_id).__name__} {run_id!r:.80}")


def check_text(value: Any, name: str, example: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidValueError(f"{name} must be a string such as {example!r}"
                                f"{' or None' if optional else ''}, not {type(value).__name__} {value!r:.80}")


def check_flag(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise InvalidValueError(f"{name} must be True or False, not {type(value).__name__} {value!r:.80}")


def experiment_names(experiment: Any) -> list[str]:
    """The experiment names of search_runs' ``experiment``: None or "" (all), a name or a list of names."""
    if experiment is None:
        return []
    if isinstance(experiment, str):
        return [experiment] if experiment else []
    if isinstance(experiment, (list, tuple, set, frozenset)) and all(isinstance(n, str) for n in experiment):
        return list(experiment)
    raise InvalidValueError(f"experiment must be an experiment name such as 'mnist', a list of names, or None "
                            f"for every experiment; not {type(experiment).__name__} {experiment!r:.80}")


def run_ids_of(runs: Any) -> list[str]:
    """Run ids from a list of ids, a ``search_runs`` DataFrame, a run table (its ``selected``), a
    ``Run``/``RunRecord`` or one id; refuses anything else with the accepted forms."""
    if runs is None:
        raise InvalidValueError("give the runs: run ids, a search_runs() DataFrame or table.selected")
    if isinstance(runs, str):
        return [runs]
    selected = getattr(runs, "selected", None)
    if selected is not None and not callable(selected):
        return list(selected)
    if hasattr(runs, "columns") and hasattr(runs, "__getitem__"):
        if "run_id" not in runs.columns:
            raise InvalidValueError("the DataFrame has no run_id column; pass the result of jt.search_runs()")
        return [str(run_id) for run_id in runs["run_id"].tolist()]
    if hasattr(runs, "run_id"):
        return [runs.run_id]
    try:
        ids = list(runs)
    except TypeError:
        raise InvalidValueError(f"runs must be run ids, a search_runs() DataFrame or table.selected, "
                                f"not {type(runs).__name__}") from None
    bad = [item for item in ids if not isinstance(item, str)]
    if bad:
        raise InvalidValueError(f"run ids are strings such as '3f2a9c1e'; got {bad[0]!r}")
    return ids
