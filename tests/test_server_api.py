"""The lab sidebar's REST API: a real jupyter_server (pytest-jupyter) serving a store that a
notebook folder under the server's root holds, found the way a kernel in that folder finds it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import run_notebook
from tornado.httpclient import HTTPClientError

import jupyter_tracker as jt
from bench.servers import free_port, wait_until_answers
from jupyter_tracker import config, registry
from jupyter_tracker.store import get_store

API = ("jupyter-tracker", "api")


@pytest.fixture
def project(jp_root_dir: Path, monkeypatch) -> Path:
    """``<root>/mnist`` with a store ``mnist/.jupyter_tracker`` holding three finished runs of
    experiment "mnist" and one of "cifar". The server process has no JUPYTER_TRACKER_DIR, so it
    must discover the store from the folder."""
    monkeypatch.delenv("JUPYTER_TRACKER_DIR", raising=False)
    folder = jp_root_dir / "mnist"
    folder.mkdir()
    jt.set_store(folder / ".jupyter_tracker")
    try:
        for index, lr in enumerate((0.1, 0.01, 0.001)):
            with jt.start_run(f"lr-{lr}", experiment="mnist", tags={"team": "vision"}) as run:
                run.log_param("lr", lr)
                for step in range(5):
                    run.log_metric("loss", 1.0 / (step + 1) + index, step=step)
                run.log_metric("acc", 0.7 + 0.1 * index)
            time.sleep(0.002)  # distinct start times, so "newest first" is well defined
        with jt.start_run("resnet", experiment="cifar") as run:
            run.log_metric("acc", 0.5)
    finally:
        config.set_store_override(None)
    return folder


def store_of(folder: Path):
    return get_store(folder / ".jupyter_tracker")


async def get_json(jp_fetch, *parts, **params):
    response = await jp_fetch(*API, *parts, params=params)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def error_of(jp_fetch, *parts, method="GET", body=None, **params) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*API, *parts, params=params, method=method, body=body,
                       allow_nonstandard_methods=True)
    return caught.value.code, json.loads(caught.value.response.body)


# -- reading ----------------------------------------------------------------------------------------
async def test_a_folder_without_a_store_lists_nothing_and_creates_nothing(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.delenv("JUPYTER_TRACKER_DIR", raising=False)
    (jp_root_dir / "empty").mkdir()
    before = sorted(p.name for p in jp_root_dir.rglob("*"))
    assert await get_json(jp_fetch, "stores", dir="empty") == {
        "store": str((jp_root_dir / "empty" / ".jupyter_tracker").resolve()),
        "store_relative": "empty/.jupyter_tracker", "exists": False}
    assert await get_json(jp_fetch, "experiments", dir="empty") == {"experiments": []}
    assert await get_json(jp_fetch, "runs", dir="empty") == {"runs": [], "total": 0, "running": 0}
    assert await get_json(jp_fetch, "active", dir="empty") == {"run": None}
    code, error = await error_of(jp_fetch, "runs", "abcd1234", dir="empty")
    assert code == 404 and error["error"] == "RunNotFoundError"
    assert sorted(p.name for p in jp_root_dir.rglob("*")) == before


async def test_the_store_is_found_from_the_notebook_folder_like_a_kernel_would(jp_fetch, project, jp_root_dir):
    (project / "notebooks" / "deep").mkdir(parents=True)
    info = await get_json(jp_fetch, "stores", dir="mnist/notebooks/deep")
    assert info == {"store": str((project / ".jupyter_tracker").resolve()),
                    "store_relative": "mnist/.jupyter_tracker", "exists": True}
    names = [r["run_name"] for r in (await get_json(jp_fetch, "runs", dir="mnist/notebooks/deep"))["runs"]]
    assert names == ["resnet", "lr-0.001", "lr-0.01", "lr-0.1"]
    # The root folder has no store of its own above it.
    assert (await get_json(jp_fetch, "stores"))["exists"] is False


async def test_experiments_have_run_counts(jp_fetch, project):
    listing = await get_json(jp_fetch, "experiments", dir="mnist")
    by_name = {e["name"]: e for e in listing["experiments"]}
    assert set(by_name) == {"mnist", "cifar"}
    assert by_name["mnist"]["run_count"] == 3 and by_name["mnist"]["running_count"] == 0
    assert by_name["cifar"]["run_count"] == 1
    newest = jt.get_run(jt.search_runs("cifar", store=store_of(project)).run_id.item(), store=store_of(project))
    assert by_name["cifar"]["last_start_time"] == round(newest.start_time.timestamp() * 1000)
    assert listing["experiments"][0]["name"] == "cifar"          # newest activity first


async def test_runs_filter_order_and_page(jp_fetch, project):
    page = await get_json(jp_fetch, "runs", dir="mnist", experiment="mnist", order_by="metrics.acc DESC", limit="2")
    assert page["total"] == 3 and page["running"] == 0
    assert [r["run_name"] for r in page["runs"]] == ["lr-0.001", "lr-0.01"]
    first = page["runs"][0]
    assert first["params"] == {"lr": "0.001"} and first["tags"] == {"team": "vision"}
    assert first["metrics"] == {"acc": pytest.approx(0.9), "loss": pytest.approx(2.2)}
    assert first["metrics_nonfinite"] == {}
    assert first["status"] == "FINISHED" and first["experiment"] == "mnist" and first["parent_run_id"] is None
    assert isinstance(first["start_time"], int) and first["end_time"] >= first["start_time"]
    assert abs(first["start_time"] / 1000 - time.time()) < 600 and first["duration_s"] >= 0
    rest = await get_json(jp_fetch, "runs", dir="mnist", experiment="mnist", order_by="metrics.acc DESC",
                          limit="2", offset="2")
    assert [r["run_name"] for r in rest["runs"]] == ["lr-0.1"] and rest["total"] == 3
    filtered = await get_json(jp_fetch, "runs", dir="mnist", filter="params.lr = '0.01' or metrics.acc < 0.6")
    assert sorted(r["run_name"] for r in filtered["runs"]) == ["lr-0.01", "resnet"] and filtered["total"] == 2


async def test_the_sidebar_filters_and_orders_by_a_metric_summary(jp_fetch, project):
    """Each run's loss falls from 1 + index to 0.2 + index: its max is the first point, its min the last."""
    page = await get_json(jp_fetch, "runs", dir="mnist", filter="metrics.loss.max >= 2",
                          order_by="metrics.loss.min ASC")
    assert [r["run_name"] for r in page["runs"]] == ["lr-0.01", "lr-0.001"] and page["total"] == 2
    at_step = await get_json(jp_fetch, "runs", dir="mnist", filter="metrics.loss@step=1 < 1")
    assert [r["run_name"] for r in at_step["runs"]] == ["lr-0.1"]
    # A key no run has selects nothing (the server does not warn: the sidebar shows the empty result).
    assert (await get_json(jp_fetch, "runs", dir="mnist", filter="metrics.nosuch.min < 1"))["total"] == 0


