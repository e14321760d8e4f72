"""Starting runs and choosing where they go: ``start_run``, ``set_store``, ``set_experiment``.

``start_run`` writes the run's start record and schedules the slow capture (packages, git) on a
background worker; the notebook snapshot is taken right away (so it survives a killed kernel)
and costs little because cells are stored content-addressed and cached per execution count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import config as _config
from . import validation
from .errors import ConfigError, InvalidValueError, NoActiveRunError, RunAlreadyActiveError
from .names import generate_run_name
from .run import FINISHED, Run, active_run, push_run
from .store import Store, get_store, resolve_store
from .validation import check_key

_experiment: str | None = None


def current_store() -> Store:
    """The store that runs go to and queries read (see ``config.resolve_store_dir``)."""
    return resolve_store()


def set_store(path: str | os.PathLike) -> Store:
    """Use the store directory ``path`` (created if missing) for all later runs and queries."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ConfigError(f"set_store takes a directory path, not {path!r}")
    root = Path(path).expanduser().absolute()
    store = get_store(root)
    store.ensure_directory()
    _config.set_store_override(root)
    return store


def set_experiment(name: str) -> str:
    """Make ``name`` the experiment of later runs that do not name one; returns it."""
    global _experiment
    _experiment = _check_experiment(name)
    return _experiment


def current_experiment() -> str:
    return _experiment or _config.get_config().experiment or _config.DEFAULT_EXPERIMENT


def _check_experiment(name: Any) -> str:
    if not isinstance(name, str):
        raise InvalidValueError(f"experiment names are strings, not {type(name).__name__}")
    return check_key(name, "experiment")


def start_run(run_name: str | None = None, experiment: str | None = None, tags: dict | None = None,
              nested: bool = False, *, parent_run_id: str | None = None,
              snapshot: bool | None = None, source: dict | None = None) -> Run:
    """Start a run and make it the active one; use it as a context manager to end it.

    ``nested=True`` makes it a child of the active run. Without it, starting a run while
    another is active is an error (end the other one first), as in MLflow.
    """
    parent = active_run()
    if parent is not None and not nested and parent_run_id is None:
        raise RunAlreadyActiveError(
            f"run {parent.run_name!r} ({parent.run_id[:8]}) is still active. End it with "
            f"jt.end_run(), or pass nested=True to start a child run")
    if nested and parent is None and parent_run_id is None:
        raise NoActiveRunError("start_run(nested=True) needs an active parent run; start one first")
    if parent_run_id is None and nested:
        parent_run_id = parent.run_id
    experiment_name = _check_experiment(experiment) if experiment is not None else (
        parent.experiment if nested and parent is not None else current_experiment())
    if run_name is not None:
        run_name = validation.run_name(run_name)
    shell = None
    if source is None:
        from .capture.source import current_source

        source, shell = current_source()
    store = current_store()
    run = Run(store, experiment=experiment_name, run_name=run_name or generate_run_name(),
              parent_run_id=parent_run_id, source=source)
    if tags:
        run.set_tags(tags)
    push_run(run)
    cfg = _config.get_config()
    if cfg.capture_environment:
        _schedule_environment(run, source)
    take_snapshot = cfg.snapshot if snapshot is None else snapshot
    if take_snapshot and shell is not None and not nested:
        capture_snapshot(run, shell, source)
    return run


def capture_snapshot(run: Run, shell, source: dict) -> None:
    """Record the executed-history snapshot (and the saved .ipynb when known) for ``run``."""
    from .capture import snapshot

    run.log_snapshot(snapshot.capture_executed(shell, run.store.objects, source.get("code") or "",
                                               source.get("execution_count")))
    path = source.get("notebook_path")
    if path:
        saved = snapshot.capture_saved(run.store.objects, Path(path))
        if saved is not None:
            run.log_snapshot(saved)


_envs_sent: set[tuple[Path, str]] = set()


def _schedule_environment(run: Run, source: dict) -> None:
    """Record the run's environment and git state: right here when both are already known to this
    process (a few ``stat`` calls and one journal record, as with every %%track cell after the first),
    else on the capture thread. Handing that small job to the thread cost a %%track cell ~5 ms in a
    kernel (the thread's wake-up and GIL hand-over), more than the job itself (~0.1 ms)."""
    # Imported here, on the caller's thread, not by the capture thread: an import holds the GIL,
    # and the capture thread runs while the caller's training loop starts.
    from .capture import background
    from .capture.environment import cached_environment, environment
    from .capture.git import cached_git_info, git_info

    folder = Path(source.get("notebook_path") or source.get("script_path") or os.getcwd())
    folder = folder.parent if folder.suffix else folder

    def record(env: dict[str, Any], env_sha: str, git: dict[str, Any] | None) -> None:
        key = (run.store.root, env_sha)
        run.log_environment(env, env_sha, git, include_env=key not in _envs_sent)
        _envs_sent.add(key)

    known = cached_environment()
    git_known, git = cached_git_info(folder)
    if known is not None and git_known:
        record(*known, git)
    else:
        background.submit(lambda: record(*environment(), git_info(folder)))


def end_run(status: str = FINISHED) -> None:
    """End the active run (FINISHED by default; FAILED or KILLED on request)."""
    run = active_run()
    if run is None:
        raise NoActiveRunError("end_run: there is no active run to end")
    run.end(status)
