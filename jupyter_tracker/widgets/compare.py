"""``jt.compare(...)``: which settings won? Parallel coordinates, a diff of what differs, and the
runs' curves overlaid.

The parallel-coordinates plot (plotly ``Parcoords`` in our plot widget, ``plot.py``) has one axis per param or
metric that varies between the runs; text params become categorical axes. Each run's line, its
column of the diff and its curves are in the run's session colour (``colors.py``), unless ``color``
names a column to colour the lines by. Brushing an axis in the
browser comes back to Python as the dimension's ``constraintrange``; ``comparison.kept`` (an
observable trait) then holds the run ids inside every brushed range. Given a run table instead of
ids, the comparison follows ``table.selected``.
"""

from __future__ import annotations

import ipywidgets as widgets
import traitlets

from ..errors import InvalidValueError
from . import colors, data, static
from ._display import static_only, with_static_html
from .curves import MetricCurves


class Comparison(widgets.VBox):
    """Parallel coordinates + diff table + overlaid curves of a few runs."""

    kept = traitlets.List(traitlets.Unicode())

    def __init__(self, run_ids: list[str], *, color: str | None = None, keys: list[str] | None = None,
                 table=None, store=None) -> None:
        import plotly.graph_objects as go

        self.store = store
        self.color = color
        self.metric_keys = keys
        self.frame = None
        self.axes: list[data.Axis] = []
        # A plain figure until the comparison is shown (``_show_parcoords``), as in MetricCurves.
        self.parcoords_plot = None
        self.parcoords = go.Figure(layout=go.Layout(height=340, margin=dict(l=70, r=70, t=50, b=30),
                                                    template="plotly_white"))
        self.diff = widgets.HTML()
        self.message = widgets.HTML()
        self.curves_box = widgets.VBox()
        self.curves: MetricCurves | None = None
        self._shown = False
        super().__init__([self.message, self.diff, self.curves_box])
        self.add_class("jt-comparison")
        self.table = table
        if table is not None:
            # The table sits on top so one output holds the whole panel (and its static version).
            self.children = [table, *self.children]
            table.observe(self._on_selection, "selected")
            run_ids = list(table.selected)
        self.set_runs(run_ids)

    # -- runs ------------------------------------------------------------------------------------
    def set_runs(self, run_ids: list[str]) -> None:
        """Compare these runs (redraws every part)."""
        self.run_ids = list(run_ids)
        if not self.run_ids:
            self.frame = None
            self.axes = []
            self.message.value = "<i>Select runs in the table to compare them.</i>"
            self.parcoords.data = []
            self.parcoords.layout.height = 10
            self._send_parcoords()
            self.diff.value = ""
            self.curves_box.children = []
            self.kept = []
            return
        self.message.value = ""
        self.frame = data.comparison_frame(self.run_ids, store=self.store)
        self.run_ids = self.frame["run_id"].tolist()
        color = self.color if self.color in self.frame.columns else None
        if self.color is not None and color is None and self.table is None:
            data.parallel_axes(self.frame, color=self.color)  # raises with the columns to choose from
        self.axes, color_values = data.parallel_axes(self.frame, color=color)
        self._draw_parcoords(color_values, color)
        if getattr(self, "_shown", False):
            self._show_parcoords()  # the first selection of a comparison displayed empty
        self._draw_diff()
        self.curves = MetricCurves(self.run_ids, self.metric_keys, store=self.store,
                                   title="metrics of the compared runs")
        if self._shown:
            self.curves.show_figure()
        self.curves_box.children = [self.curves]
        self.kept = list(self.run_ids)

    def __repr__(self) -> str:
        return f"<Comparison of {len(self.run_ids)} runs, {len(self.kept)} kept>"

    def _on_selection(self, change) -> None:
        self.set_runs(change["new"])

    # -- parallel coordinates ----------------------------------------------------------------------
    def _draw_parcoords(self, color_values, color) -> None:
        import plotly.graph_objects as go

        dimensions = []
        for axis in self.axes:
            dimension = dict(label=axis.label.split(".", 1)[1], values=axis.values)
            if axis.tickvals is not None:
                dimension.update(tickvals=axis.tickvals, ticktext=axis.ticktext)
            dimensions.append(dimension)
        if color_values:
            line = dict(color=color_values, colorscale="Viridis", showscale=True,
                        colorbar=dict(title=color.split(".", 1)[1]))
        else:
            # each run its own colour: a step colour scale over the run's position
            count = len(self.run_ids)
            scale = [[index / max(1, count - 1), colors.color_of(run_id)] for index, run_id in enumerate(self.run_ids)]
            if count == 1:
                scale = [[0, scale[0][1]], [1, scale[0][1]]]
            line = dict(color=list(range(count)), colorscale=scale, cmin=0, cmax=max(1, count - 1), showscale=False)
        with self.parcoords.batch_update():
            self.parcoords.data = []
            if dimensions:
                self.parcoords.add_trace(go.Parcoords(line=line, dimensions=dimensions))
                self.parcoords.layout.height = 340
            else:
                self.parcoords.layout.height = 10
        self._send_parcoords()
        if not dimensions:
            self.message.value = "<i>These runs have no param or metric that differs.</i>"

    def _send_parcoords(self) -> None:
        """Redraw the shown parallel coordinates (if shown) from ``self.parcoords``."""
        if self.parcoords_plot is not None:
            self.parcoords_plot.draw(self.parcoords.to_plotly_json())

    def _on_restyle(self, restyle: dict, traces: list[int]) -> None:
        """A brush dragged on the parallel coordinates: apply it to our figure, then keep the runs
        inside every constraint."""
        if not self.parcoords.data:
            return
        self.parcoords.plotly_restyle(restyle, traces or [0])
        self._on_brush(self.parcoords.data[0], self.parcoords.data[0].dimensions)

    def _show_parcoords(self) -> None:
        """Show the parallel coordinates in a plot widget (``plot.py``; once), its traces in the
        widget's opening state."""
        from .plot import Plot

        if static_only() or self.parcoords_plot is not None or not self.run_ids:
            return  # nothing selected yet: no empty chart (shown once runs are)
        self.parcoords_plot = Plot(self.parcoords.to_plotly_json())
        self.parcoords_plot.on_restyle(self._on_restyle)
        children = list(self.children)
        children.insert(children.index(self.message) + 1, self.parcoords_plot)
        self.children = children

    def _on_brush(self, trace, dimensions) -> None:
        constraints = {}
        for axis, dimension in zip(self.axes, dimensions):
            value = dimension["constraintrange"] if isinstance(dimension, dict) else dimension.constraintrange
            if value:
                constraints[axis.key] = list(value)
        self.kept = data.kept_by_constraints(self.axes, constraints, self.run_ids)

    # -- diff ------------------------------------------------------------------------------------------
    def _draw_diff(self) -> None:
        self.diff.value = self.diff_html()

    def diff_rows(self, include_same: bool = False) -> list[dict]:
        """What differs between the runs (see ``data.diff_table``)."""
        return data.diff_table(self.frame, include_same=include_same)

    def diff_html(self) -> str:
        rows = self.diff_rows()
        names = self.frame["run_name"].tolist()
        if not rows:
            return "<i>Params, metrics and tags are the same in every run.</i>"
        return static.html_table(["", *names], [[row["key"], *row["values"]] for row in rows],
                                 highlight=[row["differs"] for row in rows],
                                 caption=f"What differs between {len(names)} runs",
                                 header_colors=[None, *(colors.color_of(run_id) for run_id in self.frame["run_id"])])

    # -- display ---------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        self._shown = True
        self._show_parcoords()
        if self.curves is not None:
            self.curves.show_figure()
        return with_static_html(super()._repr_mimebundle_(**kwargs), self.static_html())

    def static_html(self) -> str:
        """Table (when following one), diff and curves as static HTML/SVG."""
        table = self.table.static_html() if self.table is not None else ""
        if self.frame is None:
            return f"{table}<i>no runs selected to compare</i>"
        curves = self.curves.static_html() if self.curves is not None else ""
        return f'<div class="jt-static-compare">{table}{self.diff_html()}{curves}</div>'




def compare(runs, color: str | None = None, *, keys: str | list[str] | None = None, store=None) -> Comparison:
    """Compare ``runs``: ids, a ``search_runs`` DataFrame, or a run table (then it follows the
    table's selection). ``color`` names the column that colours the parallel coordinates, e.g.
    ``"metrics.acc"``; ``keys`` limits the overlaid curves."""
    from .table import RunTable

    if isinstance(keys, str):
        keys = [keys]
    if color is not None and not isinstance(color, str):
        raise InvalidValueError(f"color names a column such as 'metrics.acc', not {color!r}")
    if isinstance(runs, RunTable):
        return Comparison([], color=color, keys=keys, table=runs, store=store)
    return Comparison(data.run_ids_of(runs), color=color, keys=keys, store=store)