async def test_a_bad_filter_or_unknown_experiment_is_explained(jp_fetch, project):
    code, error = await error_of(jp_fetch, "runs", dir="mnist", filter="metrics.acc >>> 1")
    assert code == 400 and error["error"] == "InvalidFilterError" and "metrics.acc" in error["message"]
    code, error = await error_of(jp_fetch, "runs", dir="mnist", experiment="imagenet")
    assert code == 404 and "imagenet" in error["message"] and "mnist" in error["message"]
    code, error = await error_of(jp_fetch, "runs", dir="mnist", limit="lots")
    assert code == 400 and "limit" in error["message"]


async def test_unknown_run_is_404_json(jp_fetch, project):
    code, error = await error_of(jp_fetch, "runs", "ffffffffffff", dir="mnist")
    assert code == 404
    assert error["error"] == "RunNotFoundError" and "ffffffffffff" in error["message"]


async def test_run_details(jp_fetch, project, tmp_path):
    store = jt.set_store(project / ".jupyter_tracker")
    try:
        with jt.start_run("with-files", experiment="mnist") as parent:
            (tmp_path / "report.txt").write_text("accuracy 0.93\n")
            parent.log_artifact(tmp_path / "report.txt", "reports")
            print("hello from the run")  # not captured outside %%track, console stays ""
            with jt.start_run("child", nested=True) as child:
                child.log_metric("acc", 0.93)
    finally:
        config.set_store_override(None)
    details = await get_json(jp_fetch, "runs", parent.run_id[:10], dir="mnist")
    assert details["run_id"] == parent.run_id and details["run_name"] == "with-files"
    assert details["artifacts"] == [{"path": "reports/report.txt", "size": 14, "media_type": "text/plain"}]
    assert details["children"] == [child.run_id] and details["metric_keys"] == []
    assert details["pid"] == os.getpid() and details["user"] and details["host"]
    assert details["source"]["kind"] is not None and set(details["source"]) >= {
        "kind", "code", "cell_id", "execution_count", "notebook_path", "script_path"}
    assert details["has_snapshot"] is False and details["error"] is None and details["console"] == ""
    child_details = await get_json(jp_fetch, "runs", child.run_id, dir="mnist")
    assert child_details["parent_run_id"] == parent.run_id and child_details["metric_keys"] == ["acc"]
    assert store.db_path.is_file()


