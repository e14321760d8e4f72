"""``jt.runs(...)``: the interactive run table (an anywidget: no front-end extension to install).

Python keeps the whole ``search_runs`` result and sends one page of rows at a time, so 10,000 runs
× 50 columns cost the browser a hundred rows. Sorting, filtering (the ``search_runs`` filter
language, errors shown inline), paging, the column chooser and collapsed groups are requests the
front end makes by setting traits; ``selected`` (the checked run ids) is an observable trait, so a
comparison next to the table can follow it. While any listed run is RUNNING the table refreshes
itself every ``refresh_interval`` seconds, from a background thread (and so while team sync is still
sending any of them, so their sync badges follow).
"""

from __future__ import annotations

import threading
from pathlib import Path

import anywidget
import traitlets

from ..errors import TrackerError
from . import colors, data, static
from ._display import with_static_html

_HERE = Path(__file__).parent


class RunTable(anywidget.AnyWidget):
    """The run table. ``table.selected`` is the list of checked run ids (observe it with
    ``table.observe(callback, "selected")``); ``table.frame`` the DataFrame behind it."""

    _esm = (_HERE / "table.js").read_text(encoding="utf-8")
    _css = (_HERE / "table.css").read_text(encoding="utf-8")

    columns = traitlets.List().tag(sync=True)
    all_columns = traitlets.List().tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    running = traitlets.Int(0).tag(sync=True)
    offset = traitlets.Int(0).tag(sync=True)
    limit = traitlets.Int(100).tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)
    descending = traitlets.Bool(True).tag(sync=True)
    filter = traitlets.Unicode("").tag(sync=True)
    filter_error = traitlets.Unicode("").tag(sync=True)
    hidden = traitlets.List(traitlets.Unicode()).tag(sync=True)
    collapsed = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(self, experiment=None, filter: str | None = None, order_by=None, *, max_results: int = 100_000,
                 page_size: int = 100, refresh_interval: float = 2.0, summaries: list[str] | None = None,
                 store=None) -> None:
        super().__init__(limit=page_size, filter=filter or "")
        self.experiment = experiment
        self.order_by = order_by
        self.summaries = summaries
        self.max_results = max_results
        self.refresh_interval = refresh_interval
        self.store = store
        self.frame = None
        #: runs of the page team sync is still sending: their badges refresh like a RUNNING run's
        self.syncing = 0
        self._lock = threading.RLock()
        self._refresher: threading.Thread | None = None
        self._closed = threading.Event()
        self._load(self.filter, raise_errors=True)
        self.observe(self._on_filter, "filter")
        self.observe(self._on_view, ["offset", "sort_by", "descending", "hidden", "limit"])

    # -- data ----------------------------------------------------------------------------------
    def _load(self, filter_text: str, raise_errors: bool = False) -> None:
        from .. import query

        try:
            # A filter typed into the box shows its mistakes inline; the unknown-key warning is for calls.
            frame = query.search_runs(self.experiment, filter_text or None, self.order_by, self.max_results,
                                      summaries=self.summaries, warn_unknown_keys=raise_errors, store=self.store)
        except TrackerError as error:
            if raise_errors:
                raise
            self.filter_error = str(error)
            return
        with self._lock:
            self.frame = frame
            self.filter_error = ""
            self._draw()

    def _draw(self) -> None:
        page = data.table_page(self.frame, sort_by=self.sort_by or None, descending=self.descending,
                               offset=self.offset, limit=self.limit, hidden=set(self.hidden))
        all_columns = [vars(c) for c in data.table_columns(self.frame)]
        # Everything is computed before anything is assigned: a reader of ``running`` (another
        # thread, or the browser) never sees the new count beside the previous page's rows.
        syncs = self._sync_states([row["run_id"] for row in page.rows])
        rows = [{**row, "color": colors.color_of(row["run_id"]), "sync": syncs.get(row["run_id"])}
                for row in page.rows]
        with self.hold_sync():
            if all_columns != self.all_columns:
                self.all_columns = all_columns
            self.columns = [vars(c) for c in page.columns]
            self.total = page.total
            self.rows = rows
            self.syncing = sum(1 for sync in syncs.values() if sync["state"] == "pending")
            self.running = page.running
        if page.running or self.syncing:
            self._start_refresher()

    def _sync_states(self, run_ids: list[str]) -> dict:
        """Team sync's badge per run of the page (none for runs no mirror has seen)."""
        from ..query.sync import run_sync_states

        try:
            return run_sync_states(run_ids, store=self.store)
        except TrackerError:
            return {}   # a busy store: the page shows without badges, the next refresh has them

    def refresh(self) -> None:
        """Query the store again (keeps the filter, sort, page and selection)."""
        self._load(self.filter)

    def _on_filter(self, change) -> None:
        self._load(change["new"])

    def _on_view(self, _change) -> None:
        with self._lock:
            if self.frame is not None:
                self._draw()

    # -- live refresh ----------------------------------------------------------------------------
    def _start_refresher(self) -> None:
        if self._refresher is not None and self._refresher.is_alive():
            return
        self._refresher = threading.Thread(target=self._refresh_loop, name="jupyter-tracker-table-refresh",
                                           daemon=True)
        self._refresher.start()

    def _refresh_loop(self) -> None:
        while not self._closed.wait(self.refresh_interval):
            try:
                self.refresh()
            except TrackerError:
                continue  # the store may be busy a moment; the next round retries
            if not self.running and not self.syncing:
                return

    def close(self) -> None:
        self._closed.set()
        super().close()

    # -- display ---------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return with_static_html(super()._repr_mimebundle_(**kwargs), self.static_html())

    def static_html(self) -> str:
        """The first page as a plain HTML table (what a saved notebook shows without widgets)."""
        page = data.table_page(self.frame, sort_by=self.sort_by or None, descending=self.descending,
                               offset=0, limit=self.limit, hidden=set(self.hidden))
        headers = [c.label for c in page.columns]
        rows = []
        for row in page.rows:
            cells = []
            for column in page.columns:
                value = row.get(column.key)
                if column.key == "status":
                    value = static.status_badge(value)
                elif column.key == "run_name":
                    value = static.Markup("\u00a0\u00a0" * row["depth"] + static.swatch_html(
                        colors.color_of(row["run_id"])) + static.escape(value or row["run_id"][:8]))
                cells.append(value)
            rows.append(cells)
        caption = f"{page.total} runs" + (f" (first {len(rows)})" if page.total > len(rows) else "")
        return static.html_table(headers, rows, caption=caption)

    def __repr__(self) -> str:
        return f"<RunTable {self.total} runs, {len(self.selected)} selected>"


def runs(experiment: str | list[str] | None = None, filter: str | None = None, order_by=None, *,
         max_results: int = 100_000, page_size: int = 100, refresh_interval: float = 2.0,
         summaries: list[str] | None = None, store=None) -> RunTable:
    """An interactive table of runs (displayed when it is the cell's last expression).

    Same arguments as ``jt.search_runs``; a bad ``filter`` raises here, while one typed into the
    table's filter box is shown inline. ``summaries=["min", "max", "step=10"]`` adds each metric's
    minimum, maximum and value at step 10 beside its latest value. ``table.selected`` holds the
    checked run ids.
    """
    return RunTable(experiment, filter, order_by, max_results=max_results, page_size=page_size,
                    refresh_interval=refresh_interval, summaries=summaries, store=store)
