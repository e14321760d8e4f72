"""The live card a ``%%track`` cell shows while it runs (``-q`` hides it).

Name, status, elapsed time, and per metric the latest value and a sparkline. The values come from
the run object itself (``Run.latest_metrics``, kept in memory by every log call), sampled by a
background thread a few times per second: the training loop on the main thread pays nothing, and no
database is touched. When the cell ends the card shows the final status (and the error of a failed
run), then replaces itself with a static HTML card, so a saved notebook shows the result without
needing the widget.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path

import anywidget
import traitlets

from ..clock import format_duration
from . import colors, static

_HERE = Path(__file__).parent
MAX_METRICS = 12
SPARK_POINTS = 60
#: Fewer sampled points than this at the end (a short cell): the card's curve comes from the store.
SHORT_SPARK = 8
CARD_CSS = """
.jt-card { font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px; border: 1px solid
  var(--jp-border-color2, #ddd); border-radius: 4px; padding: 6px 10px; width: fit-content; max-width: 720px;
  box-sizing: border-box; background: var(--jp-layout-color1, #fff); color: var(--jp-ui-font-color1, #222); }
.jt-card-header { display: flex; gap: 10px; align-items: center; margin-bottom: 4px; }
.jt-card-name { font-weight: 600; }
.jt-card .jt-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: -4px; }
.jt-card-elapsed { color: var(--jp-ui-font-color2, #666); font-variant-numeric: tabular-nums; }
.jt-card-status { border-radius: 8px; padding: 0 6px; color: #fff; font-size: 11px; background: #5f6368; }
.jt-card-status-running { background: #1a73e8; }
.jt-card-status-finished { background: #188038; }
.jt-card-status-failed { background: #d93025; }
.jt-card-status-killed { background: #e37400; }
.jt-card-metrics { display: grid; grid-template-columns: minmax(0, max-content) max-content 112px max-content;
  align-items: center; column-gap: 8px; }
.jt-card-metric { display: contents; }
.jt-card-key { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 240px; }
.jt-card-more, .jt-card-empty { grid-column: 1 / -1; }
.jt-card-value { text-align: right; font-variant-numeric: tabular-nums; font-weight: 500; }
.jt-card-step, .jt-card-more { color: var(--jp-ui-font-color2, #777); }
.jt-card-error { color: var(--jp-error-color1, #d32f2f); font-family: var(--jp-code-font-family, monospace);
  margin-top: 4px; white-space: pre-wrap; }
"""


class LiveCard(anywidget.AnyWidget):
    """The card of one run; ``start()`` displays it and begins sampling, ``finish()`` ends it."""

    _esm = (_HERE / "live_card.js").read_text(encoding="utf-8")
    _css = CARD_CSS

    run_id = traitlets.Unicode("").tag(sync=True)
    run_name = traitlets.Unicode("").tag(sync=True)
    color = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("RUNNING").tag(sync=True)
    started = traitlets.Float(0).tag(sync=True)
    ended = traitlets.Float(0).tag(sync=True)
    metrics = traitlets.Dict().tag(sync=True)
    more = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, run, interval: float = 0.3) -> None:
        super().__init__(run_id=run.run_id, run_name=run.run_name, started=float(run.start_time),
                         color=colors.color_of(run.run_id))
        self.run = run
        self.interval = interval
        self._sparks: dict[str, list[tuple[int, float]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle = None

    # -- life cycle --------------------------------------------------------------------------------
    def start(self, handle=None) -> LiveCard:
        """Show the card (in place of ``handle``'s output when given) and begin sampling."""
        if handle is None:
            from IPython.display import display

            self._handle = display(self, display_id=True)
        else:
            handle.update(self)
            self._handle = handle
        self._thread = threading.Thread(target=self._sample_loop, name="jupyter-tracker-live-card", daemon=True)
        self._thread.start()
        return self

    def finish(self, error: BaseException | None = None) -> None:
        """Stop sampling, show the final state, then swap the widget for its static version."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._sample()
        self._fill_short_sparks()
        with self.hold_sync():
            self.status = self.run.status
            # The run's own end, so the card reads the same duration as the summary line.
            self.ended = float(self.run.end_time) if self.run.end_time else time.time() * 1000.0
            if error is not None:
                self.error = f"{type(error).__name__}: {error}"
        if self._handle is not None:
            self._handle.update({"text/html": self.static_html(), "text/plain": self.summary_text()}, raw=True)
        self.close()

    # -- sampling ----------------------------------------------------------------------------------
    def _sample_loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        shown, more = _sampled_metrics(self.run, self._sparks)
        with self.hold_sync():
            self.metrics = shown
            self.more = more

    def _fill_short_sparks(self) -> None:
        self.metrics = _with_short_sparks(self.run, self.metrics)

    # -- static version ------------------------------------------------------------------------------
    def summary_text(self) -> str:
        return _summary_text(self.run_name, self.run_id, self.status, self.metrics)

    def static_html(self) -> str:
        return static_card_html(self.run_id, self.run_name, self.status, self.started, self.ended, self.metrics,
                                self.more, self.error)


def _sampled_metrics(run, sparks: dict[str, list[tuple[int, float]]]) -> tuple[dict, int]:
    """The card's metrics now ({key: value, step, sparkline points}) and how many more are not shown;
    ``sparks`` keeps each metric's sampled points between calls."""
    latest = dict(run.latest_metrics)  # one C-level copy: safe while the loop logs
    steps = dict(getattr(run, "_steps", {}))
    shown = {}
    for key in list(latest)[:MAX_METRICS]:
        value = latest[key]
        spark = sparks.setdefault(key, [])
        step = steps.get(key, len(spark))
        if not spark or spark[-1][0] != step:
            spark.append((step, value))
            if len(spark) > 2 * SPARK_POINTS:
                del spark[::2]  # keep the whole run's shape at half the resolution
        shown[key] = {"value": _json_number(value), "step": step,
                      "spark": [_json_number(v) for _, v in spark[-SPARK_POINTS * 2:]]}
    return shown, max(0, len(latest) - MAX_METRICS)


def static_card_html(run_id: str, run_name: str, status: str, started: float, ended: float, metrics: dict,
                     more: int, error: str) -> str:
    """The card as plain HTML (what a saved notebook keeps): name, status, elapsed, metrics, error."""
    elapsed = format_duration(max(0.0, (ended or time.time() * 1000.0) - started) / 1000.0)
    rows = "".join(
        f'<tr><td style="padding:0 8px 0 0">{html.escape(key)}</td>'
        f'<td style="padding:0 8px;text-align:right">{html.escape(static.format_value(item["value"]))}</td>'
        f'<td>{static.sparkline(item["spark"], 110, 20)}</td>'
        f'<td style="color:#777;padding-left:6px">step {item["step"]}</td></tr>'
        for key, item in metrics.items())
    error_html = (f'<div style="color:#d93025;font-family:monospace;white-space:pre-wrap">'
                  f'{html.escape(error)}</div>') if error else ""
    more_html = f'<div style="color:#777">+ {more} more metrics</div>' if more else ""
    return (f'<div class="jt-card-static" style="font-family:sans-serif;font-size:12px;border:1px solid #ddd;'
            f'border-radius:4px;padding:6px 10px;width:fit-content;max-width:720px">'
            f'<div>{static.swatch_html(colors.color_of(run_id))}<b title="{run_id}">{html.escape(run_name)}</b> '
            f'{static.status_badge(status)}'
            f' <span style="color:#666">{elapsed}</span></div>'
            # margin:0: JupyterLab's rendered-HTML style gives a table a bottom margin, an empty band under the card
            f'<table style="border-collapse:collapse;margin:0">{rows}</table>{more_html}{error_html}</div>')


def _with_short_sparks(run, metrics: dict) -> dict:
    """``metrics`` where a cell shorter than a few samples left too few points to draw a sparkline:
    those metrics' curves come from the store instead (downsampled; the run has ended, so its points
    are all there). A cell that logged nothing reads nothing."""
    from .. import query

    short = [key for key, item in metrics.items() if len(item["spark"]) < SHORT_SPARK]
    if not short:
        return metrics
    shown = dict(metrics)
    for key in short:
        history = query.get_metric_history(run.run_id, key, max_points=2 * SPARK_POINTS, store=run.store)
        shown[key] = {**shown[key], "spark": [_json_number(float(v)) for v in history["value"].tolist()]}
    return shown


def _summary_text(run_name: str, run_id: str, status: str, metrics: dict) -> str:
    values = ", ".join(f"{k}={static.format_value(v['value'])}" for k, v in metrics.items())
    return f"{run_name} ({run_id[:8]}) {status}" + (f": {values}" if values else "")


def _json_number(value):
    """NaN/inf have no JSON form: send them as text the card shows as is."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


#: Seconds a %%track cell runs before its card becomes a live widget. A quicker cell shows only the
#: static card: building, displaying and closing a widget (five comm and display messages) was most
#: of what %%track added to an empty cell.
LIVE_AFTER_S = 0.5


class CardSlot:
    """A %%track cell's card: a static "running" card at once, replaced by the live widget once the
    cell has run ``LIVE_AFTER_S`` (the swap is addressed by display id, so it lands in this cell's
    output whichever thread sends it), and by the static final card when the cell ends."""

    def __init__(self, run) -> None:
        self.run = run
        self._lock = threading.Lock()
        self._finished = False
        self._live: LiveCard | None = None
        self._handle = None
        self._timer: threading.Timer | None = None

    def start(self) -> CardSlot:
        from IPython.display import display

        self._handle = display(self._bundle("RUNNING", 0.0, {}, 0, ""), raw=True, display_id=True)
        self._timer = threading.Timer(LIVE_AFTER_S, self._go_live)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _go_live(self) -> None:
        with self._lock:
            if self._finished or self._handle is None:
                return
            self._live = LiveCard(self.run)
            self._live.start(self._handle)

    def finish(self, error: BaseException | None = None) -> None:
        """Show the final status (and error); the live widget, if it was shown, closes."""
        with self._lock:
            self._finished = True
            if self._timer is not None:
                self._timer.cancel()
            if self._live is not None:
                self._live.finish(error)
                return
        shown, more = _sampled_metrics(self.run, {})
        shown = _with_short_sparks(self.run, shown)
        message = f"{type(error).__name__}: {error}" if error is not None else ""
        # The run's own end, so the card reads the same duration as the summary line.
        ended = float(self.run.end_time) if self.run.end_time else time.time() * 1000.0
        if self._handle is not None:
            self._handle.update(self._bundle(self.run.status, ended, shown, more, message), raw=True)

    def _bundle(self, status: str, ended: float, metrics: dict, more: int, error: str) -> dict:
        started = float(self.run.start_time)
        return {"text/html": static_card_html(self.run.run_id, self.run.run_name, status, started, ended, metrics,
                                              more, error),
                "text/plain": _summary_text(self.run.run_name, self.run.run_id, status, metrics)}


def start(run) -> CardSlot | None:
    """Show the card of ``run`` in the current cell, if this is a kernel with a front end."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return None  # a terminal IPython has no widget front end: the summary line is enough
    return CardSlot(run).start()