async def test_metric_history_is_downsampled_keeping_the_extremes(jp_fetch, project):
    jt.set_store(project / ".jupyter_tracker")
    try:
        with jt.start_run("long", experiment="mnist") as run:
            for step in range(5000):
                value = math.sin(step / 100)
                if step == 1234:
                    value = -50.0        # a spike a naive every-n-th sampling would drop
                if step == 4321:
                    value = 75.0
                run.log_metric("loss", value, step=step)
    finally:
        config.set_store_override(None)
    history = await get_json(jp_fetch, "runs", run.run_id, "metrics", "loss", dir="mnist", max_points="200")
    assert history["key"] == "loss" and history["total_points"] == 5000 and history["downsampled"] is True
    assert 100 <= len(history["values"]) <= 204
    assert len(history["steps"]) == len(history["values"]) == len(history["timestamps"])
    assert min(history["values"]) == -50.0 and max(history["values"]) == 75.0
    assert history["steps"][0] == 0 and history["steps"][-1] == 4999 and history["steps"] == sorted(history["steps"])
    full = await get_json(jp_fetch, "runs", run.run_id, "metrics", "loss", dir="mnist", max_points="10000")
    assert full["downsampled"] is False and len(full["values"]) == 5000
    code, error = await error_of(jp_fetch, "runs", run.run_id, "metrics", "accuracy", dir="mnist")
    assert code == 404 and error["error"] == "MetricNotFoundError" and "loss" in error["message"]


