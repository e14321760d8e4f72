"""``jt.plot_metrics(...)``: metric curves of one or more runs, live while they log.

A plotly ``FigureWidget`` (an anywidget in plotly 7, so nothing to install in the front end) with
controls for the x axis (step, seconds since the first point, wall time), log-y and an exponential
moving average (the raw curve stays faint underneath). Histories come from the query layer already
downsampled (MinMaxLTTB keeps extremes), so a 1,000,000-point metric sends at most ``max_points``
points per curve. While a plotted run is RUNNING, in this kernel or another, a background thread
re-reads its series at most ``1 / poll_interval`` times per second and updates the figure in one
batch; the training loop never waits for it.
"""

from __future__ import annotations

import threading
import time

import ipywidgets as widgets

from ..errors import InvalidValueError, TrackerError
from . import data, static
from ._display import with_static_html

MAX_POINTS = 2000


class MetricCurves(widgets.VBox):
    """Curves of ``keys`` for ``run_ids``; ``curves.figure`` is the plotly FigureWidget."""

    def __init__(self, run_ids: list[str], keys: list[str] | None = None, *, x: str = "step", smoothing: float = 0.0,
                 log_y: bool = False, max_points: int = MAX_POINTS, live: bool = True, poll_interval: float = 0.5,
                 title: str = "", store=None) -> None:
        import plotly.graph_objects as go

        data.ema([], smoothing)  # validates smoothing before anything is drawn
        if x not in data.X_AXES:
            raise InvalidValueError(f"x must be one of {', '.join(data.X_AXES)}, not {x!r}")
        self.run_ids = list(run_ids)
        self.metric_keys = keys
        self.max_points = max_points
        self.store = store
        self.poll_interval = poll_interval
        self.title = title
        self._closed = threading.Event()
        self.series: list[data.Series] = []
        self.figure = go.FigureWidget(layout=go.Layout(
            height=360, margin=dict(l=50, r=20, t=40 if title else 20, b=40), title=title or None,
            hovermode="closest", template="plotly_white",
            # below the x axis title, top-anchored so more traces push it down instead of onto the axis
            legend=dict(orientation="h", yanchor="top", y=-0.3)))
        self.x_axis = widgets.ToggleButtons(options=[("step", "step"), ("time", "relative"), ("wall", "wall")],
                                            tooltips=["step", "seconds since the run started", "wall-clock time"],
                                            value=x, description="x", style={"button_width": "64px"})
        self.log_y = widgets.Checkbox(value=log_y, description="log y", indent=False,
                                      layout=widgets.Layout(width="80px"))
        self.smoothing = widgets.FloatSlider(value=smoothing, min=0.0, max=0.99, step=0.01, description="smoothing",
                                             continuous_update=False, readout_format=".2f")
        controls = widgets.HBox([self.x_axis, self.log_y, self.smoothing])
        super().__init__([controls, self.figure])
        self.add_class("jt-metric-curves")
        self._poller: threading.Thread | None = None
        self._lock = threading.Lock()
        self.reload()
        self.x_axis.observe(lambda _c: self.reload(), "value")
        self.log_y.observe(lambda _c: self._draw(), "value")
        self.smoothing.observe(lambda _c: self._draw(), "value")
        if live and self.running():
            self._start_poller()

    # -- data ------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read every series again and redraw."""
        series = data.metric_series(self.run_ids, self.metric_keys, x=self.x_axis.value,
                                    max_points=self.max_points,
                                    store=self.store)
        with self._lock:
            self.series = series
        self._draw()

    def running(self) -> bool:
        return any(item.status == "RUNNING" for item in self.series) or not self.series and self._any_running()

    def _any_running(self) -> bool:
        from .. import query

        try:
            return any(query.get_run(run_id, store=self.store).status == "RUNNING" for run_id in self.run_ids)
        except TrackerError:
            return False

    # -- drawing ---------------------------------------------------------------------------------
    def _traces(self) -> list[dict]:
        traces = []
        smoothing = self.smoothing.value
        many_runs = len({s.run_id for s in self.series}) > 1
        for index, item in enumerate(self.series):
            color = static.PALETTE[index % len(static.PALETTE)]
            several_keys = not self.metric_keys or len(self.metric_keys) > 1
            name = f"{item.run_name} · {item.key}" if many_runs or several_keys else item.key
            hover = f"<b>{item.run_name}</b> · {item.key}<br>%{{x}}: %{{y:.5g}}<extra></extra>"
            if smoothing > 0:
                traces.append(dict(x=item.x, y=item.y, name=name + " (raw)", mode="lines", opacity=0.25,
                                   line=dict(color=color, width=1), showlegend=False, hoverinfo="skip",
                                   legendgroup=name))
                traces.append(dict(x=item.x, y=data.ema(item.y, smoothing), name=name, mode="lines",
                                   line=dict(color=color, width=2), hovertemplate=hover, legendgroup=name))
            else:
                traces.append(dict(x=item.x, y=item.y, name=name, mode="lines", line=dict(color=color, width=2),
                                   hovertemplate=hover, legendgroup=name))
        return traces

    def _draw(self) -> None:
        traces = self._traces()
        axis_titles = {"step": "step", "relative": "seconds since first point", "wall": "time"}
        figure = self.figure
        with figure.batch_update():
            if len(figure.data) == len(traces) and all(
                    old.name == new["name"] for old, new in zip(figure.data, traces)):
                for old, new in zip(figure.data, traces):
                    old.x, old.y = new["x"], new["y"]
            else:
                figure.data = []
                for trace in traces:
                    figure.add_scatter(**trace)
            figure.layout.yaxis.type = "log" if self.log_y.value else "linear"
            figure.layout.xaxis.title = axis_titles[self.x_axis.value]

    # -- live updates ------------------------------------------------------------------------------
    def _start_poller(self) -> None:
        self._poller = threading.Thread(target=self._poll, name="jupyter-tracker-curves", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        interval = self.poll_interval
        while not self._closed.wait(interval):
            started = time.perf_counter()
            try:
                self.reload()
            except TrackerError:
                continue
            # Never spend more than a fifth of the time reading: a long history polls less often.
            interval = max(self.poll_interval, 5 * (time.perf_counter() - started))
            if not self.running():
                return

    def close(self) -> None:
        self._closed.set()
        super().close()

    def __repr__(self) -> str:
        return f"<MetricCurves {len(self.series)} curves of {len(self.run_ids)} runs>"

    # -- display ---------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return with_static_html(super()._repr_mimebundle_(**kwargs), self.static_html())

    def static_html(self) -> str:
        """The curves as an inline SVG chart (what a saved notebook shows without widgets)."""
        smoothing = self.smoothing.value
        chart = static.line_chart(
            [(f"{s.run_name} · {s.key}", s.x, data.ema(s.y, smoothing)) for s in self.series],
            title=self.title, log_y=self.log_y.value)
        return f'<div class="jt-static-curves">{chart}</div>'


def plot_metrics(runs, keys: str | list[str] | None = None, *, x: str = "step", smoothing: float = 0.0,
                 log_y: bool = False, max_points: int = MAX_POINTS, live: bool = True, store=None) -> MetricCurves:
    """Metric curves of ``runs`` (ids, a ``search_runs`` DataFrame or ``table.selected``), one trace
    per run and key (every metric of each run when ``keys`` is None); live while a run is RUNNING.

    ``x``: ``"step"``, ``"relative"`` (seconds since the first point) or ``"wall"``; ``smoothing``
    in [0, 1) is an exponential moving average.
    """
    if isinstance(keys, str):
        keys = [keys]
    return MetricCurves(data.run_ids_of(runs), keys, x=x, smoothing=smoothing, log_y=log_y, max_points=max_points,
                        live=live, store=store)
