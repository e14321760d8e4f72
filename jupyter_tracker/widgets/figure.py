"""A plotly ``FigureWidget`` whose traces and layout reach the browser in the widget's opening
message, not in messages after it.

Why: plotly 7's FigureWidget is an anywidget whose front-end module is plotly.js itself (~5 MB,
loaded once per figure). Its constructor opens the widget's comm with *empty* ``_widget_data`` and
``_widget_layout`` and sends the figure a moment later as update messages. anywidget (0.11) makes
each model's update messages wait for its module to load and gives up after two seconds
("[anywidget] Failed to initialize model."): from then on every update to that model is dropped,
while the view still renders, later, from the opening state. On a busy machine (two cores, several
figures on the page) loading plotly.js takes longer than that, so the panel drew empty axes -
in a box or standalone alike, depending only on timing. Opening the comm once the state is complete
makes the first drawing independent of that timeout.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import plotly.graph_objects as go


class FigureWidget(go.FigureWidget):
    """``go.FigureWidget`` that opens its comm only when ``open_with_state()`` is called."""

    _open_deferred = True

    def open(self) -> None:
        if not self._open_deferred:
            super().open()

    def open_with_state(self) -> FigureWidget:
        """Open the comm with the figure as it is now (traces and layout in the opening state)."""
        self._widget_layout = deepcopy(self._layout_obj._props)
        self._widget_data = deepcopy(self._data)
        self._open_deferred = False
        self.open()
        return self


def figure_widget(figure: go.Figure | dict[str, Any] | None = None) -> FigureWidget:
    """A FigureWidget of ``figure`` whose traces and layout are in the widget's opening message."""
    return FigureWidget(figure).open_with_state()
