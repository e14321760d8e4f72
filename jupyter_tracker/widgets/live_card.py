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

from . import colors, static

_HERE = Path(__file__).parent
MAX_METRICS = 12
SPARK_POINTS = 60
CARD_CSS = """
.jt-card { font-family: var(--jp-ui-font-family, sans-serif); font-size: 12px; border: 1px solid
  var(--jp-border-color2, #ddd); border-radius: 4px; padding: 6px 10px; max-width: 720px;
  background: var(--jp-layout-color1, #fff); color: var(--jp-ui-font-color1, #222); }
.jt-card-header { display: flex; gap: 10px; align-items: center; margin-bottom: 4px; }
.jt-card-name { font-weight: 600; }
.jt-card .jt-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: -4px; }
.jt-card-elapsed { color: var(--jp-ui-font-color2, #666); font-variant-numeric: tabular-nums; }
.jt-card-status { border-radius: 8px; padding: 0 6px; color: #fff; font-size: 11px; background: #5f6368; }
.jt-card-status-running { background: #1a73e8; }
.jt-card-status-finished { background: #188038; }
.jt-card-status-failed { background: #d93025; }
.jt-card-status-killed { background: #e37400; }
.jt-card-metric { display: grid; grid-template-columns: 160px 90px 120px auto; align-items: center; gap: 6px; }
.jt-card-key { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
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
    def start(self) -> LiveCard:
        from IPython.display import display

        self._handle = display(self, display_id=True)
        self._thread = threading.Thread(target=self._sample_loop, name="jupyter-tracker-live-card", daemon=True)
        self._thread.start()
        return self

    def finish(self, error: BaseException | None = None) -> None:
        """Stop sampling, show the final state, then swap the widget for its static version."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._sample()
        with self.hold_sync():
            self.status = self.run.status
            self.ended = time.time() * 1000.0
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
        latest = dict(self.run.latest_metrics)  # one C-level copy: safe while the loop logs
        steps = dict(getattr(self.run, "_steps", {}))
        shown = {}
        for key in list(latest)[:MAX_METRICS]:
            value = latest[key]
            spark = self._sparks.setdefault(key, [])
            step = steps.get(key, len(spark))
            if not spark or spark[-1][0] != step:
                spark.append((step, value))
                if len(spark) > 2 * SPARK_POINTS:
                    del spark[::2]  # keep the whole run's shape at half the resolution
            shown[key] = {"value": _json_number(value), "step": step,
                          "spark": [_json_number(v) for _, v in spark[-SPARK_POINTS * 2:]]}
        with self.hold_sync():
            self.metrics = shown
            self.more = max(0, len(latest) - MAX_METRICS)

    # -- static version ------------------------------------------------------------------------------
    def summary_text(self) -> str:
        values = ", ".join(f"{k}={static.format_value(v['value'])}" for k, v in self.metrics.items())
        return f"{self.run_name} ({self.run_id[:8]}) {self.status}" + (f": {values}" if values else "")

    def static_html(self) -> str:
        elapsed = max(0.0, (self.ended or time.time() * 1000.0) - self.started) / 1000.0
        rows = "".join(
            f'<tr><td style="padding:0 8px 0 0">{html.escape(key)}</td>'
            f'<td style="padding:0 8px;text-align:right">{html.escape(static.format_value(item["value"]))}</td>'
            f'<td>{static.sparkline(item["spark"], 110, 20)}</td>'
            f'<td style="color:#777;padding-left:6px">step {item["step"]}</td></tr>'
            for key, item in self.metrics.items())
        error = (f'<div style="color:#d93025;font-family:monospace;white-space:pre-wrap">'
                 f'{html.escape(self.error)}</div>') if self.error else ""
        more = f'<div style="color:#777">+ {self.more} more metrics</div>' if self.more else ""
        return (f'<div class="jt-card-static" style="font-family:sans-serif;font-size:12px;border:1px solid #ddd;'
                f'border-radius:4px;padding:6px 10px;max-width:720px">'
                f'<div>{static.swatch_html(self.color)}<b title="{self.run_id}">{html.escape(self.run_name)}</b> '
                f'{static.status_badge(self.status)}'
                f' <span style="color:#666">{elapsed:.1f} s</span></div>'
                f'<table style="border-collapse:collapse">{rows}</table>{more}{error}</div>')


def _json_number(value):
    """NaN/inf have no JSON form: send them as text the card shows as is."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def start(run) -> LiveCard | None:
    """Show a live card for ``run`` in the current cell, if this is a kernel with a front end."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return None  # a terminal IPython has no widget front end: the summary line is enough
    return LiveCard(run).start()
