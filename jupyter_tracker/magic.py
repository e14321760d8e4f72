"""The IPython extension: ``%%track`` (cell), ``%track on|off|status`` (line), ``%tracker``.

``%%track [options]`` on top of a cell makes each execution a run. The body runs as an ordinary
cell: an input transformer replaces the ``%%track`` line by a call that starts the run (same
line count, so tracebacks point at the right lines), and the ``post_run_cell`` event ends it
with FINISHED, FAILED (the error is re-raised by IPython as usual, so "Run All" stops) or KILLED
(interrupt). Everything here is a thin layer over ``tracking.start_run`` and ``Run``.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import tracking
from .capture import slices
from .capture import source as source_capture
from .capture.auto_params import literal_assignments
from .clock import format_duration
from .config import TrackerConfig, get_config, install_config
from .errors import TrackerError
from .run import FAILED, FINISHED, KILLED, Run, active_run, active_runs, runs_set_aside

_TRACK_OPTIONS = [
    argument("-e", "--experiment", default=None, help="experiment of the run"),
    argument("-n", "--name", default=None, help="run name (default: a generated readable name)"),
    argument("-t", "--tag", action="append", default=[], metavar="KEY=VALUE",
             help="tag the run; repeat for several tags"),
    argument("-p", "--params", default=None, metavar="A,B",
             help="log these variables' values as params when the cell ends"),
    argument("--nested", action="store_true", help="make the run a child of the active run"),
    argument("--no-snapshot", action="store_true", help="do not store a notebook snapshot"),
    argument("--no-capture", action="store_true", help="do not store stdout/stderr"),
    argument("--no-auto-params", action="store_true",
             help="do not log top-level literal assignments as params"),
    argument("-q", "--quiet", action="store_true", help="no summary line after the cell"),
    argument("--autolog", action="store_true",
             help="log scikit-learn fits and XGBoost rounds made in this cell (patches undone after it)"),
    argument("--system", action="store_true", help="sample CPU, memory, disk, network and GPU use into system/*"),
    argument("--system-interval", type=float, default=None, metavar="SECONDS",
             help="seconds between system metric samples (default: TrackerConfig.system_metrics_interval, 10)"),
]


def _with_track_options(function):
    for option in reversed(_TRACK_OPTIONS):
        function = option(function)
    return function


@dataclass
class _TrackedCell:
    """The run a %%track cell started, and what to do when the cell ends."""

    run: Run
    options: object
    execution_count: int | None
    capture: object | None = None
    started: float = field(default_factory=time.perf_counter)
    extras: list = field(default_factory=list)
    card: object | None = None
    cell_id: str | None = None
    raw_cell: str = ""
    verdict: object | None = None


class _State:
    tracked: _TrackedCell | None = None
    auto_options: object | None = None


_state = _State()


# -- option parsing -------------------------------------------------------------------------------
def _parse_options(magic_function, line: str):
    """Parse %%track options; malformed ones raise a UsageError that shows the correct form."""
    try:
        options = parse_argstring(magic_function, line)
    except UsageError as exc:
        raise UsageError(f"{exc}{_did_you_mean(line)}\nusage: {_usage()}") from None
    tags = {}
    for item in options.tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"-t/--tag takes KEY=VALUE, e.g. -t model=rf (got {item!r})\nusage: {_usage()}")
        tags[key] = value
    options.tags = tags
    names = []
    if options.params:
        names = [n.strip() for n in options.params.split(",") if n.strip()]
        bad = [n for n in names if not n.isidentifier()]
        if bad:
            raise UsageError(f"-p/--params takes variable names separated by commas, e.g. -p lr,depth "
                             f"(got {', '.join(bad)})\nusage: {_usage()}")
    options.param_names = names
    return options


def _did_you_mean(line: str) -> str:
    """`` (did you mean --experiment?)`` for each misspelt option of a %%track line."""
    import difflib

    known = [name for option in _TRACK_OPTIONS for name in option.args if name.startswith("--")]
    try:
        words = shlex.split(line, posix=True)
    except ValueError:
        return ""
    hints = []
    for word in words:
        name = word.split("=", 1)[0]
        if name.startswith("--") and name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            if close:
                hints.append(f"{name}: did you mean {close[0]}?")
    return "".join(f"\n{hint}" for hint in hints)


def _usage() -> str:
    return ("%%track [-e EXPERIMENT] [-n NAME] [-t KEY=VALUE]... [-p VAR,VAR] [--nested] "
            "[--no-snapshot] [--no-capture] [--no-auto-params] [-q] [--autolog] [--system] "
            "[--system-interval SECONDS]")


# -- starting and ending a tracked cell ----------------------------------------------------------
def begin_cell(shell, line: str, raw_cell: str | None = None) -> Run:
    """Start the run of a %%track cell (called by the first line of the transformed cell)."""
    _show_user_code_in_tracebacks(sys._getframe(1), line)
    if _state.tracked is not None:
        _finish(shell, None)
    options = _parse_options(TrackMagics.track, line)
    history = shell.history_manager.input_hist_raw if shell.history_manager else []
    raw_cell = raw_cell if raw_cell is not None else (
        source_capture.current_cell.get("raw_cell") or (history[-1] if history else ""))
    count = source_capture.current_cell.get("execution_count") or (len(history) - 1 if history else None)
    cell_id = source_capture.current_cell.get("cell_id")
    config = get_config()
    source = source_capture.cell_source(shell, raw_cell, count, cell_id)
    try:
        if options.nested:
            if active_run() is None:
                raise UsageError("%%track --nested needs an active run (e.g. an earlier "
                                 "jt.start_run() or a %%track cell that is still running)")
            run = tracking.start_run(run_name=options.name, experiment=options.experiment,
                                     tags=options.tags or None, nested=True, snapshot=False, source=source)
        else:
            run = _start_top_level(options, source)
    except TrackerError as exc:
        raise UsageError(str(exc)) from None
    tracked = _TrackedCell(run=run, options=options, execution_count=count, cell_id=cell_id, raw_cell=raw_cell)
    _state.tracked = tracked
    if not options.no_snapshot and config.snapshot:
        tracking.capture_snapshot(run, shell, source)
    body = raw_cell.split("\n", 1)[1] if raw_cell.lstrip().startswith("%%track") else raw_cell
    if not options.no_auto_params and config.auto_params:
        _log_auto_params(shell, run, body)
    if not options.no_capture and config.capture_console:
        from .capture.console import ConsoleCapture

        tracked.capture = ConsoleCapture(run.log_console)
    if not (options.quiet or config.quiet):
        tracked.card = _start_card(run)
    if config.system_metrics:
        options.system = True
    if options.autolog or options.system:
        from .autologging import cell as cell_extras

        tracked.extras = cell_extras.start(run, options)
    return run


def _start_top_level(options, source) -> Run:
    """A %%track run is top-level unless --nested, even inside an open `start_run()`."""
    with runs_set_aside():
        return tracking.start_run(run_name=options.name, experiment=options.experiment,
                                  tags=options.tags or None, snapshot=False, source=source)


def _log_auto_params(shell, run: Run, body: str) -> None:
    if "=" not in body:  # no assignment can be in it: skip IPython's transform (~1 ms a cell)
        return
    try:
        python = shell.transform_cell(body)
    except Exception:  # noqa: BLE001 - unparsable IPython syntax simply yields no auto params
        return
    params = {}
    for name, value in literal_assignments(python).items():
        if name not in run.params:
            params[name] = value
    if params:
        try:
            run.log_params(params)
        except TrackerError as exc:
            import warnings

            warnings.warn(f"%%track could not log automatic params: {exc}", RuntimeWarning, stacklevel=2)


def _finish(shell, result) -> None:
    tracked = _state.tracked
    _state.tracked = None
    if tracked is None:
        return
    if tracked.capture is not None:
        tracked.capture.stop()
    if tracked.extras:
        from .autologging import cell as cell_extras

        cell_extras.stop(tracked.extras)
    run = tracked.run
    error = None
    if result is not None:
        error = result.error_in_exec or result.error_before_exec
    if error is None and tracked.options.param_names:
        values = {}
        missing = [name for name in tracked.options.param_names if name not in shell.user_ns]
        for name in tracked.options.param_names:
            if name in shell.user_ns:
                values[name] = shell.user_ns[name]
        if missing:
            print(f"%%track: -p names {', '.join(missing)}, which the cell did not define; not logged")
        try:
            run.log_params(values)
        except TrackerError as exc:
            print(f"%%track: could not log -p params: {exc}")
    if tracked.execution_count is not None and get_config().slices:
        tracked.verdict = _record_slice(shell, tracked)
    # Child runs the cell opened but did not close end with the cell.
    for child in reversed(active_runs()):
        if child is not run and child.parent_run_id is not None and child.start_time >= run.start_time:
            child.end(KILLED if isinstance(error, KeyboardInterrupt) else (FAILED if error else FINISHED), error)
    if isinstance(error, KeyboardInterrupt):
        run.end(KILLED, error)
    elif error is not None:
        run.end(FAILED, error)
    else:
        run.end(FINISHED)
    if tracked.card is not None:
        try:
            tracked.card.finish(error)
        except Exception as exc:  # noqa: BLE001 - the card is a view; the run is already ended
            import warnings

            warnings.warn(f"%%track could not finish its live card: {exc}", RuntimeWarning, stacklevel=2)
    if not (tracked.options.quiet or get_config().quiet):
        print(summary_line(run, tracked.verdict))


def _start_card(run: Run):
    """The live card of the cell (None outside a kernel, or when widgets cannot load)."""
    try:
        from .widgets import live_card

        return live_card.start(run)
    except Exception as exc:  # noqa: BLE001 - a view must never break the user's cell
        import warnings

        warnings.warn(f"%%track could not show its live card: {type(exc).__name__}: {exc}", RuntimeWarning,
                      stacklevel=2)
        return None


def summary_line(run: Run, verdict=None) -> str:
    """One line after a tracked cell: name, id, status, duration and up to four metrics; then a short
    warning when the run's reproducibility verdict is not ``linear``."""
    mark = {"FINISHED": "✓", "FAILED": "✗", "KILLED": "■"}.get(run.status, "•")
    metrics = "  ".join(f"{k}={_short(v)}" for k, v in list(run.latest_metrics.items())[:4])
    line = (f"{mark} {run.run_name} ({run.run_id[:8]}) {run.status} in {format_duration(run.duration_s)}"
            f" · {run.experiment}" + (f" · {metrics}" if metrics else ""))
    if verdict is not None and getattr(verdict, "reasons", None):
        line += f"\n⚠ {verdict.short()}"
    return line


