"""``jt.plot_metrics(...)``: metric curves of one or more runs, live while they log.

One panel per metric key (small multiples sharing the x axis, never unrelated keys on one y
axis), each run in its session colour (``colors.py``) with one legend entry per run, drawn above
the panels so it never covers a plot or an axis title. A plotly figure in our small plot widget
(``plot.py``) with controls for the x axis (step, seconds since the first point, wall time), log-y and
an exponential moving average (the raw curve stays faint underneath). ``group_by`` draws a mean
line and a min–max band per group instead of each run.

Histories come from the query layer downsampled to ``max_points`` per curve (MinMaxLTTB keeps
extremes). Zooming is truthful: a zoom or pan in the browser, or ``curves.zoom(x0, x1)`` from
Python, re-reads the visible x range at full resolution (``query.get_metric_window``), downsampled
to the same budget, so a one-step spike shows once the window is small enough; a reset (double
click, ``curves.zoom()``) returns to the overview. While a plotted run is RUNNING a background
thread re-reads its series at most ``1 / poll_interval`` times per second.
"""

from __future__ import annotations

import html
import math
import threading
import time

import ipywidgets as widgets

from ..errors import InvalidValueError, TrackerError
from . import colors, data, static
from ._display import static_only, with_static_html

MAX_POINTS = 2000
PANEL_HEIGHT = 220  # px of plot area per metric key
PANEL_GAP = 56  # px between panels: room for the next panel's title
LEGEND_ENTRIES = 8  # legend entries shown before "+k more"
AXIS_TITLES = {"step": "step", "relative": "seconds since first point", "wall": "time"}


