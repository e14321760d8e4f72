"""Our own small plotly widget: the figure as JSON in one synced trait, drawn by ``plot.js``.

Why not plotly's ``FigureWidget``: its front-end module *is* plotly.js (~5 MB, loaded once per
figure), and anywidget (0.11) drops every update of a model whose module took more than two seconds
to load. On a busy machine live curves and zoom redraws then vanished after the first drawing. Here
the module is a few kilobytes (it loads at once); it asks the kernel for plotly.js once per page
(the copy bundled in the plotly Python package, sent as a custom message: no network, no CDN, never
in the widget state a saved notebook keeps), queues every figure it receives until plotly.js is
ready and draws the newest with ``Plotly.react``. Zooms, pans and parallel-coordinates brushing come
back as messages, handed to the callbacks of ``on_relayout`` / ``on_restyle``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import anywidget
import traitlets


@cache
def plotly_js() -> str:
    """The source of the plotly.min.js that the installed plotly Python package bundles."""
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


class Plot(anywidget.AnyWidget):
    """A plotly figure in the browser; set ``figure`` (a plotly JSON dict) to redraw it."""

    _esm = Path(__file__).with_name("plot.js")
    figure = traitlets.Dict().tag(sync=True)
    revision = traitlets.Int(0).tag(sync=True)

    def __init__(self, figure: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(figure=figure or {}, **kwargs)
        self._relayout: list[Callable[[dict], None]] = []
        self._restyle: list[Callable[[dict, list[int]], None]] = []
        self.on_msg(self._on_message)

    def draw(self, figure: dict[str, Any]) -> None:
        """Send ``figure`` (``go.Figure.to_plotly_json()``) to the browser; each one is drawn in order."""
        with self.hold_sync():
            self.figure = figure
            self.revision += 1

    def on_relayout(self, callback: Callable[[dict], None]) -> None:
        """Call ``callback(relayout_data)`` on every zoom, pan or reset done in the browser."""
        self._relayout.append(callback)

    def on_restyle(self, callback: Callable[[dict, list[int]], None]) -> None:
        """Call ``callback(restyle_data, trace_indexes)`` when the browser restyles (brushing)."""
        self._restyle.append(callback)

    def _on_message(self, _widget: Any, content: dict, _buffers: list) -> None:
        kind = content.get("type")
        if kind == "need-plotly":
            self.send({"type": "plotly", "source": plotly_js()})
        elif kind == "relayout":
            for callback in self._relayout:
                callback(content.get("data") or {})
        elif kind == "restyle":
            for callback in self._restyle:
                callback(content.get("data") or {}, list(content.get("traces") or []))