async def test_nan_and_infinite_metrics_are_valid_json(jp_fetch, project):
    jt.set_store(project / ".jupyter_tracker")
    try:
        with jt.start_run("diverged", experiment="mnist") as run:
            run.log_metric("loss", 1.0, step=0)
            run.log_metric("loss", float("nan"), step=1)
            run.log_metric("grad", float("inf"))
    finally:
        config.set_store_override(None)
    for response_parts in (("runs",), ("runs", run.run_id), ("runs", run.run_id, "metrics", "loss")):
        response = await jp_fetch(*API, *response_parts, params={"dir": "mnist"})
        text = response.body.decode()
        assert "NaN" not in text.replace('"NaN"', "") and "Infinity" not in text.replace('"Infinity"', "")
        json.loads(text, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    details = await get_json(jp_fetch, "runs", run.run_id, dir="mnist")
    assert details["metrics"] == {"loss": None, "grad": None}
    assert details["metrics_nonfinite"] == {"loss": "NaN", "grad": "Infinity"}
    history = await get_json(jp_fetch, "runs", run.run_id, "metrics", "loss", dir="mnist")
    assert history["values"] == [1.0, None] and history["nonfinite"] == {"1": "NaN"}


# -- artifacts --------------------------------------------------------------------------------------
@pytest.fixture
def run_with_artifacts(project, tmp_path) -> jt.Run:
    jt.set_store(project / ".jupyter_tracker")
    try:
        with jt.start_run("plots", experiment="mnist") as run:
            run.log_text("epoch,loss\n0,1.0\n", "tables/loss.csv")
            png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
            (tmp_path / "curve.png").write_bytes(png)
            run.log_artifact(tmp_path / "curve.png", "plots")
    finally:
        config.set_store_override(None)
    return run


async def test_artifact_bytes_and_content_type(jp_fetch, run_with_artifacts, tmp_path):
    run = run_with_artifacts
    response = await jp_fetch(*API, "runs", run.run_id, "artifacts", "plots", "curve.png", params={"dir": "mnist"})
    assert response.body == (tmp_path / "curve.png").read_bytes()
    assert response.headers["Content-Type"] == "image/png"
    assert "Content-Disposition" not in response.headers
    download = await jp_fetch(*API, "runs", run.run_id, "artifacts", "tables", "loss.csv",
                              params={"dir": "mnist", "download": "1"})
    assert download.body == b"epoch,loss\n0,1.0\n"
    assert download.headers["Content-Disposition"] == 'attachment; filename="loss.csv"'
    code, error = await error_of(jp_fetch, "runs", run.run_id, "artifacts", "plots", "missing.png", dir="mnist")
    assert code == 404 and "plots/curve.png" in error["message"]


async def test_artifact_paths_cannot_escape_the_store(jp_serverapp, http_server_client, jp_auth_header,
                                                      jp_base_url, run_with_artifacts, monkeypatch):
    opened = []
    real_open = open

    def watching_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", watching_open)
    prefix = f"{jp_base_url}jupyter-tracker/api/runs/{run_with_artifacts.run_id}/artifacts/"
    for attack in ("..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "plots%2F..%2F..%2Fcurve.png",
                   "..%5C..%5Cetc%5Cpasswd"):
        with pytest.raises(HTTPClientError) as caught:
            await http_server_client.fetch(f"{prefix}{attack}?dir=mnist", headers=jp_auth_header)
        assert caught.value.code in (400, 404), attack
        assert b"root:" not in caught.value.response.body
    assert not [path for path in opened if "passwd" in path]


# -- snapshots and restore (a real kernel runs %%track) ---------------------------------------------
@pytest.fixture
def tracked_notebook(project) -> Path:
    """mnist/train.ipynb executed in a real kernel (before the test's event loop runs), with one
    %%track cell; its kernel finds mnist/.jupyter_tracker like the server does."""
    cells = ["%load_ext jupyter_tracker", "%%track -n snap\nx = 41\nprint(x + 1)"]
    run_notebook(cells, project, project / ".jupyter_tracker", name="train.ipynb")
    return project / "train.ipynb"


async def test_snapshot_and_restore_never_overwrite(jp_fetch, project, tracked_notebook):
    run_id = next(r["run_id"] for r in (await get_json(jp_fetch, "runs", dir="mnist"))["runs"]
                  if r["run_name"] == "snap")
    details = await get_json(jp_fetch, "runs", run_id, dir="mnist")
    assert details["has_snapshot"] is True and "42" in details["console"]
    assert details["source"]["notebook_path"] == str(tracked_notebook.resolve())

    response = await jp_fetch(*API, "runs", run_id, "snapshot", params={"dir": "mnist", "kind": "executed"})
    notebook = nbformat.reads(response.body.decode(), as_version=4)
    nbformat.validate(notebook)
    assert "x = 41" in notebook.cells[-1].source
    assert notebook.metadata["jupyter_tracker"]["run_id"] == run_id

    restore = dict(method="POST", body=json.dumps({"kind": "executed"}))
    first = json.loads((await jp_fetch(*API, "runs", run_id, "restore", params={"dir": "mnist"}, **restore)).body)
    assert first == {"path": f"mnist/train-{run_id[:8]}.ipynb"}
    restored = project.parent / first["path"]
    restored.write_text(restored.read_text().replace("x = 41", "x = 41  # edited by the user"))
    second = json.loads((await jp_fetch(*API, "runs", run_id, "restore", params={"dir": "mnist"}, **restore)).body)
    assert second == {"path": f"mnist/train-{run_id[:8]}-2.ipynb"}
    assert "edited by the user" in restored.read_text()                 # the first copy was not overwritten
    assert "x = 41" in nbformat.read(project.parent / second["path"], as_version=4).cells[-1].source

    saved = await jp_fetch(*API, "runs", run_id, "snapshot", params={"dir": "mnist", "kind": "saved"})
    assert "%%track -n snap" in nbformat.reads(saved.body.decode(), as_version=4).cells[1].source
    code, error = await error_of(jp_fetch, "runs", run_id, "snapshot", dir="mnist", kind="draft")
    assert code == 400 and "executed" in error["message"]


async def test_restore_of_a_run_without_snapshot_writes_nothing(jp_fetch, project):
    run_id = (await get_json(jp_fetch, "runs", dir="mnist", limit="1"))["runs"][0]["run_id"]
    before = sorted(project.iterdir())
    code, error = await error_of(jp_fetch, "runs", run_id, "restore", method="POST", body="{}", dir="mnist")
    assert code == 404 and error["error"] == "SnapshotNotFoundError"
    code, error = await error_of(jp_fetch, "runs", run_id, "snapshot", dir="mnist")
    assert code == 404 and error["error"] == "SnapshotNotFoundError"
    assert sorted(project.iterdir()) == before


# -- changing runs ----------------------------------------------------------------------------------
async def test_tags_can_be_set_and_deleted(jp_fetch, project):
    run_id = (await get_json(jp_fetch, "runs", dir="mnist", limit="1"))["runs"][0]["run_id"]
    response = await jp_fetch(*API, "runs", run_id, "tags", "stage", params={"dir": "mnist"}, method="PUT",
                              body=json.dumps({"value": "candidate"}))
    assert json.loads(response.body) == {"ok": True}
    assert (await get_json(jp_fetch, "runs", run_id, dir="mnist"))["tags"]["stage"] == "candidate"
    response = await jp_fetch(*API, "runs", run_id, "tags", "stage", params={"dir": "mnist"}, method="DELETE")
    assert json.loads(response.body) == {"ok": True, "existed": True}
    assert "stage" not in (await get_json(jp_fetch, "runs", run_id, dir="mnist"))["tags"]
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*API, "models", params={"dir": "mnist"}, headers={"Authorization": ""})
    assert caught.value.code == 403
    code, error = await error_of(jp_fetch, "runs", run_id, "tags", "stage", method="PUT", body='{"val": 1}',
                                 dir="mnist")
    assert code == 400 and "value" in error["message"]


