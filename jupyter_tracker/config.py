"""Configuration: one traitlets ``Configurable`` so ``%config`` and jupyter config files work.

Precedence for the store location, highest first: ``jt.set_store(path)``, the
``JUPYTER_TRACKER_DIR`` environment variable, ``TrackerConfig.store_dir`` (config files or
``%config``), then the nearest ``.jupyter_tracker/`` found walking up from the working directory,
and finally a new ``.jupyter_tracker/`` in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Bool, Float, Unicode
from traitlets.config import Configurable

STORE_DIRNAME = ".jupyter_tracker"
ENV_STORE_DIR = "JUPYTER_TRACKER_DIR"
DEFAULT_EXPERIMENT = "Default"


class TrackerConfig(Configurable):
    """Settings of jupyter_tracker, e.g. ``%config TrackerConfig.auto_params = False``."""

    store_dir = Unicode(
        "", help="Store directory; empty means discover .jupyter_tracker/ from the working directory.",
    ).tag(config=True)
    experiment = Unicode(DEFAULT_EXPERIMENT, help="Experiment of runs that do not name one.").tag(config=True)
    auto_params = Bool(True, help="Log top-level literal assignments of a %%track cell as params.").tag(config=True)
    snapshot = Bool(True, help="Store a notebook snapshot with every %%track run.").tag(config=True)
    capture_console = Bool(
        True, help="Store stdout/stderr of tracked cells (still shown as usual).").tag(config=True)
    quiet = Bool(False, help="Hide the one-line summary after each %%track cell.").tag(config=True)
    redact_secrets = Bool(
        True, help="Store params/tags whose key looks like a secret as ***REDACTED***.").tag(config=True)
    capture_environment = Bool(True, help="Record Python, platform, packages and git state per run.").tag(config=True)
    system_metrics = Bool(
        False, help="Sample CPU, memory, disk, network and GPU use into system/* metrics of every %%track "
                    "cell, as if --system were given.").tag(config=True)
    system_metrics_interval = Float(10.0, help="Seconds between system metric samples.").tag(config=True)
    lock_timeout = Float(60.0, help="Seconds to wait for the store's lock before giving up.").tag(config=True)


_config: TrackerConfig | None = None
_store_override: Path | None = None


def get_config() -> TrackerConfig:
    """The process-wide configuration object (the IPython extension parents it to the shell)."""
    global _config
    if _config is None:
        _config = TrackerConfig()
    return _config


def install_config(config: TrackerConfig) -> None:
    """Make ``config`` the process-wide configuration (used when IPython loads the extension)."""
    global _config
    _config = config


def set_store_override(path: Path | None) -> None:
    global _store_override
    _store_override = path


def resolve_store_dir(cwd: Path | None = None) -> Path:
    """Where the store lives, following the precedence in this module's docstring."""
    if _store_override is not None:
        return _store_override
    env_dir = os.environ.get(ENV_STORE_DIR, "").strip()
    if env_dir:
        return Path(env_dir).expanduser().absolute()
    configured = get_config().store_dir.strip()
    if configured:
        return Path(configured).expanduser().absolute()
    start = (cwd or Path.cwd()).absolute()
    for folder in (start, *start.parents):
        candidate = folder / STORE_DIRNAME
        if candidate.is_dir():
            return candidate
    return start / STORE_DIRNAME
