"""XGBoost autolog: wrap ``xgboost.train`` (also what XGBClassifier/XGBRegressor call) to log the
training params and every round's eval metrics (``<data>-<metric>`` at step = round)."""

from __future__ import annotations

import functools
from typing import Any


def install(scope) -> None:
    import xgboost.sklearn
    import xgboost.training

    original = xgboost.training.train
    wrapped = _wrap(scope, original)
    for module in (xgboost.training, xgboost.sklearn, xgboost):
        if module.__dict__.get("train") is original:
            scope.patch(module, "train", wrapped)


def _wrap(scope, original):
    import xgboost

    class _RoundLogger(xgboost.callback.TrainingCallback):
        def __init__(self, run) -> None:
            super().__init__()
            self.run = run

        def after_iteration(self, model, epoch: int, evals_log) -> bool:
            try:
                self.run.log_metrics({f"{data}-{metric}": float(values[-1])
                                      for data, metrics in evals_log.items() for metric, values in metrics.items()},
                                     step=epoch)
            except Exception as exc:  # noqa: BLE001 - logging must never stop training
                scope.warn("could not log an XGBoost round", exc)
            return False

    @functools.wraps(original)
    def train(params: dict, dtrain, *args: Any, **kwargs: Any):
        if not scope.active or scope.busy.get("xgboost"):
            return original(params, dtrain, *args, **kwargs)
        callbacks = list(kwargs.get("callbacks") or [])
        run = None
        inside_fit = bool(scope.busy.get("sklearn"))
        try:
            from ..run import active_run

            # Inside an autologged sklearn-style fit (XGBClassifier) the fit's run is already active.
            run = active_run() if inside_fit else scope.run_for("xgboost.train")
            run.log_params({f"xgb.{k}": v if isinstance(v, (int, float, str, bool)) else repr(v)
                            for k, v in (params or {}).items()})
            callbacks.append(_RoundLogger(run))
        except Exception as exc:  # noqa: BLE001
            scope.warn("could not set up XGBoost logging", exc)
        kwargs["callbacks"] = callbacks
        scope.busy["xgboost"] = 1
        try:
            booster = original(params, dtrain, *args, **kwargs)
        except BaseException as error:
            if not inside_fit:
                scope.finish(run, error)
            raise
        finally:
            scope.busy["xgboost"] = 0
        if not inside_fit:
            scope.finish(run)
        return booster

    return train