async def test_rename_returns_the_updated_summary(jp_fetch, project):
    run_id = (await get_json(jp_fetch, "runs", dir="mnist", limit="1"))["runs"][0]["run_id"]
    response = await jp_fetch(*API, "runs", run_id, params={"dir": "mnist"}, method="PATCH",
                              body=json.dumps({"run_name": "resnet-50 baseline"}))
    summary = json.loads(response.body)
    assert summary["run_id"] == run_id and summary["run_name"] == "resnet-50 baseline"
    assert jt.get_run(run_id, store=store_of(project)).run_name == "resnet-50 baseline"
    code, error = await error_of(jp_fetch, "runs", run_id, method="PATCH", body=json.dumps({"run_name": "  "}),
                                 dir="mnist")
    assert code == 400 and error["error"] == "InvalidValueError"


@pytest.mark.parametrize("body", ["[1, 2]", '"candidate"', "[" * 100_000 + "]" * 100_000,
                                  json.dumps({"run_name": "caf\udce9", "value": "caf\udce9", "kind": "caf\udce9"})],
                         ids=["array", "string", "nested past the parser", "lone surrogates"])
async def test_every_route_that_takes_a_body_answers_400_to_one_that_is_not_an_object_of_text(jp_fetch, project,
                                                                                              body):
    from jupyter_tracker.server.handlers import ROUTES

    run_id = (await get_json(jp_fetch, "runs", dir="mnist", limit="1"))["runs"][0]["run_id"]
    before = await get_json(jp_fetch, "runs", run_id, dir="mnist")
    with_body = [(pattern, method) for pattern, handler in ROUTES for method in ("post", "put", "patch")
                 if method in vars(handler)]
    assert len(with_body) == 3, with_body  # rename, restore, set a tag
    for pattern, method in with_body:
        parts = pattern.replace("(?P<run_id>[^/]+)", run_id).replace("(?P<key>.+)", "stage").split("/")
        code, error = await error_of(jp_fetch, *parts, method=method.upper(), body=body, dir="mnist")
        assert code == 400, (pattern, method, error)
    assert await get_json(jp_fetch, "runs", run_id, dir="mnist") == before
    assert sorted(p.name for p in project.iterdir()) == [".jupyter_tracker"]


