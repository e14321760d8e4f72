"""Adding a static ``text/html`` version to a widget's MIME bundle.

In a live front end the widget view wins (it ranks first); nbconvert skips a widget view whose
state was not saved and renders the next type, and so do viewers without a widget manager. So a
panel saved to HTML, or opened on GitHub, shows its static version instead of an error."""

from __future__ import annotations

MARKER = "data-jupyter-tracker-static"


def with_static_html(bundle, html: str):
    """``bundle`` (a dict, or anywidget's ``(data, metadata)`` tuple) with ``text/html`` added,
    marked so the server's pre-save hook (``server/saved_outputs.py``) keeps only the static
    version in saved files."""
    html = f"<div {MARKER}>{html}</div>"
    if isinstance(bundle, tuple):
        data, metadata = bundle
        return {**data, "text/html": html}, metadata
    return {**(bundle or {}), "text/html": html}