class MetricCurves(widgets.VBox):
    """Curves of ``keys`` for ``run_ids``; ``curves.figure`` is the plotly figure (shown through
    ``curves.plot`` in a live front end), ``curves.series`` what it draws, ``curves.window`` the zoomed x range."""

    def __init__(self, run_ids: list[str], keys: list[str] | None = None, *, x: str = "step", smoothing: float = 0.0,
                 log_y: bool = False, max_points: int = MAX_POINTS, live: bool = True, poll_interval: float = 0.5,
                 title: str = "", group_by: str | None = None, store=None) -> None:
        import plotly.graph_objects as go

        data.ema([], smoothing)  # validates smoothing before anything is drawn
        if x not in data.X_AXES:
            raise InvalidValueError(f"x must be one of {', '.join(data.X_AXES)}, not {x!r}")
        if group_by is not None and not isinstance(group_by, str):
            raise InvalidValueError(f"group_by names a param or tag such as 'params.optimizer', not {group_by!r}")
        self.run_ids = list(run_ids)
        self.metric_keys = keys
        self.max_points = max_points
        self.store = store
        self.poll_interval = poll_interval
        self.title = title
        self.group_by = group_by
        self.window: tuple[float, float] | None = None
        self._closed = threading.Event()
        self.series: list[data.Series] = []
        self._overview: list[data.Series] = []
        self.groups: list[data.GroupSeries] = []
        self._group_of: dict[str, str] = {}
        self._params: dict[str, str] = {}
        self._panel_keys: list[str] = []
        # Always a plain figure; once the panel is shown (``show_figure``) every drawing is also
        # sent to ``self.plot`` (our small widget, plot.py). Without a widget front end
        # (nbconvert, papermill) there is no plot widget and nothing reaches a saved notebook.
        self.plot = None
        self.figure = go.Figure(layout=go.Layout(
            margin=dict(l=60, r=20, t=30, b=50), hovermode="closest", template="plotly_white", showlegend=False))
        self.legend = widgets.HTML()
        self.legend.add_class("jt-curves-legend")
        self.x_axis = widgets.ToggleButtons(options=[("step", "step"), ("time", "relative"), ("wall", "wall")],
                                            tooltips=["step", "seconds since the run started", "wall-clock time"],
                                            value=x, description="x", style={"button_width": "64px"})
        self.log_y = widgets.Checkbox(value=log_y, description="log y", indent=False,
                                      layout=widgets.Layout(width="80px"))
        self.smoothing = widgets.FloatSlider(value=smoothing, min=0.0, max=0.99, step=0.01, description="smoothing",
                                             continuous_update=False, readout_format=".2f")
        controls = widgets.HBox([self.x_axis, self.log_y, self.smoothing])
        header = [widgets.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        super().__init__([*header, controls, self.legend])
        self.add_class("jt-metric-curves")
        self._poller: threading.Thread | None = None
        self._lock = threading.RLock()
        self.reload()
        self.x_axis.observe(lambda _c: self._on_x_axis(), "value")
        self.log_y.observe(lambda _c: self._draw(), "value")
        self.smoothing.observe(lambda _c: self._draw(), "value")
        if live and self.running():
            self._start_poller()

    # -- data ------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read every series again (the zoomed window too, when zoomed) and redraw."""
        overview = data.metric_series(self.run_ids, self.metric_keys, x=self.x_axis.value,
                                      max_points=self.max_points, store=self.store)
        run_ids = list(dict.fromkeys(item.run_id for item in overview))
        params = data.differing_params(run_ids, store=self.store) if len(run_ids) > 1 else {}
        group_of = data.group_labels(run_ids, self.group_by, store=self.store) if self.group_by and run_ids else {}
        with self._lock:
            self._overview, self._params, self._group_of = overview, params, group_of
            self.series = self._windowed(overview) if self.window else overview
            self.groups = data.group_series(self.series, group_of) if self.group_by else []
        self._draw()

    def _windowed(self, overview: list[data.Series]) -> list[data.Series]:
        assert self.window is not None
        return [data.series_window(item, self.window, x=self.x_axis.value, max_points=self.max_points,
                                   store=self.store) for item in overview]

    def zoom(self, x0: float | None = None, x1: float | None = None) -> MetricCurves:
        """Show the x range ``[x0, x1]`` (in the x axis' units) re-read at full resolution, up to
        ``max_points`` per curve; ``zoom()`` returns to the whole curve. What a zoom or pan in
        the browser does too."""
        if (x0 is None) != (x1 is None):
            raise InvalidValueError(f"zoom takes both ends (zoom(1000, 2000)) or none to reset, not x0={x0!r}, "
                                    f"x1={x1!r}")
        if x0 is None or x1 is None:
            self.window = None
        else:
            try:
                low, high = sorted((float(x0), float(x1))) if self.x_axis.value != "wall" else (x0, x1)
            except (TypeError, ValueError):
                raise InvalidValueError(f"zoom takes two numbers, such as zoom(1000, 2000), not {x0!r}, {x1!r}") \
                    from None
            self.window = (low, high)
        with self._lock:
            self.series = self._windowed(self._overview) if self.window else self._overview
            self.groups = data.group_series(self.series, self._group_of) if self.group_by else []
        self._draw()
        return self

    def running(self) -> bool:
        return any(item.status == "RUNNING" for item in self.series) or not self.series and self._any_running()

    def _any_running(self) -> bool:
        from .. import query

        try:
            return any(query.get_run(run_id, store=self.store).status == "RUNNING" for run_id in self.run_ids)
        except TrackerError:
            return False

    def _on_x_axis(self) -> None:
        self.window = None  # a range in steps means nothing in seconds
        self.reload()

    def _on_browser_relayout(self, relayout: dict) -> None:
        """A zoom, pan or reset dragged in the browser (plotly.js' relayout data, as the view sent
        it): re-read the new x range of whichever panel was dragged (their x axes are matched), or
        the overview. Read from the message itself: the layout's ``autorange`` still holds what
        Python last drew, so it cannot tell a zoom from a reset."""
        window: list[float | None] = [None, None]
        reset = False
        for name, value in relayout.items():
            axis, _, prop = name.partition(".")
            if not axis.startswith("xaxis"):
                continue
            if prop == "autorange" and value is True:
                reset = True
            elif prop == "range" and isinstance(value, list) and len(value) == 2:
                window = list(value)
            elif prop in ("range[0]", "range[1]"):
                window[int(prop[6])] = value
        if window[0] is not None and window[1] is not None:
            wanted = tuple(window)
            if self.window is not None and all(
                    a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b))
                    for a, b in zip(wanted, self.window)):
                return  # our own redraw echoing back
            self.zoom(*wanted)
        elif reset and self.window is not None:
            self.zoom()

    # -- drawing ---------------------------------------------------------------------------------
    def panel_keys(self) -> list[str]:
        """The metric keys drawn, one panel each, in the order asked for (else sorted)."""
        present = list(dict.fromkeys(item.key for item in self._overview))
        if self.metric_keys:
            return [key for key in self.metric_keys if key in present]
        return sorted(present)

    def legend_entries(self) -> list[tuple[str, colors.RunStyle, str]]:
        """``(label, style, hover text)`` per run (or per group with ``group_by``)."""
        if self.group_by:
            counts: dict[str, int] = {}
            for label in self._group_of.values():
                counts[label] = counts.get(label, 0) + 1
            return [(f"{self.group_by.split('.', 1)[1]}={label}", self._group_style(label),
                     f"mean and min–max of {count} runs") for label, count in sorted(counts.items())]
        entries, seen = [], set()
        for item in self._overview:
            if item.run_id not in seen:
                seen.add(item.run_id)
                entries.append((item.run_name, colors.style_of(item.run_id), self._params.get(item.run_id, "")))
        return entries

    def _group_style(self, label: str) -> colors.RunStyle:
        return colors.style_of(f"{self.group_by}={label}")

    def _traces(self) -> list[dict]:
        rows = {key: index + 1 for index, key in enumerate(self._panel_keys)}
        if self.group_by:
            return self._group_traces(rows)
        traces = []
        smoothing = self.smoothing.value
        for item in self.series:
            if item.key not in rows:
                continue
            style = colors.style_of(item.run_id)
            params = self._params.get(item.run_id, "")
            hover = (f"<b>{html.escape(item.run_name)}</b><br>{html.escape(item.key)}"
                     f"<br>{AXIS_TITLES[self.x_axis.value]} %{{x}}<br>value %{{y:.6g}}"
                     + (f"<br>{html.escape(params)}" if params else "") + "<extra></extra>")
            # a single point has no line to draw: show it as a marker
            mode = "markers" if len(item.x) == 1 else "lines"
            line = dict(color=style.color, width=2, dash=style.dash)
            common = dict(x=item.x, name=item.run_name, legendgroup=item.run_id, row=rows[item.key],
                          meta=item.run_id, marker=dict(color=style.color, size=7))
            if smoothing > 0:
                traces.append(dict(common, y=item.y, mode=mode, opacity=0.25, line=dict(line, width=1),
                                   hoverinfo="skip"))
                traces.append(dict(common, y=data.ema(item.y, smoothing), mode=mode, line=line, hovertemplate=hover))
            else:
                traces.append(dict(common, y=item.y, mode=mode, line=line, hovertemplate=hover))
        return traces

    def _group_traces(self, rows: dict[str, int]) -> list[dict]:
        traces = []
        smoothing = self.smoothing.value
        name = self.group_by.split(".", 1)[1] if self.group_by else ""
        for group in self.groups:
            if group.key not in rows:
                continue
            style = self._group_style(group.label)
            label = f"{name}={group.label}"
            common = dict(x=group.x, legendgroup=label, row=rows[group.key], meta=label, name=label)
            band = dict(common, mode="lines", line=dict(width=0, color=style.color), hoverinfo="skip")
            traces.append(dict(band, y=group.high))
            traces.append(dict(band, y=group.low, fill="tonexty", fillcolor=colors.rgba(style.color, 0.18)))
            hover = (f"<b>{html.escape(label)}</b> (mean of {group.runs} runs)<br>{html.escape(group.key)}"
                     f"<br>{AXIS_TITLES[self.x_axis.value]} %{{x}}<br>mean %{{y:.6g}}<extra></extra>")
            traces.append(dict(common, y=data.ema(group.mean, smoothing), mode="markers" if len(group.x) == 1
                               else "lines", line=dict(color=style.color, width=2, dash=style.dash),
                               marker=dict(color=style.color, size=7), hovertemplate=hover))
        return traces

    def _draw(self) -> None:
        self._draw_figure()
        plot = self.plot
        if plot is not None:
            plot.draw(self.figure.to_plotly_json())

    def _draw_figure(self) -> None:
        from plotly.subplots import make_subplots

        with self._lock:
            self._panel_keys = self.panel_keys()
            traces = self._traces()
        panels = max(1, len(self._panel_keys))
        plot_height = panels * PANEL_HEIGHT + (panels - 1) * PANEL_GAP
        height = plot_height + 30 + 50
        layout_figure = make_subplots(rows=panels, cols=1, shared_xaxes=True, subplot_titles=self._panel_keys or None,
                                      vertical_spacing=PANEL_GAP / plot_height if panels > 1 else 0.0)
        figure = self.figure
        self.legend.value = static.legend_html(self.legend_entries(), LEGEND_ENTRIES)
        with figure.batch_update():
            same = len(figure.data) == len(traces) and all(
                old.meta == new["meta"] and old.yaxis == _axis_name("y", new["row"])
                and old.mode == new.get("mode") for old, new in zip(figure.data, traces))
            if same:
                for old, new in zip(figure.data, traces):
                    old.x, old.y = new["x"], new["y"]
            else:
                figure.data = []
                figure.layout.annotations = []
            figure.layout.update(height=height, **{name: value for name, value in layout_figure.layout.to_plotly_json()
                                                   .items() if name.startswith(("xaxis", "yaxis"))},
                                 annotations=layout_figure.layout.annotations)
            if not same:
                for trace in traces:
                    row = trace.pop("row")
                    figure.add_scatter(**trace, xaxis=_axis_name("x", row), yaxis=_axis_name("y", row))
        with figure.batch_update():
            for row in range(1, panels + 1):
                yaxis = figure.layout[_axis_name("yaxis", row)]
                yaxis.type = "log" if self.log_y.value else "linear"
                yaxis.autorange = True  # every plotted point of the window in range
                xaxis = figure.layout[_axis_name("xaxis", row)]
                if row == panels:
                    xaxis.title = AXIS_TITLES[self.x_axis.value]
                if self.window is not None:
                    xaxis.range = list(self.window)
                    xaxis.autorange = False
                else:
                    xaxis.autorange = True

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
    def show_figure(self) -> None:
        """Show the drawn figure in a plot widget (``plot.py``; once, not without a widget front
        end), the figure in its opening state. Called when the panel is displayed, by itself or
        inside a comparison."""
        from .plot import Plot

        if static_only() or self.plot is not None:
            return
        with self._lock:
            self.plot = Plot(self.figure.to_plotly_json())
            self.plot.on_relayout(self._on_browser_relayout)
            self.children = [*self.children, self.plot]

    def _repr_mimebundle_(self, **kwargs):
        self.show_figure()
        return with_static_html(super()._repr_mimebundle_(**kwargs), self.static_html())

    def static_html(self) -> str:
        """The panels as inline SVG charts, one per key, under the same legend (what a saved
        notebook shows without widgets)."""
        smoothing = self.smoothing.value
        charts = []
        for key in self._panel_keys:
            if self.group_by:
                lines = [(f"{g.label}", g.x, data.ema(g.mean, smoothing), self._group_style(g.label))
                         for g in self.groups if g.key == key]
            else:
                lines = [(s.run_name, s.x, data.ema(s.y, smoothing), colors.style_of(s.run_id))
                         for s in self.series if s.key == key]
            charts.append(static.line_chart([(label, xs, ys) for label, xs, ys, _ in lines], title=key,
                                             log_y=self.log_y.value, styles=[style for *_, style in lines],
                                             legend=False, x_title=AXIS_TITLES[self.x_axis.value]))
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        legend = static.legend_html(self.legend_entries(), LEGEND_ENTRIES)
        return f'<div class="jt-static-curves">{title}{legend}{"".join(charts) or "<i>no metrics</i>"}</div>'