async def test_delete_needs_the_run_id_as_confirmation(jp_fetch, project):
    run_id = (await get_json(jp_fetch, "runs", dir="mnist", limit="1"))["runs"][0]["run_id"]
    code, error = await error_of(jp_fetch, "runs", run_id, method="DELETE", dir="mnist")
    assert code == 400 and "confirm" in error["message"] and error["error"] == "ConfirmationRequiredError"
    code, error = await error_of(jp_fetch, "runs", run_id, method="DELETE", dir="mnist", confirm="someone-else")
    assert code == 400
    assert (await get_json(jp_fetch, "runs", run_id, dir="mnist"))["run_id"] == run_id   # still there
    response = await jp_fetch(*API, "runs", run_id, params={"dir": "mnist", "confirm": run_id}, method="DELETE")
    assert json.loads(response.body) == {"deleted": run_id}
    code, _ = await error_of(jp_fetch, "runs", run_id, dir="mnist")
    assert code == 404
    assert run_id not in [r["run_id"] for r in (await get_json(jp_fetch, "runs", dir="mnist"))["runs"]]


async def test_several_runs_are_deleted_at_once_all_or_nothing(jp_fetch, project):
    runs = (await get_json(jp_fetch, "runs", dir="mnist", experiment="mnist"))["runs"]
    chosen = [r["run_id"] for r in runs[:2]]
    body = json.dumps({"run_ids": chosen})
    code, error = await error_of(jp_fetch, "runs", method="DELETE", body=body, dir="mnist", confirm="1")
    assert code == 400 and error["error"] == "ConfirmationRequiredError" and "confirm=2" in error["message"]
    code, error = await error_of(jp_fetch, "runs", method="DELETE", body=json.dumps({"run_ids": [*chosen, "feedbeef"]}),
                                 dir="mnist", confirm="3")
    assert code == 404 and "feedbeef" in error["message"]                  # one unknown id: nothing deleted
    assert len((await get_json(jp_fetch, "runs", dir="mnist", experiment="mnist"))["runs"]) == 3
    code, error = await error_of(jp_fetch, "runs", method="DELETE", body=json.dumps({"ids": chosen}), dir="mnist",
                                 confirm="2")
    assert code == 400 and '"run_ids"' in error["message"]
    response = await jp_fetch(*API, "runs", params={"dir": "mnist", "confirm": "2"}, method="DELETE", body=body,
                              allow_nonstandard_methods=True)
    deleted = json.loads(response.body)
    assert sorted(deleted.pop("deleted")) == sorted(chosen)
    assert deleted == {"nested": [], "kept_registered": [], "kept_running": []}
    left = (await get_json(jp_fetch, "runs", dir="mnist", experiment="mnist"))["runs"]
    assert [r["run_id"] for r in left] == [runs[2]["run_id"]]
    assert sorted(jt.restore_run(chosen[0], store=store_of(project))) == [chosen[0]]


