"""The lab sidebar's server serves only what is under its root: a store in the folder above the
server's root (with a finished run holding a param, metric, tag, artifact and registered model,
and, for the active-run route, a run still RUNNING in a real kernel of <root>/train.ipynb) is
never listed, read, changed or deleted, whatever ``dir`` a request gives, through every route.

The cases come from the route table itself (``handlers.ROUTES`` and the HTTP methods each
handler implements), so a new route or method without a case here fails this test.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.server import handlers
from jupyter_tracker.store import get_store

API = ("jupyter-tracker", "api")
METHODS = ("get", "post", "put", "patch", "delete")
SECRET = "outside-secret-content"


def route_methods() -> list[tuple[str, str]]:
    """(route pattern, HTTP method) for every method every handler of the route table implements."""
    return [(pattern, method) for pattern, handler in handlers.ROUTES for method in METHODS
            if method in vars(handler)]


class Outside:
    """The store in ``root_dir``'s parent, and what is in it."""

    def __init__(self, root: Path, store_dir: Path, run_id: str) -> None:
        self.root, self.store_dir, self.run_id = root, store_dir, run_id

    def state(self) -> dict:
        """Everything a request could change, as the Python API reads it."""
        store = get_store(self.store_dir)
        visible = sorted(jt.search_runs(store=store).run_id)
        records = {run_id: jt.get_run(run_id, store=store) for run_id in visible}
        return {"every run": sorted(jt.search_runs(store=store, include_deleted=True).run_id), "visible": visible,
                "runs": {run_id: (r.run_name, r.status, r.tags, r.params, r.metrics, [a.path for a in r.artifacts])
                         for run_id, r in records.items()}}


@pytest.fixture
def outside(jp_root_dir: Path, tmp_path: Path, monkeypatch) -> Outside:
    monkeypatch.delenv("JUPYTER_TRACKER_DIR", raising=False)
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    assert jp_root_dir.parent == tmp_path
    store_dir = tmp_path / ".jupyter_tracker"
    (jp_root_dir / "train.ipynb").write_text("{}")
    (tmp_path / "secret.txt").write_text(SECRET)
    jt.set_store(store_dir)
    try:
        with jt.start_run("outside-run", experiment="outside-experiment", tags={"owner": "someone-else"}) as run:
            run.log_param("lr", 0.1)
            run.log_metric("acc", 0.5)
            run.log_artifact(tmp_path / "secret.txt", "notes")
            frame = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
            jt.log_model(LinearRegression().fit(frame, frame.x), "model")
        jt.register_model(f"runs:/{run.run_id}/model", "outside-model")
    finally:
        config.set_store_override(None)
    return Outside(jp_root_dir, store_dir, run.run_id)


