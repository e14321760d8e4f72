"""Aim runs from a repository (the folder holding ``.aim``), read with Aim's SDK: ``aim.Repo`` lists
the runs, ``aim.sdk.run.Run`` (read only) gives name, experiment, tags, hparams and every metric's
values, steps and timestamps per context (a context other than the empty one becomes part of the
key: ``loss`` with ``{"subset": "train"}`` is ``loss/subset_train``).

Aim answers reads from its index; a run the index does not hold yet (Aim indexes runs in the
background of ``aim up``) is indexed first with Aim's own ``RepoIndexManager``, which writes only
Aim's index cache. A run without an end time whose lock no live process holds died without
finishing: KILLED, saying so; a run still locked by a live writer is skipped until it ends.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from ...errors import InvalidValueError
from .core import DamagedRunError, SourceRef, SourceRun, flatten, require

KIND = "aim"
EXTRA = "aim"
_SYSTEM_PREFIX = "__system__"


def list_runs(source: Path) -> list[SourceRef]:
    """Every run of the Aim repository at ``source`` (the folder holding ``.aim``, or ``.aim`` itself)."""
    with warnings.catch_warnings():          # Aim's own SQLAlchemy 1.x idioms warn at import; not the user's concern
        warnings.simplefilter("ignore", DeprecationWarning)
        require("aim", EXTRA, KIND)
        from aim import Repo

    root = source.parent if source.name == ".aim" else source
    if not (root / ".aim").is_dir():
        raise InvalidValueError(f"{source} is not an Aim repository (no .aim folder); pass the folder where "
                                f"you ran `aim init` or gave aim.Run(repo=...)")
    repo = Repo(str(root))
    return [SourceRef(run_hash, run_hash, lambda run_hash=run_hash: load_run(repo, run_hash))
            for run_hash in sorted(repo.list_all_runs())]


def _live_writer(repo, run_hash: str) -> bool:
    from aim.sdk.lock_manager import LockManager

    locks = LockManager(repo.path)
    lock_file = locks.locks_path / locks.softlock_fname(run_hash)
    return lock_file.exists() and not locks.is_stalled_lock(lock_file)


def load_run(repo, run_hash: str) -> SourceRun:
    """One Aim run, completely (system metrics under ``system/``)."""
    import aimrocks
    from aim.sdk.index_manager import RepoIndexManager
    from aim.sdk.run import Run

    try:
        manager = RepoIndexManager.get_index_manager(repo)
        manager.index(run_hash)
        run = Run(run_hash, repo=repo, read_only=True)
        ended = run.end_time
        if ended is None and _live_writer(repo, run_hash):
            raise DamagedRunError(f"Aim run {run_hash} is still being written; import it once it has ended")
        imported = SourceRun(name=run.name or run_hash, status="FINISHED" if ended is not None else "KILLED",
                             start_time=int(run.creation_time * 1000), experiment=run.experiment or None)
        if ended is not None:
            imported.end_time = int(ended * 1000)
        else:
            imported.status_note = ("the Aim run has no end time and no process holds its lock: it died without "
                                    "finishing (Aim would show it active forever); imported as KILLED")
        hparams = run.get("hparams") or {}
        imported.params = flatten(hparams) if isinstance(hparams, dict) else {"hparams": hparams}
        if run.tags:
            imported.tags["aim.tags"] = ", ".join(str(tag) for tag in run.tags)
        imported.tags["aim.run_hash"] = run_hash
        if run.description:
            imported.tags["aim.description"] = str(run.description)
        for metric in run.metrics():
            name = metric.name
            if name.startswith(_SYSTEM_PREFIX):
                name = f"system/{name[len(_SYSTEM_PREFIX):]}"
            context = metric.context.to_dict()
            if context:
                name += "/" + ",".join(f"{k}_{v}" for k, v in sorted(context.items()))
            steps, (values, times) = metric.data.view(["val", "time"]).numpy()
            for step, value, moment in zip(steps.tolist(), values.tolist(), times.tolist()):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    imported.add_point(name, int(step), int(moment * 1000), float(value))
        if imported.end_time is None:
            imported.end_time = max(imported.metric_times, default=imported.start_time)
    except (aimrocks.errors.RocksIOError, aimrocks.errors.Corruption, KeyError) as exc:
        raise DamagedRunError(f"Aim run {run_hash} cannot be read ({type(exc).__name__}: {exc})") from None
    return imported