def _axis_name(prefix: str, row: int) -> str:
    """plotly's name of the ``row``-th axis: ``x``, ``x2``… (``xaxis``, ``xaxis2``… in a layout)."""
    return prefix if row == 1 else f"{prefix}{row}"


def plot_metrics(runs, keys: str | list[str] | None = None, *, x: str = "step", smoothing: float = 0.0,
                 log_y: bool = False, group_by: str | None = None, max_points: int = MAX_POINTS, live: bool = True,
                 store=None) -> MetricCurves:
    """Metric curves of ``runs`` (ids, a ``search_runs`` DataFrame or ``table.selected``): one panel
    per key (every metric of the runs when ``keys`` is None), one colour per run; live while a run
    is RUNNING. ``curves.zoom(x0, x1)`` re-reads a range at full resolution.

    ``x``: ``"step"``, ``"relative"`` (seconds since the first point) or ``"wall"``; ``smoothing``
    in [0, 1) is an exponential moving average; ``group_by`` (``"params.optimizer"``, a tag) draws
    each group's mean with its min–max band instead of each run, the usual way to compare seeds.
    """
    if isinstance(keys, str):
        keys = [keys]
    return MetricCurves(data.run_ids_of(runs), keys, x=x, smoothing=smoothing, log_y=log_y, max_points=max_points,
                        live=live, group_by=group_by, store=store)
