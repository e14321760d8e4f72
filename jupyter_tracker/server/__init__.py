"""The jupyter_server extension: a REST API over the query layer for the JupyterLab sidebar.

Routes live under ``{base_url}jupyter-tracker/api/`` (see ``handlers.setup_handlers``); the JSON
shaping is plain Python in ``api.py``. Loaded by ``jupyter_tracker._load_jupyter_server_extension``.
"""

from __future__ import annotations

from typing import Any

from .handlers import setup_handlers

__all__ = ["load", "setup_handlers"]


def load(server_app: Any) -> None:
    """Register the handlers on ``server_app``'s tornado application, and the pre-save hook that
    keeps saved notebooks free of dead tracker widgets (``saved_outputs.py``)."""
    from .saved_outputs import strip_widget_views

    setup_handlers(server_app.web_app)
    server_app.contents_manager.register_pre_save_hook(strip_widget_views)
    server_app.log.info("jupyter_tracker | REST API at %sjupyter-tracker/api/", server_app.web_app.settings["base_url"])
