"""A Keras model logged with ``jt.log_model`` comes back in Keras' own ``.keras`` format with its
signature and environment, predicting exactly as before, also through the registry by alias.
Runs in a fresh interpreter: Keras picks its backend (torch here) at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jupyter_tracker as jt

SCRIPT = """
import json
import numpy as np
import keras
import jupyter_tracker as jt

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).uniform(size=(64, 3)).astype("float32")
y = (x[:, :1] * 2 - x[:, 1:2]).astype("float32")
net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
net.compile(optimizer="adam", loss="mse")
net.fit(x, y, epochs=2, verbose=0)
with jt.start_run(run_name="keras model") as run:
    info = jt.log_model(net, "model", input_example=x[:4])
version = jt.register_model(info.model_uri, "regressor")
jt.set_model_alias("regressor", "champion", version.version)
expected = net.predict(x, verbose=0)
by_run = jt.load_model(info.model_uri)
by_alias = jt.load_model("models:/regressor@champion")
print("RESULT " + json.dumps({
    "run_id": run.run_id, "flavor": info.flavor, "requirements": info.requirements,
    "signature": info.signature.to_dict() if info.signature else None,
    "same_by_run": bool(np.array_equal(by_run.predict(x), expected)),
    "same_by_alias": bool(np.array_equal(by_alias.predict(x), expected)),
    "native_class": type(by_alias.native).__name__, "metadata": by_alias.metadata,
}))
"""


def test_keras_model_round_trip_with_signature_environment_and_alias(store_dir):
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir),
                                               "KERAS_BACKEND": "torch"})
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads([line for line in process.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    assert result["flavor"] == "keras" and result["native_class"] == "Sequential"
    assert result["same_by_run"] is True and result["same_by_alias"] is True
    assert result["signature"] is not None and result["signature"]["inputs"]
    assert any(r.startswith("keras==") for r in result["requirements"])
    assert any(r.startswith("torch==") for r in result["requirements"])
    assert result["metadata"]["keras_backend"] == "torch" and result["metadata"]["model_file"] == "model.keras"
    files = {a.path for a in jt.get_run(result["run_id"]).artifacts}
    assert {"model/model.keras", "model/MLmodel.json", "model/requirements.txt", "model/input_example.json"} <= files
