"""HTTP ↔ ``api.py``: one route table (``setup_handlers``) and one error→JSON path.

Every handler is an authenticated ``APIHandler`` (403 without a token, XSRF checks on writes,
like the rest of jupyter_server). The DuckDB work runs in a worker thread so a slow store lock
never blocks the server's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from ..errors import ConfigError, StoreError, StoreLockedError, TrackerError
from . import api

API_PREFIX = ("jupyter-tracker", "api")
CHUNK_BYTES = 1 << 20


def status_of(error: TrackerError) -> int:
    """The HTTP status of a library error: not found → 404, a busy store → 503, a broken store → 500,
    any other bad input → 400."""
    if isinstance(error, StoreLockedError):
        return 503
    if isinstance(error, (LookupError, FileNotFoundError)):
        return 404
    if isinstance(error, (StoreError, ConfigError)):
        return 500
    return 400


class TrackerHandler(APIHandler):
    """Base of the API handlers: store folder argument, JSON body, errors as JSON."""

    @property
    def root_dir(self) -> str:
        return str(self.settings["server_root_dir"])

    @property
    def notebook_dir(self) -> str:
        return self.get_query_argument("dir", "")

    async def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``function(root_dir, dir, *args, **kwargs)`` in a worker thread."""
        return await asyncio.to_thread(function, self.root_dir, self.notebook_dir, *args, **kwargs)

    def body(self) -> dict[str, Any]:
        """The request's JSON object (``{}`` for no body). Every route that takes a body takes an
        object, so anything else (an array, a string, JSON nested past the parser's depth) is a 400
        here, in one place, before any handler sees it."""
        if not self.request.body:
            return {}
        try:
            body = json.loads(self.request.body)
        except (ValueError, RecursionError) as exc:
            raise tornado.web.HTTPError(400, reason=f"the request body is not JSON: {exc}"[:200]) from None
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, reason=f"the request body must be a JSON object such as "
                                                    f"{{\"run_name\": \"...\"}}, not {type(body).__name__}")
        return body

    def reply(self, payload: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload, allow_nan=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The one error→JSON path: ``{"message", "error"}`` for library errors, a logged 500 otherwise."""
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        self.set_header("Content-Type", "application/json")
        if isinstance(error, TrackerError):
            self.finish(json.dumps({"message": str(error), "error": type(error).__name__}))
            return
        if isinstance(error, tornado.web.HTTPError):
            message = error.log_message or error.reason or self._reason
            self.finish(json.dumps({"message": message, "error": "HTTPError", "reason": error.reason}))
            return
        self.finish(json.dumps({"message": f"internal error of jupyter_tracker: {error!r}" if error else
                                self._reason, "error": type(error).__name__ if error else "HTTPError"}))

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        if isinstance(value, TrackerError):
            self.log.info("jupyter_tracker %s %s: %s: %s", self.request.method, self.request.uri,
                          type(value).__name__, value)
            return
        super().log_exception(typ, value, tb)

    def _handle_request_exception(self, error: BaseException) -> None:
        if isinstance(error, TrackerError) and not self._finished:
            self.log_exception(type(error), error, error.__traceback__)
            self.send_error(status_of(error), exc_info=(type(error), error, error.__traceback__))
            return
        super()._handle_request_exception(error)


class StoresHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.call(api.store_info))


class ExperimentsHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.call(api.experiments))


class RunsHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        argument = self.get_query_argument
        self.reply(await self.call(
            api.runs, experiment=argument("experiment", None), filter=argument("filter", None),
            order_by=argument("order_by", None), limit=argument("limit", None), offset=argument("offset", None)))

    @tornado.web.authenticated
    async def delete(self) -> None:
        self.reply(await self.call(api.delete_many, self.body(), self.get_query_argument("confirm", None)))


class RunHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        self.reply(await self.call(api.run_details, run_id))

    @tornado.web.authenticated
    async def patch(self, run_id: str) -> None:
        self.reply(await self.call(api.rename, run_id, self.body()))

    @tornado.web.authenticated
    async def delete(self, run_id: str) -> None:
        self.reply(await self.call(api.delete, run_id, self.get_query_argument("confirm", None)))


class MetricHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str, key: str) -> None:
        self.reply(await self.call(api.metric_history, run_id, key,
                                   self.get_query_argument("max_points", None)))


class ArtifactHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str, path: str) -> None:
        local, media_type, artifact_path = await self.call(api.artifact_file, run_id, path)
        self.set_header("Content-Type", media_type)
        self.set_header("X-Content-Type-Options", "nosniff")
        if self.get_query_argument("download", "0") not in ("", "0", "false"):
            name = artifact_path.rsplit("/", 1)[-1].replace('"', "")
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        else:
            # Served from the server's origin: keep active content (HTML, SVG scripts) inert.
            self.set_header("Content-Security-Policy", "sandbox; default-src 'none'; img-src data:; "
                                                       "style-src 'unsafe-inline'")
        with open(local, "rb") as stored:
            while chunk := await asyncio.to_thread(stored.read, CHUNK_BYTES):
                self.write(chunk)
                await self.flush()
        self.finish()


class SnapshotHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        text = await self.call(api.snapshot, run_id, self.get_query_argument("kind", None))
        self.set_header("Content-Type", "application/x-ipynb+json")
        self.finish(text)


class RestoreHandler(TrackerHandler):
    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        self.reply(await self.call(api.restore, run_id, self.body().get("kind")))


class TagHandler(TrackerHandler):
    @tornado.web.authenticated
    async def put(self, run_id: str, key: str) -> None:
        self.reply(await self.call(api.set_tag, run_id, key, self.body()))

    @tornado.web.authenticated
    async def delete(self, run_id: str, key: str) -> None:
        self.reply(await self.call(api.delete_tag, run_id, key))


class ModelsHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.call(api.models))


class ActiveRunHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        kernel_id = self.get_query_argument("kernel_id", None)
        pid = self.kernel_pid(kernel_id) if kernel_id else None
        self.reply(await self.call(api.active_run, pid, self.get_query_argument("path", None)))

    def kernel_pid(self, kernel_id: str) -> int | None:
        """The process id of a local kernel (None for remote kernels or kernels without a process)."""
        try:
            kernel = self.kernel_manager.get_kernel(kernel_id)
        except KeyError:
            raise tornado.web.HTTPError(404, f"no running kernel with id {kernel_id!r}") from None
        process = getattr(getattr(kernel, "provisioner", None), "process", None)
        return getattr(process, "pid", None)


_RUN = r"(?P<run_id>[^/]+)"

#: The route table: every URL of the API (below ``{base_url}jupyter-tracker/api/``) and its handler.
ROUTES: list[tuple[str, type[TrackerHandler]]] = [
    ("stores", StoresHandler),
    ("experiments", ExperimentsHandler),
    ("runs", RunsHandler),
    (f"runs/{_RUN}", RunHandler),
    (f"runs/{_RUN}/metrics/(?P<key>.+)", MetricHandler),
    (f"runs/{_RUN}/artifacts/(?P<path>.+)", ArtifactHandler),
    (f"runs/{_RUN}/snapshot", SnapshotHandler),
    (f"runs/{_RUN}/restore", RestoreHandler),
    (f"runs/{_RUN}/tags/(?P<key>.+)", TagHandler),
    ("active", ActiveRunHandler),
    ("models", ModelsHandler),
]


def setup_handlers(web_app: tornado.web.Application) -> None:
    """Register the REST API (``ROUTES``) under ``{base_url}jupyter-tracker/api/``."""
    base = url_path_join(web_app.settings["base_url"], *API_PREFIX)
    web_app.add_handlers(".*$", [(url_path_join(base, pattern) + "/?$", handler) for pattern, handler in ROUTES])
