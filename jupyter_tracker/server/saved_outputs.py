"""Saved notebooks keep the static version of our panels, not a dead widget.

A widget view in a saved notebook needs its model, which lives in the kernel: reopened later (or
by a colleague) it shows "Error displaying widget: model not found". Every panel of ours carries a
static ``text/html`` version marked ``data-jupyter-tracker-static`` next to its widget view; this
pre-save hook of the Contents API drops the widget view from such outputs in the FILE only (the
open notebook in the browser keeps its live widgets), so the saved notebook opens with static
tables and charts anywhere. Outputs without our marker are left exactly as they are.
"""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MARKER = "data-jupyter-tracker-static"


def strip_widget_views(model: dict[str, Any], **_: object) -> None:
    """Contents API pre-save hook (``ContentsManager.register_pre_save_hook``)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    for cell in model["content"].get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data") if isinstance(output, dict) else None
            if not isinstance(data, dict) or WIDGET_VIEW not in data:
                continue
            html = data.get("text/html")
            if isinstance(html, list):
                html = "".join(html)
            if isinstance(html, str) and MARKER in html:
                del data[WIDGET_VIEW]