def _record_slice(shell, tracked: _TrackedCell):
    """The run's slice and reproducibility verdict (None when they could not be worked out: a view of
    the run, never a reason to fail the user's cell)."""
    from .capture import reproducibility

    try:
        return reproducibility.record_run(tracked.run, shell, tracked.execution_count, tracked.cell_id,
                                          tracked.raw_cell)
    except TrackerError as exc:
        import warnings

        warnings.warn(f"%%track could not record the run's slice: {exc}", RuntimeWarning, stacklevel=2)
    except Exception as exc:  # noqa: BLE001 - static analysis of user code must never break the cell
        import warnings

        warnings.warn(f"%%track could not record the run's slice: {type(exc).__name__}: {exc}", RuntimeWarning,
                      stacklevel=2)
    return None


def _short(value: float) -> str:
    return f"{value:.4g}"


# -- IPython hooks ----------------------------------------------------------------------------------
_CALL_PREFIX = "__import__('jupyter_tracker.magic').magic.begin_cell("


def _show_user_code_in_tracebacks(cell_frame, line: str) -> None:
    """Put the user's ``%%track ...`` line back as line 1 of the cell's source that tracebacks show.

    IPython keeps the *transformed* cell in linecache, where line 1 is our call; the line count is
    the same, so every other line and line number is already the user's own."""
    import linecache

    entry = linecache.cache.get(cell_frame.f_code.co_filename)
    if entry is None or not entry[2] or not entry[2][0].startswith(_CALL_PREFIX):
        return
    lines = list(entry[2])
    lines[0] = f"%%track {line}".rstrip() + "\n"
    linecache.cache[cell_frame.f_code.co_filename] = (entry[0], entry[1], lines, entry[3])


