"""The team story the sharing tests start from: two notebooks tracked in real kernels.

Alice's notebook trains a sweep (extreme metric values, artifacts, nested runs, a model registered
as ``doubler`` v1 with an alias and a stage); Bob's copy of it changes the data cell, replaces a
cell with another and lowers the learning rate. Building it takes two kernels (~10 s), so it is built once
per test process and each test module gets its own copy of the store directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SETUP = "%load_ext jupyter_tracker\nimport jupyter_tracker as jt"
TRAIN = """%%track -e sharing -n {name} -t team=ml
lr = {lr}
epochs = 30
for epoch in range(epochs):
    jt.log_metric("loss", 1.0 / (epoch + 1) + lr, step=epoch)
for step, value in enumerate([1e-300, 1.7e308, float("nan"), float("inf"), -float("inf"), 5e-324]):
    jt.log_metric("extreme", value, step=step)
jt.log_text("w = 0.5", "model-notes/weights.txt")
jt.log_dict({{"lr": lr, "epochs": epochs}}, "config.json")
for depth in (2, 4):
    with jt.start_run(run_name=f"depth={{depth}}", nested=True) as child:
        child.log_param("depth", depth)
        child.log_metric("acc", 0.8 + depth / 100)

class Doubler(jt.PythonModel):
    def predict(self, model_input):
        return [2 * x for x in model_input]

jt.log_model(Doubler(), "model")
print("trained")"""
ALICE = [
    SETUP,
    "n = 100\ndata = [i % 7 for i in range(n)]",
    "print(sorted(data)[:5])",
    TRAIN.format(name="sweep", lr=0.1),
    """sweep_id = jt.search_runs(filter="attributes.run_name = 'sweep'").run_id[0]
jt.register_model(f"runs:/{sweep_id}/model", "doubler")
jt.transition_model_version_stage("doubler", 1, "Staging", comment="looks good")
jt.set_model_alias("doubler", "champion", 1)""",
]
BOB = [
    SETUP,
    "n = 200  # more data\ndata = [i % 7 for i in range(n)]",
    "import statistics\nscale = statistics.mean([1, 2, 3])",
    TRAIN.format(name="sweep-bob", lr=0.05),
]

_built: dict[str, Path] = {}


def _suite_conftest():
    """tests/conftest.py by path: under tests/ui/ the name ``conftest`` is the browser tests' one."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("suite_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def team_store(tmp_path_factory) -> Path:
    """A fresh copy of the story's store directory (built on first use in this test process)."""
    run_notebook = _suite_conftest().run_notebook
    import jupyter_tracker as jt
    from jupyter_tracker.store import get_store

    if "template" not in _built:
        root = tmp_path_factory.mktemp("team-story")
        store = root / "store"
        for name, cells in (("alice.ipynb", ALICE), ("bob.ipynb", BOB)):
            workdir = root / name.removesuffix(".ipynb")
            workdir.mkdir()
            run_notebook(cells, workdir, store, name=name, timeout=180)
        jt.search_runs(store=get_store(store))   # merges the kernels' journals into the database
        _built["template"] = store
    copy = tmp_path_factory.mktemp("team-store") / "store"
    shutil.copytree(_built["template"], copy, ignore=shutil.ignore_patterns("lock"))
    return copy


def run_ids(store: Path) -> dict[str, str]:
    """Run ids by name; nested runs as "<parent name>/<name>" (e.g. "sweep/depth=2")."""
    import jupyter_tracker as jt
    from jupyter_tracker.store import get_store

    runs = jt.search_runs(store=get_store(store))
    names = dict(zip(runs.run_id, runs.run_name))
    return {(f"{names[parent]}/{name}" if isinstance(parent, str) else name): run_id
            for run_id, name, parent in zip(runs.run_id, runs.run_name, runs.parent_run_id)}


#: The MLflow fields of the version ``with_mlflow_registry`` registers the way MLflow does.
MLFLOW_FIELDS = {"storage_location": "models:/m-0123456789abcdef0123456789abcdef", "model_id":
                 "m-0123456789abcdef0123456789abcdef", "run_link": "https://ci.example/run/7",
                 "status": "READY", "status_message": "registered by CI"}


def with_mlflow_registry(store: Path) -> Path:
    """What a team using MLflow's registry too adds to ``doubler``: a model tag, a tag on v1, a v2
    registered by MLflow from a logged model (its storage location, model id, run link, status) and
    a v3 that was deleted, so the next version is 4."""
    from jupyter_tracker import registry
    from jupyter_tracker.store import get_store

    handle = get_store(store)
    sweep = run_ids(store)["sweep"]
    registry.set_registered_model_tag("doubler", "owner", "alice", store=handle)
    registry.set_model_version_tag("doubler", 1, "validated", "yes", store=handle)
    registry.create_model_version("doubler", MLFLOW_FIELDS["storage_location"], run_id=sweep,
                                  description="logged by mlflow.pyfunc", tags={"framework": "pyfunc"},
                                  mlflow_fields=MLFLOW_FIELDS, store=handle)
    registry.register_model(f"runs:/{sweep}/model", "doubler", store=handle)
    registry.delete_model_version("doubler", 3, store=handle)
    return store
