"""Autolog for PyTorch Lightning and Keras: per-epoch metrics and hyperparameters inside the
scope, the library exactly as it was afterwards. Each story runs in a fresh interpreter (Keras
picks its backend at import, from KERAS_BACKEND)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import jupyter_tracker as jt

LIGHTNING_SCRIPT = """
import json, warnings
import torch
import lightning.pytorch as pl
import jupyter_tracker as jt

class Regressor(pl.LightningModule):
    def __init__(self, lr=0.05, hidden=8):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(2, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss
    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

torch.manual_seed(0)
x = torch.rand(64, 2); y = x.sum(dim=1, keepdim=True)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
def trainer():
    return pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, accelerator="cpu")
original_fit = pl.Trainer.fit
with jt.start_run(run_name="lightning") as run, jt.autolog():
    trainer().fit(Regressor(lr=0.05), loader, loader)
restored = pl.Trainer.fit is original_fit
with jt.start_run(run_name="after"):
    trainer().fit(Regressor(lr=0.1), loader, loader)
print("RESULT " + json.dumps({"run_id": run.run_id, "restored": restored}))
"""

KERAS_SCRIPT = """
import json
import numpy as np
import keras
import jupyter_tracker as jt

rng = np.random.default_rng(0)
x = rng.uniform(size=(64, 2)).astype("float32"); y = x.sum(axis=1, keepdims=True)
def model():
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    return m
original_fit = keras.Model.fit
trained = model()
with jt.start_run(run_name="keras") as run, jt.autolog():
    trained.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
restored = keras.Model.fit is original_fit
with jt.start_run(run_name="after"):
    model().fit(x, y, epochs=2, verbose=0)
with jt.start_run(run_name="no models") as quiet, jt.autolog(log_models=False):
    model().fit(x, y, epochs=1, verbose=0)
loaded = jt.load_model(f"runs:/{run.run_id}/model")
same = bool(np.array_equal(loaded.predict(x[:8]), trained.predict(x[:8], verbose=0)))
print("RESULT " + json.dumps({"run_id": run.run_id, "quiet_id": quiet.run_id, "restored": restored,
                              "same_predictions": same}))
"""


def _run_script(script: str, store_dir, **env) -> dict:
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                             timeout=300, env={**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir), **env})
    assert process.returncode == 0, process.stderr[-3000:]
    line = [x for x in process.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_lightning_fit_logs_hyperparameters_and_epoch_metrics_then_unpatches(store_dir):
    result = _run_script(LIGHTNING_SCRIPT, store_dir)
    assert result["restored"] is True
    run = jt.get_run(result["run_id"])
    assert run.params["lr"] == "0.05" and run.params["hidden"] == "8"
    assert run.params["trainer.max_epochs"] == "3" and run.params["model_class"] == "Regressor"
    history = jt.get_metric_history(run.run_id, "val_loss")
    assert history["step"].tolist() == [0, 1, 2]
    assert "train_loss_epoch" in run.metrics or "train_loss" in run.metrics
    assert any(a.path.startswith("model/") for a in run.artifacts)
    after = jt.search_runs(filter="attributes.run_name = 'after'")
    after_run = jt.get_run(after.iloc[0]["run_id"])
    assert after_run.params == {} and after_run.metrics == {}


def test_keras_fit_logs_settings_and_epoch_metrics_then_unpatches(store_dir):
    result = _run_script(KERAS_SCRIPT, store_dir, KERAS_BACKEND="torch")
    assert result["restored"] is True
    run = jt.get_run(result["run_id"])
    assert run.params["epochs"] == "3" and run.params["batch_size"] == "16"
    assert run.params["optimizer"] == "SGD" and float(run.params["learning_rate"]) == pytest.approx(0.05)
    assert int(run.params["num_params"]) == 2 * 4 + 4 + 4 + 1
    for key in ("loss", "val_loss", "mae", "val_mae"):
        assert jt.get_metric_history(run.run_id, key)["step"].tolist() == [0, 1, 2], key
    assert {"model/model.keras", "model/MLmodel.json"} <= {a.path for a in run.artifacts}
    assert result["same_predictions"] is True
    assert not any(a.path.startswith("model/") for a in jt.get_run(result["quiet_id"]).artifacts)
    after = jt.search_runs(filter="attributes.run_name = 'after'")
    after_run = jt.get_run(after.iloc[0]["run_id"])
    assert after_run.params == {} and after_run.metrics == {}