def _rewrite_track_cell(lines: list[str]) -> list[str]:
    """Input transformer: '%%track ARGS' first line → a call that starts the run (same line count)."""
    if not lines:
        return lines
    first = lines[0]
    if not first.startswith("%%track") or (len(first) > 7 and first[7] not in " \t\r\n"):
        return lines
    args = first[7:].strip()
    call = f"{_CALL_PREFIX}get_ipython(), {args!r})\n"
    return [call, *lines[1:]]


def _pre_run_cell(info) -> None:
    slices.cell_trees.push()
    shell = _shell()
    source_capture.current_cell.clear()
    source_capture.current_cell.update({
        "raw_cell": info.raw_cell, "cell_id": getattr(info, "cell_id", None), "running": True,
        # The index this cell gets in the history (IPython versions differ on when they bump
        # execution_count, but the history length is always the next index).
        "execution_count": len(shell.history_manager.input_hist_raw)
        if shell is not None and shell.history_manager is not None and info.store_history else None,
    })
    options = _state.auto_options
    raw = info.raw_cell.lstrip()
    if options is not None and shell is not None and not raw.startswith(("%%track", "%track", "%tracker")) \
            and raw and not info.silent:
        begin_cell(shell, options, raw_cell=info.raw_cell)




def _post_run_cell(result) -> None:
    shell = _shell()
    _record_execution(result, slices.cell_trees.pop())
    try:
        if _state.tracked is not None:
            _finish(shell, result)
    finally:
        source_capture.current_cell["running"] = False  # runs ended from now on end outside a cell


