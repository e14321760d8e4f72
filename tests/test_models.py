"""log_model / load_model: a model stored in a run comes back working, checked against its signature."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_notebook

import jupyter_tracker as jt
from jupyter_tracker.errors import (
    MissingExtraError,
    ModelNotFoundError,
    SignatureMismatchError,
    UnsupportedModelError,
    UntrustedModelError,
)
from jupyter_tracker.models import PackageVersionWarning


@pytest.fixture
def churn():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tenure": rng.uniform(0, 60, 200), "calls": rng.integers(0, 10, 200)})
    labels = ((frame.tenure < 20) & (frame.calls > 4)).astype(int)
    return frame, labels


def test_sklearn_model_round_trip_with_inferred_signature(store_dir, churn):
    from sklearn.ensemble import RandomForestClassifier

    frame, labels = churn
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, labels)
    with jt.start_run() as run:
        info = jt.log_model(model, "model", input_example=frame.head(3))
    assert info.model_uri == f"runs:/{run.run_id}/model"
    stored = {a.path for a in jt.get_run(run.run_id).artifacts}
    assert stored == {"model/MLmodel.json", "model/model.skops", "model/input_example.json", "model/requirements.txt"}

    loaded = jt.load_model(info.model_uri)
    assert loaded.flavor == "sklearn"
    assert loaded.signature.inputs.columns == [("tenure", "float64"), ("calls", "int64")]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    # Columns in another order are put in the signature's order.
    np.testing.assert_array_equal(loaded.predict(frame[["calls", "tenure"]]), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame.head(5)), model.predict_proba(frame.head(5)))
    pd.testing.assert_frame_equal(loaded.input_example, frame.head(3).reset_index(drop=True))


def test_signature_is_enforced_on_predict(store_dir, churn):
    from sklearn.linear_model import LogisticRegression

    frame, labels = churn
    with jt.start_run():
        info = jt.log_model(LogisticRegression().fit(frame, labels), "clf", input_example=frame.head(2))
    loaded = jt.load_model(info.model_uri)
    with pytest.raises(SignatureMismatchError, match="lacks column.*'calls'"):
        loaded.predict(frame[["tenure"]])
    with pytest.raises(SignatureMismatchError, match="column 'calls' has dtype float64 but .* expects int64"):
        loaded.predict(frame.assign(calls=frame.calls + 0.5))
    with pytest.raises(SignatureMismatchError, match="takes a DataFrame"):
        loaded.predict(frame.to_numpy())


def test_requirements_are_pinned_and_a_version_mismatch_warns(store_dir, churn):
    from importlib import metadata

    from sklearn.tree import DecisionTreeClassifier

    frame, labels = churn
    with jt.start_run() as run:
        info = jt.log_model(DecisionTreeClassifier().fit(frame, labels), "tree")
    record = jt.get_run(run.run_id)
    requirements = record.artifact("tree/requirements.txt").local_path.read_text().split()
    assert f"scikit-learn=={metadata.version('scikit-learn')}" in requirements
    assert f"skops=={metadata.version('skops')}" in requirements

    # Pretend the model was saved with an older scikit-learn: loading still works, with a warning.
    description_path = record.artifact("tree/MLmodel.json").local_path
    description = json.loads(description_path.read_text())
    description["versions"]["scikit-learn"] = "0.0.1"
    with jt.start_run() as other:
        other.log_bytes(record.artifact("tree/model.skops").local_path.read_bytes(), "tree/model.skops")
        other.log_bytes(json.dumps(description).encode(), "tree/MLmodel.json")
    with pytest.warns(PackageVersionWarning, match=r"scikit-learn 0\.0\.1 \(installed: "):
        loaded = jt.load_model(f"runs:/{other.run_id}/tree")
    assert loaded.predict(frame.head(3)).shape == (3,)
    assert info.requirements == requirements


def test_untrusted_types_in_a_skops_file_are_refused(store_dir, churn):
    from sklearn.preprocessing import FunctionTransformer

    frame, _ = churn
    model = FunctionTransformer(func=json.dumps).fit(frame)
    with jt.start_run():
        info = jt.log_model(model, "fn")
    with pytest.raises(UntrustedModelError, match="json.dumps"):
        jt.load_model(info.model_uri)
    assert jt.load_model(info.model_uri, trusted=["json.dumps"]).native.func is json.dumps


class _Doubler(jt.PythonModel):
    def predict(self, model_input):
        return np.asarray(model_input) * 2


def test_python_model_round_trip(store_dir):
    example = np.array([[1.0, 2.0], [3.0, 4.0]])
    with jt.start_run():
        info = jt.log_model(_Doubler(), "doubler", input_example=example)
    loaded = jt.load_model(info.model_uri)
    assert loaded.flavor == "pyfunc"
    np.testing.assert_array_equal(loaded.predict(np.array([[5.0, 6.0]])), [[10.0, 12.0]])
    with pytest.raises(SignatureMismatchError, match=r"shape \[1, 3\] but .* expects \[-1, 2\]"):
        loaded.predict(np.array([[1.0, 2.0, 3.0]]))


def test_torch_state_dict_round_trip(store_dir):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.layer(x)

    torch.manual_seed(0)
    net = Net()
    example = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    with jt.start_run() as run:
        info = jt.log_model(net, "net", input_example=example)
    assert "net/state_dict.pt" in {a.path for a in jt.get_run(run.run_id).artifacts}
    fresh = Net()  # random weights, replaced by the stored state_dict
    loaded = jt.load_model(info.model_uri, model=fresh)
    expected = net(torch.as_tensor(example)).detach().numpy()
    np.testing.assert_allclose(loaded.predict(example), expected, rtol=1e-6)
    with pytest.raises(SignatureMismatchError, match="float64 but .* expects float32"):
        loaded.predict(example.astype("float64"))
    # A class defined inside a function cannot be rebuilt by name: the error says how to load it.
    with pytest.raises(UnsupportedModelError, match=r"pass an instance: load_model\(uri, model=MyNet"):
        jt.load_model(info.model_uri)


def test_torch_module_defined_in_a_notebook_loads_by_name(store_dir, tmp_path):
    import torch  # noqa: F401 - the story needs it installed
    notebook = run_notebook([
        "import torch, numpy as np, jupyter_tracker as jt\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.layer = torch.nn.Linear(2, 1)\n"
        "    def forward(self, x):\n        return self.layer(x)",
        "with jt.start_run():\n    info = jt.log_model(Net(), 'net', input_example=np.ones((1, 2), dtype='float32'))",
        "loaded = jt.load_model(info.model_uri)\n"
        "print(type(loaded.native).__name__, loaded.predict(np.ones((3, 2), dtype='float32')).shape)",
    ], tmp_path, store_dir)
    assert notebook.cells[2].outputs[0]["text"].strip() == "Net (3, 1)"


def test_xgboost_and_lightgbm_native_formats(store_dir, churn):
    import lightgbm
    import xgboost
    frame, labels = churn
    xgb_model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(frame, labels)
    lgb_model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame, labels)
    with jt.start_run() as run:
        xgb_info = jt.log_model(xgb_model, "xgb", input_example=frame.head(2))
        lgb_info = jt.log_model(lgb_model, "lgb", input_example=frame.head(2))
    paths = {a.path for a in jt.get_run(run.run_id).artifacts}
    assert {"xgb/model.ubj", "lgb/model.lgb.txt"} <= paths
    np.testing.assert_array_equal(jt.load_model(xgb_info.model_uri).predict(frame), xgb_model.predict(frame))
    np.testing.assert_array_equal(jt.load_model(lgb_info.model_uri).predict(frame), lgb_model.predict(frame))


def test_bad_models_and_uris_say_what_to_do(store_dir, churn, monkeypatch):
    with jt.start_run() as run:
        with pytest.raises(UnsupportedModelError, match="does not know how to store a dict"):
            jt.log_model({"weights": [1, 2]}, "model")
    with pytest.raises(ModelNotFoundError, match="has no model 'model'; its models are: \\(none\\)"):
        jt.load_model(f"runs:/{run.run_id}/model")
    with pytest.raises(ModelNotFoundError, match="not a model URI"):
        jt.load_model("s3://bucket/model")
    with pytest.raises(jt.TrackerError, match="needs an active run"):
        jt.log_model(object(), "model")

    from sklearn.linear_model import LinearRegression

    import jupyter_tracker.models.flavors as flavors

    def no_skops(module, extra, call):
        raise MissingExtraError(f"{call} needs {module!r}, which is not installed: "
                                f"pip install 'jupyter_tracker[{extra}]'")

    monkeypatch.setattr(flavors, "_require", no_skops)
    frame, labels = churn
    with jt.start_run():
        with pytest.raises(MissingExtraError, match=r"pip install 'jupyter_tracker\[sklearn\]'"):
            jt.log_model(LinearRegression().fit(frame, labels), "model")
