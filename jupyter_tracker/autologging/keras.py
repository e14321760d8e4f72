"""Keras 3 autolog: wrap ``keras.Model.fit`` to add a callback that logs the fit's settings
(epochs, batch size, optimizer and its learning rate, parameter count) and every epoch's
``logs`` (``loss``, ``val_loss``, metrics) at step = epoch, and with ``log_models`` the trained
model in Keras' ``.keras`` format. Works with any Keras backend (``KERAS_BACKEND=torch`` here)."""

from __future__ import annotations

import functools
from typing import Any


def install(scope) -> None:
    import keras

    # Keras 3 defines fit on its backend's trainer class (TorchTrainer, JAXTrainer...), a base of
    # keras.Model: patch it where it is defined, so restoring puts back exactly what was there.
    owner = next(klass for klass in keras.Model.__mro__ if "fit" in klass.__dict__)
    scope.patch(owner, "fit", _wrap(scope, owner.__dict__["fit"]))


def _wrap(scope, original):
    import keras

    class _EpochLogger(keras.callbacks.Callback):
        def __init__(self, run) -> None:
            super().__init__()
            self.run = run

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            try:
                values = {key: float(value) for key, value in (logs or {}).items()
                          if isinstance(value, (int, float)) or hasattr(value, "__float__")}
                if values:
                    self.run.log_metrics(values, step=int(epoch))
            except Exception as exc:  # noqa: BLE001 - logging must never stop training
                scope.warn("could not log a Keras epoch", exc)

    @functools.wraps(original)
    def fit(model, *args: Any, **kwargs: Any):
        if not scope.active or scope.busy.get("keras"):
            return original(model, *args, **kwargs)
        run = None
        try:
            run = scope.run_for("keras.fit")
            params: dict[str, Any] = {"epochs": kwargs.get("epochs", 1), "model_class": type(model).__name__}
            if kwargs.get("batch_size") is not None:
                params["batch_size"] = kwargs["batch_size"]
            optimizer = getattr(model, "optimizer", None)
            if optimizer is not None:
                params["optimizer"] = type(optimizer).__name__
                rate = getattr(optimizer, "learning_rate", None)
                if rate is not None:
                    try:
                        params["learning_rate"] = float(rate)
                    except (TypeError, ValueError):
                        params["learning_rate"] = repr(rate)
            try:
                params["num_params"] = int(model.count_params())
            except Exception:  # noqa: BLE001 - an unbuilt model has no count yet
                pass
            run.log_params(params)
            callbacks = list(kwargs.get("callbacks") or [])
            callbacks.append(_EpochLogger(run))
            kwargs["callbacks"] = callbacks
        except Exception as exc:  # noqa: BLE001
            scope.warn("could not set up Keras logging", exc)
        scope.busy["keras"] = 1
        try:
            history = original(model, *args, **kwargs)
        except BaseException as error:
            if run is not None:
                scope.finish(run, error)
            raise
        finally:
            scope.busy["keras"] = 0
        if run is not None and scope.log_models:
            try:
                from ..models import log_model

                log_model(run, model, "model", input_example=_example(args, kwargs))
            except Exception as exc:  # noqa: BLE001 - the training itself succeeded
                scope.warn("could not log the Keras model", exc)
        if run is not None:
            scope.finish(run)
        return history

    return fit


def _example(args: tuple, kwargs: dict) -> Any:
    """The first rows of the fit's ``x`` when it is an array (the model's signature comes from
    them); None for a dataset or generator, which cannot be sliced without consuming it."""
    import numpy as np

    x = args[0] if args else kwargs.get("x")
    return x[:5] if isinstance(x, np.ndarray) else None