def _record_execution(result, tree=None) -> None:
    """Note every stored execution for slices (count, cell id, source, and its names from IPython's tree)."""
    info = getattr(result, "info", None)
    if info is None or not info.store_history or info.silent:
        return
    count = source_capture.current_cell.get("execution_count") or result.execution_count
    if count is not None:
        slices.session_log.record(count, getattr(info, "cell_id", None), info.raw_cell,
                                  failed=result.error_in_exec is not None or result.error_before_exec is not None,
                                  tree=tree)


def _shell():
    from IPython import get_ipython

    return get_ipython()


@magics_class
class TrackMagics(Magics):
    """%%track, %track and %tracker."""

    @magic_arguments()
    @_with_track_options
    @cell_magic
    def track(self, line: str, cell: str) -> None:
        """Track this cell's execution as a run (see %%track? for the options)."""
        # Reached only when the input transformer is bypassed (e.g. run_cell_magic called directly).
        begin_cell(self.shell, line, raw_cell=f"%%track {line}\n{cell}")
        result = _Result()
        try:
            exec(compile(cell, "<tracked cell>", "exec"), self.shell.user_ns)  # noqa: S102
        except BaseException as exc:
            result.error_in_exec = exc
            raise
        finally:
            _finish(self.shell, result)

    @line_magic("track")
    def track_line(self, line: str) -> None:
        """%track on [options]: track every following cell; %track off; %track status."""
        words = line.strip().split(None, 1)
        command = words[0] if words else "status"
        rest = words[1] if len(words) > 1 else ""
        if command == "on":
            _parse_options(TrackMagics.track, rest)
            _state.auto_options = rest
            print(f"jupyter_tracker: every cell is now tracked{(' with ' + rest) if rest else ''}; "
                  f"%track off to stop")
        elif command == "off":
            _state.auto_options = None
            print("jupyter_tracker: cells are no longer tracked automatically")
        elif command == "status":
            state = "on" if _state.auto_options is not None else "off"
            active = active_run()
            print(f"automatic tracking: {state}; store: {tracking.current_store().root}; "
                  f"experiment: {tracking.current_experiment()}; active run: {active!r}")
        else:
            raise UsageError(f"%track takes on [options], off or status, not {command!r}")

    @line_magic
    def tracker(self, line: str) -> None:
        """%tracker: show settings; %tracker store PATH; %tracker experiment NAME; %tracker KEY=VALUE;
        %tracker remote URL [--experiments a,b]; %tracker follow EXP."""
        parts = shlex.split(line)
        config = get_config()
        if not parts:
            # store and experiment as in effect (a setting, the environment or the default), once each
            print(f"store: {tracking.current_store().root}\nexperiment: {tracking.current_experiment()}")
            for name in sorted(set(config.trait_names(config=True)) - {"store_dir", "experiment"}):
                print(f"{name}: {getattr(config, name)!r}")
            return
        if parts[0] == "store" and len(parts) == 2:
            store = tracking.set_store(parts[1])
            print(f"store: {store.root}")
        elif parts[0] == "experiment" and len(parts) == 2:
            print(f"experiment: {tracking.set_experiment(parts[1])}")
        elif parts[0] in ("remote", "follow"):
            print(_team_sync(parts))
        elif all("=" in p for p in parts):
            for part in parts:
                name, _, value = part.partition("=")
                if name not in config.trait_names(config=True):
                    import difflib

                    settings = sorted(config.trait_names(config=True))
                    close = difflib.get_close_matches(name, settings, n=1)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    raise UsageError(f"%tracker: unknown setting {name!r}{hint}; settings are {', '.join(settings)}")
                trait = config.traits()[name]
                try:
                    setattr(config, name, trait.from_string(value))
                except Exception as exc:  # noqa: BLE001 - traitlets raises several kinds
                    raise UsageError(f"%tracker: {name}={value!r} is not valid: {exc}") from None
                print(f"{name}: {getattr(config, name)!r}")
        else:
            raise UsageError("%tracker takes: nothing (show settings), store PATH, experiment NAME, remote URL, "
                             "follow EXP, or SETTING=VALUE (e.g. %tracker auto_params=False)")


