"""Configuration: one traitlets ``Configurable`` so ``%config`` and jupyter config files work.

Precedence for the store location, highest first: ``jt.set_store(path)``, the
``JUPYTER_TRACKER_DIR`` environment variable, ``TrackerConfig.store_dir`` (config files or
``%config``), then the nearest ``.jupyter_tracker/`` found walking up from the working directory,
and finally a new ``.jupyter_tracker/`` in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Bool, Float, List, Unicode, default, validate
from traitlets.config import Configurable

from .errors import ConfigError

STORE_DIRNAME = ".jupyter_tracker"
ENV_STORE_DIR = "JUPYTER_TRACKER_DIR"
ENV_QUERY_TIMEOUT = "JUPYTER_TRACKER_QUERY_TIMEOUT"
ENV_REMOTE = "JUPYTER_TRACKER_REMOTE"
DEFAULT_QUERY_TIMEOUT = 30.0
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
    slices = Bool(True, help="Record each %%track run's slice (the executions it depends on) and its "
                  "reproducibility verdict.").tag(config=True)
    redact_secrets = Bool(
        True, help="Store params/tags whose key looks like a secret as ***REDACTED***.").tag(config=True)
    capture_environment = Bool(True, help="Record Python, platform, packages and git state per run.").tag(config=True)
    system_metrics = Bool(
        False, help="Sample CPU, memory, disk, network and GPU use into system/* metrics of every %%track "
                    "cell, as if --system were given.").tag(config=True)
    system_metrics_interval = Float(10.0, help="Seconds between system metric samples.").tag(config=True)
    lock_timeout = Float(60.0, help="Seconds to wait for the store's lock before giving up.").tag(config=True)
    query_timeout = Float(
        DEFAULT_QUERY_TIMEOUT,
        help=f"Seconds a query may run while it holds the store's lock (every other reader and merge waits) "
             f"before it is stopped with QueryTimeoutError; 0 means no limit. The {ENV_QUERY_TIMEOUT} "
             f"environment variable sets the default.").tag(config=True)

    remote_uri = Unicode(
        help=f"The team's MLflow tracking server every run is mirrored to in the background (%tracker remote "
             f"URL); empty: no mirroring. The {ENV_REMOTE} environment variable sets the default.").tag(config=True)
    remote_experiments = List(Unicode(), help="Only runs of these experiments are mirrored (empty: every "
                              "experiment); %tracker remote --experiments a,b").tag(config=True)
    remote_follow = List(Unicode(), help="MLflow experiments whose runs are pulled from the remote "
                         "periodically (%tracker follow NAME)").tag(config=True)
    sync_interval = Float(1.0, help="Seconds between the mirror's looks at the store for new points.").tag(config=True)
    follow_interval = Float(30.0, help="Seconds between pulls of followed experiments.").tag(config=True)

    @default("remote_uri")
    def _remote_from_environment(self) -> str:
        return os.environ.get(ENV_REMOTE, "").strip()

    @default("query_timeout")
    def _query_timeout_from_environment(self) -> float:
        text = os.environ.get(ENV_QUERY_TIMEOUT, "").strip()
        if not text:
            return DEFAULT_QUERY_TIMEOUT
        try:
            seconds = float(text)
        except ValueError:
            raise ConfigError(f"{ENV_QUERY_TIMEOUT}={text!r} is not a number of seconds; set it to e.g. 60, "
                              f"or 0 for no limit") from None
        return _check_query_timeout(seconds, ENV_QUERY_TIMEOUT)

    @validate("query_timeout")
    def _query_timeout_is_sane(self, proposal) -> float:
        return _check_query_timeout(proposal["value"], "TrackerConfig.query_timeout")

    @validate("lock_timeout", "system_metrics_interval", "sync_interval", "follow_interval")
    def _seconds_are_sane(self, proposal) -> float:
        """A time in seconds is finite and positive: NaN or inf would make a wait endless or a
        sampling loop spin, a negative one is a typo."""
        seconds, name = proposal["value"], proposal["trait"].name
        if not seconds > 0 or seconds == float("inf"):  # also refuses NaN
            raise ConfigError(f"TrackerConfig.{name} = {seconds!r}: it is a finite number of seconds > 0; set it "
                              f"to e.g. {self.traits()[name].default_value:g}")
        return float(seconds)


def _check_query_timeout(seconds: float, where: str) -> float:
    if not seconds >= 0 or seconds == float("inf"):  # also refuses NaN
        raise ConfigError(f"{where} = {seconds!r}: a query time limit is a finite number of seconds >= 0 "
                          f"(0 means no limit); set it to e.g. 60")
    return seconds


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