# -- the running run of a kernel --------------------------------------------------------------------
async def test_active_run_of_a_kernel(jp_fetch, project):
    session = json.loads((await jp_fetch("api", "sessions", method="POST", body=json.dumps(
        {"path": "mnist/train.ipynb", "type": "notebook", "kernel": {"name": "python3"}}))).body)
    kernel_id = session["kernel"]["id"]
    kernel = session_kernel = None
    try:
        assert await get_json(jp_fetch, "active", dir="mnist", kernel_id=kernel_id) == {"run": None}
        from jupyter_server.serverapp import ServerApp

        session_kernel = ServerApp.instance().kernel_manager.get_kernel(kernel_id)
        kernel = session_kernel.client()
        kernel.start_channels()
        await kernel.wait_for_ready(timeout=60)
        reply = await kernel.execute_interactive(
            "import jupyter_tracker as jt\nrun = jt.start_run('live', experiment='mnist')", timeout=60)
        assert reply["content"]["status"] == "ok"
        active = await get_json(jp_fetch, "active", dir="mnist", kernel_id=kernel_id)
        assert active["run"]["run_name"] == "live" and active["run"]["status"] == "RUNNING"
        assert (await get_json(jp_fetch, "runs", dir="mnist"))["running"] == 1
        # Another notebook's kernel does not see it; its notebook path is no fallback either.
        assert (await get_json(jp_fetch, "active", dir="mnist", path="mnist/other.ipynb"))["run"] is None
        reply = await kernel.execute_interactive("run.end()", timeout=60)
        assert reply["content"]["status"] == "ok"
        assert await get_json(jp_fetch, "active", dir="mnist", kernel_id=kernel_id) == {"run": None}
    finally:
        if kernel is not None:
            kernel.stop_channels()
        await jp_fetch("api", "sessions", session["id"], method="DELETE")
    code, error = await error_of(jp_fetch, "active", dir="mnist", kernel_id="no-such-kernel")
    assert code == 404 and "no-such-kernel" in error["message"]


