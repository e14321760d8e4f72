"""Saved notebooks keep the static version of our panels, not a dead widget or its megabytes.

A widget view in a saved notebook needs its model, which lives in the kernel: reopened later (or
by a colleague) it shows "Error displaying widget: model not found", and when the front end saves
widget state, ``metadata.widgets`` carries every model (each plotly figure with plotly.js, about
4.6 MB). Every panel of ours carries a static ``text/html`` version marked
``data-jupyter-tracker-static`` next to its widget view; this pre-save hook of the Contents API
drops the widget view from such outputs in the FILE only (the open notebook in the browser keeps
its live widgets), and the saved state of the models those views showed, children included, so
the saved notebook opens with static tables and charts anywhere and stays small. Outputs without
our marker, and the state of other widgets, are left exactly as they are.
"""

from __future__ import annotations

import json
import re
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MARKER = "data-jupyter-tracker-static"
_MODEL_REFERENCE = re.compile(r"IPY_MODEL_([0-9a-fA-F]{8,})")


def strip_widget_views(model: dict[str, Any], **_: object) -> None:
    """Contents API pre-save hook (``ContentsManager.register_pre_save_hook``)."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    strip_notebook(model["content"])


def strip_notebook(notebook: dict[str, Any]) -> list[str]:
    """Drop our panels' widget views and their saved widget state from a notebook (a dict in
    nbformat's JSON shape), in place; the model ids whose state was dropped."""
    shown: list[str] = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data") if isinstance(output, dict) else None
            if not isinstance(data, dict) or WIDGET_VIEW not in data:
                continue
            html = data.get("text/html")
            if isinstance(html, list):
                html = "".join(html)
            if isinstance(html, str) and MARKER in html:
                view = data.pop(WIDGET_VIEW)
                if isinstance(view, dict) and isinstance(view.get("model_id"), str):
                    shown.append(view["model_id"])
    return _drop_state(notebook, shown)


def _drop_state(notebook: dict[str, Any], model_ids: list[str]) -> list[str]:
    """Remove ``model_ids`` and every model their state refers to (``IPY_MODEL_<id>``) from
    ``metadata.widgets``, except models another remaining model still refers to."""
    metadata = notebook.get("metadata")
    widgets = metadata.get("widgets") if isinstance(metadata, dict) else None
    saved = widgets.get(WIDGET_STATE) if isinstance(widgets, dict) else None
    states = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(states, dict) or not model_ids:
        return []
    assert isinstance(metadata, dict) and isinstance(widgets, dict)  # states came from them

    def references(model_id: str) -> set[str]:
        return set(_MODEL_REFERENCE.findall(json.dumps(states.get(model_id, {}).get("state", {}), default=str)))

    doomed: set[str] = set()
    pending = [model_id for model_id in model_ids if model_id in states]
    while pending:
        model_id = pending.pop()
        if model_id not in doomed:
            doomed.add(model_id)
            pending.extend(reference for reference in references(model_id) if reference in states)
    kept_refs = set().union(*(references(model_id) for model_id in states if model_id not in doomed))
    dropped = sorted(doomed - kept_refs)
    for model_id in dropped:
        del states[model_id]
    if not states:
        del widgets[WIDGET_STATE]
        if not widgets:
            del metadata["widgets"]
    return dropped
