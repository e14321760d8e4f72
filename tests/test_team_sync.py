"""Working as a team: every run reaches the team's MLflow server by itself, live and exactly once.

Real ``mlflow server`` processes on loopback (SQLite backend; one with basic auth), real writer
processes, a real ``jupyter-tracker sync`` process SIGKILLed mid-sync, a server stopped and
restarted at the same address, and a real kernel (nbclient) for ``%tracker remote`` / ``follow``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import run_notebook

import jupyter_tracker as jt
from bench.servers import REPO, free_port, mlflow_server, process_env
from jupyter_tracker.config import get_config
from jupyter_tracker.errors import ConfigError
from jupyter_tracker.sharing import sync

ADMIN, PASSWORD = "admin", "s3cret-team-pass-4711"


class TeamServer:
    """A real MLflow server with basic auth (``--app-name basic-auth``; only ADMIN/PASSWORD may write) that
    can be stopped and started again at the same address with the same database."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        self.ini = directory / "basic_auth.ini"
        directory.mkdir(parents=True, exist_ok=True)
        self.ini.write_text(
            f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{directory / 'auth.db'}\n"
            f"admin_username = {ADMIN}\nadmin_password = {PASSWORD}\n"
            f"authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            f"auth_cache_ttl_seconds = 300\n")   # one password hash check, not one per request
        self._stack: ExitStack | None = None
        self.uri = ""

    def start(self) -> str:
        self._stack = ExitStack()
        self.uri = self._stack.enter_context(mlflow_server(
            self.directory, port=self.port, app_name="basic-auth",
            extra_env={"MLFLOW_AUTH_CONFIG_PATH": str(self.ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only"}))
        return self.uri

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


@pytest.fixture(scope="module")
def team_server(tmp_path_factory):
    server = TeamServer(tmp_path_factory.mktemp("mlflow-auth"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def auth_uri(team_server) -> str:
    return team_server.uri


@pytest.fixture(autouse=True)
def team(monkeypatch):
    """MLflow's own credential variables, and no mirror or remote left over for the next test."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    yield
    sync.stop_mirror()
    config = get_config()
    config.remote_uri, config.remote_experiments, config.remote_follow = "", [], []


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _wait(condition, what: str, timeout: float = 90):
    """Poll ``condition`` until it returns something truthy (the mirror works in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def _remote_run(client, experiment: str, run_id: str, include_deleted: bool = False):
    from mlflow.entities import ViewType

    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`jt.run_id` = '{run_id}'",
                              run_view_type=ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY)
    assert len(runs) <= 1, "one local run became several MLflow runs"
    return runs[0] if runs else None


def _history(client, mlflow_run_id: str, key: str) -> list[tuple]:
    return [(m.step, m.timestamp, m.value) for m in client.get_metric_history(mlflow_run_id, key)]


def _points_on_server(client, experiment: str, run_id: str, key: str) -> int:
    remote = _remote_run(client, experiment, run_id)
    return 0 if remote is None else len(client.get_metric_history(remote.info.run_id, key))


def _state(run_id: str) -> str:
    status = jt.sync_status()
    states = dict(zip(status.run, status.state))
    return states.get(run_id, "absent")


def _store_holds_no_secret(store: Path, *secrets: str) -> None:
    for file in store.rglob("*"):
        if file.is_file():
            content = file.read_bytes()
            for secret in secrets:
                assert secret.encode() not in content, f"{secret!r} was written to {file}"


def test_a_run_is_on_the_server_while_it_trains_then_ends_there_and_local_edits_follow(store_dir, auth_uri):
    client = _client(auth_uri)
    assert "mirroring every experiment" in sync.configure_remote(auth_uri)
    run = jt.start_run(experiment="live", run_name="training")
    jt.log_param("lr", 0.01)
    jt.set_tag("team", "ml")
    for step in range(500):
        jt.log_metric("loss", 1 / (step + 1), step=step)
    _wait(lambda: _points_on_server(client, "live", run.run_id, "loss") == 500, "the first 500 points arrive")
    remote = _remote_run(client, "live", run.run_id)
    assert remote.info.status == "RUNNING" and remote.data.params == {"lr": "0.01"}
    assert remote.data.tags["team"] == "ml" and remote.info.run_name == "training"
    for step in range(500, 1200):
        jt.log_metric("loss", 1 / (step + 1), step=step)
    jt.log_metric("acc", float("nan"), step=0)
    _wait(lambda: _points_on_server(client, "live", run.run_id, "loss") == 1200, "points logged later arrive")
    assert _remote_run(client, "live", run.run_id).info.status == "RUNNING"

    jt.end_run()
    _wait(lambda: _remote_run(client, "live", run.run_id).info.status == "FINISHED", "the end reaches the server")
    _wait(lambda: _state(run.run_id) == "synced", "sync_status says synced")
    mlflow_id = remote.info.run_id
    history = _history(client, mlflow_id, "loss")
    local = jt.get_metric_history(run.run_id, "loss")
    assert sorted(history) == sorted(zip(local.step, (int(t.timestamp() * 1000) for t in local.timestamp),
                                         local.value)), "every point exactly once"
    assert len(_history(client, mlflow_id, "acc")) == 1

    from jupyter_tracker.manage import delete_run, delete_run_tag, rename_run, set_run_tag

    rename_run(run.run_id, "training-v2")
    set_run_tag(run.run_id, "verdict", "keep")
    delete_run_tag(run.run_id, "team")
    sync.current_mirror().wake()
    _wait(lambda: client.get_run(mlflow_id).info.run_name == "training-v2", "the rename reaches the server")
    _wait(lambda: "team" not in client.get_run(mlflow_id).data.tags, "the deleted tag goes")
    assert client.get_run(mlflow_id).data.tags["verdict"] == "keep"
    delete_run(run.run_id)
    _wait(lambda: client.get_run(mlflow_id).info.lifecycle_stage == "deleted", "the local delete reaches the server")
    assert len(_history(client, mlflow_id, "loss")) == 1200
    _store_holds_no_secret(store_dir, PASSWORD)


def test_wrong_credentials_fail_clearly_lose_nothing_and_resume_once_fixed(store_dir, auth_uri, monkeypatch):
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_PASSWORD") as refused:
        sync.configure_remote(auth_uri.replace("http://", f"http://{ADMIN}:{PASSWORD}@"))
    assert PASSWORD not in str(refused.value) and get_config().remote_uri == ""
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password-99")
    sync.configure_remote(auth_uri)
    with jt.start_run(experiment="creds", run_name="refused") as run:
        for step in range(300):
            jt.log_metric("loss", float(step), step=step)
    failed = _wait(lambda: (s := _state(run.run_id)).startswith("failed") and s, "a failed state")
    assert "refused the credentials" in failed and "MLFLOW_TRACKING_PASSWORD" in failed
    assert len(jt.get_metric_history(run.run_id, "loss")) == 300, "nothing lost locally"

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    sync.current_mirror().wake()
    _wait(lambda: _state(run.run_id) == "synced", "synced once the credentials are right")
    client = _client(auth_uri)
    assert len(_history(client, _remote_run(client, "creds", run.run_id).info.run_id, "loss")) == 300
    _store_holds_no_secret(store_dir, PASSWORD, "not-the-password-99")


def test_the_kernel_mirrors_with_tracker_remote_and_follows_a_teammates_experiment(store_dir, auth_uri, tmp_path):
    teammate_store = tmp_path / "teammate"
    jt.set_store(teammate_store)
    with jt.start_run(experiment="churn", run_name="teammate") as theirs:
        jt.log_metric("acc", 0.91)
    jt.push(theirs.run_id, auth_uri)
    jt.set_store(store_dir)

    cells = [
        "%load_ext jupyter_tracker\nimport time\nimport jupyter_tracker as jt",
        f"%tracker remote {auth_uri} --experiments churn",
        "%%track -e churn -n mine\nfor step in range(200):\n    jt.log_metric('acc', step / 200, step=step)",
        "for _ in range(400):\n    status = jt.sync_status()\n    if list(status.state) == ['synced']:\n        break\n"
        "    time.sleep(0.2)\nprint(status[['run_name', 'state']].to_string(index=False))",
        "%tracker follow churn",
        "churn = \"SELECT run_id, run_name, origin FROM runs WHERE experiment = 'churn'\"",
        f"for _ in range(400):\n    found = jt.sql(churn)\n"
        f"    if {theirs.run_id!r} in list(found.run_id):\n        break\n    time.sleep(0.2)\n"
        f"print(found[['run_name', 'origin']].to_string(index=False))\n"
        f"print(list(jt.sync_status().run_name))",
    ]
    env = {"MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": PASSWORD,
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    notebook = run_notebook(cells, tmp_path, store_dir, env=env, timeout=180)
    outputs = [("".join(o.get("text", "") for o in cell.outputs)) for cell in notebook.cells]
    assert f"remote: {auth_uri} (mirroring churn in the background)" in outputs[1]
    assert "mine synced" in " ".join(outputs[3].split())
    assert "following 'churn'" in outputs[4]
    pulled = outputs[6]
    assert "teammate" in pulled and "mlflow:" in pulled, "the teammate's run is here, marked by origin"
    assert "['mine']" in pulled, "a followed run is never pushed back"
    assert PASSWORD not in json.dumps(notebook), "no credential in a notebook output"
    client = _client(auth_uri)
    mine = [r for r in client.search_runs([client.get_experiment_by_name("churn").experiment_id])
            if r.info.run_name == "mine"]
    assert len(mine) == 1 and len(_history(client, mine[0].info.run_id, "acc")) == 200
    _store_holds_no_secret(store_dir, PASSWORD)


def _sync_process(store: Path, uri: str, *arguments: str, output=subprocess.PIPE):
    env = {**process_env(), "JUPYTER_TRACKER_DIR": str(store), "JUPYTER_TRACKER_REMOTE": uri,
           "MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": PASSWORD,
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    return subprocess.Popen([sys.executable, "-m", "jupyter_tracker.cli", "sync", *arguments], env=env, cwd=REPO,
                            stdout=output, stderr=subprocess.STDOUT, text=True)


def test_a_sync_process_sigkilled_mid_batch_resumes_without_duplicates(store_dir, auth_uri):
    points = 60_000
    with jt.start_run(experiment="big", run_name="long") as run:
        for step in range(points):
            jt.log_metric("loss", float(step), step=step)
    client = _client(auth_uri)
    syncing = _sync_process(store_dir, auth_uri, output=subprocess.DEVNULL)

    def part_way():
        remote = _remote_run(client, "big", run.run_id)
        latest = remote.data.metrics.get("loss", 0) if remote is not None else 0
        return 0 < latest < points - 5000

    _wait(part_way, "the sync process has sent part of the run", timeout=120)
    syncing.send_signal(signal.SIGKILL)
    syncing.wait()
    with jt.current_store().session() as con:
        (sent,) = con.execute("SELECT points_sent FROM internal.sync_runs WHERE run_id = ?", [run.run_id]).fetchone()
    assert sent < points, "killed before the end, as the test means"

    resumed = _sync_process(store_dir, auth_uri, "--once")
    out, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, out
    history = _history(client, _remote_run(client, "big", run.run_id).info.run_id, "loss")
    assert len(history) == points and len(set(history)) == points, "nothing lost, nothing doubled"
    status = _sync_process(store_dir, auth_uri, "--status")
    out, _ = status.communicate(timeout=60)
    assert "synced" in out and "pending" not in out and PASSWORD not in out


WRITER = textwrap.dedent("""
    import sys, time
    import jupyter_tracker as jt
    from jupyter_tracker.sharing.sync import start_mirror

    start_mirror()
    with jt.start_run(experiment="fleet", run_name=f"writer-{sys.argv[1]}"):
        for step in range(1500):
            jt.log_metric("loss", 1.0 / (step + 1), step=step)
            if step % 50 == 0:
                time.sleep(float(sys.argv[2]))   # 30 pauses: the writers outlive the server's outage
""")

OUTAGE_S = 60


def test_four_writers_and_a_server_restart_send_everything_exactly_once(store_dir, team_server):
    uri = team_server.uri
    env = {**process_env(), "JUPYTER_TRACKER_DIR": str(store_dir), "JUPYTER_TRACKER_REMOTE": uri,
           "MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": PASSWORD, "MLFLOW_DISABLE_TELEMETRY": "true"}
    # The writers outlive the outage by more than the mirror's longest backoff (60 s) after the restart.
    pause = (OUTAGE_S + 100) / 30
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(n), str(pause)], env=env, cwd=REPO)
               for n in range(4)]
    client = _client(uri)

    def points_on_server() -> int:
        experiment = client.get_experiment_by_name("fleet")
        if experiment is None:
            return 0
        return sum(len(client.get_metric_history(r.info.run_id, "loss"))
                   for r in client.search_runs([experiment.experiment_id]))

    try:
        _wait(points_on_server, "the writers' points are on the server while they log")
        team_server.stop()          # the writers keep logging; their mirrors back off
        time.sleep(OUTAGE_S)
        assert team_server.start() == uri, "back at the same address, with the same database"
        assert all(writer.poll() is None for writer in writers), "the writers log through the outage"
        before = points_on_server()
        _wait(lambda: points_on_server() > before, "the mirrors resume by themselves once the server is back",
              timeout=90)
        for writer in writers:
            assert writer.wait(timeout=240) == 0
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
    report = sync.sync_once(uri)   # what the last writer had not sent when it exited
    assert not report.failed
    remote = client.search_runs([client.get_experiment_by_name("fleet").experiment_id])
    assert sorted(r.info.run_name for r in remote) == [f"writer-{n}" for n in range(4)]
    for mlflow_run in remote:
        history = _history(client, mlflow_run.info.run_id, "loss")
        assert len(history) == 1500 and len(set(history)) == 1500, mlflow_run.info.run_name
        assert mlflow_run.info.status == "FINISHED"
    assert set(jt.sync_status(uri).state) == {"synced"}


def test_a_teammates_run_that_is_still_training_is_followed_live_until_it_ends(store_dir, auth_uri, monkeypatch):
    from mlflow.entities import Metric

    client = _client(auth_uri)
    experiment_id = client.create_experiment("live-team")
    theirs = client.create_run(experiment_id, run_name="teammate-training").info.run_id
    client.log_batch(theirs, metrics=[Metric("loss", 1 / (s + 1), 1_700_000_000_000 + s, s) for s in range(100)])
    monkeypatch.setattr(get_config(), "follow_interval", 1.0)
    sync.configure_remote(auth_uri, experiments=["nothing-of-mine"])

    def pulled(points: int, status: str):
        found = jt.sql(f"SELECT status, origin FROM runs WHERE run_id = '{theirs}'")
        if len(found) != 1 or found.status[0] != status:
            return None
        history = jt.get_metric_history(theirs, "loss")
        return found.origin[0] if len(history) == points else None

    sync.follow("live-team")
    origin = _wait(lambda: pulled(100, "RUNNING"), "the teammate's run arrives while it trains")
    assert origin.startswith("mlflow:"), "marked as pulled"
    assert jt.sql(f"SELECT status FROM runs WHERE run_id = '{theirs}'").status[0] == "RUNNING", \
        "not marked KILLED: no process of this store owns it"

    client.log_batch(theirs, metrics=[Metric("loss", 1 / (s + 1), 1_700_000_000_000 + s, s) for s in range(100, 250)])
    _wait(lambda: pulled(250, "RUNNING"), "a later pass brings its new points")
    client.set_terminated(theirs, "FINISHED")
    _wait(lambda: pulled(250, "FINISHED"), "its end arrives")
    assert theirs not in set(jt.sync_status().run), "a followed run is never pushed back"
    assert len(client.search_runs([experiment_id])) == 1


class Doubler(jt.PythonModel):
    def predict(self, model_input):
        return [2 * x for x in model_input]


def test_a_model_version_registered_after_the_run_was_mirrored_reaches_the_server_once(store_dir, auth_uri):
    client = _client(auth_uri)
    sync.configure_remote(auth_uri, experiments=["models"])
    with jt.start_run(experiment="models", run_name="trained") as run:
        jt.log_metric("acc", 0.93)
        jt.log_model(Doubler())
    _wait(lambda: _state(run.run_id) == "synced", "the run and its end are on the server")
    assert client.search_model_versions("name = 'churn-model'") == []

    jt.register_model(f"runs:/{run.run_id}/model", "churn-model")
    jt.transition_model_version_stage("churn-model", 1, "Staging")
    jt.set_model_alias("churn-model", "candidate", 1)
    sync.current_mirror().wake()
    versions = _wait(lambda: client.search_model_versions("name = 'churn-model'"), "the new version is mirrored")
    _wait(lambda: _state(run.run_id) == "synced", "recorded as sent")
    mlflow_run_id = _remote_run(client, "models", run.run_id).info.run_id
    assert versions[0].run_id == mlflow_run_id and versions[0].tags["jt.stage"] == "Staging"
    assert client.get_model_version_by_alias("churn-model", "candidate").version == versions[0].version

    jt.register_model(f"runs:/{run.run_id}/model", "churn-model")
    sync.current_mirror().wake()
    _wait(lambda: len(client.search_model_versions("name = 'churn-model'")) == 2, "a second version follows")
    _wait(lambda: _state(run.run_id) == "synced", "recorded as sent")
    sync.stop_mirror()
    sync.sync_once(auth_uri)   # a fresh mirror finds nothing left to send
    numbers = sorted(v.tags["jt.version"] for v in client.search_model_versions("name = 'churn-model'"))
    assert numbers == ["1", "2"], "each version exactly once"


@pytest.mark.skipif(not hasattr(__import__("os"), "SCHED_IDLE"), reason="Linux scheduling classes")
def test_the_mirror_process_only_takes_cpu_the_training_loop_leaves(store_dir):
    import os

    mirror = sync.start_mirror(f"http://127.0.0.1:{free_port()}")   # nobody answers there: it still runs
    try:
        _wait(lambda: mirror.running and os.sched_getscheduler(mirror.pid) == os.SCHED_IDLE,
              "the mirror process has lowered its priority", timeout=30)
        assert os.sched_getscheduler(os.getpid()) != os.SCHED_IDLE, "the kernel itself keeps its priority"
    finally:
        sync.stop_mirror()
    assert not mirror.running


TRAINING_FOR_A_WHILE = textwrap.dedent("""
    import sys, time, jupyter_tracker as jt
    with jt.start_run(run_name="training", experiment="manners") as run:
        print(run.run_id, flush=True)
        deadline = time.monotonic() + float(sys.argv[1])
        step = 0
        while time.monotonic() < deadline:
            run.log_metric("loss", 1 / (step + 1), step=step)
            step += 1
            time.sleep(0.002)
    print(step, flush=True)
""")


def test_the_mirror_steps_aside_while_a_training_loop_logs_and_still_sends_everything_once(store_dir, auth_uri,
                                                                                        monkeypatch):
    """A backlog to mirror while another process trains: the mirror rests between its requests while the
    loop logs (working at most LIVE_DUTY of the time), sends the live run's points first, goes at full
    speed once the loop has stopped, and every point of both runs reaches the server exactly once."""
    from jupyter_tracker.sharing import mirror as engine

    with jt.start_run(run_name="backlog", experiment="manners") as backlog:
        for step in range(12_000):
            jt.log_metric("loss", float(step), step=step)
    rests: list[tuple[bool, float]] = []
    resting = engine._Pacer.rest

    def rest(pacer):
        started, live = time.monotonic(), pacer.live()
        resting(pacer)
        rests.append((live, time.monotonic() - started))

    monkeypatch.setattr(engine._Pacer, "rest", rest)
    trainer = subprocess.Popen([sys.executable, "-c", TRAINING_FOR_A_WHILE, "4"], stdout=subprocess.PIPE, text=True)
    mirror = engine.Mirror(auth_uri)
    try:
        training_id = trainer.stdout.readline().strip()
        while trainer.poll() is None:
            mirror.run_pass()
        logged = int(trainer.stdout.readline())
        assert trainer.wait() == 0
        while_training = len(rests)
        mirror.run_until_caught_up()
    finally:
        mirror.close()
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
        trainer.stdout.close()
    live_rests = [waited for live, waited in rests[:while_training] if live]
    assert live_rests and max(live_rests) > 0.001, f"the mirror never stepped aside while the loop logged: {rests}"
    assert all(waited < 0.05 for live, waited in rests[while_training:] if not live), "it rested with no loop"
    client = _client(auth_uri)
    assert _points_on_server(client, "manners", backlog.run_id, "loss") == 12_000
    assert _points_on_server(client, "manners", training_id, "loss") == logged
    status = jt.sync_status(auth_uri)
    assert dict(zip(status.run, status.state)) == {backlog.run_id: "synced", training_id: "synced"}
