"""How a panel shows itself: a live widget view with a static ``text/html`` version beside it, or
the static version alone where no widget front end will ever render it.

In a live front end the widget view wins (it ranks first); viewers without a widget manager render
the next type. But ``jupyter nbconvert --execute`` (and papermill, ``jupyter execute``) run the
kernel from a client that records every widget's state into the notebook, and an export with that
state prefers the widget view: offline it is blank, and each plotly figure's state carries
plotly.js (megabytes). A kernel launched by one of those tools therefore shows static versions
only (``static_only()``); ``JUPYTER_TRACKER_PANELS=static`` asks for the same anywhere,
``=widgets`` for widgets anywhere.
"""

from __future__ import annotations

import functools
import os

MARKER = "data-jupyter-tracker-static"
# Programs that execute notebooks headless: their kernels have no widget front end.
HEADLESS_RUNNERS = ("nbconvert", "papermill", "jupyter-execute", "nbclient")


def with_static_html(bundle, html: str):
    """``bundle`` (a dict, or anywidget's ``(data, metadata)`` tuple) with ``text/html`` added,
    marked so the server's pre-save hook (``server/saved_outputs.py``) keeps only the static
    version in saved files. Without a widget front end, the static version alone."""
    html = f"<div {MARKER}>{html}</div>"
    data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {}, None)
    if static_only():
        data = {"text/plain": data.get("text/plain", ""), "text/html": html}
    else:
        data = {**data, "text/html": html}
    return (data, metadata) if isinstance(bundle, tuple) else data


@functools.lru_cache(maxsize=1)
def static_only() -> bool:
    """True when this kernel's panels should be static: ``JUPYTER_TRACKER_PANELS=static``, or a
    kernel launched by nbconvert, papermill or nbclient (its parent process, which started it
    through jupyter_client, runs one of ``HEADLESS_RUNNERS``)."""
    choice = os.environ.get("JUPYTER_TRACKER_PANELS", "").strip().lower()
    if choice in ("static", "widgets"):
        return choice == "static"
    import psutil

    try:
        command = " ".join(psutil.Process(os.getppid()).cmdline()).lower()
    except (psutil.Error, OSError):
        return False
    return any(runner in command for runner in HEADLESS_RUNNERS)

