"""PyTorch Lightning autolog: wrap ``Trainer.fit`` to add a callback that logs the model's
hyperparameters, the trainer's settings and every epoch's ``callback_metrics`` (what
``self.log(...)`` recorded: ``train_loss``, ``val_loss``...) once per epoch at step = epoch, and the trained
module's ``state_dict`` as a model when ``log_models``.

Both package names are patched when installed (``lightning.pytorch`` and the older
``pytorch_lightning``)."""

from __future__ import annotations

import functools
from typing import Any

from ..errors import MissingExtraError

TRAINER_SETTINGS = ("max_epochs", "min_epochs", "max_steps", "accumulate_grad_batches", "gradient_clip_val",
                    "precision", "check_val_every_n_epoch")


def install(scope) -> None:
    installed = False
    for package in ("lightning.pytorch", "pytorch_lightning"):
        try:
            module = __import__(package, fromlist=["Trainer", "Callback"])
        except ImportError:
            continue
        trainer_class = module.Trainer
        scope.patch(trainer_class, "fit", _wrap(scope, trainer_class.__dict__["fit"], module.Callback))
        installed = True
    if not installed:
        raise MissingExtraError("neither lightning nor pytorch_lightning is installed: "
                                "pip install 'jupyter_tracker[lightning]'")


def _scalar(value: Any) -> float | None:
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None


def _wrap(scope, original, callback_base):
    class _EpochLogger(callback_base):
        def __init__(self, run) -> None:
            super().__init__()
            self.run = run

        def _log(self, trainer) -> None:
            if getattr(trainer, "sanity_checking", False):
                return
            try:
                values = {key: _scalar(value) for key, value in trainer.callback_metrics.items()}
                values = {key: value for key, value in values.items() if value is not None}
                if values:
                    self.run.log_metrics(values, step=int(trainer.current_epoch))
            except Exception as exc:  # noqa: BLE001 - logging must never stop training
                scope.warn("could not log a Lightning epoch", exc)

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            # Validation ends before the training epoch does, so callback_metrics holds both.
            self._log(trainer)

    @functools.wraps(original)
    def fit(trainer, model, *args: Any, **kwargs: Any):
        if not scope.active or scope.busy.get("lightning"):
            return original(trainer, model, *args, **kwargs)
        run = logger = None
        try:
            run = scope.run_for("lightning.fit")
            params = {f"trainer.{name}": getattr(trainer, name) for name in TRAINER_SETTINGS
                      if isinstance(getattr(trainer, name, None), (int, float, str, bool))}
            hparams = dict(getattr(model, "hparams", {}) or {})
            params.update({key: value if isinstance(value, (int, float, str, bool)) else repr(value)
                           for key, value in hparams.items()})
            params["model_class"] = type(model).__name__
            if params:
                run.log_params(params)
            logger = _EpochLogger(run)
            trainer.callbacks.append(logger)
        except Exception as exc:  # noqa: BLE001
            scope.warn("could not set up Lightning logging", exc)
        scope.busy["lightning"] = 1
        try:
            result = original(trainer, model, *args, **kwargs)
        except BaseException as error:
            scope.finish(run, error) if run is not None else None
            raise
        finally:
            scope.busy["lightning"] = 0
            if logger is not None and logger in trainer.callbacks:
                trainer.callbacks.remove(logger)
        try:
            if run is not None and scope.log_models:
                from ..models import log_model

                log_model(run, model, "model")
        except Exception as exc:  # noqa: BLE001
            scope.warn("could not log the Lightning model", exc)
        if run is not None:
            scope.finish(run)
        return result

    return fit