# -- paths and security -----------------------------------------------------------------------------
def _log_model_run(folder: Path, run_name: str) -> str:
    """A finished run of experiment "mnist" holding a scikit-learn model; its ``runs:/`` URI."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    jt.set_store(folder / ".jupyter_tracker")
    try:
        with jt.start_run(run_name, experiment="mnist") as run:
            jt.log_model(LinearRegression().fit(frame, frame.x * 2), "model", input_example=frame.head(2))
    finally:
        config.set_store_override(None)
    return f"runs:/{run.run_id}/model"


async def test_registered_models_are_listed_with_versions_stages_and_aliases(jp_fetch, project):
    store = store_of(project)
    first_uri, second_uri = _log_model_run(project, "forest-a"), _log_model_run(project, "forest-b")
    jt.register_model(first_uri, "churn", store=store)
    jt.register_model(second_uri, "churn", description="deeper trees", store=store)
    jt.transition_model_version_stage("churn", 2, "Production", store=store)
    jt.set_model_alias("churn", "champion", 2, store=store)
    jt.set_model_alias("churn", "baseline", 1, store=store)
    jt.register_model(first_uri, "ALS", store=store)
    registry.set_registered_model_tag("churn", "team", "growth", store=store)
    registry.create_registered_model("greeting", tags={registry.PROMPT_TAG: "true"}, store=store)  # MLflow's prompt

    listing = (await get_json(jp_fetch, "models", dir="mnist"))["models"]
    assert [m["name"] for m in listing] == ["ALS", "churn"]
    churn = listing[1]
    assert churn["tags"] == {"team": "growth"} and churn["description"] is None
    assert isinstance(churn["created_time"], int) and abs(churn["created_time"] / 1000 - time.time()) < 600
    newest, oldest = churn["versions"]
    assert (newest["version"], newest["stage"], newest["aliases"]) == (2, "Production", ["champion"])
    assert (oldest["version"], oldest["stage"], oldest["aliases"]) == (1, "None", ["baseline"])
    assert newest["run_id"] == second_uri.split("/")[1] and newest["run_name"] == "forest-b"
    assert oldest["run_name"] == "forest-a" and oldest["source"] == first_uri
    assert newest["description"] == "deeper trees" and newest["created_time"] >= oldest["created_time"]
    assert listing[0]["versions"][0]["run_id"] == oldest["run_id"]
    # The listing's run id opens that run's details.
    assert (await get_json(jp_fetch, "runs", newest["run_id"], dir="mnist"))["run_name"] == "forest-b"


async def test_a_store_without_registered_models_lists_none(jp_fetch, project, jp_root_dir, monkeypatch):
    assert await get_json(jp_fetch, "models", dir="mnist") == {"models": []}
    monkeypatch.delenv("JUPYTER_TRACKER_DIR", raising=False)
    (jp_root_dir / "empty").mkdir()
    assert await get_json(jp_fetch, "models", dir="empty") == {"models": []}
    assert not (jp_root_dir / "empty" / ".jupyter_tracker").exists()
    code, error = await error_of(jp_fetch, "models", dir="../..")
    assert code == 400 and error["error"] == "PathOutsideRootError"


async def test_dir_outside_the_root_is_refused(jp_fetch, project):
    for bad in ("../..", "mnist/../../..", "/etc", "/"):
        for endpoint in ("stores", "experiments", "runs"):
            code, error = await error_of(jp_fetch, endpoint, dir=bad)
            assert code == 400 and error["error"] == "PathOutsideRootError", (bad, endpoint)


async def test_requests_without_token_are_forbidden(jp_fetch, project):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*API, "runs", params={"dir": "mnist"}, headers={"Authorization": ""})
    assert caught.value.code == 403
    run_id = (await get_json(jp_fetch, "runs", dir="mnist", limit="1"))["runs"][0]["run_id"]
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*API, "runs", run_id, "tags", "stage", params={"dir": "mnist"}, method="PUT",
                       body=json.dumps({"value": "x"}), headers={"Authorization": ""})
    assert caught.value.code == 403
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*API, "runs", run_id, params={"dir": "mnist", "confirm": run_id}, method="DELETE",
                       headers={"Authorization": ""})
    assert caught.value.code == 403
    assert "stage" not in (await get_json(jp_fetch, "runs", run_id, dir="mnist"))["tags"]


async def test_cookie_authenticated_post_without_xsrf_is_forbidden(jp_fetch, project, jp_serverapp):
    """A browser page on another site cannot forge a restore: a cookie alone, without the
    _xsrf token, is refused like every other write of jupyter_server."""
    run_id = (await get_json(jp_fetch, "runs", dir="mnist", limit="1"))["runs"][0]["run_id"]
    login = await jp_fetch("login", params={"token": jp_serverapp.identity_provider.token},
                           headers={"Authorization": ""}, follow_redirects=False, raise_error=False)
    cookies = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie"))
    assert "username-" in cookies
    assert (await jp_fetch(*API, "stores", headers={"Authorization": "", "Cookie": cookies})).code == 200
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(*API, "runs", run_id, "restore", params={"dir": "mnist"}, method="POST", body="{}",
                       headers={"Authorization": "", "Cookie": cookies})
    assert caught.value.code == 403


# -- the extension in a real `jupyter server` process -----------------------------------------------
def test_extension_loads_in_a_jupyter_server_process(tmp_path):
    root = tmp_path / "root"
    (root / "work").mkdir(parents=True)
    env = {key: value for key, value in os.environ.items() if key != "JUPYTER_TRACKER_DIR"}
    jt.set_store(root / ".jupyter_tracker")
    try:
        with jt.start_run("from-python", experiment="demo") as run:
            run.log_metric("acc", 0.5)
    finally:
        config.set_store_override(None)
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=t0k",
             f"--ServerApp.root_dir={root}", "--ServerApp.jpserver_extensions=jupyter_tracker=True"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/jupyter-tracker/api/runs?dir=work&token=t0k"
        listing = json.loads(wait_until_answers(url, timeout=60, process=proc, output=log_path))
        assert [r["run_id"] for r in listing["runs"]] == [run.run_id] and listing["total"] == 1
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url.replace("&token=t0k", ""), timeout=5)
        assert caught.value.code == 403
        caught.value.close()  # an HTTPError holds the response's socket open
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "jupyter_tracker | extension was successfully loaded" in log_path.read_text()