@contextlib.asynccontextmanager
async def running_in_a_kernel(jp_fetch, outside: Outside):
    """A real kernel of <root>/train.ipynb with a RUNNING run in the outside store; its kernel id."""
    from jupyter_server.serverapp import ServerApp

    session = json.loads((await jp_fetch("api", "sessions", method="POST", body=json.dumps(
        {"path": "train.ipynb", "type": "notebook", "kernel": {"name": "python3"}}))).body)
    kernel = ServerApp.instance().kernel_manager.get_kernel(session["kernel"]["id"]).client()
    kernel.start_channels()
    try:
        await kernel.wait_for_ready(timeout=60)
        reply = await kernel.execute_interactive(
            f"import jupyter_tracker as jt\njt.set_store({str(outside.store_dir)!r})\n"
            f"run = jt.start_run('outside-live', experiment='outside-experiment')", timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        yield session["kernel"]["id"]
    finally:
        kernel.stop_channels()
        await jp_fetch("api", "sessions", session["id"], method="DELETE")


def request_for(pattern: str, method: str, outside: Outside, kernel_id: str | None) -> tuple[tuple[str, ...], dict,
                                                                                           str | None]:
    """URL parts, query parameters and body of one request that would read or change the outside run."""
    run_id = outside.run_id
    cases = {
        ("stores", "get"): (("stores",), {}, None),
        ("experiments", "get"): (("experiments",), {}, None),
        ("runs", "get"): (("runs",), {"filter": "metrics.acc > 0"}, None),
        ("runs/{run}", "get"): (("runs", run_id), {}, None),
        ("runs/{run}", "patch"): (("runs", run_id), {}, json.dumps({"run_name": "renamed-by-the-server"})),
        ("runs/{run}", "delete"): (("runs", run_id), {"confirm": run_id}, None),
        ("runs", "delete"): (("runs",), {"confirm": "1"}, json.dumps({"run_ids": [run_id]})),
        ("runs/{run}/metrics/(?P<key>.+)", "get"): (("runs", run_id, "metrics", "acc"), {}, None),
        ("runs/{run}/artifacts/(?P<path>.+)", "get"): (("runs", run_id, "artifacts", "notes", "secret.txt"), {},
                                                      None),
        ("runs/{run}/snapshot", "get"): (("runs", run_id, "snapshot"), {}, None),
        ("runs/{run}/restore", "post"): (("runs", run_id, "restore"), {}, json.dumps({"kind": "executed"})),
        ("runs/{run}/tags/(?P<key>.+)", "put"): (("runs", run_id, "tags", "owner"), {},
                                                 json.dumps({"value": "changed-by-the-server"})),
        ("runs/{run}/tags/(?P<key>.+)", "delete"): (("runs", run_id, "tags", "owner"), {}, None),
        ("active", "get"): (("active",), {"path": "train.ipynb", "kernel_id": kernel_id}, None),
        ("models", "get"): (("models",), {}, None),
    }
    key = (pattern.replace(handlers._RUN, "{run}"), method)
    assert key in cases, f"route {pattern!r} {method.upper()} has no containment case: add one to request_for"
    return cases[key]


def dir_values(outside: Outside) -> list[tuple[str, str]]:
    """(what it is, dir) for every way a request's dir could lead out of the root, a folder link included."""
    (outside.root / "projects").mkdir(exist_ok=True)
    (outside.root / "up").symlink_to(outside.root.parent, target_is_directory=True)
    return [("empty", ""), ("a missing folder", "no/such/folder"), ("dot-dot", ".."),
            ("dot-dot inside a path", "projects/../.."), ("absolute path", str(outside.root.parent)),
            ("a folder linked out of the root", "up"), ("a path through that link", "up/no-such-folder")]


async def answer(jp_fetch, parts, params, body, method) -> tuple[int, str]:
    try:
        response = await jp_fetch(*API, *parts, params=params, method=method.upper(), body=body,
                                  allow_nonstandard_methods=True)
    except HTTPClientError as error:
        return error.code, error.response.body.decode()
    return response.code, response.body.decode()


def assert_not_served(code: int, text: str, outside: Outside, what: str, asked_for_the_run: bool) -> None:
    """The answer is a refusal, a "no such run" or an empty listing, naming nothing of the outside
    store (a "no run with id ..." may repeat the id the request gave, nothing else)."""
    secrets = ["outside-run", "outside-live", "outside-experiment", "outside-model", SECRET, str(outside.store_dir)]
    for leaked in secrets + ([] if asked_for_the_run else [outside.run_id[:8]]):
        assert leaked not in text, f"{what}: the answer {code} shows {leaked!r}: {text[:300]}"
    if code >= 400:
        error = json.loads(text)
        assert error["error"] in ("PathOutsideRootError", "RunNotFoundError"), f"{what}: {code} {text[:300]}"
        assert error["message"]
        assert code == (400 if error["error"] == "PathOutsideRootError" else 404), what
    else:
        listing = json.loads(text)
        assert listing in ({"experiments": []}, {"runs": [], "total": 0, "running": 0}, {"run": None},
                           {"models": []}) or listing.get("exists") is False, f"{what}: {text[:300]}"


@pytest.mark.parametrize("pattern, method", route_methods())
async def test_no_route_serves_a_store_outside_the_root(jp_fetch, outside, pattern, method):
    async with contextlib.AsyncExitStack() as stack:
        kernel_id = await stack.enter_async_context(running_in_a_kernel(jp_fetch, outside)) \
            if pattern == "active" else None
        await check_every_way_out(jp_fetch, outside, pattern, method, kernel_id)


async def check_every_way_out(jp_fetch, outside: Outside, pattern: str, method: str, kernel_id: str | None) -> None:
    before = outside.state()
    parts, params, body = request_for(pattern, method, outside, kernel_id)
    for what, folder in dir_values(outside):
        code, text = await answer(jp_fetch, parts, {**params, "dir": folder}, body, method)
        assert_not_served(code, text, outside, f"{method.upper()} {'/'.join(parts)} with dir={folder!r} ({what})",
                          asked_for_the_run=outside.run_id in parts or outside.run_id in (body or ""))
    # A store link inside the root that leads to the outside store is refused, from the root or below.
    (outside.root / ".jupyter_tracker").symlink_to(outside.store_dir, target_is_directory=True)
    for folder in ("", "projects", "no/such/folder"):
        code, text = await answer(jp_fetch, parts, {**params, "dir": folder}, body, method)
        what = f"{method.upper()} {'/'.join(parts)} with dir={folder!r} and <root>/.jupyter_tracker linked out"
        assert code == 400 and json.loads(text)["error"] == "PathOutsideRootError", f"{what}: {code} {text[:300]}"
        assert SECRET not in text and "outside-run" not in text
    assert outside.state() == before
    assert sorted(p.name for p in outside.root.iterdir()) == [".jupyter_tracker", "projects", "train.ipynb", "up"]


async def test_a_store_inside_the_root_is_found_from_below_but_not_through_a_link_out(jp_fetch, outside):
    """The bound stops discovery at the root, not before it: <root>/.jupyter_tracker serves
    <root>/deep/er (also missing folders and links that stay inside the root). But when one of
    that store's journals, or its objects folder, is a link out of the root, it is refused."""
    jt.set_store(outside.root / ".jupyter_tracker")
    try:
        with jt.start_run("inside-run", experiment="inside") as run:
            run.log_metric("acc", 0.9)
    finally:
        config.set_store_override(None)
    (outside.root / "deep" / "er").mkdir(parents=True)
    (outside.root / "shortcut").symlink_to(outside.root / "deep", target_is_directory=True)
    for folder in ("", "deep/er", "deep/er/missing", "shortcut/er"):
        response = await jp_fetch(*API, "runs", params={"dir": folder})
        assert [r["run_name"] for r in json.loads(response.body)["runs"]] == ["inside-run"], folder
    response = await jp_fetch(*API, "stores", params={"dir": "deep"})
    assert json.loads(response.body)["store_relative"] == ".jupyter_tracker"

    # A journal linked to a file outside the root would be merged into the store: refused.
    journal = outside.root / ".jupyter_tracker" / "journal" / "elsewhere.events"
    journal.symlink_to(outside.root.parent / "secret.txt")
    code, text = await answer(jp_fetch, ("runs",), {"dir": "deep/er"}, None, "get")
    assert code == 400 and json.loads(text)["error"] == "PathOutsideRootError"
    assert ".jupyter_tracker/journal/elsewhere.events" in json.loads(text)["message"]
    journal.unlink()

    objects = outside.root / ".jupyter_tracker" / "objects"
    if objects.exists():
        os.rename(objects, outside.root / "objects-moved-away")
    objects.symlink_to(outside.store_dir / "objects", target_is_directory=True)
    code, text = await answer(jp_fetch, ("runs",), {"dir": "deep/er"}, None, "get")
    assert code == 400 and json.loads(text)["error"] == "PathOutsideRootError"
    assert ".jupyter_tracker/objects" in json.loads(text)["message"]