def _team_sync(parts: list[str]) -> str:
    """%tracker remote [URL|off] [--experiments a,b] and %tracker follow EXP, parsed here and done by
    ``sharing.sync`` (which starts the mirror process)."""
    from .sharing import sync

    words = list(parts[1:])
    if parts[0] == "follow":
        if len(words) != 1:
            raise UsageError("%tracker follow takes one MLflow experiment name, e.g. %tracker follow churn")
        return sync.follow(words[0])
    experiments = None
    if "--experiments" in words:
        at = words.index("--experiments")
        if at + 1 >= len(words):
            raise UsageError("%tracker remote --experiments takes a comma-separated list, e.g. churn,ablation")
        experiments = [name.strip() for name in words[at + 1].split(",") if name.strip()]
        del words[at:at + 2]
    if len(words) > 1:
        raise UsageError("%tracker remote takes one URL (or off), e.g. %tracker remote http://mlflow.team:5000")
    return sync.configure_remote(words[0] if words else None, experiments)


def _remote_changed(change: dict) -> None:
    """``TrackerConfig.remote_uri`` changed: team sync starts or stops (imported only when a remote is
    set, or when one was, to stop its mirror)."""
    if change["new"].strip() or "jupyter_tracker.sharing.sync" in sys.modules:
        from .sharing import sync

        sync.remote_changed(change)


class _Result:
    error_in_exec: BaseException | None = None
    error_before_exec: BaseException | None = None


def load_ipython_extension(shell) -> None:
    """Called by ``%load_ext jupyter_tracker``: registers the magics, hooks and configuration."""
    if getattr(shell, "_jupyter_tracker_loaded", False):
        return
    config = TrackerConfig(parent=shell)
    install_config(config)
    shell.configurables.append(config)
    shell.register_magics(TrackMagics)
    shell.input_transformers_cleanup.append(_rewrite_track_cell)
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    slices.cell_trees.install(shell)
    config.observe(_remote_changed, names=["remote_uri"])
    if config.remote_uri:
        from .sharing import sync  # only with a remote: loading the extension stays light

        sync.start_mirror()
    shell._jupyter_tracker_loaded = True


def unload_ipython_extension(shell) -> None:
    """Called by ``%unload_ext jupyter_tracker``: removes the hooks (magics stay, as IPython does)."""
    if _rewrite_track_cell in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(_rewrite_track_cell)
    slices.cell_trees.uninstall(shell)
    for event, callback in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        try:
            shell.events.unregister(event, callback)
        except ValueError:
            pass
    shell._jupyter_tracker_loaded = False
